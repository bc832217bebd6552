// empty: does nothing; measures what starting a cell costs.
int main(void) { return 0; }
