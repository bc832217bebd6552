package mpi

import (
	"context"
	"fmt"
	"sync"
)

// Collectives meet in a round: each member copies its input into the round
// (Go memory) when it arrives, waits for the members it needs, and then
// writes only its own output. No rank ever touches another rank's linear
// memory here, so a member that leaves early (cancelled, failed world)
// leaves nothing dangling, and collectives never see point-to-point traffic.

type collKind uint8

const (
	kBarrier collKind = iota + 1
	kBcast
	kReduce
	kAllreduce
	kGather
	kGatherv
	kScatter
	kScatterv
	kAllgather
	kAlltoall
	kSplit
	kDup
)

func (k collKind) String() string {
	switch k {
	case kBarrier:
		return "MPI_Barrier"
	case kBcast:
		return "MPI_Bcast"
	case kReduce:
		return "MPI_Reduce"
	case kAllreduce:
		return "MPI_Allreduce"
	case kGather:
		return "MPI_Gather"
	case kGatherv:
		return "MPI_Gatherv"
	case kScatter:
		return "MPI_Scatter"
	case kScatterv:
		return "MPI_Scatterv"
	case kAllgather:
		return "MPI_Allgather"
	case kAlltoall:
		return "MPI_Alltoall"
	case kSplit:
		return "MPI_Comm_split"
	case kDup:
		return "MPI_Comm_dup"
	}
	return fmt.Sprintf("collective(%d)", uint8(k))
}

// contrib is what one member brings to a round.
type contrib struct {
	kind  collKind
	root  int // -1 for collectives without a root
	dt    Datatype
	op    Op
	data  []byte   // a copy of the member's input
	parts [][]byte // Scatter(v)'s root: each member's part of data
	color int      // Comm_split
	key   int
	// bad is the member's own argument error; a member with bad arguments
	// still arrives, so that the others fail instead of waiting forever.
	bad error
}

// round is one collective operation on a communicator.
type round struct {
	in      []contrib // by communicator rank, each written before its arrival counts
	arrived int
	all     chan struct{} // closed when every member has arrived
	root    chan struct{} // closed when a member that is the root arrived
	rootIn  bool

	// Allreduce on large data reduces in chunks, one per member, then
	// waits for every chunk.
	reduced  int
	chunksIn chan struct{}

	// finished counts members done with the round; the last one recycles
	// the input copies.
	finished int

	// Comm_split and Comm_dup make the new communicators once.
	once  sync.Once
	split map[int]*comm
}

// begin starts a call on communicator h.
func (r *Rank) begin(h Comm) (*commRef, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	return r.comm(h)
}

// arrive puts the member's contribution into its next round on ref.
func (r *Rank) arrive(ref *commRef, me contrib) *round {
	c := ref.c
	seq := ref.seq
	ref.seq++
	c.mu.Lock()
	defer c.mu.Unlock()
	rd := c.rounds[seq]
	if rd == nil {
		rd = &round{in: make([]contrib, len(c.ranks)), all: make(chan struct{}), root: make(chan struct{})}
		c.rounds[seq] = rd
	}
	rd.in[ref.rank] = me
	rd.arrived++
	if me.root == ref.rank && !rd.rootIn {
		rd.rootIn = true
		close(rd.root)
	}
	if rd.arrived == len(rd.in) {
		delete(c.rounds, seq) // members that still need it hold it
		close(rd.all)
	}
	return rd
}

// finish says that this member will not look at rd again. When no member
// will, the input copies go back to the pool. A member that returns early
// (cancelled, failed world) is done with the round too: it reads nothing
// after that.
func (r *Rank) finish(ref *commRef, rd *round) {
	c := ref.c
	c.mu.Lock()
	rd.finished++
	last := rd.finished == len(rd.in)
	c.mu.Unlock()
	if !last {
		return
	}
	for i := range rd.in {
		if d := rd.in[i].data; d != nil {
			r.w.bufs.put(d)
		}
		rd.in[i].data, rd.in[i].parts = nil, nil
	}
}

// awaitRoot waits until the root has arrived. If everyone arrived and no
// member is the root, the members disagree about the root; agree says so.
func (r *Rank) awaitRoot(ctx context.Context, rd *round) error {
	select {
	case <-rd.root:
		return nil
	case <-rd.all:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mpi: rank %d: %w", r.rank, ctx.Err())
	case <-r.w.down:
		return r.w.downErr
	}
}

