// usage: holds MIB mebibytes of heap (argv[1]) and keeps a core busy for
// MS milliseconds (argv[2]), looking at the clock (a host call) as it
// goes, so a test can watch its CPU time and memory from outside.
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 32;
	double ms = argc > 2 ? atof(argv[2]) : 300;
	unsigned char *heap = malloc(mib << 20);
	if (!heap)
		return 2;
	memset(heap, 1, mib << 20);
	unsigned long sum = 0;
	double end = now_ms() + ms;
	while (now_ms() < end)
		for (size_t i = 0; i < (mib << 20); i += 4096)
			sum += heap[i] + i;
	printf("sum %lu\n", sum);
	return 0;
}
