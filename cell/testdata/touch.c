// touch: fills argv[1] MiB of heap with pseudo-random bytes (no host call on
// the way), then prints one line: the cell to migrate in the downtime
// benchmark, stopped at that print.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 1) << 20;
	uint64_t *p = malloc(n), x = 88172645463325252ull;
	if (!p)
		return 2;
	for (size_t i = 0; i < n / 8; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		p[i] = x;
	}
	printf("touched %zu MiB, last word %llu\n", n >> 20, (unsigned long long)p[n / 8 - 1]);
	return 0;
}