// chunkDone reports this member's chunk of a round reduced and returns the
// channel closed once all are.
func (c *comm) chunkDone(rd *round) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rd.chunksIn == nil {
		rd.chunksIn = make(chan struct{})
	}
	rd.reduced++
	if rd.reduced == len(rd.in) {
		close(rd.chunksIn)
	}
	return rd.chunksIn
}

// agree checks member i's contribution against ours: MPI requires every
// member to call the same collective with the same root, and reductions
// with the same count, type and operation.
func agree(me contrib, i int, other contrib) error {
	switch {
	case other.bad != nil:
		return fmt.Errorf("mpi: %w: rank %d of the communicator failed %v: %v", ErrOther, i, other.kind, other.bad)
	case other.kind != me.kind:
		return fmt.Errorf("mpi: %w: %v here met %v on rank %d", ErrOther, me.kind, other.kind, i)
	case other.root != me.root:
		return fmt.Errorf("mpi: %w: %v with root %d here and %d on rank %d", ErrRoot, me.kind, me.root, other.root, i)
	}
	if me.kind == kReduce || me.kind == kAllreduce {
		switch {
		case other.dt != me.dt:
			return fmt.Errorf("mpi: %w: %v of %v here and %v on rank %d", ErrType, me.kind, me.dt, other.dt, i)
		case other.op != me.op:
			return fmt.Errorf("mpi: %w: %v with %v here and %v on rank %d", ErrOp, me.kind, me.op, other.op, i)
		case len(other.data) != len(me.data):
			return fmt.Errorf("mpi: %w: %v of %d bytes here and %d on rank %d", ErrCount, me.kind, len(me.data), len(other.data), i)
		}
	}
	return nil
}

func agreeAll(me contrib, in []contrib) error {
	for i := range in {
		if err := agree(me, i, in[i]); err != nil {
			return err
		}
	}
	return nil
}

func (ref *commRef) checkRoot(root int) error {
	if root < 0 || root >= len(ref.c.ranks) {
		return fmt.Errorf("mpi: %w: root %d in a communicator of %d", ErrRoot, root, len(ref.c.ranks))
	}
	return nil
}

// put copies a block into its place in a receive buffer.
func put(dst, src []byte) error {
	if len(src) > len(dst) {
		return fmt.Errorf("mpi: %w: %d bytes into a %d-byte block", ErrTruncate, len(src), len(dst))
	}
	copy(dst, src)
	return nil
}

func errInPlace(kind collKind) error {
	return fmt.Errorf("mpi: %w: MPI_IN_PLACE is not allowed here in %v", ErrBuffer, kind)
}

// block is the i-th of len(b)/n equal blocks of b.
func block(b []byte, n, i int) []byte {
	sz := len(b) / n
	return b[i*sz : (i+1)*sz : (i+1)*sz]
}

// Barrier returns once every member of comm has called it (MPI_Barrier).
func (r *Rank) Barrier(ctx context.Context, comm Comm) error {
	ref, err := r.begin(comm)
	if err != nil {
		return err
	}
	me := contrib{kind: kBarrier, root: -1}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if err := r.await(ctx, rd.all); err != nil {
		return err
	}
	return agreeAll(me, rd.in)
}

// Bcast copies root's buf into every other member's buf (MPI_Bcast).
func (r *Rank) Bcast(ctx context.Context, buf []byte, root int, comm Comm) error {
	return r.bcast(ctx, comm, buf, root, nil)
}

func (r *Rank) bcast(ctx context.Context, h Comm, buf []byte, root int, bad error) error {
	ref, err := r.begin(h)
	if err != nil {
		return err
	}
	if bad == nil {
		bad = ref.checkRoot(root)
	}
	me := contrib{kind: kBcast, root: root, bad: bad}
	isRoot := root == ref.rank
	if isRoot && bad == nil {
		me.data = r.w.bufs.clone(buf)
	}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil || isRoot {
		return bad
	}
	if err := r.awaitRoot(ctx, rd); err != nil {
		return err
	}
	if err := agree(me, root, rd.in[root]); err != nil {
		return err
	}
	return put(buf, rd.in[root].data)
}

