/*
 * Calls every function of mpi.h once, so that clang emits an import for
 * each with the signature it derives from the C prototype. TestClangImports
 * compiles it and checks those signatures against Rank.Module.
 */
#include <mpi.h>

int run(int n, void *buf, int *ints, MPI_Status *st, MPI_Request *req)
{
	MPI_Comm comm = MPI_COMM_WORLD;
	int r = 0;
	r += MPI_Init(&n, 0);
	r += MPI_Init_thread(&n, 0, MPI_THREAD_FUNNELED, ints);
	r += MPI_Comm_rank(comm, ints);
	r += MPI_Comm_size(comm, ints);
	r += MPI_Comm_split(comm, n, n, &comm);
	r += MPI_Comm_dup(comm, &comm);
	r += MPI_Comm_free(&comm);
	r += MPI_Get_processor_name(buf, ints);
	r += (int)MPI_Wtime();
	r += MPI_Send(buf, n, MPI_INT, 0, 1, comm);
	r += MPI_Recv(buf, n, MPI_INT, 0, 1, comm, st);
	r += MPI_Sendrecv(buf, n, MPI_INT, 0, 1, buf, n, MPI_INT, 0, 1, comm, st);
	r += MPI_Isend(buf, n, MPI_INT, 0, 1, comm, req);
	r += MPI_Irecv(buf, n, MPI_INT, 0, 1, comm, req);
	r += MPI_Wait(req, st);
	r += MPI_Waitall(n, req, st);
	r += MPI_Test(req, ints, st);
	r += MPI_Get_count(st, MPI_INT, ints);
	r += MPI_Barrier(comm);
	r += MPI_Bcast(buf, n, MPI_INT, 0, comm);
	r += MPI_Reduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, 0, comm);
	r += MPI_Allreduce(buf, buf, n, MPI_DOUBLE, MPI_MAX, comm);
	r += MPI_Gather(buf, n, MPI_INT, buf, n, MPI_INT, 0, comm);
	r += MPI_Gatherv(buf, n, MPI_INT, buf, ints, ints, MPI_INT, 0, comm);
	r += MPI_Scatter(buf, n, MPI_INT, buf, n, MPI_INT, 0, comm);
	r += MPI_Scatterv(buf, ints, ints, MPI_INT, buf, n, MPI_INT, 0, comm);
	r += MPI_Allgather(buf, n, MPI_INT, buf, n, MPI_INT, comm);
	r += MPI_Alltoall(buf, n, MPI_INT, buf, n, MPI_INT, comm);
	r += MPI_Finalize();
	if (r < 0)
		MPI_Abort(comm, r);
	return r;
}
