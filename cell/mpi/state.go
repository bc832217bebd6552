package mpi

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A world stops for migration at a consistent cut: every rank stops on
// entering the same call, a collective on MPI_COMM_WORLD (or
// MPI_Finalize), before it contributes anything. At such a point no
// collective on any communicator is half done (each rank finished its
// earlier ones, in program order, before reaching this one) and every
// eager message sent before the cut has been delivered, into a posted
// receive or the receiver's queue of unexpected messages. So a rank's MPI
// state is its own tables and queues, which RankState captures, and
// nothing is in flight between ranks.
//
// Which call is "the same" is decided by counting: each rank counts the
// world collectives it enters. RequestStop picks the count one past the
// largest any rank has reached, under the lock every count is taken
// under, so a rank already inside a collective finishes it (its peers are
// at most about to enter it, and will) and all stop at the next one.
// MPI requires every rank to call the world's collectives in the same
// order, which is what makes the count name the same call everywhere.
//
// A program that makes no world collective after the request stops at
// MPI_Finalize; one whose ranks all passed MPI_Finalize already does not
// stop and simply ends.

// worldCollectives are the "mpi" functions that are world stop points,
// with the index of their communicator argument (-1: none, MPI_Finalize).
var worldCollectives = map[string]int{
	"MPI_Finalize":   -1,
	"MPI_Barrier":    0,
	"MPI_Comm_split": 0,
	"MPI_Comm_dup":   0,
	"MPI_Bcast":      4,
	"MPI_Reduce":     6,
	"MPI_Allreduce":  5,
	"MPI_Gather":     7,
	"MPI_Gatherv":    8,
	"MPI_Scatter":    7,
	"MPI_Scatterv":   8,
	"MPI_Allgather":  6,
	"MPI_Alltoall":   6,
}

// stopState is the world's side of stopping: guarded by World.stopMu.
type stopState struct {
	entered []uint64 // world collectives each rank has entered
	target  uint64   // stop on entering this one; 0: no stop requested
}

// RequestStop asks every rank to stop at the next world collective that
// none has entered yet (see StopBefore). It reports the collective's
// number, counted from 1 over the world's life, or 0 if a rank has moved
// out of the process: such a world cannot stop as a whole.
func (w *World) RequestStop() uint64 {
	w.stopMu.Lock()
	defer w.stopMu.Unlock()
	if len(w.moved) > 0 {
		return 0
	}
	if w.stop.target == 0 {
		w.stop.target = slices.Max(w.stop.entered) + 1
	}
	return w.stop.target
}

// StopAtCollective asks every rank to stop on entering world collective
// number n (from 1): a deterministic stop point, for tests and for
// `cloudskin cell mpirun --snapshot-at`. It fails if a rank is past it.
func (w *World) StopAtCollective(n uint64) error {
	w.stopMu.Lock()
	defer w.stopMu.Unlock()
	if n == 0 {
		return errors.New("mpi: stop at collective 0: collectives count from 1")
	}
	if m := slices.Max(w.stop.entered); m >= n {
		return fmt.Errorf("mpi: stop at collective %d: a rank has entered collective %d already", n, m)
	}
	w.stop.target = n
	return nil
}

// StopBefore is asked by the migration machinery before the rank's cell
// calls the "mpi" function name with arguments args: true means the rank
// stops here, before the call, and the call is made again when the rank
// resumes (so it is counted only the first time).
func (r *Rank) StopBefore(name string, args []uint64) bool {
	commArg, ok := worldCollectives[name]
	if !ok {
		return false
	}
	if commArg >= 0 {
		if commArg >= len(args) || !r.isWorld(Comm(int32(uint32(args[commArg])))) {
			return false
		}
	}
	w := r.w
	w.stopMu.Lock()
	defer w.stopMu.Unlock()
	w.stop.entered[r.rank]++
	return w.stop.entered[r.rank] == w.stop.target
}

// isWorld reports whether h is this rank's handle on MPI_COMM_WORLD.
func (r *Rank) isWorld(h Comm) bool {
	ref, err := r.comm(h)
	return err == nil && ref.c.context == worldContext
}

