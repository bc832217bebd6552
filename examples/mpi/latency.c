/*
 * latency: how long basic MPI operations take, OSU-benchmark style, for
 * comparing cells with native Open MPI on one host. For each operation it
 * runs a warm-up, then `iters` timed repetitions, and rank 0 prints the
 * average time per operation in microseconds:
 *
 *   latency: pingpong-8B <us>     half a round trip of 8 bytes between ranks 0 and 1
 *   latency: barrier <us>
 *   latency: allreduce-8B <us>    one double, MPI_SUM
 *   latency: bcast-64KiB <us>
 *
 * Needs at least 2 ranks. Usage: latency [iterations] (default 10000).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rank, size, iters;

static void report(const char *name, double seconds, int count)
{
	if (rank == 0)
		printf("latency: %s %.3f\n", name, seconds / count * 1e6);
}

static void pingpong(void)
{
	char buf[8] = {0};
	MPI_Barrier(MPI_COMM_WORLD);
	double t0 = 0;
	for (int i = -100; i < iters; i++) {
		if (i == 0)
			t0 = MPI_Wtime();
		if (rank == 0) {
			MPI_Send(buf, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
			MPI_Recv(buf, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		} else if (rank == 1) {
			MPI_Recv(buf, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			MPI_Send(buf, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
		}
	}
	report("pingpong-8B", MPI_Wtime() - t0, 2 * iters);
}

static void barrier(void)
{
	double t0 = 0;
	for (int i = -100; i < iters; i++) {
		if (i == 0)
			t0 = MPI_Wtime();
		MPI_Barrier(MPI_COMM_WORLD);
	}
	report("barrier", MPI_Wtime() - t0, iters);
}

static void allreduce(void)
{
	double in = rank, out = 0, t0 = 0;
	for (int i = -100; i < iters; i++) {
		if (i == 0)
			t0 = MPI_Wtime();
		MPI_Allreduce(&in, &out, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
	}
	if (out != (double)size * (size - 1) / 2) {
		fprintf(stderr, "latency: allreduce gave %f\n", out);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	report("allreduce-8B", MPI_Wtime() - t0, iters);
}

static void bcast(void)
{
	enum { N = 64 << 10 };
	char *buf = malloc(N);
	memset(buf, rank, N);
	double t0 = 0;
	int n = iters / 10 > 0 ? iters / 10 : 1;
	for (int i = -10; i < n; i++) {
		if (i == 0)
			t0 = MPI_Wtime();
		MPI_Bcast(buf, N, MPI_BYTE, 0, MPI_COMM_WORLD);
	}
	if (buf[N - 1] != 0) {
		fprintf(stderr, "latency: bcast left %d\n", buf[N - 1]);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	report("bcast-64KiB", MPI_Wtime() - t0, n);
	free(buf);
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	iters = argc > 1 ? atoi(argv[1]) : 10000;
	if (size < 2 || iters < 1) {
		if (rank == 0)
			fprintf(stderr, "usage: mpirun -n N>=2 latency [iterations>=1]\n");
		MPI_Finalize();
		return 2;
	}
	pingpong();
	barrier();
	allreduce();
	bcast();
	MPI_Finalize();
	return 0;
}
