/*
 * transpose: B += A^T, A += 1 for a square matrix distributed by rows over
 * MPI_COMM_WORLD, with one MPI_Alltoall per iteration; after the ParRes
 * Kernels' MPI transpose (written anew for CloudSkin).
 *
 *	transpose [iterations [order]]	defaults: 10 iterations, order 1024
 *
 * order must be a multiple of the number of ranks: rank p owns rows
 * [p*b, (p+1)*b) of A and of B, b = order/size. Row p of B's blocks is
 * column p of A's, so each rank sends rank q the b*b block of its rows that
 * lies in q's columns; the receiver transposes the blocks into B.
 *
 * With A(i,j) = i*order + j at the start, after iterations+1 rounds
 * B(i,j) = (iterations+1) * (j*order + i) + iterations*(iterations+1)/2,
 * all integers that doubles hold exactly, so the check wants no error at
 * all (below 1e-8, as the ParRes Kernels). Iteration 0 is a warm-up; the
 * rate counts 2 matrices of doubles per iteration (read A, write B).
 */
#include <mpi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define EPSILON 1e-8

static void *alloc(size_t n)
{
	void *p = malloc(n);
	if (p == NULL) {
		fprintf(stderr, "transpose: out of memory (%zu bytes)\n", n);
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
	long order = argc > 2 ? atol(argv[2]) : 1024;
	if (iterations < 1 || order < 1 || order % size != 0 || (order / size) * (order / size) > 0x7fffffffL) {
		if (rank == 0)
			fprintf(stderr, "usage: transpose [iterations >= 1 [order, a multiple of the ranks]]\n");
		MPI_Finalize();
		return 2;
	}
	size_t n = (size_t)order, b = n / size, block = b * b;

	/* Local rows of A and B, b x n each, row-major; and the exchange buffers. */
	double *a = alloc(b * n * sizeof *a), *bm = alloc(b * n * sizeof *bm);
	double *send = alloc(b * n * sizeof *send), *recv = alloc(b * n * sizeof *recv);
	for (size_t i = 0; i < b; i++) {
		size_t gi = rank * b + i; /* global row */
		for (size_t j = 0; j < n; j++) {
			a[i * n + j] = (double)(gi * n + j);
			bm[i * n + j] = 0.0;
		}
	}

	double start = 0;
	for (long iter = 0; iter <= iterations; iter++) {
		if (iter == 1) {
			MPI_Barrier(MPI_COMM_WORLD);
			start = MPI_Wtime();
		}
		/* Block q of send: my rows, q's columns. */
		for (size_t q = 0; q < (size_t)size; q++)
			for (size_t i = 0; i < b; i++)
				for (size_t j = 0; j < b; j++)
					send[q * block + i * b + j] = a[i * n + q * b + j];
		MPI_Alltoall(send, (int)block, MPI_DOUBLE, recv, (int)block, MPI_DOUBLE, MPI_COMM_WORLD);
		/*
		 * Block q of recv holds A(q*b+i, rank*b+j) at [i][j]; it belongs
		 * in B(rank*b+j, q*b+i), my local row j.
		 */
		for (size_t q = 0; q < (size_t)size; q++)
			for (size_t i = 0; i < b; i++)
				for (size_t j = 0; j < b; j++)
					bm[j * n + q * b + i] += recv[q * block + i * b + j];
		for (size_t k = 0; k < b * n; k++)
			a[k] += 1.0;
	}
	double local_time = MPI_Wtime() - start, time;
	MPI_Reduce(&local_time, &time, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

	double add = (double)iterations * (iterations + 1) / 2.0, local_err = 0, err;
	for (size_t i = 0; i < b; i++) {
		size_t gi = rank * b + i;
		for (size_t j = 0; j < n; j++) {
			double want = (double)(iterations + 1) * (double)(j * n + gi) + add;
			local_err += fabs(bm[i * n + j] - want);
		}
	}
	MPI_Reduce(&local_err, &err, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);

	int status = 0;
	if (rank == 0) {
		printf("transpose: %d ranks, order %ld, %ld iterations\n", size, order, iterations);
		if (err >= EPSILON) {
			printf("transpose: validation FAILED: error %.17g\n", err);
			status = 1;
		} else {
			double avg = time / iterations;
			double bytes = 2.0 * sizeof(double) * (double)n * (double)n;
			printf("transpose: solution validates\n");
			printf("transpose: rate %.1f MB/s, avg time %.6f s, total %.6f s\n", 1e-6 * bytes / avg, avg, time);
		}
	}
	free(a);
	free(bm);
	free(send);
	free(recv);
	MPI_Finalize();
	return status;
}
