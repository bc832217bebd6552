/*
 * fork: cloudskin_fork's process semantics. The parent fills 1 MiB, forks
 * two children and changes its memory between the forks; each child sees
 * the memory as it was at its fork, exits with its own status, and stdout
 * buffered before a fork is printed by both (as with fork(2)).
 */
#include <cloudskin.h>
#include <stdio.h>
#include <stdlib.h>

static long sum(const int *a, int n)
{
	long s = 0;
	for (int i = 0; i < n; i++)
		s += a[i];
	return s;
}

int main(void)
{
	int n = 1 << 18;
	int *a = malloc(n * sizeof *a);
	for (int i = 0; i < n; i++)
		a[i] = i % 1000;
	printf("before fork, sum %ld\n", sum(a, n));
	fflush(stdout);
	printf("buffered ");
	int first = cloudskin_fork();
	if (first < 0) {
		printf("cannot fork\n");
		return 0;
	}
	if (first == 0) {
		printf("child 1 sum %ld\n", sum(a, n));
		return 11;
	}
	for (int i = 0; i < n; i++)
		a[i] = 1;
	int second = cloudskin_fork();
	if (second == 0) {
		printf("child 2 sum %ld\n", sum(a, n));
		return 12;
	}
	printf("parent forked %d and %d, sum %ld\n", first, second, sum(a, n));
	return 0;
}
