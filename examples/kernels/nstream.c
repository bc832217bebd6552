/*
 * nstream: the STREAM triad A[i] += B[i] + scalar * C[i] over vectors
 * distributed across MPI_COMM_WORLD, after the ParRes Kernels' MPI nstream
 * (written anew for CloudSkin).
 *
 *	nstream [iterations [length]]	defaults: 10 iterations, 2000000 elements
 *
 * length is the total vector length; each rank owns length/size elements
 * (the first length%size ranks one more). Iteration 0 is a warm-up; the
 * timer runs from a barrier before iteration 1 to the end, and the slowest
 * rank's time counts. The result is validated as in the ParRes Kernels:
 * with A = 0, B = 2, C = 2 and scalar = 3, every element of A must end as
 * (iterations + 1) * 8. The rate counts 4 doubles moved per element and
 * iteration (read A, B, C; write A).
 */
#include <mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define EPSILON 1e-8

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	long iterations = argc > 1 ? atol(argv[1]) : 10;
	long long length = argc > 2 ? atoll(argv[2]) : 2000000;
	if (iterations < 1 || length < size) {
		if (rank == 0)
			fprintf(stderr, "usage: nstream [iterations >= 1 [length >= ranks]]\n");
		MPI_Finalize();
		return 2;
	}
	size_t n = (size_t)(length / size + (rank < length % size));

	double *a = malloc(n * sizeof *a);
	double *b = malloc(n * sizeof *b);
	double *c = malloc(n * sizeof *c);
	if (a == NULL || b == NULL || c == NULL) {
		fprintf(stderr, "nstream: rank %d: out of memory for %zu elements\n", rank, n);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	for (size_t i = 0; i < n; i++) {
		a[i] = 0.0;
		b[i] = 2.0;
		c[i] = 2.0;
	}

	const double scalar = 3.0;
	double start = 0;
	for (long iter = 0; iter <= iterations; iter++) {
		if (iter == 1) {
			MPI_Barrier(MPI_COMM_WORLD);
			start = MPI_Wtime();
		}
		for (size_t i = 0; i < n; i++)
			a[i] += b[i] + scalar * c[i];
	}
	double local_time = MPI_Wtime() - start, time;
	MPI_Reduce(&local_time, &time, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

	/* Validate: the sum of |A| over all ranks against the closed form. */
	double local_sum = 0, sum;
	for (size_t i = 0; i < n; i++)
		local_sum += fabs(a[i]);
	MPI_Reduce(&local_sum, &sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);

	int status = 0;
	if (rank == 0) {
		double ar = 0.0;
		for (long iter = 0; iter <= iterations; iter++)
			ar += 2.0 + scalar * 2.0;
		ar *= (double)length;
		printf("nstream: %d ranks, %lld elements, %ld iterations\n", size, length, iterations);
		if (fabs(ar - sum) / ar > EPSILON) {
			printf("nstream: validation FAILED: sum of |A| is %.17g, want %.17g\n", sum, ar);
			status = 1;
		} else {
			double avg = time / iterations;
			double bytes = 4.0 * sizeof(double) * (double)length;
			printf("nstream: solution validates\n");
			printf("nstream: rate %.1f MB/s, avg time %.6f s, total %.6f s\n", 1e-6 * bytes / avg, avg, time);
		}
	}
	free(a);
	free(b);
	free(c);
	MPI_Finalize();
	return status;
}
