/*
 * ring: passes a token around MPI_COMM_WORLD a number of times (argv[1],
 * default 3). Rank 0 injects the token; every rank adds one before passing
 * it to its right-hand neighbour, so on lap `lap` rank r must receive
 * lap*size + r. Each rank checks that and prints what it received; any
 * mismatch aborts the job with exit code 1.
 *
 * Build and run: see examples/README.md.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define TAG_TOKEN 7

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	int laps = 3;
	if (argc > 1)
		laps = atoi(argv[1]);
	if (laps < 1) {
		if (rank == 0)
			fprintf(stderr, "usage: ring [laps >= 1]\n");
		MPI_Finalize();
		return 2;
	}

	int right = (rank + 1) % size;
	int left = (rank + size - 1) % size;
	int token;
	for (int lap = 0; lap < laps; lap++) {
		int want = lap * size + rank;
		if (rank == 0) {
			/*
			 * Rank 0 sends first and then waits for the token to come
			 * back round. Sendrecv makes that safe for a ring of one,
			 * where rank 0 is its own neighbour.
			 */
			token = want;
			int out = token + 1, in;
			MPI_Sendrecv(&out, 1, MPI_INT, right, TAG_TOKEN,
				     &in, 1, MPI_INT, left, TAG_TOKEN,
				     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			/* The last rank added one too: the next lap's token. */
			if (in != want + size) {
				fprintf(stderr, "ring: rank 0 lap %d: token %d came back, want %d\n",
					lap, in, want + size);
				MPI_Abort(MPI_COMM_WORLD, 1);
			}
		} else {
			MPI_Recv(&token, 1, MPI_INT, left, TAG_TOKEN, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
			if (token != want) {
				fprintf(stderr, "ring: rank %d lap %d: got token %d, want %d\n",
					rank, lap, token, want);
				MPI_Abort(MPI_COMM_WORLD, 1);
			}
			int out = token + 1;
			MPI_Send(&out, 1, MPI_INT, right, TAG_TOKEN, MPI_COMM_WORLD);
		}
		printf("ring: rank %d of %d lap %d token %d ok\n", rank, size, lap, token);
		fflush(stdout);
	}

	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 0)
		printf("ring: %d laps of %d ranks done, final token %d\n", laps, size, laps * size);
	MPI_Finalize();
	return 0;
}
