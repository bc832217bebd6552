// steps: prints a line per step of work over a 4 MiB heap, ends with a line
// written in two pieces; its exit status is derived from the result.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv) {
	long sum = 0;
	int n = argc > 1 ? atoi(argv[1]) : 10;
	int *heap = malloc(1 << 22);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < (1 << 20); j++) { heap[j] = heap[j] + i + j; sum += heap[j]; }
		printf("step %d sum %ld\n", i, sum);
	}
	printf("partial line without newline... ");
	printf("done\n");
	return (int)(sum % 7);
}
