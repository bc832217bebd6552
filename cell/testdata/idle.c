// idle: waits for one byte on stdin, then exits; a cell that is alive but
// doing nothing, for measuring what an idle cell costs.
#include <stdio.h>

int main(void) { return getchar() == EOF ? 1 : 0; }