// Reduce combines every member's send with op, element-wise in rank order,
// into root's recv (MPI_Reduce). A nil send at the root is MPI_IN_PLACE:
// the root's input is its recv. recv matters only at the root.
func (r *Rank) Reduce(ctx context.Context, send, recv []byte, dt Datatype, op Op, root int, comm Comm) error {
	return r.reduce(ctx, comm, send, recv, dt, op, root, nil)
}

func (r *Rank) reduce(ctx context.Context, h Comm, send, recv []byte, dt Datatype, op Op, root int, bad error) error {
	ref, err := r.begin(h)
	if err != nil {
		return err
	}
	if bad == nil {
		bad = ref.checkRoot(root)
	}
	isRoot := root == ref.rank
	input := send
	if send == nil && isRoot {
		input = recv
	}
	if bad == nil {
		bad = checkReduce(kReduce, input, recv, dt, op, isRoot)
	}
	me := contrib{kind: kReduce, root: root, dt: dt, op: op, bad: bad}
	if bad == nil {
		me.data = r.w.bufs.clone(input)
	}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil || !isRoot {
		return bad
	}
	if err := r.await(ctx, rd.all); err != nil {
		return err
	}
	if err := agreeAll(me, rd.in); err != nil {
		return err
	}
	out := recv[:len(me.data)]
	copy(out, rd.in[0].data)
	for _, c := range rd.in[1:] {
		reduce(dt, op, out, c.data)
	}
	return nil
}

// checkReduce validates a reduction's local arguments; input is nil for a
// misplaced MPI_IN_PLACE.
func checkReduce(kind collKind, input, recv []byte, dt Datatype, op Op, needRecv bool) error {
	if err := checkOp(dt, op); err != nil {
		return err
	}
	if input == nil {
		return errInPlace(kind)
	}
	if len(input)%dt.Size() != 0 {
		return fmt.Errorf("mpi: %w: %d bytes are not a whole number of %v", ErrCount, len(input), dt)
	}
	if needRecv && len(recv) < len(input) {
		return fmt.Errorf("mpi: %w: %d-byte receive buffer for %d bytes", ErrBuffer, len(recv), len(input))
	}
	return nil
}

// allreduceChunk is the size from which Allreduce splits the reduction
// among the members (each reduces one slice of the vector) instead of
// having each member reduce all of it; below it, the extra wait costs more
// than the work it shares.
const allreduceChunk = 16 << 10

// Allreduce is Reduce with the result in every member's recv
// (MPI_Allreduce). A nil send is MPI_IN_PLACE.
func (r *Rank) Allreduce(ctx context.Context, send, recv []byte, dt Datatype, op Op, comm Comm) error {
	return r.allreduce(ctx, comm, send, recv, dt, op, nil)
}

func (r *Rank) allreduce(ctx context.Context, h Comm, send, recv []byte, dt Datatype, op Op, bad error) error {
	ref, err := r.begin(h)
	if err != nil {
		return err
	}
	input := send
	if send == nil {
		input = recv
	}
	if bad == nil {
		bad = checkReduce(kAllreduce, input, recv, dt, op, true)
	}
	me := contrib{kind: kAllreduce, root: -1, dt: dt, op: op, bad: bad}
	if bad == nil {
		me.data = r.w.bufs.clone(input)
	}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil {
		return bad
	}
	if err := r.await(ctx, rd.all); err != nil {
		return err
	}
	if err := agreeAll(me, rd.in); err != nil {
		return err
	}
	out := recv[:len(me.data)]
	n := len(rd.in)
	if len(out) < allreduceChunk || n == 1 {
		copy(out, rd.in[0].data)
		for _, c := range rd.in[1:] {
			reduce(dt, op, out, c.data)
		}
		return nil
	}
	// Reduce our chunk into member 0's copy, which no other member touches
	// there, then wait for the others' chunks and take the whole.
	sz := dt.Size()
	elems := len(out) / sz
	lo, hi := elems*ref.rank/n*sz, elems*(ref.rank+1)/n*sz
	acc := rd.in[0].data[lo:hi]
	for _, c := range rd.in[1:] {
		reduce(dt, op, acc, c.data[lo:hi])
	}
	if err := r.await(ctx, ref.c.chunkDone(rd)); err != nil {
		return err
	}
	copy(out, rd.in[0].data)
	return nil
}

