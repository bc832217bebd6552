/*
 * stencil: a 2D 5-point star stencil (radius 1) on an n x n grid whose rows
 * are distributed over MPI_COMM_WORLD, exchanging one halo row with each
 * neighbour by MPI_Sendrecv per iteration; after the ParRes Kernels' MPI
 * stencil (written anew for CloudSkin, with a 1D row decomposition).
 *
 *	stencil [iterations [n]]	defaults: 10 iterations, n = 1000
 *
 * Each rank owns n/size rows (the first n%size ranks one more) plus a halo
 * row above and below. Every iteration applies
 *
 *	OUT(i,j) += 0.5 * (IN(i,j+1) - IN(i,j-1)) + 0.5 * (IN(i+1,j) - IN(i-1,j))
 *
 * to the interior points (1 <= i,j < n-1) and then adds 1 to IN. With
 * IN(i,j) = i + j every application adds exactly 2, so the mean of |OUT|
 * over the interior must be 2 * (iterations + 1), as in the ParRes Kernels.
 * The rate counts their 11 flops per interior point (2 * 5 + 1).
 */
#include <mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPSILON 1e-8
#define WEIGHT 0.5 /* 1 / (2 * radius) */
#define STENCIL_SIZE 5

static void *alloc(size_t n)
{
	void *p = malloc(n);
	if (p == NULL) {
		fprintf(stderr, "stencil: out of memory (%zu bytes)\n", n);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	return p;
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	long iterations = argc > 1 ? atol(argv[1]) : 10;
	long n = argc > 2 ? atol(argv[2]) : 1000;
	if (iterations < 1 || n < 3 || n < size || n > 0x7fffffffL) {
		if (rank == 0)
			fprintf(stderr, "usage: stencil [iterations >= 1 [n >= 3 and >= ranks]]\n");
		MPI_Finalize();
		return 2;
	}
	long rows = n / size + (rank < n % size);
	long first = rank * (n / size) + (rank < n % size ? rank : n % size); /* my first global row */
	size_t w = (size_t)n;

	/* in has rows+2 rows: in[0] and in[rows+1] are the halos; IN(i,j) is in[(i-first+1)*w + j]. */
	double *in = alloc((size_t)(rows + 2) * w * sizeof *in);
	double *out = alloc((size_t)rows * w * sizeof *out);
	for (long r = 0; r < rows; r++)
		for (size_t j = 0; j < w; j++)
			in[(r + 1) * w + j] = (double)(first + r) + (double)j;
	memset(in, 0, w * sizeof *in);
	memset(in + (rows + 1) * w, 0, w * sizeof *in);
	memset(out, 0, (size_t)rows * w * sizeof *out);

	int up = rank > 0 ? rank - 1 : MPI_PROC_NULL;
	int down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
	/* The global rows this rank updates: the interior, 1 .. n-2. */
	long lo = first > 1 ? first : 1, hi = first + rows < n - 1 ? first + rows : n - 1;

	double start = 0;
	for (long iter = 0; iter <= iterations; iter++) {
		if (iter == 1) {
			MPI_Barrier(MPI_COMM_WORLD);
			start = MPI_Wtime();
		}
		/* My first row goes up, the lower neighbour's first row comes in below; then the reverse. */
		MPI_Sendrecv(in + w, (int)w, MPI_DOUBLE, up, 1, in + (rows + 1) * w, (int)w, MPI_DOUBLE, down, 1,
			     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		MPI_Sendrecv(in + rows * w, (int)w, MPI_DOUBLE, down, 2, in, (int)w, MPI_DOUBLE, up, 2,
			     MPI_COMM_WORLD, MPI_STATUS_IGNORE);

		for (long i = lo; i < hi; i++) {
			const double *c = in + (i - first + 1) * w; /* row i of IN */
			double *o = out + (i - first) * w;
			for (size_t j = 1; j < w - 1; j++)
				o[j] += WEIGHT * (c[j + 1] - c[j - 1]) + WEIGHT * (c[j + w] - c[j - w]);
		}
		for (size_t k = w; k < (size_t)(rows + 1) * w; k++)
			in[k] += 1.0;
	}
	double local_time = MPI_Wtime() - start, time;
	MPI_Reduce(&local_time, &time, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

	double local_norm = 0, norm;
	for (long i = lo; i < hi; i++)
		for (size_t j = 1; j < w - 1; j++)
			local_norm += fabs(out[(i - first) * w + j]);
	MPI_Reduce(&local_norm, &norm, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);

	int status = 0;
	if (rank == 0) {
		double active = (double)(n - 2) * (double)(n - 2);
		double want = 2.0 * (double)(iterations + 1);
		norm /= active;
		printf("stencil: %d ranks, n %ld, radius 1, %ld iterations\n", size, n, iterations);
		if (fabs(norm - want) > EPSILON) {
			printf("stencil: validation FAILED: norm %.17g, want %.17g\n", norm, want);
			status = 1;
		} else {
			double avg = time / iterations;
			double flops = (2.0 * STENCIL_SIZE + 1) * active;
			printf("stencil: solution validates\n");
			printf("stencil: rate %.1f MFlops/s, avg time %.6f s, total %.6f s\n", 1e-6 * flops / avg, avg, time);
		}
	}
	free(in);
	free(out);
	MPI_Finalize();
	return status;
}
