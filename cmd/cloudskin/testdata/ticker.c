// ticker: a small service for orchestrator tests. It prints a numbered
// line every INTERVAL milliseconds (argv[1], default 100) under the name
// the orchestrator gives its workload, forever.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
	int ms = argc > 1 ? atoi(argv[1]) : 100;
	const char *name = getenv("CLOUDSKIN_WORKLOAD");
	struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
	for (long i = 0;; i++) {
		printf("%s tick %ld\n", name ? name : "?", i);
		fflush(stdout);
		nanosleep(&pause, NULL);
	}
}
