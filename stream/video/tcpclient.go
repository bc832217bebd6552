package video

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/tcp"
	"github.com/cloudskin/cloudskin/stream/wire"
)

// readBytes is how many segment bytes one read asks for: a few dozen
// frames, so a replay makes few round trips.
const readBytes = 4 << 20

// Dialer connects to a stream store's TCP protocol (package stream/tcp).
type Dialer func(ctx context.Context) (*tcp.Client, error)

// TCPClient is a Client over the stream store's TCP protocol
// (docs/formats/stream-wire.md). It dials when first used and dials again
// at the next call after its connection fails (tcp.Client never
// reconnects), so a long-running video server outlives a restart of the
// store.
//
// Appends are pipelined: each is sent once the one before it with the
// same key is sent, not acknowledged, and the server stores appends with
// one key on one connection in the order they were sent. To keep the
// promise of no gaps, a run of appends with one key (a lane) is one
// idempotent writer: an id of its own and seq 1, 2, ... After one of its
// appends is pushed back, the server refuses the later ones it already
// has untried; the lane sends nothing more, and every later append with
// its key fails with ErrEarlierAppendFailed, for as long as the TCPClient
// lives: a caller may queue more before it sees the failure, and none of
// them may be stored. (Other failures, a lost connection or a closed
// store, fail the later appends anyway; an event too large for the store
// is refused before it is sent.) A lane whose appends all succeeded moves
// to a new connection, as a new writer, once the old one failed. The
// store keeps each writer's last seq in its segments' metadata, a few
// dozen bytes per lane: about one per camera and ingest run.
//
// Reads and the other calls go side by side on the same connection.
type TCPClient struct {
	dial Dialer

	dialMu sync.Mutex // one dial at a time
	conn   atomic.Pointer[tcp.Client]
	closed atomic.Bool

	mu    sync.Mutex
	lanes map[laneKey]*lane
}

// NewTCPClient returns a client that connects with dial.
func NewTCPClient(dial Dialer) *TCPClient {
	return &TCPClient{dial: dial, lanes: map[laneKey]*lane{}}
}

// Close closes the connection; calls in flight fail.
func (t *TCPClient) Close() error {
	t.dialMu.Lock()
	defer t.dialMu.Unlock()
	t.closed.Store(true)
	if c := t.conn.Swap(nil); c != nil {
		return c.Close()
	}
	return nil
}

// client returns the connection, dialling if there is none.
func (t *TCPClient) client(ctx context.Context) (*tcp.Client, error) {
	if c := t.conn.Load(); c != nil {
		return c, nil
	}
	t.dialMu.Lock()
	defer t.dialMu.Unlock()
	if t.closed.Load() {
		return nil, fmt.Errorf("video: %w", tcp.ErrClientClosed)
	}
	if c := t.conn.Load(); c != nil {
		return c, nil
	}
	c, err := t.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("video: connect to the stream store: %w", err)
	}
	t.conn.Store(c)
	return c, nil
}

// check returns err, first dropping c if err says its connection failed,
// so that the next call dials again. Every error that is neither the
// server's answer nor the end of ctx is one: a tcp.Client that failed
// fails every call from then on.
func (t *TCPClient) check(c *tcp.Client, err error) error {
	var answer *wire.Error
	if err == nil || errors.As(err, &answer) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if t.conn.CompareAndSwap(c, nil) {
		c.Close()
	}
	return err
}

// EnsureStream creates the scope and the stream (one segment, no
// retention) unless they exist.
func (t *TCPClient) EnsureStream(ctx context.Context, name stream.StreamName) error {
	c, err := t.client(ctx)
	if err != nil {
		return err
	}
	if err := c.CreateScope(ctx, name.Scope); err != nil && !errors.Is(err, stream.ErrExists) {
		return fmt.Errorf("video: create scope %s: %w", name.Scope, t.check(c, err))
	}
	if _, err := c.CreateStream(ctx, name, stream.StreamConfig{}); err != nil && !errors.Is(err, stream.ErrExists) {
		return fmt.Errorf("video: create stream %s: %w", name, t.check(c, err))
	}
	return nil
}

