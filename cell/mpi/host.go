package mpi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// The host bindings: one engine.HostFunc per function of include/mpi.h,
// with the wasm signature clang gives its C prototype (int and pointer
// arguments are i32, the int result is i32, MPI_Wtime's double is f64).
//
// A binding never trusts the guest: every pointer and length is checked
// against the linear memory before it is used, with 64-bit arithmetic so
// that count*size cannot overflow. Bad arguments return MPI error codes:
//
//   - MPI_ERR_BUFFER for a data buffer (count elements at buf) that is NULL
//     or runs past the end of memory, and for MPI_IN_PLACE where MPI does
//     not allow it;
//   - MPI_ERR_ARG for any other pointer (status, out-parameters, arrays)
//     that does not fit in memory, or an out-parameter that is NULL;
//   - MPI_ERR_COUNT, _TYPE, _OP, _COMM, _RANK, _TAG, _ROOT, _REQUEST for
//     bad values of those arguments.
//
// A data buffer of zero bytes is never dereferenced, so any pointer will do,
// as in MPI. Only three things stop the guest: MPI_Abort (anywhere in the
// world) panics with *engine.Exit carrying its error code; a failed world
// and a cancelled context panic with *engine.Trap, since the guest can make
// no progress and an error code would let it run on with wrong data.
//
// A call reads mem.Bytes() once: the guest cannot run, and so cannot grow
// its memory, until the call returns; other ranks only copy into it in
// place. Only the rank's own goroutine calls mem.Bytes(), during its own
// calls (wasmtime's Memory is only valid there). Only MPI_Irecv's buffer is
// kept beyond the call, as an offset (see buffer).

// inPlace is MPI_IN_PLACE, (void *)-1 on wasm32.
const inPlace = 0xFFFFFFFF

// statusSize is sizeof(MPI_Status): four int32s.
const statusSize = 16

// host is one rank's binding state. Only the cell's own calls use it.
type host struct {
	r           endpoint
	initialized bool
	finalized   bool
	reqs        []*Request // handle h is reqs[h-1]; nil is a free slot
	free        []int32    // free handles
	// unbound says the tables were restored from a snapshot and receive
	// buffers still point at unboundMemory: the first call binds them to
	// the cell's memory.
	unbound bool
}

// gate says when a function may be called.
type gate uint8

const (
	afterInit gate = iota // between MPI_Init and MPI_Finalize, as MPI requires
	isInit                // MPI_Init, MPI_Init_thread: once
	always                // MPI_Abort
)

// Module is the "mpi" host module of the rank's cell: the functions
// declared in include/mpi.h, bound to this rank. Build it once per cell.
// In a world made by RestoreWorld it carries the restored tables.
func (r *Rank) Module() engine.HostModule {
	if r.host == nil {
		r.host = &host{r: r}
	}
	return r.host.module()
}

