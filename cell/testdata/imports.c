// imports: a module importing a function no host provides.
__attribute__((import_module("env"), import_name("mystery_function"))) int mystery_function(void);

int main(void) { return mystery_function(); }