// ListStreams lists every stream of every scope.
func (t *TCPClient) ListStreams(ctx context.Context) ([]stream.StreamName, error) {
	c, err := t.client(ctx)
	if err != nil {
		return nil, err
	}
	scopes, err := c.Scopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("video: list scopes: %w", t.check(c, err))
	}
	var out []stream.StreamName
	for _, scope := range scopes {
		names, err := c.Streams(ctx, scope)
		if err != nil {
			return nil, fmt.Errorf("video: list streams of %s: %w", scope, t.check(c, err))
		}
		for _, n := range names {
			out = append(out, stream.StreamName{Scope: scope, Stream: n})
		}
	}
	return out, nil
}

// Segments describes a stream's segments in the store's read order.
func (t *TCPClient) Segments(ctx context.Context, name stream.StreamName) ([]Segment, error) {
	c, err := t.client(ctx)
	if err != nil {
		return nil, err
	}
	info, err := c.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("video: describe %s: %w", name, t.check(c, err))
	}
	out := make([]Segment, len(info.Segments))
	for i, s := range info.Segments {
		out[i] = Segment{ID: uint64(s.ID), Low: s.Range.Low, High: s.Range.High, Start: s.Start, End: s.End, Sealed: s.Sealed}
	}
	return out, nil
}

// ReadSegment reads a segment's events from offset from, waiting up to
// wait for new ones at its end (not at the end of a sealed segment, which
// the batch reports). The errors of the store (ErrNotFound, ErrTruncated)
// come through the protocol and wrap its sentinels.
func (t *TCPClient) ReadSegment(ctx context.Context, name stream.StreamName, segment uint64, from int64, wait time.Duration) (Batch, error) {
	c, err := t.client(ctx)
	if err != nil {
		return Batch{}, err
	}
	rctx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	b, err := c.ReadSegment(rctx, name, stream.SegmentID(segment), from, stream.ReadOptions{MaxBytes: readBytes, NoWait: wait <= 0})
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return Batch{Next: from}, nil // waited; nothing came
	case err != nil:
		return Batch{}, fmt.Errorf("video: read %s segment %d at %d: %w", name, segment, from, t.check(c, err))
	}
	out := Batch{Next: b.Next, Sealed: b.Sealed, Events: make([]Event, len(b.Events))}
	for i, e := range b.Events {
		out.Events[i] = Event{Segment: uint64(e.Segment), Offset: e.Offset, Next: e.Next, Stored: e.Time, Data: e.Data}
	}
	return out, nil
}

// laneKey names the appends that keep their order.
type laneKey struct {
	name stream.StreamName
	key  string
}

// lane is a run of appends with one key, sent on one connection as one
// idempotent writer. Its fields are guarded by TCPClient.mu.
type lane struct {
	writer string
	conn   *tcp.Client // set by the first send
	seq    int64       // the last seq handed out
	open   int         // appends queued and not yet settled
	// stopped says an append failed or was not sent: send no more, ever.
	stopped bool
	// failed says an append that has settled failed, so the later ones
	// fail because of it.
	failed bool
	last   *turn
}

// turn is one append's place in its lane: the next append is sent once
// sent is closed, and settles once settled is, so outcomes come in order.
type turn struct{ sent, settled chan struct{} }

// AppendAsync queues one event and returns at once; see TCPClient for how
// order and no gaps are kept.
func (t *TCPClient) AppendAsync(ctx context.Context, name stream.StreamName, key string, event []byte) <-chan Appended {
	out := make(chan Appended, 1)
	l, seq, prev, me := t.enqueue(name, key)
	go func() {
		res, err := t.appendInTurn(ctx, l, seq, prev, me, stream.AppendRequest{Stream: name, RoutingKey: key, Events: [][]byte{event}})
		if prev != nil {
			<-prev.settled
		}
		out <- t.settle(l, me, name, res, err)
	}()
	return out
}