// RankState is one rank's MPI state at a world cut: everything of MPI a
// stopped rank holds, in a form that can be written down. Requests refer to
// receive buffers by linear-memory offset, which the rank's memory
// snapshot makes valid again.
type RankState struct {
	Rank      int    `json:"rank"`
	WorldSize int    `json:"worldSize"`
	Entered   uint64 `json:"enteredCollectives"`
	// NextContext is the world's communicator context counter.
	NextContext uint32 `json:"nextContext"`
	// Wtime is MPI_Wtime at the cut, so that it goes on from there.
	Wtime       float64           `json:"wtime"`
	Initialized bool              `json:"initialized"`
	Finalized   bool              `json:"finalized"`
	Comms       []*CommState      `json:"comms"`    // by handle; nil: free
	Requests    []*RequestState   `json:"requests"` // by handle-1; nil: free
	FreeReqs    []int32           `json:"freeRequests,omitempty"`
	Unexpected  []UnexpectedState `json:"unexpected,omitempty"`
	Groups      map[uint32][]int  `json:"groups"` // context -> world ranks of each communicator referenced
}

// CommState is a rank's handle on a communicator.
type CommState struct {
	Context uint32 `json:"context"`
	Rank    int    `json:"rank"` // the rank's rank in it
	Seq     uint64 `json:"seq"`  // collectives started on it
}

// RequestState is a pending or completed request.
type RequestState struct {
	Send    bool   `json:"send,omitempty"` // a completed MPI_Isend
	Context uint32 `json:"context,omitempty"`
	Source  int    `json:"source,omitempty"`
	Tag     int    `json:"tag,omitempty"`
	// BufOffset and BufLen locate a receive's buffer in linear memory.
	BufOffset uint32 `json:"bufOffset,omitempty"`
	BufLen    int    `json:"bufLen,omitempty"`
	Done      bool   `json:"done,omitempty"`
	// Status of a done request; ErrClass 0 means no error.
	StatusSource int    `json:"statusSource,omitempty"`
	StatusTag    int    `json:"statusTag,omitempty"`
	StatusCount  int    `json:"statusCount,omitempty"`
	ErrClass     Class  `json:"errClass,omitempty"`
	ErrMessage   string `json:"errMessage,omitempty"`
	// Pending is data that arrived but is not yet copied into the buffer.
	Pending []byte `json:"pending,omitempty"`
}

// UnexpectedState is a message that arrived before its receive.
type UnexpectedState struct {
	Envelope Envelope `json:"envelope"`
	Data     []byte   `json:"data"`
}

// State captures the rank's MPI state. The rank must be stopped at a world
// cut (StopBefore returned true and its cell has unwound); State checks
// that no collective is in progress on its communicators.
func (r *Rank) State() (*RankState, error) {
	h := r.host
	if h == nil {
		return nil, fmt.Errorf("mpi: rank %d has no cell bound (Module was never called)", r.rank)
	}
	w := r.w
	w.stopMu.Lock()
	entered := w.stop.entered[r.rank]
	w.stopMu.Unlock()
	s := &RankState{
		Rank: r.rank, WorldSize: len(w.ranks), Entered: entered,
		NextContext: w.nextContext.Load(), Wtime: w.wtime(),
		Initialized: h.initialized, Finalized: h.finalized,
		Groups:   make(map[uint32][]int),
		FreeReqs: slices.Clone(h.free),
	}
	for _, ref := range r.comms {
		if ref == nil {
			s.Comms = append(s.Comms, nil)
			continue
		}
		ref.c.mu.Lock()
		busy := len(ref.c.rounds)
		ref.c.mu.Unlock()
		if busy != 0 {
			return nil, fmt.Errorf("mpi: rank %d: a collective is in progress on communicator context %d: not a world cut", r.rank, ref.c.context)
		}
		s.Comms = append(s.Comms, &CommState{Context: ref.c.context, Rank: ref.rank, Seq: ref.seq})
		s.Groups[ref.c.context] = slices.Clone(ref.c.ranks)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range h.reqs {
		if q == nil {
			s.Requests = append(s.Requests, nil)
			continue
		}
		rs, err := requestState(q)
		if err != nil {
			return nil, fmt.Errorf("mpi: rank %d: %w", r.rank, err)
		}
		s.Requests = append(s.Requests, rs)
	}
	for _, m := range r.unexpected {
		s.Unexpected = append(s.Unexpected, UnexpectedState{Envelope: m.env, Data: m.data})
	}
	return s, nil
}

func requestState(q *Request) (*RequestState, error) {
	if q.comm == nil { // an Isend: complete at once
		return &RequestState{Send: true, Done: true, StatusSource: AnySource, StatusTag: AnyTag}, nil
	}
	if q.buf.mem == nil && q.buf.n > 0 {
		return nil, errors.New("a receive into a Go buffer cannot be captured")
	}
	rs := &RequestState{
		Context: q.context, Source: q.source, Tag: q.tag,
		BufOffset: q.buf.off, BufLen: q.buf.n, Done: q.done,
		Pending: q.pending,
	}
	if q.done {
		rs.StatusSource, rs.StatusTag, rs.StatusCount = q.status.Source, q.status.Tag, q.status.Count
		if q.status.Err != nil {
			rs.ErrClass = ErrOther
			errors.As(q.status.Err, &rs.ErrClass)
			rs.ErrMessage = q.status.Err.Error()
		}
	}
	return rs, nil
}

// MarshalRankState and UnmarshalRankState are the MPI state's encoding in
// a cell snapshot (docs/formats/snapshot.md): JSON.
func MarshalRankState(s *RankState) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("mpi: encode state of rank %d: %w", s.Rank, err)
	}
	return b, nil
}

