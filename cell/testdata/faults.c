// faults: each argv[1] makes the cell fail in one way the host must survive.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int depth(int n) {
	volatile char pad[256];
	pad[0] = (char)n;
	return n == 0 ? pad[0] : depth(n + 1) + pad[0];
}

int main(int argc, char **argv) {
	const char *what = argc > 1 ? argv[1] : "";
	volatile int zero = 0;
	if (strcmp(what, "div0") == 0)
		return 10 / zero;
	if (strcmp(what, "abort") == 0)
		abort();
	if (strcmp(what, "oob") == 0) {
		volatile int *p = (int *)0xFFFFFFF0u;
		return *p;
	}
	if (strcmp(what, "recurse") == 0)
		return depth(1);
	if (strcmp(what, "loop") == 0)
		for (volatile unsigned i = 0;; i++)
			;
	if (strcmp(what, "grow") == 0) {
		// Allocate 1 MiB blocks until the memory limit says no, touching each
		// and chaining them so the compiler cannot drop the allocations.
		int n = 0;
		void **head = NULL;
		for (void **b; (b = malloc(1 << 20)) != NULL; n++) {
			memset(b, 1, 1 << 20);
			*b = head;
			head = b;
		}
		printf("allocated %d MiB (chain %s)\n", n, head ? "kept" : "empty");
		return 0;
	}
	fprintf(stderr, "usage: faults div0|abort|oob|recurse|loop|grow\n");
	return 2;
}
