// slow: sixty steps of work, each printed and followed by a 20 ms sleep:
// a cell that runs long enough to be moved while it runs.
#include <stdio.h>
#include <time.h>
int main(int argc, char **argv) {
	struct timespec ts = {0, 20 * 1000 * 1000};
	long sum = 0;
	for (int i = 0; i < 60; i++) {
		for (int j = 0; j < 100000; j++) sum += (long)j * i % 7;
		printf("step %d sum %ld\n", i, sum);
		nanosleep(&ts, NULL);
	}
	return (int)(sum % 5);
}
