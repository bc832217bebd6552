/*
 * mpimove: an MPI program whose world is stopped and resumed between its
 * collectives in tests. Across every world collective it keeps MPI state
 * alive that a snapshot must carry: an eager message sent before the
 * collective and received after it (unexpected at the cut), a receive
 * posted and matched before it but waited for after it, a receive posted
 * before it and matched only after it (pending at the cut), a communicator made by
 * MPI_Comm_split, and heap data. Rank 0 prints a line per step.
 *
 *	mpimove [STEPS [SLEEP_MS]]	(default 6 steps, no sleep)
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	int steps = argc > 1 ? atoi(argv[1]) : 6;
	int sleep_ms = argc > 2 ? atoi(argv[2]) : 0;
	int right = (rank + 1) % size, left = (rank + size - 1) % size;

	MPI_Comm half;
	MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &half);
	int hrank, hsize;
	MPI_Comm_rank(half, &hrank);
	MPI_Comm_size(half, &hsize);

	int n = 1 << 16;
	long long *acc = calloc(n, sizeof(long long));
	double t0 = MPI_Wtime();
	long long token = rank, posted = -1;
	for (int s = 0; s < steps; s++) {
		MPI_Request req, late_req;
		long long late = -1;
		MPI_Irecv(&posted, 1, MPI_LONG_LONG, left, 100 + s, MPI_COMM_WORLD, &req);
		MPI_Irecv(&late, 1, MPI_LONG_LONG, left, 200 + s, MPI_COMM_WORLD, &late_req);
		long long out = token * 31 + s;
		MPI_Send(&out, 1, MPI_LONG_LONG, right, 7, MPI_COMM_WORLD);      /* received after the barrier */
		MPI_Send(&token, 1, MPI_LONG_LONG, right, 100 + s, MPI_COMM_WORLD); /* completes the Irecv */
		for (int i = 0; i < n; i++)
			acc[i] += (i ^ s) + rank;
		if (sleep_ms > 0) {
			struct timespec ts = {sleep_ms / 1000, (long)(sleep_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
		}
		MPI_Barrier(MPI_COMM_WORLD);
		long long late_out = token + 1000 * s;
		MPI_Send(&late_out, 1, MPI_LONG_LONG, right, 200 + s, MPI_COMM_WORLD);
		MPI_Wait(&late_req, MPI_STATUS_IGNORE);
		long long in;
		MPI_Recv(&in, 1, MPI_LONG_LONG, left, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
		MPI_Wait(&req, MPI_STATUS_IGNORE);
		token = (in ^ posted) + late;
		long long local = 0, sum = 0, hsum = 0;
		for (int i = 0; i < n; i += 97)
			local += acc[i];
		MPI_Allreduce(&local, &sum, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
		MPI_Allreduce(&token, &hsum, 1, MPI_LONG_LONG, MPI_SUM, half);
		if (rank == 0)
			printf("step %d: sum %lld half %d/%d %lld token %lld\n", s, sum, hrank, hsize, hsum, token);
	}
	double t1 = MPI_Wtime();
	if (rank == 0)
		printf("clock %s\n", t1 >= t0 ? "monotonic" : "went back");
	MPI_Comm_free(&half);
	free(acc);
	MPI_Finalize();
	return 0;
}
