/* parallel: asks for its parallelism at the start of each of three phases. */
#include <cloudskin.h>
#include <stdio.h>

int main(void)
{
	for (int phase = 0; phase < 3; phase++)
		printf("phase %d: %d cores\n", phase, cloudskin_parallelism());
	return 0;
}