// enqueue gives an append its seq and its turn in its key's lane, starting
// a new lane if there is none, or if the lane has not stopped, has nothing
// in flight and its connection was replaced.
func (t *TCPClient) enqueue(name stream.StreamName, key string) (*lane, int64, *turn, *turn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := laneKey{name, key}
	l := t.lanes[k]
	if l == nil || (!l.stopped && l.open == 0 && l.conn != nil && l.conn != t.conn.Load()) {
		l = &lane{writer: newWriterID()}
		t.lanes[k] = l
	}
	l.seq++
	l.open++
	me := &turn{sent: make(chan struct{}), settled: make(chan struct{})}
	prev := l.last
	l.last = me
	return l, l.seq, prev, me
}

// appendInTurn sends an append in its turn and waits for its answer.
func (t *TCPClient) appendInTurn(ctx context.Context, l *lane, seq int64, prev, me *turn, req stream.AppendRequest) (stream.AppendResult, error) {
	c, p, err := t.sendInTurn(ctx, l, seq, prev, me, req)
	if err != nil {
		return stream.AppendResult{}, err
	}
	res, err := p.Wait(ctx)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("%w (it may still be stored)", err)
	default:
		err = t.check(c, err)
	}
	t.stop(l)
	return res, err
}

// sendInTurn sends an append once the one before it in its lane is sent,
// unless the lane has stopped. An append that is not sent stops the lane
// before the next one may go, so nothing is stored after it.
func (t *TCPClient) sendInTurn(ctx context.Context, l *lane, seq int64, prev, me *turn, req stream.AppendRequest) (*tcp.Client, *tcp.PendingAppend, error) {
	defer close(me.sent)
	if prev != nil {
		select {
		case <-prev.sent:
		case <-ctx.Done():
			t.stop(l)
			return nil, nil, fmt.Errorf("not sent: %w", ctx.Err())
		}
	}
	if n := len(req.Events[0]); n > stream.MaxAppendBytes {
		// Refused here: the client would fail its whole connection on a
		// request larger than a frame.
		t.stop(l)
		return nil, nil, fmt.Errorf("an event of %d bytes, at most %d fit in one append", n, stream.MaxAppendBytes)
	}
	t.mu.Lock()
	stopped, c := l.stopped, l.conn
	t.mu.Unlock()
	if stopped {
		return nil, nil, ErrEarlierAppendFailed
	}
	if c == nil {
		var err error
		if c, err = t.client(ctx); err != nil {
			t.stop(l)
			return nil, nil, err
		}
		t.mu.Lock()
		l.conn = c
		t.mu.Unlock()
	}
	req.WriterID, req.Seq = l.writer, seq
	p, err := c.AppendAsync(ctx, req)
	if err != nil {
		t.stop(l)
		return nil, nil, t.check(c, err)
	}
	return c, p, nil
}

func (t *TCPClient) stop(l *lane) {
	t.mu.Lock()
	l.stopped = true
	t.mu.Unlock()
}

// settle records an append's outcome in its lane, once every earlier one
// has settled, and returns it as the caller sees it.
func (t *TCPClient) settle(l *lane, me *turn, name stream.StreamName, res stream.AppendResult, err error) Appended {
	defer close(me.settled)
	t.mu.Lock()
	earlier := l.failed
	if err != nil {
		l.stopped, l.failed = true, true
	}
	l.open--
	t.mu.Unlock()
	switch {
	case err == nil:
		return Appended{Segment: uint64(res.Segment), Offset: res.Offset}
	case earlier && !errors.Is(err, ErrEarlierAppendFailed):
		// Sent before the earlier failure was known, and refused for it
		// (or for the same reason).
		err = fmt.Errorf("%w: %w", ErrEarlierAppendFailed, err)
	}
	return Appended{Err: fmt.Errorf("video: append to %s: %w", name, err)}
}

// newWriterID returns a writer id no other lane has: the store keeps
// each writer's last seq, and a second writer with the same id would have
// its appends taken for duplicates.
func newWriterID() string {
	var b [12]byte
	rand.Read(b[:])
	return "video-" + hex.EncodeToString(b[:])
}
