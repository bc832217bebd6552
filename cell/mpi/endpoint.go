package mpi

import "context"

// endpoint is what a cell's MPI bindings (host) call on behalf of the
// guest: a *Rank, whose world is in this process, or a *remoteRank, a
// rank that moved to another process and reaches its world, still in the
// process it started in, over a connection (remote.go). The bindings
// decode and check the guest's arguments the same way for both.
type endpoint interface {
	check() error
	markInit()
	markFinalized()
	// commInfo is the rank's rank in communicator h and h's size.
	commInfo(h Comm) (rank, size int, err error)
	split(ctx context.Context, h Comm, kind collKind, color, key int, bad error) (Comm, error)
	CommFree(comm Comm) error
	ProcessorName() string
	Wtime() float64
	Abort(comm Comm, code int) error

	Send(ctx context.Context, buf []byte, dest, tag int, comm Comm) error
	recv(ctx context.Context, buf buffer, source, tag int, comm Comm) (Status, error)
	sendrecv(ctx context.Context, sendbuf []byte, dest, sendtag int, recvbuf buffer, source, recvtag int, comm Comm) (Status, error)
	Isend(ctx context.Context, buf []byte, dest, tag int, comm Comm) (*Request, error)
	irecv(buf buffer, source, tag int, comm Comm) (*Request, error)
	Wait(ctx context.Context, q *Request) (Status, error)
	Waitall(ctx context.Context, qs []*Request) ([]Status, error)
	Test(q *Request) (Status, bool, error)

	Barrier(ctx context.Context, comm Comm) error
	bcast(ctx context.Context, h Comm, buf []byte, root int, bad error) error
	reduce(ctx context.Context, h Comm, send, recv []byte, dt Datatype, op Op, root int, bad error) error
	allreduce(ctx context.Context, h Comm, send, recv []byte, dt Datatype, op Op, bad error) error
	gather(ctx context.Context, h Comm, send, recv []byte, counts, displs []int, root int, bad error) error
	scatter(ctx context.Context, h Comm, send []byte, counts, displs []int, recv []byte, root int, bad error) error
	allgather(ctx context.Context, h Comm, send, recv []byte, bad error) error
	alltoall(ctx context.Context, h Comm, send, recv []byte, bad error) error
}

var _ endpoint = (*Rank)(nil)

func (r *Rank) markInit()      { r.initialized.Store(true) }
func (r *Rank) markFinalized() { r.finalized.Store(true) }

func (r *Rank) commInfo(h Comm) (rank, size int, err error) {
	ref, err := r.comm(h)
	if err != nil {
		return 0, 0, err
	}
	return ref.rank, len(ref.c.ranks), nil
}