// module is the "mpi" host module bound to h.
func (h *host) module() engine.HostModule {
	return engine.HostModule{Name: "mpi", Funcs: []engine.HostFunc{
		h.fn("MPI_Init", 2, isInit, h.init),
		h.fn("MPI_Init_thread", 4, isInit, h.initThread),
		h.fn("MPI_Finalize", 0, afterInit, h.finalize),
		h.fn("MPI_Abort", 2, always, h.abort),
		h.fn("MPI_Comm_rank", 2, afterInit, h.commRank),
		h.fn("MPI_Comm_size", 2, afterInit, h.commSize),
		h.fn("MPI_Comm_split", 4, afterInit, h.commSplit),
		h.fn("MPI_Comm_dup", 2, afterInit, h.commDup),
		h.fn("MPI_Comm_free", 1, afterInit, h.commFree),
		h.fn("MPI_Get_processor_name", 2, afterInit, h.processorName),
		{Name: "MPI_Wtime", Results: []engine.ValueType{engine.F64}, Call: h.wtime},
		h.fn("MPI_Send", 6, afterInit, h.send),
		h.fn("MPI_Recv", 7, afterInit, h.recv),
		h.fn("MPI_Sendrecv", 12, afterInit, h.sendrecv),
		h.fn("MPI_Isend", 7, afterInit, h.isend),
		h.fn("MPI_Irecv", 7, afterInit, h.irecv),
		h.fn("MPI_Wait", 2, afterInit, h.wait),
		h.fn("MPI_Waitall", 3, afterInit, h.waitall),
		h.fn("MPI_Test", 3, afterInit, h.test),
		h.fn("MPI_Get_count", 3, afterInit, h.getCount),
		h.fn("MPI_Barrier", 1, afterInit, h.barrier),
		h.fn("MPI_Bcast", 5, afterInit, h.bcast),
		h.fn("MPI_Reduce", 7, afterInit, h.reduce),
		h.fn("MPI_Allreduce", 6, afterInit, h.allreduce),
		h.fn("MPI_Gather", 8, afterInit, h.gather),
		h.fn("MPI_Gatherv", 9, afterInit, h.gatherv),
		h.fn("MPI_Scatter", 8, afterInit, h.scatter),
		h.fn("MPI_Scatterv", 9, afterInit, h.scatterv),
		h.fn("MPI_Allgather", 7, afterInit, h.allgather),
		h.fn("MPI_Alltoall", 7, afterInit, h.alltoall),
	}}
}

// fn makes a binding of params i32 arguments and an i32 result.
func (h *host) fn(name string, params int, g gate, f func(*args) error) engine.HostFunc {
	ps := make([]engine.ValueType, params)
	for i := range ps {
		ps[i] = engine.I32
	}
	return engine.HostFunc{
		Name:    name,
		Params:  ps,
		Results: []engine.ValueType{engine.I32},
		Call: func(ctx context.Context, mem engine.Memory, stack []uint64) {
			a := args{ctx: ctx, m: mem, stack: stack}
			if h.unbound && mem != nil {
				h.bind(mem)
			}
			err := h.r.check()
			if err == nil {
				err = h.gate(g)
			}
			if err == nil {
				if mem != nil {
					a.mem = mem.Bytes()
				}
				err = f(&a)
			}
			stack[0] = uint64(uint32(h.result(name, err)))
		},
	}
}

