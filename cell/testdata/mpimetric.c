/*
 * mpimetric: every rank of an MPI world reports its rank as the metric
 * "rank" and appends "rank N" to the stream in argv[1], between two
 * barriers (the second a stop point of a migratable world).
 */
#include <cloudskin.h>
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Barrier(MPI_COMM_WORLD);
	char event[32];
	int n = snprintf(event, sizeof event, "rank %d", rank);
	int m = cloudskin_metric("rank", rank);
	int a = argc > 1 ? cloudskin_stream_append(argv[1], "", event, (uint32_t)n) : -99;
	MPI_Barrier(MPI_COMM_WORLD);
	printf("rank %d metric %d append %d\n", rank, m, a);
	MPI_Finalize();
	return 0;
}
