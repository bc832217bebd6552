package mpi

import (
	"bytes"
	"context"
	"fmt"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Status describes a completed receive (MPI_Status).
type Status struct {
	Source int   // the sender's rank in the communicator
	Tag    int   // the message's tag
	Count  int   // bytes received
	Err    error // the receive's error, e.g. a truncation
}

// emptyStatus is MPI's "empty" status, of a null request or of a send.
func emptyStatus() Status { return Status{Source: AnySource, Tag: AnyTag} }

// message is a message that arrived before its receive was posted.
type message struct {
	env  Envelope
	data []byte // copied out of the sender's memory
}

// buffer is where a receive's data goes: a Go slice, or a range of a
// guest's linear memory. The latter is looked up only by the receiver's own
// goroutine, because a guest's memory may move when it grows, which it can
// do between MPI_Irecv and MPI_Wait, and because an engine's Memory need
// not be safe to use from another goroutine.
type buffer struct {
	b   []byte
	mem engine.Memory // nil for b
	off uint32
	n   int
	// live is the range of mem while the receiver is parked (see
	// Rank.parked), looked up by the receiver; nil otherwise.
	live []byte
}

func sliceBuffer(b []byte) buffer { return buffer{b: b, n: len(b)} }

// bytes resolves the buffer; false if it no longer lies in the memory.
// Only the receiver's goroutine calls it.
func (d *buffer) bytes() ([]byte, bool) {
	if d.mem == nil {
		return d.b, true
	}
	if d.n == 0 {
		return nil, true
	}
	m := d.mem.Bytes()
	end := uint64(d.off) + uint64(d.n)
	if end > uint64(len(m)) {
		return nil, false
	}
	return m[d.off:end:end], true
}

// Request is a pending or completed immediate operation (MPI_Request).
// A nil *Request is MPI_REQUEST_NULL.
type Request struct {
	r *Rank

	// Matching: what a receive accepts. source is a world rank or
	// AnySource; tag is AnyTag or >= 0.
	comm    *comm
	context uint32
	source  int
	tag     int
	buf     buffer

	// done is set under r.mu, by whichever goroutine completes the
	// request; status and pending are written before it and read only by
	// the owner after it has seen done under r.mu.
	done   bool
	status Status
	// pending holds data that arrived while the owner's guest could be
	// running (so its memory could move); the owner copies it in when it
	// completes the request.
	pending []byte

	// For a rank that moved out of its world's process (remote.go):
	// home is, at the mover, the request's handle at the home; resident
	// says, at the home, that the received data is in the cell's memory
	// already (it arrived before the move), so no bytes follow the status.
	home     int32
	resident bool
}

func (q *Request) matches(env Envelope) bool {
	return q.context == env.Context &&
		(q.source == AnySource || q.source == env.Source) &&
		(q.tag == AnyTag || q.tag == env.Tag)
}

// fill completes a receive with a message. own says the caller is the
// receiver; otherwise it is a sender, which copies straight into the
// receiver's memory only while the receiver is parked. The caller holds the
// receiver's mu.
func (q *Request) fill(env Envelope, payload []byte, own bool) {
	n := len(payload)
	q.status = Status{Source: q.comm.rankOf(env.Source), Tag: env.Tag, Count: n}
	if n > q.buf.n {
		q.status.Err = fmt.Errorf("mpi: %w: %d-byte message from rank %d (tag %d) into a %d-byte buffer",
			ErrTruncate, n, q.status.Source, env.Tag, q.buf.n)
		n = q.buf.n
		q.status.Count = n
	}
	switch {
	case q.buf.mem == nil:
		copy(q.buf.b, payload[:n])
	case q.buf.live != nil:
		copy(q.buf.live, payload[:n])
	case own:
		if b, ok := q.buf.bytes(); ok {
			copy(b, payload[:n])
		} else {
			q.status.Err = fmt.Errorf("mpi: %w: receive buffer left linear memory", ErrBuffer)
		}
	case n > 0:
		q.pending = bytes.Clone(payload[:n])
	}
	q.buf.live = nil
	q.done = true
}

// finish is the owner's last step of a completed request: it copies in data
// that could not be copied when it arrived and returns the status.
func (q *Request) finish() Status {
	if q.pending != nil {
		if b, ok := q.buf.bytes(); ok {
			copy(b, q.pending)
		} else if q.status.Err == nil {
			q.status.Err = fmt.Errorf("mpi: %w: receive buffer left linear memory", ErrBuffer)
		}
		q.pending = nil
	}
	return q.status
}

// deliver matches an arriving message against the posted receives, oldest
// first, and copies it into the first that matches, or queues a copy.
func (r *Rank) deliver(env Envelope, payload []byte) {
	r.mu.Lock()
	for i, q := range r.posted {
		if q.matches(env) {
			r.posted = removeAt(r.posted, i)
			q.fill(env, payload, false)
			r.mu.Unlock()
			r.notify()
			return
		}
	}
	r.unexpected = append(r.unexpected, &message{env: env, data: bytes.Clone(payload)})
	r.mu.Unlock()
}

// notify wakes the rank if it waits for a request.
func (r *Rank) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func removeAt[T any](s []T, i int) []T {
	var zero T
	if i == 0 {
		s[0] = zero
		return s[1:]
	}
	copy(s[i:], s[i+1:])
	s[len(s)-1] = zero
	return s[:len(s)-1]
}

// Send sends buf to rank dest of comm with tag (MPI_Send in standard mode).
// The data is copied out of buf before Send returns; Send does not wait for
// the receive.
func (r *Rank) Send(ctx context.Context, buf []byte, dest, tag int, comm Comm) error {
	if err := r.check(); err != nil {
		return err
	}
	env, err := r.envelope(dest, tag, comm)
	if err != nil || dest == ProcNull {
		return err
	}
	return r.w.transport.Send(ctx, env, buf)
}

// envelope validates a send's arguments.
func (r *Rank) envelope(dest, tag int, h Comm) (Envelope, error) {
	ref, err := r.comm(h)
	if err != nil {
		return Envelope{}, err
	}
	if tag < 0 || tag > TagUB {
		return Envelope{}, fmt.Errorf("mpi: %w: send tag %d", ErrTag, tag)
	}
	if dest == ProcNull {
		return Envelope{}, nil
	}
	if dest < 0 || dest >= len(ref.c.ranks) {
		return Envelope{}, fmt.Errorf("mpi: %w: destination %d in a communicator of %d", ErrRank, dest, len(ref.c.ranks))
	}
	return Envelope{Source: r.rank, Dest: ref.c.ranks[dest], Tag: tag, Context: ref.c.context}, nil
}

// Isend is MPI_Isend. Sends are eager, so the request is complete already.
func (r *Rank) Isend(ctx context.Context, buf []byte, dest, tag int, comm Comm) (*Request, error) {
	if err := r.Send(ctx, buf, dest, tag, comm); err != nil {
		return nil, err
	}
	return &Request{r: r, done: true, status: emptyStatus()}, nil
}

// Irecv posts a receive into buf from rank source (or AnySource, ProcNull)
// of comm with tag (or AnyTag). buf must not be used until the request
// completes.
func (r *Rank) Irecv(buf []byte, source, tag int, comm Comm) (*Request, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	return r.irecv(sliceBuffer(buf), source, tag, comm)
}

func (r *Rank) irecv(buf buffer, source, tag int, h Comm) (*Request, error) {
	ref, err := r.comm(h)
	if err != nil {
		return nil, err
	}
	if tag < 0 && tag != AnyTag {
		return nil, fmt.Errorf("mpi: %w: receive tag %d", ErrTag, tag)
	}
	q := &Request{r: r, comm: ref.c, context: ref.c.context, tag: tag, buf: buf}
	switch {
	case source == ProcNull:
		q.done = true
		q.status = Status{Source: ProcNull, Tag: AnyTag}
		return q, nil
	case source == AnySource:
		q.source = AnySource
	case source >= 0 && source < len(ref.c.ranks):
		q.source = ref.c.ranks[source]
	default:
		return nil, fmt.Errorf("mpi: %w: source %d in a communicator of %d", ErrRank, source, len(ref.c.ranks))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range r.unexpected {
		if q.matches(m.env) {
			r.unexpected = removeAt(r.unexpected, i)
			q.fill(m.env, m.data, true) // our own call: memory cannot move
			return q, nil
		}
	}
	r.posted = append(r.posted, q)
	return q, nil
}

// unpost withdraws a receive that a failed wait leaves behind.
func (r *Rank) unpost(q *Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range r.posted {
		if p == q {
			r.posted = removeAt(r.posted, i)
			return
		}
	}
}

// Recv receives into buf (MPI_Recv). A message longer than buf is
// truncated to it and the error wraps ErrTruncate.
func (r *Rank) Recv(ctx context.Context, buf []byte, source, tag int, comm Comm) (Status, error) {
	if err := r.check(); err != nil {
		return Status{}, err
	}
	return r.recv(ctx, sliceBuffer(buf), source, tag, comm)
}

func (r *Rank) recv(ctx context.Context, buf buffer, source, tag int, comm Comm) (Status, error) {
	q, err := r.irecv(buf, source, tag, comm)
	if err != nil {
		return Status{}, err
	}
	if err := r.wait(ctx, q); err != nil {
		r.unpost(q)
		return Status{}, err
	}
	st := q.finish()
	return st, st.Err
}

// Sendrecv sends sendbuf and receives into recvbuf (MPI_Sendrecv).
func (r *Rank) Sendrecv(ctx context.Context, sendbuf []byte, dest, sendtag int,
	recvbuf []byte, source, recvtag int, comm Comm) (Status, error) {
	if err := r.check(); err != nil {
		return Status{}, err
	}
	return r.sendrecv(ctx, sendbuf, dest, sendtag, sliceBuffer(recvbuf), source, recvtag, comm)
}

func (r *Rank) sendrecv(ctx context.Context, sendbuf []byte, dest, sendtag int,
	recvbuf buffer, source, recvtag int, comm Comm) (Status, error) {
	env, err := r.envelope(dest, sendtag, comm)
	if err != nil {
		return Status{}, err
	}
	// Post the receive first, so that a send to ourselves matches it.
	q, err := r.irecv(recvbuf, source, recvtag, comm)
	if err != nil {
		return Status{}, err
	}
	if dest != ProcNull {
		if err := r.w.transport.Send(ctx, env, sendbuf); err != nil {
			r.unpost(q)
			return Status{}, err
		}
	}
	if err := r.wait(ctx, q); err != nil {
		r.unpost(q)
		return Status{}, err
	}
	st := q.finish()
	return st, st.Err
}

// Wait waits for q to complete (MPI_Wait). A receive's error is both in
// the status and returned.
func (r *Rank) Wait(ctx context.Context, q *Request) (Status, error) {
	if err := r.check(); err != nil {
		return Status{}, err
	}
	if q == nil {
		return emptyStatus(), nil
	}
	if q.r != r {
		return Status{}, fmt.Errorf("mpi: %w: request of rank %d waited for on rank %d", ErrRequest, q.r.rank, r.rank)
	}
	if err := r.wait(ctx, q); err != nil {
		return Status{}, err
	}
	st := q.finish()
	return st, st.Err
}

// Waitall waits for every request (MPI_Waitall); nil ones are null. The
// error is the first request's error, if any; every status has its own.
func (r *Rank) Waitall(ctx context.Context, qs []*Request) ([]Status, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	for _, q := range qs {
		if q != nil && q.r != r {
			return nil, fmt.Errorf("mpi: %w: request of rank %d waited for on rank %d", ErrRequest, q.r.rank, r.rank)
		}
	}
	if err := r.wait(ctx, qs...); err != nil {
		return nil, err
	}
	sts := make([]Status, len(qs))
	var first error
	for i, q := range qs {
		if q == nil {
			sts[i] = emptyStatus()
			continue
		}
		sts[i] = q.finish()
		if first == nil {
			first = sts[i].Err
		}
	}
	return sts, first
}

// Test says whether q has completed (MPI_Test), with its status if so.
func (r *Rank) Test(q *Request) (Status, bool, error) {
	if err := r.check(); err != nil {
		return Status{}, false, err
	}
	if q == nil {
		return emptyStatus(), true, nil
	}
	if q.r != r {
		return Status{}, false, fmt.Errorf("mpi: %w: request of rank %d tested on rank %d", ErrRequest, q.r.rank, r.rank)
	}
	r.mu.Lock()
	done := q.done
	r.mu.Unlock()
	if !done {
		return Status{}, false, nil
	}
	st := q.finish()
	return st, true, st.Err
}

// wait blocks until every request in qs (nil ones are null) is done, ctx is
// done or the world is down. While it waits the rank is parked, so senders
// copy into its receive buffers directly.
func (r *Rank) wait(ctx context.Context, qs ...*Request) error {
	r.mu.Lock()
	if r.parked == 0 {
		// Our guest cannot run until we return: let senders copy into
		// our posted receive buffers, at addresses we look up.
		for _, q := range r.posted {
			if q.buf.mem != nil {
				q.buf.live, _ = q.buf.bytes()
			}
		}
	}
	r.parked++
	var err error
	for !allDone(qs) {
		r.mu.Unlock()
		if r.spin(func() bool { return received(r.wake) }) {
			r.mu.Lock()
			continue
		}
		select {
		case <-r.wake:
		case <-ctx.Done():
			err = fmt.Errorf("mpi: rank %d: %w", r.rank, ctx.Err())
		case <-r.w.down:
			err = r.w.downErr
		}
		r.mu.Lock()
		if err != nil {
			break
		}
	}
	r.parked--
	if r.parked == 0 {
		for _, q := range r.posted {
			q.buf.live = nil
		}
	}
	r.mu.Unlock()
	return err
}

func allDone(qs []*Request) bool {
	for _, q := range qs {
		if q != nil && !q.done {
			return false
		}
	}
	return true
}
