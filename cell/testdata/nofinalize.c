// nofinalize: with no argument, rank 1 ends without MPI_Finalize while rank 0
// waits for a message from it; "abort" makes rank 0 call MPI_Abort with 42
// while the others wait in a barrier; "exit" finalizes and exits with 3.
#include <mpi.h>
#include <string.h>

int main(int argc, char **argv) {
	int rank, value = 0;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (argc > 1 && strcmp(argv[1], "abort") == 0) {
		if (rank == 0)
			MPI_Abort(MPI_COMM_WORLD, 42);
		MPI_Barrier(MPI_COMM_WORLD);
	}
	if (argc > 1 && strcmp(argv[1], "exit") == 0) {
		MPI_Finalize();
		return 3;
	}
	if (rank == 1)
		return 0; /* forgot MPI_Finalize */
	MPI_Recv(&value, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	MPI_Finalize();
	return value;
}