// bind points restored receive buffers at the cell's memory. Senders
// read a local rank's request buffers under the rank's lock, so it is
// taken here.
func (h *host) bind(mem engine.Memory) {
	if r, ok := h.r.(*Rank); ok {
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	for _, q := range h.reqs {
		if q != nil {
			if _, ok := q.buf.mem.(unboundMemory); ok {
				q.buf.mem = mem
			}
		}
	}
	h.unbound = false
}

// unboundMemory stands for a restored cell's memory until its first call:
// a sender that matches a receive meanwhile sees a guest buffer it may not
// touch, and leaves the data in the request's pending copy.
type unboundMemory struct{}

func (unboundMemory) Bytes() []byte { return nil }

func (h *host) gate(g gate) error {
	switch g {
	case isInit:
		if h.initialized {
			return fmt.Errorf("mpi: %w: MPI is initialized already", ErrOther)
		}
	case afterInit:
		if !h.initialized {
			return fmt.Errorf("mpi: %w: MPI is not initialized", ErrOther)
		}
		if h.finalized {
			return fmt.Errorf("mpi: %w: MPI is finalized", ErrOther)
		}
	}
	return nil
}

// result turns a call's error into the code returned to the guest, or
// stops the guest.
func (h *host) result(name string, err error) int32 {
	if err == nil {
		return int32(Success)
	}
	var abort *AbortError
	if errors.As(err, &abort) {
		panic(&engine.Exit{Code: uint32(int32(abort.Code))})
	}
	var failed *FailedError
	if !errors.As(err, &failed) {
		var c Class
		if errors.As(err, &c) {
			return int32(c)
		}
	}
	panic(&engine.Trap{Reason: fmt.Sprintf("%s: %v", name, err)})
}

// args decodes one call's arguments, keeping the first error.
type args struct {
	ctx   context.Context
	m     engine.Memory
	mem   []byte // m.Bytes(), fetched once per call
	stack []uint64
	err   error
}

func (a *args) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

// int is argument i as a C int.
func (a *args) int(i int) int { return int(int32(uint32(a.stack[i]))) }

// ptr is argument i as a pointer.
func (a *args) ptr(i int) uint32 { return uint32(a.stack[i]) }

func (a *args) comm(i int) Comm { return Comm(int32(uint32(a.stack[i]))) }

func (a *args) op(i int) Op { return Op(int32(uint32(a.stack[i]))) }

// dtype is argument i as a datatype, which must be valid.
func (a *args) dtype(i int) Datatype {
	t := Datatype(int32(uint32(a.stack[i])))
	if t.Size() == 0 {
		a.fail(fmt.Errorf("mpi: %w: %v", ErrType, t))
	}
	return t
}

// count is argument i as a count, which must not be negative.
func (a *args) count(i int) int {
	n := a.int(i)
	if n < 0 {
		a.fail(fmt.Errorf("mpi: %w: %d", ErrCount, n))
	}
	return n
}

// data is the guest's buffer of blocks*count elements of type t at p, or
// nil after an error.
func (a *args) data(p uint32, count int, t Datatype, blocks int) []byte {
	if a.err != nil {
		return nil
	}
	n := uint64(count) * uint64(t.Size()) * uint64(blocks)
	if n == 0 {
		return []byte{} // not nil: nil means MPI_IN_PLACE
	}
	end := uint64(p) + n
	if p == 0 || end > uint64(len(a.mem)) {
		a.fail(fmt.Errorf("mpi: %w: %d bytes at %#x outside a %d-byte memory", ErrBuffer, n, p, len(a.mem)))
		return nil
	}
	return a.mem[p:end:end]
}

// input is data, except that MPI_IN_PLACE is nil. The collective decides
// whether it is allowed.
func (a *args) input(p uint32, count int, t Datatype, blocks int) []byte {
	if p == inPlace {
		return nil
	}
	return a.data(p, count, t, blocks)
}

// span checks that n bytes at p lie in memory; p may be NULL if null is
// true (MPI_STATUS_IGNORE), and anything if n is 0.
func (a *args) span(p uint32, n uint64, null bool) bool {
	if n == 0 || p == 0 && null {
		return true
	}
	if p == 0 || uint64(p)+n > uint64(len(a.mem)) {
		a.fail(fmt.Errorf("mpi: %w: %d bytes at %#x outside a %d-byte memory", ErrArg, n, p, len(a.mem)))
		return false
	}
	return true
}

func (a *args) load(p uint32) int {
	return int(int32(binary.LittleEndian.Uint32(a.mem[p:])))
}

func (a *args) store(p uint32, v int) {
	binary.LittleEndian.PutUint32(a.mem[p:], uint32(int32(v)))
}

// ints reads an int array of n elements at p.
func (a *args) ints(p uint32, n int) []int {
	if a.err != nil || !a.span(p, 4*uint64(n), false) {
		return nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = a.load(p + 4*uint32(i))
	}
	return out
}

// putStatus writes st at p unless p is MPI_STATUS_IGNORE.
func (a *args) putStatus(p uint32, st Status) {
	if p == 0 {
		return
	}
	a.store(p, st.Source)
	a.store(p+4, st.Tag)
	a.store(p+8, int(ClassOf(st.Err)))
	a.store(p+12, st.Count)
}

// completed says whether a receive's error leaves a status to report: the
// request completed, perhaps with an error of its own (truncation).
func completed(st Status, err error) bool { return err == nil || st.Err != nil }

func (h *host) init(a *args) error {
	h.initialized = true // argc and argv are not used, and may be NULL
	h.r.markInit()
	return nil
}

func (h *host) initThread(a *args) error {
	required, provided := a.int(2), a.ptr(3)
	if required < 0 || required > 3 {
		return fmt.Errorf("mpi: %w: thread level %d", ErrArg, required)
	}
	if !a.span(provided, 4, false) {
		return a.err
	}
	// Cells have one thread that calls MPI; FUNNELED is all we promise.
	a.store(provided, min(required, 1))
	h.initialized = true
	h.r.markInit()
	return nil
}

func (h *host) finalize(a *args) error {
	h.finalized = true
	h.r.markFinalized()
	return nil
}

func (h *host) abort(a *args) error {
	return h.r.Abort(a.comm(0), a.int(1))
}

func (h *host) commRank(a *args) error { return h.storeCommInt(a, false) }
func (h *host) commSize(a *args) error { return h.storeCommInt(a, true) }

// storeCommInt answers MPI_Comm_rank and MPI_Comm_size: the rank in, or
// the size of, the communicator in argument 0, stored at the int pointer
// in argument 1.
func (h *host) storeCommInt(a *args, size bool) error {
	rank, n, err := h.commInfo(a.comm(0))
	if !size {
		n = rank
	}
	if err != nil {
		return err
	}
	if !a.span(a.ptr(1), 4, false) {
		return a.err
	}
	a.store(a.ptr(1), n)
	return nil
}

func (h *host) commSplit(a *args) error {
	out := a.ptr(3)
	a.span(out, 4, false)
	c, err := h.r.split(a.ctx, a.comm(0), kSplit, a.int(1), a.int(2), a.err)
	if err != nil {
		return err
	}
	a.store(out, int(c))
	return nil
}

func (h *host) commDup(a *args) error {
	out := a.ptr(1)
	a.span(out, 4, false)
	c, err := h.r.split(a.ctx, a.comm(0), kDup, 0, 0, a.err)
	if err != nil {
		return err
	}
	a.store(out, int(c))
	return nil
}

func (h *host) commFree(a *args) error {
	p := a.ptr(0)
	if !a.span(p, 4, false) {
		return a.err
	}
	if err := h.r.CommFree(Comm(a.load(p))); err != nil {
		return err
	}
	a.store(p, int(CommNull))
	return nil
}

func (h *host) processorName(a *args) error {
	name := h.r.ProcessorName()
	if len(name) > MaxProcessorName-1 {
		name = name[:MaxProcessorName-1]
	}
	p, lenp := a.ptr(0), a.ptr(1)
	a.span(p, uint64(len(name))+1, false)
	a.span(lenp, 4, false)
	if a.err != nil {
		return a.err
	}
	a.mem[int(p)+copy(a.mem[p:], name)] = 0
	a.store(lenp, len(name))
	return nil
}

func (h *host) wtime(ctx context.Context, mem engine.Memory, stack []uint64) {
	if err := h.r.check(); err != nil {
		h.result("MPI_Wtime", err)
	}
	stack[0] = math.Float64bits(h.r.Wtime())
}

func (h *host) send(a *args) error {
	count, t := a.count(1), a.dtype(2)
	buf := a.data(a.ptr(0), count, t, 1)
	if a.err != nil {
		return a.err
	}
	return h.r.Send(a.ctx, buf, a.int(3), a.int(4), a.comm(5))
}

func (h *host) recv(a *args) error {
	count, t, sp := a.count(1), a.dtype(2), a.ptr(6)
	buf := a.data(a.ptr(0), count, t, 1)
	a.span(sp, statusSize, true)
	if a.err != nil {
		return a.err
	}
	st, err := h.r.recv(a.ctx, sliceBuffer(buf), a.int(3), a.int(4), a.comm(5))
	if completed(st, err) {
		a.putStatus(sp, st)
	}
	return err
}

func (h *host) sendrecv(a *args) error {
	scount, stype := a.count(1), a.dtype(2)
	rcount, rtype := a.count(6), a.dtype(7)
	sp := a.ptr(11)
	sbuf := a.data(a.ptr(0), scount, stype, 1)
	rbuf := a.data(a.ptr(5), rcount, rtype, 1)
	a.span(sp, statusSize, true)
	if a.err != nil {
		return a.err
	}
	st, err := h.r.sendrecv(a.ctx, sbuf, a.int(3), a.int(4), sliceBuffer(rbuf), a.int(8), a.int(9), a.comm(10))
	if completed(st, err) {
		a.putStatus(sp, st)
	}
	return err
}

func (h *host) isend(a *args) error {
	count, t, rp := a.count(1), a.dtype(2), a.ptr(6)
	buf := a.data(a.ptr(0), count, t, 1)
	a.span(rp, 4, false)
	if a.err != nil {
		return a.err
	}
	q, err := h.r.Isend(a.ctx, buf, a.int(3), a.int(4), a.comm(5))
	if err != nil {
		return err
	}
	a.store(rp, int(h.addReq(q)))
	return nil
}

func (h *host) irecv(a *args) error {
	p, count, t, rp := a.ptr(0), a.count(1), a.dtype(2), a.ptr(6)
	b := a.data(p, count, t, 1)
	a.span(rp, 4, false)
	if a.err != nil {
		return a.err
	}
	// The guest runs before it waits for the request, and may grow (move)
	// its memory meanwhile: keep the buffer as an offset.
	buf := sliceBuffer(b)
	if len(b) > 0 {
		buf = buffer{mem: a.m, off: p, n: len(b)}
	}
	q, err := h.r.irecv(buf, a.int(3), a.int(4), a.comm(5))
	if err != nil {
		return err
	}
	a.store(rp, int(h.addReq(q)))
	return nil
}

func (h *host) addReq(q *Request) int32 {
	if n := len(h.free); n > 0 {
		hd := h.free[n-1]
		h.free = h.free[:n-1]
		h.reqs[hd-1] = q
		return hd
	}
	h.reqs = append(h.reqs, q)
	return int32(len(h.reqs))
}

// req looks up a request handle; MPI_REQUEST_NULL is nil.
func (h *host) req(hd int) (*Request, error) {
	if hd == 0 {
		return nil, nil
	}
	if hd < 0 || hd > len(h.reqs) || h.reqs[hd-1] == nil {
		return nil, fmt.Errorf("mpi: %w: no request %d", ErrRequest, hd)
	}
	return h.reqs[hd-1], nil
}

func (h *host) freeReq(hd int) {
	if hd > 0 && hd <= len(h.reqs) && h.reqs[hd-1] != nil {
		h.reqs[hd-1] = nil
		h.free = append(h.free, int32(hd))
	}
}

func (h *host) wait(a *args) error {
	rp, sp := a.ptr(0), a.ptr(1)
	a.span(rp, 4, false)
	a.span(sp, statusSize, true)
	if a.err != nil {
		return a.err
	}
	hd := a.load(rp)
	q, err := h.req(hd)
	if err != nil {
		return err
	}
	st, err := h.r.Wait(a.ctx, q)
	if completed(st, err) {
		h.freeReq(hd)
		a.store(rp, 0)
		a.putStatus(sp, st)
	}
	return err
}

func (h *host) waitall(a *args) error {
	n, rp, sp := a.count(0), a.ptr(1), a.ptr(2)
	if a.err != nil {
		return a.err
	}
	hds := a.ints(rp, n)
	a.span(sp, statusSize*uint64(n), true)
	if a.err != nil {
		return a.err
	}
	qs := make([]*Request, n)
	for i, hd := range hds {
		q, err := h.req(hd)
		if err != nil {
			return err
		}
		qs[i] = q
	}
	sts, err := h.r.Waitall(a.ctx, qs)
	if sts == nil {
		return err
	}
	for i, hd := range hds {
		h.freeReq(hd)
		a.store(rp+4*uint32(i), 0)
		if sp != 0 {
			a.putStatus(sp+statusSize*uint32(i), sts[i])
		}
	}
	// MPI returns MPI_ERR_IN_STATUS here, which mpi.h lacks: the first
	// request's error is returned, and every status has its own.
	return err
}

func (h *host) test(a *args) error {
	rp, fp, sp := a.ptr(0), a.ptr(1), a.ptr(2)
	a.span(rp, 4, false)
	a.span(fp, 4, false)
	a.span(sp, statusSize, true)
	if a.err != nil {
		return a.err
	}
	hd := a.load(rp)
	q, err := h.req(hd)
	if err != nil {
		return err
	}
	st, done, err := h.r.Test(q)
	if !done {
		a.store(fp, 0)
		return err
	}
	h.freeReq(hd)
	a.store(rp, 0)
	a.store(fp, 1)
	a.putStatus(sp, st)
	return err
}

func (h *host) getCount(a *args) error {
	sp, t, cp := a.ptr(0), a.dtype(1), a.ptr(2)
	a.span(sp, statusSize, false)
	a.span(cp, 4, false)
	if a.err != nil {
		return a.err
	}
	n := a.load(sp + 12)
	if n < 0 || n%t.Size() != 0 {
		a.store(cp, Undefined)
	} else {
		a.store(cp, n/t.Size())
	}
	return nil
}

func (h *host) barrier(a *args) error {
	return h.r.Barrier(a.ctx, a.comm(0))
}

func (h *host) bcast(a *args) error {
	count, t := a.count(1), a.dtype(2)
	buf := a.data(a.ptr(0), count, t, 1)
	return h.r.bcast(a.ctx, a.comm(4), buf, a.int(3), a.err)
}

// rootOf looks up a rooted collective's communicator and says whether this
// rank is the root; arguments significant only at the root are decoded
// only there, as MPI lets the others pass anything.
func (h *host) rootOf(hc Comm, root int) (size int, isRoot bool, err error) {
	rank, size, err := h.commInfo(hc)
	if err != nil {
		return 0, false, err
	}
	return size, root == rank, nil
}

// commInfo is the rank's rank in communicator hc and hc's size, once the
// world is known to be up.
func (h *host) commInfo(hc Comm) (rank, size int, err error) {
	if err := h.r.check(); err != nil {
		return 0, 0, err
	}
	return h.r.commInfo(hc)
}

func (h *host) reduce(a *args) error {
	hc, root := a.comm(6), a.int(5)
	_, isRoot, err := h.rootOf(hc, root)
	if err != nil {
		return err
	}
	count, t, op := a.count(2), a.dtype(3), a.op(4)
	send := a.input(a.ptr(0), count, t, 1)
	var recv []byte
	if isRoot {
		recv = a.data(a.ptr(1), count, t, 1)
	}
	return h.r.reduce(a.ctx, hc, send, recv, t, op, root, a.err)
}

func (h *host) allreduce(a *args) error {
	count, t, op := a.count(2), a.dtype(3), a.op(4)
	send := a.input(a.ptr(0), count, t, 1)
	recv := a.data(a.ptr(1), count, t, 1)
	return h.r.allreduce(a.ctx, a.comm(5), send, recv, t, op, a.err)
}

func (h *host) gather(a *args) error {
	hc, root := a.comm(7), a.int(6)
	size, isRoot, err := h.rootOf(hc, root)
	if err != nil {
		return err
	}
	var send, recv []byte
	sp := a.ptr(0)
	if !isRoot || sp != inPlace {
		send = a.data(sp, a.count(1), a.dtype(2), 1)
	}
	if isRoot {
		recv = a.data(a.ptr(3), a.count(4), a.dtype(5), size)
	}
	return h.r.gather(a.ctx, hc, send, recv, nil, nil, root, a.err)
}

func (h *host) gatherv(a *args) error {
	hc, root := a.comm(8), a.int(7)
	size, isRoot, err := h.rootOf(hc, root)
	if err != nil {
		return err
	}
	var send, recv []byte
	sp := a.ptr(0)
	if !isRoot || sp != inPlace {
		send = a.data(sp, a.count(1), a.dtype(2), 1)
	}
	counts, displs := []int{}, []int(nil)
	if isRoot {
		t := a.dtype(6)
		counts, displs, recv = a.vector(a.ptr(3), a.ptr(4), a.ptr(5), t, size)
	}
	return h.r.gather(a.ctx, hc, send, recv, counts, displs, root, a.err)
}

// vector decodes a v-collective's buffer at p with n counts at cp and
// displacements at dp (elements of t), giving counts and displacements in
// bytes and the buffer up to its furthest block.
func (a *args) vector(p, cp, dp uint32, t Datatype, n int) (counts, displs []int, buf []byte) {
	counts, displs = a.ints(cp, n), a.ints(dp, n)
	if a.err != nil {
		return []int{}, nil, nil
	}
	sz := t.Size()
	end := 0
	for i := range n {
		if counts[i] < 0 {
			a.fail(fmt.Errorf("mpi: %w: count %d for rank %d", ErrCount, counts[i], i))
		} else if displs[i] < 0 {
			a.fail(fmt.Errorf("mpi: %w: displacement %d for rank %d", ErrArg, displs[i], i))
		}
		counts[i] *= sz // at most 2^31 * 8: no overflow in a Go int
		displs[i] *= sz
		if counts[i] > 0 {
			end = max(end, displs[i]+counts[i])
		} else {
			displs[i] = 0 // an empty block may point anywhere
		}
	}
	buf = a.data(p, end, Byte, 1)
	if a.err != nil {
		return []int{}, nil, nil
	}
	return counts, displs, buf
}

func (h *host) scatter(a *args) error {
	hc, root := a.comm(7), a.int(6)
	size, isRoot, err := h.rootOf(hc, root)
	if err != nil {
		return err
	}
	var send, recv []byte
	if isRoot {
		send = a.data(a.ptr(0), a.count(1), a.dtype(2), size)
	}
	rp := a.ptr(3)
	if !isRoot || rp != inPlace {
		recv = a.data(rp, a.count(4), a.dtype(5), 1)
	}
	return h.r.scatter(a.ctx, hc, send, nil, nil, recv, root, a.err)
}

func (h *host) scatterv(a *args) error {
	hc, root := a.comm(8), a.int(7)
	size, isRoot, err := h.rootOf(hc, root)
	if err != nil {
		return err
	}
	var send, recv []byte
	counts, displs := []int{}, []int(nil)
	if isRoot {
		t := a.dtype(3)
		counts, displs, send = a.vector(a.ptr(0), a.ptr(1), a.ptr(2), t, size)
	}
	rp := a.ptr(4)
	if !isRoot || rp != inPlace {
		recv = a.data(rp, a.count(5), a.dtype(6), 1)
	}
	return h.r.scatter(a.ctx, hc, send, counts, displs, recv, root, a.err)
}

func (h *host) allgather(a *args) error {
	hc := a.comm(6)
	_, size, err := h.commInfo(hc)
	if err != nil {
		return err
	}
	var send []byte
	if sp := a.ptr(0); sp != inPlace {
		send = a.data(sp, a.count(1), a.dtype(2), 1)
	}
	recv := a.data(a.ptr(3), a.count(4), a.dtype(5), size)
	return h.r.allgather(a.ctx, hc, send, recv, a.err)
}

func (h *host) alltoall(a *args) error {
	hc := a.comm(6)
	_, n, err := h.commInfo(hc)
	if err != nil {
		return err
	}
	var send []byte
	if sp := a.ptr(0); sp != inPlace {
		send = a.data(sp, a.count(1), a.dtype(2), n)
	}
	recv := a.data(a.ptr(3), a.count(4), a.dtype(5), n)
	return h.r.alltoall(a.ctx, hc, send, recv, a.err)
}
