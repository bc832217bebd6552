/*
 * rankmove: two ranks ping-pong 8 bytes, each with MIB MiB of heap filled with
 * pseudo-random bytes,
 * for the comparison of moving one rank (cell/rankmove_compare_test.go).
 * Rank 0 prints "touched" once every rank has touched its heap, then the
 * average round trip and a checksum of both heaps.
 *
 *	rankmove MIB ITERS
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	long mib = argc > 1 ? atol(argv[1]) : 1;
	int iters = argc > 2 ? atoi(argv[2]) : 1000;
	size_t n = (size_t)mib << 20;
	unsigned char *heap = malloc(n);
	/* xorshift: bytes that do not compress, as most data does not */
	unsigned int x = 2463534242u + rank;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		heap[i] = (unsigned char)x;
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0) {
		printf("touched\n");
		fflush(stdout);
	}
	long long msg = 0;
	double t0 = MPI_Wtime();
	for (int i = 0; i < iters; i++) {
		if (rank == 0) {
			MPI_Send(&msg, 1, MPI_LONG_LONG, 1, 0, MPI_COMM_WORLD);
			MPI_Recv(&msg, 1, MPI_LONG_LONG, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else if (rank == 1) {
			MPI_Recv(&msg, 1, MPI_LONG_LONG, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			msg++;
			MPI_Send(&msg, 1, MPI_LONG_LONG, 0, 0, MPI_COMM_WORLD);
		}
	}
	double t1 = MPI_Wtime();
	long long sum = 0, total = 0;
	for (size_t i = 0; i < n; i += 4093)
		sum += heap[i];
	MPI_Reduce(&sum, &total, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
	if (rank == 0)
		printf("rtt %.3f us, %lld round trips, checksum %lld\n", (t1 - t0) / iters * 1e6, msg, total);
	free(heap);
	MPI_Finalize();
	return 0;
}