// Gather puts every member's send, in rank order, into root's recv, which
// holds one equal block per member (MPI_Gather). A nil send at the root is
// MPI_IN_PLACE: the root's block is already in place. recv matters only at
// the root.
func (r *Rank) Gather(ctx context.Context, send, recv []byte, root int, comm Comm) error {
	return r.gather(ctx, comm, send, recv, nil, nil, root, nil)
}

// Gatherv is Gather with member i's block at recv[displs[i]:][:counts[i]]
// (bytes; MPI_Gatherv). counts and displs matter only at the root.
func (r *Rank) Gatherv(ctx context.Context, send, recv []byte, counts, displs []int, root int, comm Comm) error {
	if counts == nil {
		counts = []int{} // nil would mean Gather
	}
	return r.gather(ctx, comm, send, recv, counts, displs, root, nil)
}

// gather is Gather if counts is nil and Gatherv otherwise.
func (r *Rank) gather(ctx context.Context, h Comm, send, recv []byte, counts, displs []int, root int, bad error) error {
	ref, err := r.begin(h)
	if err != nil {
		return err
	}
	kind := kGather
	if counts != nil {
		kind = kGatherv
	}
	if bad == nil {
		bad = ref.checkRoot(root)
	}
	n := len(ref.c.ranks)
	isRoot := root == ref.rank
	if bad == nil && send == nil && !isRoot {
		bad = errInPlace(kind)
	}
	if bad == nil && isRoot {
		if kind == kGather {
			bad = checkBlocks(len(recv), n)
		} else {
			bad = checkV(counts, displs, len(recv), n)
		}
	}
	me := contrib{kind: kind, root: root, bad: bad}
	if bad == nil && !isRoot {
		me.data = r.w.bufs.clone(send)
	}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil || !isRoot {
		return bad
	}
	if err := r.await(ctx, rd.all); err != nil {
		return err
	}
	if err := agreeAll(me, rd.in); err != nil {
		return err
	}
	var first error
	for i, c := range rd.in {
		src := c.data
		if i == ref.rank {
			if send == nil {
				continue
			}
			src = send
		}
		var dst []byte
		if kind == kGather {
			dst = block(recv, n, i)
		} else {
			dst = recv[displs[i] : displs[i]+counts[i]]
		}
		if err := put(dst, src); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// checkBlocks checks that a buffer of size bytes holds n equal blocks.
func checkBlocks(size, n int) error {
	if size%n != 0 {
		return fmt.Errorf("mpi: %w: %d bytes are not %d equal blocks", ErrCount, size, n)
	}
	return nil
}

// checkV checks the counts and displacements (bytes) of a v-collective.
// Negative displacements, which MPI allows, are refused.
func checkV(counts, displs []int, size, n int) error {
	if len(counts) != n || len(displs) != n {
		return fmt.Errorf("mpi: %w: %d counts and %d displacements for %d ranks", ErrArg, len(counts), len(displs), n)
	}
	for i := range n {
		if counts[i] < 0 {
			return fmt.Errorf("mpi: %w: count %d for rank %d", ErrCount, counts[i], i)
		}
		if displs[i] < 0 || displs[i] > size || counts[i] > size-displs[i] {
			return fmt.Errorf("mpi: %w: block [%d, +%d) for rank %d outside a %d-byte buffer", ErrBuffer, displs[i], counts[i], i, size)
		}
	}
	return nil
}

// Scatter sends the i-th of the equal blocks of root's send to member i's
// recv (MPI_Scatter). A nil recv at the root is MPI_IN_PLACE: the root's
// block stays where it is. send matters only at the root.
func (r *Rank) Scatter(ctx context.Context, send, recv []byte, root int, comm Comm) error {
	return r.scatter(ctx, comm, send, nil, nil, recv, root, nil)
}

// Scatterv is Scatter with member i's block at send[displs[i]:][:counts[i]]
// (bytes; MPI_Scatterv). send, counts and displs matter only at the root.
func (r *Rank) Scatterv(ctx context.Context, send []byte, counts, displs []int, recv []byte, root int, comm Comm) error {
	if counts == nil {
		counts = []int{}
	}
	return r.scatter(ctx, comm, send, counts, displs, recv, root, nil)
}

func (r *Rank) scatter(ctx context.Context, h Comm, send []byte, counts, displs []int, recv []byte, root int, bad error) error {
	ref, err := r.begin(h)
	if err != nil {
		return err
	}
	kind := kScatter
	if counts != nil {
		kind = kScatterv
	}
	if bad == nil {
		bad = ref.checkRoot(root)
	}
	n := len(ref.c.ranks)
	isRoot := root == ref.rank
	if bad == nil && recv == nil && !isRoot {
		bad = errInPlace(kind)
	}
	if bad == nil && isRoot {
		if kind == kScatter {
			bad = checkBlocks(len(send), n)
		} else {
			bad = checkV(counts, displs, len(send), n)
		}
	}
	me := contrib{kind: kind, root: root, bad: bad}
	var own error // the root's copy to itself
	if bad == nil && isRoot {
		part := func(i int) []byte {
			if kind == kScatter {
				return block(send, n, i)
			}
			return send[displs[i] : displs[i]+counts[i]]
		}
		total := 0
		for i := range n {
			if i != ref.rank {
				total += len(part(i))
			}
		}
		me.data = r.w.bufs.get(total)
		me.parts = make([][]byte, n)
		for i := range n {
			if i == ref.rank {
				if recv != nil {
					own = put(recv, part(i))
				}
				continue
			}
			start := len(me.data)
			me.data = append(me.data, part(i)...)
			me.parts[i] = me.data[start:len(me.data):len(me.data)]
		}
	}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil {
		return bad
	}
	if isRoot {
		return own
	}
	if err := r.awaitRoot(ctx, rd); err != nil {
		return err
	}
	if err := agree(me, root, rd.in[root]); err != nil {
		return err
	}
	return put(recv, rd.in[root].parts[ref.rank])
}

// Allgather puts every member's send into every member's recv, which holds
// one equal block per member (MPI_Allgather). A nil send is MPI_IN_PLACE:
// the member's input is its own block of recv.
func (r *Rank) Allgather(ctx context.Context, send, recv []byte, comm Comm) error {
	return r.allgather(ctx, comm, send, recv, nil)
}

func (r *Rank) allgather(ctx context.Context, h Comm, send, recv []byte, bad error) error {
	ref, err := r.begin(h)
	if err != nil {
		return err
	}
	n := len(ref.c.ranks)
	if bad == nil {
		bad = checkBlocks(len(recv), n)
	}
	me := contrib{kind: kAllgather, root: -1, bad: bad}
	if bad == nil {
		if send == nil {
			me.data = r.w.bufs.clone(block(recv, n, ref.rank))
		} else {
			me.data = r.w.bufs.clone(send)
		}
	}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil {
		return bad
	}
	if err := r.await(ctx, rd.all); err != nil {
		return err
	}
	if err := agreeAll(me, rd.in); err != nil {
		return err
	}
	var first error
	for i, c := range rd.in {
		if i == ref.rank && send == nil {
			continue
		}
		if err := put(block(recv, n, i), c.data); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Alltoall sends the j-th equal block of member i's send to the i-th block
// of member j's recv (MPI_Alltoall). A nil send is MPI_IN_PLACE: the input
// is recv, which is then overwritten.
func (r *Rank) Alltoall(ctx context.Context, send, recv []byte, comm Comm) error {
	return r.alltoall(ctx, comm, send, recv, nil)
}

func (r *Rank) alltoall(ctx context.Context, h Comm, send, recv []byte, bad error) error {
	ref, err := r.begin(h)
	if err != nil {
		return err
	}
	n := len(ref.c.ranks)
	input := send
	if send == nil {
		input = recv
	}
	if bad == nil {
		bad = checkBlocks(len(recv), n)
	}
	if bad == nil {
		bad = checkBlocks(len(input), n)
	}
	me := contrib{kind: kAlltoall, root: -1, bad: bad}
	if bad == nil {
		me.data = r.w.bufs.clone(input)
	}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil {
		return bad
	}
	if err := r.await(ctx, rd.all); err != nil {
		return err
	}
	if err := agreeAll(me, rd.in); err != nil {
		return err
	}
	var first error
	for i, c := range rd.in {
		if err := put(block(recv, n, i), block(c.data, n, ref.rank)); err != nil && first == nil {
			first = err
		}
	}
	return first
}
