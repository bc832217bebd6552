// mpifail: rank 1 traps while every other rank waits for a message from it.
// The world must end with an error naming rank 1, not hang.
#include <mpi.h>

int main(int argc, char **argv) {
	int rank, value = 0;
	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	if (rank == 1)
		__builtin_trap(); /* wasm unreachable */
	else
		MPI_Recv(&value, 1, MPI_INT, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
	MPI_Finalize();
	return value;
}