// UnmarshalRankState decodes what MarshalRankState wrote.
func UnmarshalRankState(b []byte) (*RankState, error) {
	var s RankState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("mpi: decode rank state: %w", err)
	}
	if s.WorldSize < 1 || s.Rank < 0 || s.Rank >= s.WorldSize {
		return nil, fmt.Errorf("mpi: decode rank state: rank %d of a world of %d", s.Rank, s.WorldSize)
	}
	return &s, nil
}

// RestoreWorld makes a world that continues from the states of all its
// ranks, one per rank in rank order, as captured at one cut. Each rank's
// cell must then be resumed from its own snapshot; its Module carries the
// restored request and communicator tables.
func RestoreWorld(states []*RankState, opts Options) (*World, error) {
	if err := checkCut(states); err != nil {
		return nil, err
	}
	w := NewWorld(len(states), opts)
	w.epoch = w.now().Add(-time.Duration(states[0].Wtime * float64(time.Second)))
	w.nextContext.Store(states[0].NextContext)
	comms := make(map[uint32]*comm)
	for _, s := range states {
		for ctxID, ranks := range s.Groups {
			if ctxID == selfContext {
				continue
			}
			if err := checkGroup(ctxID, ranks, len(states)); err != nil {
				return nil, err
			}
			if c, ok := comms[ctxID]; ok {
				if !slices.Equal(c.ranks, ranks) {
					return nil, fmt.Errorf("mpi: restore: ranks disagree on the members of communicator context %d", ctxID)
				}
				continue
			}
			comms[ctxID] = newComm(ctxID, slices.Clone(ranks))
		}
	}
	for i, s := range states {
		if err := w.ranks[i].restore(s, comms); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// checkGroup verifies a communicator's members: distinct world ranks.
func checkGroup(ctxID uint32, ranks []int, size int) error {
	seen := make(map[int]bool, len(ranks))
	for _, r := range ranks {
		if r < 0 || r >= size || seen[r] {
			return fmt.Errorf("mpi: restore: communicator context %d has member %d in a world of %d (or twice)", ctxID, r, size)
		}
		seen[r] = true
	}
	if len(ranks) == 0 {
		return fmt.Errorf("mpi: restore: communicator context %d has no members", ctxID)
	}
	return nil
}

// checkCut verifies that states are one world's ranks at one cut.
func checkCut(states []*RankState) error {
	if len(states) == 0 {
		return errors.New("mpi: restore: no ranks")
	}
	for i, s := range states {
		switch {
		case s == nil:
			return fmt.Errorf("mpi: restore: rank %d has no state", i)
		case s.Rank != i:
			return fmt.Errorf("mpi: restore: state %d is rank %d's", i, s.Rank)
		case s.WorldSize != len(states):
			return fmt.Errorf("mpi: restore: rank %d was in a world of %d, not %d", i, s.WorldSize, len(states))
		case s.Entered != states[0].Entered:
			return fmt.Errorf("mpi: restore: rank %d stopped at world collective %d, rank 0 at %d: not one cut", i, s.Entered, states[0].Entered)
		}
	}
	return nil
}

// restore makes the rank's tables those of s. Requests keep their
// buffers' offsets against an unbound memory until the cell's first MPI
// call binds them (host.bind): until then senders park data in Pending.
func (r *Rank) restore(s *RankState, comms map[uint32]*comm) error {
	r.comms = make([]*commRef, len(s.Comms))
	for h, cs := range s.Comms {
		if cs == nil {
			continue
		}
		c := comms[cs.Context]
		if cs.Context == selfContext {
			c = newComm(selfContext, []int{r.rank})
		}
		if c == nil {
			return fmt.Errorf("mpi: restore: rank %d: handle %d names unknown communicator context %d", r.rank, h, cs.Context)
		}
		if cs.Rank < 0 || cs.Rank >= len(c.ranks) || c.ranks[cs.Rank] != r.rank {
			return fmt.Errorf("mpi: restore: rank %d: handle %d says it is rank %d of communicator context %d, which it is not", r.rank, h, cs.Rank, cs.Context)
		}
		r.comms[h] = &commRef{c: c, rank: cs.Rank, seq: cs.Seq}
	}
	if len(r.comms) <= int(CommSelf) || r.comms[CommWorld] == nil || r.comms[CommSelf] == nil {
		return fmt.Errorf("mpi: restore: rank %d lacks MPI_COMM_WORLD or MPI_COMM_SELF", r.rank)
	}
	for _, f := range s.FreeReqs {
		if f < 1 || int(f) > len(s.Requests) || s.Requests[f-1] != nil {
			return fmt.Errorf("mpi: restore: rank %d: free request handle %d is not a free slot", r.rank, f)
		}
	}
	h := &host{r: r, initialized: s.Initialized, finalized: s.Finalized, free: slices.Clone(s.FreeReqs), unbound: true}
	for i, rs := range s.Requests {
		if rs == nil {
			h.reqs = append(h.reqs, nil)
			continue
		}
		q, err := r.restoreRequest(rs)
		if err != nil {
			return fmt.Errorf("mpi: restore: rank %d request %d: %w", r.rank, i+1, err)
		}
		h.reqs = append(h.reqs, q)
		if !q.done && q.comm != nil {
			r.posted = append(r.posted, q)
		}
	}
	r.host = h
	r.initialized.Store(s.Initialized)
	r.finalized.Store(s.Finalized)
	for _, m := range s.Unexpected {
		r.unexpected = append(r.unexpected, &message{env: m.Envelope, data: m.Data})
	}
	r.w.stop.entered[r.rank] = s.Entered
	return nil
}

func (r *Rank) restoreRequest(rs *RequestState) (*Request, error) {
	if rs.BufLen < 0 || len(rs.Pending) > rs.BufLen {
		return nil, fmt.Errorf("buffer of %d bytes with %d pending", rs.BufLen, len(rs.Pending))
	}
	if rs.Send {
		return &Request{r: r, done: true, status: emptyStatus()}, nil
	}
	c := r.commByContext(rs.Context)
	if c == nil {
		return nil, fmt.Errorf("unknown communicator context %d", rs.Context)
	}
	q := &Request{
		r: r, comm: c, context: rs.Context, source: rs.Source, tag: rs.Tag,
		buf:  buffer{mem: unboundMemory{}, off: rs.BufOffset, n: rs.BufLen},
		done: rs.Done, pending: rs.Pending,
	}
	if rs.BufLen == 0 {
		q.buf = sliceBuffer(nil)
	}
	if rs.Done {
		q.status = Status{Source: rs.StatusSource, Tag: rs.StatusTag, Count: rs.StatusCount}
		if rs.ErrClass != Success {
			q.status.Err = &classError{class: rs.ErrClass, msg: rs.ErrMessage}
		}
	}
	return q, nil
}

func (r *Rank) commByContext(id uint32) *comm {
	for _, ref := range r.comms {
		if ref != nil && ref.c.context == id {
			return ref.c
		}
	}
	return nil
}

// classError is a restored request's error: its message and class.
type classError struct {
	class Class
	msg   string
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }
