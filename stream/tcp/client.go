package tcp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/wire"
)

// DefaultAddr is where `cloudskin up` and `cloudskin stream serve` listen
// unless told otherwise.
const DefaultAddr = "127.0.0.1:7072"

// DialOptions configure a Client.
type DialOptions struct {
	// Token is sent in the hello; a server with authentication lets only
	// connections with an accepted token write.
	Token string
}

// ErrClientClosed is returned by calls on a closed client.
var ErrClientClosed = errors.New("stream client: closed")

// Client is a connection to a stream server. It is safe for concurrent
// use: calls are multiplexed over the connection and answered as they
// complete. It does not reconnect.
type Client struct {
	nc    net.Conn
	addr  string
	slots chan struct{}
	done  chan struct{}

	wmu  sync.Mutex
	wbuf []byte

	mu    sync.Mutex
	calls map[uint32]*call
	next  uint32
	err   error
}

// call is one request waiting for its answer.
type call struct {
	done   chan struct{}
	answer wire.Message
	err    error
}

// Dial connects to the server at addr and exchanges hellos. ctx bounds
// the dial and the hello (10 s if it has no deadline).
func Dial(ctx context.Context, addr string, opts DialOptions) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stream client: %w", err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(helloTimeout)
	}
	nc.SetDeadline(deadline)
	br := bufio.NewReaderSize(nc, 64<<10)
	welcome, err := hello(nc, br, opts.Token)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("stream client: %s: %w", addr, err)
	}
	nc.SetDeadline(time.Time{})
	c := &Client{
		nc: nc, addr: addr, slots: make(chan struct{}, max(welcome.MaxInFlight, 1)), done: make(chan struct{}),
		calls: map[uint32]*call{},
	}
	go c.readLoop(br)
	return c, nil
}

func hello(nc net.Conn, br *bufio.Reader, token string) (*wire.Welcome, error) {
	if _, err := nc.Write(wire.AppendFrame(nil, 0, &wire.Hello{Version: wire.Version, Token: token})); err != nil {
		return nil, err
	}
	f, err := wire.ReadFrame(br)
	if err != nil {
		return nil, err
	}
	m, err := wire.Decode(f)
	if err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *wire.Welcome:
		return m, nil
	case *wire.Error:
		return nil, m
	}
	return nil, fmt.Errorf("wire: %w: a %s answers the hello", wire.ErrBadMessage, f.Type)
}

// Addr returns the server's address.
func (c *Client) Addr() string { return c.addr }

// Close closes the connection; calls in flight fail.
func (c *Client) Close() error {
	c.fail(ErrClientClosed)
	err := c.nc.Close()
	<-c.done
	return err
}

// readLoop hands each answer to its call until the connection ends.
func (c *Client) readLoop(br *bufio.Reader) {
	defer close(c.done)
	for {
		f, err := wire.ReadFrame(br)
		if err != nil {
			c.fail(fmt.Errorf("stream client: connection to %s: %w", c.addr, err))
			c.nc.Close() // the server waits for it
			return
		}
		m, err := wire.Decode(f)
		if err != nil {
			c.fail(fmt.Errorf("stream client: %s: %w", c.addr, err))
			c.nc.Close()
			return
		}
		c.mu.Lock()
		cl := c.calls[f.ID]
		delete(c.calls, f.ID)
		c.mu.Unlock()
		if cl == nil {
			if e, ok := m.(*wire.Error); ok && f.ID == 0 {
				c.fail(fmt.Errorf("stream client: %s: %w", c.addr, e))
				c.nc.Close()
				return
			}
			continue // the answer to a call that gave up
		}
		if e, ok := m.(*wire.Error); ok {
			cl.err = e
		} else {
			cl.answer = m
		}
		close(cl.done)
		<-c.slots
	}
}

// fail ends every call in flight with err; later calls fail with it too.
func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	calls := c.calls
	c.calls = map[uint32]*call{}
	err = c.err
	c.mu.Unlock()
	for _, cl := range calls {
		cl.err = err
		close(cl.done)
		<-c.slots
	}
}

// send writes a request and returns its call, once the client has a slot
// for it (the server's bound on requests in flight).
func (c *Client) send(ctx context.Context, m wire.Message) (uint32, *call, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	case <-c.done:
		return 0, nil, c.failure()
	}
	cl := &call{done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		<-c.slots
		return 0, nil, err
	}
	c.next++
	if c.next == 0 {
		c.next = 1 // 0 is the hello's
	}
	id := c.next
	c.calls[id] = cl
	c.mu.Unlock()
	if err := c.write(id, m); err != nil {
		c.fail(fmt.Errorf("stream client: connection to %s: %w", c.addr, err))
		c.nc.Close()
	}
	return id, cl, nil
}

func (c *Client) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) write(id uint32, m wire.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wire.AppendFrame(c.wbuf[:0], id, m)
	if n := len(c.wbuf) - wire.HeaderSize; n > wire.MaxPayload {
		return fmt.Errorf("%s request of %d bytes, at most %d fit in a frame", m.Type(), n, wire.MaxPayload)
	}
	_, err := c.nc.Write(c.wbuf)
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil
	}
	return err
}

// do sends a request and waits for its answer; if ctx ends first it tells
// the server to stop waiting on it.
func (c *Client) do(ctx context.Context, m wire.Message) (wire.Message, error) {
	id, cl, err := c.send(ctx, m)
	if err != nil {
		return nil, err
	}
	select {
	case <-cl.done:
		return cl.answer, cl.err
	case <-ctx.Done():
		c.write(id, &wire.Cancel{}) // best effort: the answer is dropped anyway
		return nil, ctx.Err()
	}
}

// expect checks the type of an answer.
func expect[T wire.Message](m wire.Message, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("stream client: %w: a %s answer where a %T was due", wire.ErrBadMessage, m.Type(), zero)
	}
	return t, nil
}

func (c *Client) ok(ctx context.Context, m wire.Message) error {
	_, err := expect[*wire.OK](c.do(ctx, m))
	return err
}

func (c *Client) names(ctx context.Context, m wire.Message) ([]string, error) {
	n, err := expect[*wire.Names](c.do(ctx, m))
	if err != nil {
		return nil, err
	}
	return n.Names, nil
}

// CreateScope creates a scope.
func (c *Client) CreateScope(ctx context.Context, scope string) error {
	return c.ok(ctx, &wire.CreateScope{Scope: scope})
}

// DeleteScope deletes a scope that has no streams.
func (c *Client) DeleteScope(ctx context.Context, scope string) error {
	return c.ok(ctx, &wire.DeleteScope{Scope: scope})
}

// Scopes lists the scopes.
func (c *Client) Scopes(ctx context.Context) ([]string, error) {
	return c.names(ctx, &wire.ListScopes{})
}

// Streams lists the streams of a scope.
func (c *Client) Streams(ctx context.Context, scope string) ([]string, error) {
	return c.names(ctx, &wire.ListStreams{Scope: scope})
}

// CreateStream creates a stream in an existing scope and describes it.
func (c *Client) CreateStream(ctx context.Context, name stream.StreamName, cfg stream.StreamConfig) (stream.StreamInfo, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return stream.StreamInfo{}, fmt.Errorf("stream client: stream %s: configuration: %w", name, err)
	}
	return c.streamInfo(ctx, &wire.CreateStream{Stream: name, Config: b})
}

// Stream describes a stream and its segments.
func (c *Client) Stream(ctx context.Context, name stream.StreamName) (stream.StreamInfo, error) {
	return c.streamInfo(ctx, &wire.DescribeStream{Stream: name})
}

func (c *Client) streamInfo(ctx context.Context, m wire.Message) (stream.StreamInfo, error) {
	var info stream.StreamInfo
	s, err := expect[*wire.Stream](c.do(ctx, m))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(s.Info, &info); err != nil {
		return info, fmt.Errorf("stream client: %s: stream description: %w", c.addr, err)
	}
	return info, nil
}

// DeleteStream deletes a stream and its data.
func (c *Client) DeleteStream(ctx context.Context, name stream.StreamName) error {
	return c.ok(ctx, &wire.DeleteStream{Stream: name})
}

// Truncate discards a stream's data before cut.
func (c *Client) Truncate(ctx context.Context, name stream.StreamName, cut stream.StreamCut) error {
	return c.ok(ctx, &wire.Truncate{Stream: name, Cut: cut})
}

// Append stores an append's events and returns once they are durable.
// If ctx ends first, the events may still be stored.
func (c *Client) Append(ctx context.Context, req stream.AppendRequest) (stream.AppendResult, error) {
	p, err := c.AppendAsync(ctx, req)
	if err != nil {
		return stream.AppendResult{}, err
	}
	return p.Wait(ctx)
}

// PendingAppend is an append sent and not yet answered.
type PendingAppend struct{ cl *call }

// AppendAsync sends an append and returns without waiting for it to be
// durable; it blocks only while the connection has as many requests in
// flight as the server allows. Appends with one routing key (or one
// writer id) sent on one client are stored in the order of the calls.
func (c *Client) AppendAsync(ctx context.Context, req stream.AppendRequest) (*PendingAppend, error) {
	_, cl, err := c.send(ctx, &wire.Append{Stream: req.Stream, RoutingKey: req.RoutingKey, WriterID: req.WriterID, Seq: req.Seq, Events: req.Events})
	if err != nil {
		return nil, err
	}
	return &PendingAppend{cl: cl}, nil
}

// Done is closed once the append is answered.
func (p *PendingAppend) Done() <-chan struct{} { return p.cl.done }

// Wait returns where the append went once it is durable, or why it was
// not stored, or ctx's error if ctx ends first (it may still be stored).
func (p *PendingAppend) Wait(ctx context.Context) (stream.AppendResult, error) {
	select {
	case <-p.cl.done:
	case <-ctx.Done():
		return stream.AppendResult{}, ctx.Err()
	}
	a, err := expect[*wire.Ack](p.cl.answer, p.cl.err)
	if err != nil {
		return stream.AppendResult{}, err
	}
	return stream.AppendResult{Segment: a.Segment, Offset: a.Offset, Duplicate: a.Duplicate}, nil
}

// ReadSegment reads events of one segment from offset on, as
// stream.Store.ReadSegment does: at the end of the segment it waits for new
// events until ctx ends, unless opts.NoWait or the segment is sealed (then
// the batch says Sealed and names the successors). The server bounds each
// wait (wire.MaxWait); the client asks again until ctx ends.
func (c *Client) ReadSegment(ctx context.Context, name stream.StreamName, id stream.SegmentID, offset int64, opts stream.ReadOptions) (stream.Batch, error) {
	for {
		wait := time.Duration(0)
		if !opts.NoWait {
			wait = waitFor(ctx)
		}
		m := &wire.Read{Stream: name, Segment: id, Offset: offset, MaxBytes: uint32(min(max(opts.MaxBytes, 0), wire.MaxReadBytes)), Wait: wait}
		ev, err := expect[*wire.Events](c.do(ctx, m))
		if err != nil {
			return stream.Batch{}, err
		}
		if len(ev.Events) > 0 || opts.NoWait || ev.Sealed {
			return stream.Batch{Events: ev.Events, Next: ev.Next, Sealed: ev.Sealed, Successors: ev.Successors}, nil
		}
		if err := ctx.Err(); err != nil {
			return stream.Batch{}, err
		}
	}
}

// waitFor is how long one request may wait: until ctx's deadline, at most
// wire.MaxWait, at least a millisecond (0 would mean not at all).
func waitFor(ctx context.Context) time.Duration {
	wait := wire.MaxWait
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	return max(wait, time.Millisecond)
}

// Scale seals the adjacent active segments seal and creates one segment
// per range of ranges, which must tile their key range exactly, in order
// (stream.Service.Scale). It returns the new segments, in key order.
func (c *Client) Scale(ctx context.Context, name stream.StreamName, seal []stream.SegmentID, ranges []stream.KeyRange) ([]stream.SegmentInfo, error) {
	return c.scale(ctx, &wire.Scale{Stream: name, Form: wire.ScaleSealRanges, Seal: seal, Ranges: ranges})
}

// SplitSegment replaces an active segment by parts segments of equal key
// ranges (0 parts: 2) and returns them.
func (c *Client) SplitSegment(ctx context.Context, name stream.StreamName, id stream.SegmentID, parts int) ([]stream.SegmentInfo, error) {
	if parts < 0 || parts > stream.MaxSegments {
		return nil, fmt.Errorf("stream client: split %s segment %s into %d parts: want 2 to %d: %w", name, id, parts, stream.MaxSegments, wire.ErrBadRequest)
	}
	return c.scale(ctx, &wire.Scale{Stream: name, Form: wire.ScaleSplit, Segment: id, Parts: uint32(parts)})
}

// MergeSegments replaces adjacent active segments (at least two) by one
// covering their key ranges and returns it.
func (c *Client) MergeSegments(ctx context.Context, name stream.StreamName, ids []stream.SegmentID) ([]stream.SegmentInfo, error) {
	return c.scale(ctx, &wire.Scale{Stream: name, Form: wire.ScaleMerge, Merge: ids})
}

func (c *Client) scale(ctx context.Context, m *wire.Scale) ([]stream.SegmentInfo, error) {
	s, err := expect[*wire.Segments](c.do(ctx, m))
	if err != nil {
		return nil, err
	}
	var created []stream.SegmentInfo
	if err := json.Unmarshal(s.Info, &created); err != nil {
		return nil, fmt.Errorf("stream client: %s: scale of %s: segments: %w", c.addr, m.Stream, err)
	}
	return created, nil
}

// Instances lists the server's segment-store instances. A server that
// runs a single store refuses with an error that is wire.ErrUnsupported.
func (c *Client) Instances(ctx context.Context) ([]string, error) {
	return c.names(ctx, &wire.ListInstances{})
}

// SetInstances makes the server run n segment-store instances (1 or
// more) and returns the container moves that took, once done. A server
// that runs a single store refuses with wire.ErrUnsupported.
func (c *Client) SetInstances(ctx context.Context, n int) ([]stream.ContainerMove, error) {
	if n < 1 || uint64(n) > math.MaxUint32 {
		return nil, fmt.Errorf("stream client: %d segment-store instances: want 1 or more: %w", n, wire.ErrBadRequest)
	}
	m, err := expect[*wire.Moves](c.do(ctx, &wire.SetInstances{Count: uint32(n)}))
	if err != nil {
		return nil, err
	}
	return m.Moves, nil
}

// CreateReaderGroup creates a group that reads a stream from its head.
func (c *Client) CreateReaderGroup(ctx context.Context, group string, name stream.StreamName) (GroupInfo, error) {
	return c.group(ctx, &wire.CreateGroup{Group: group, Stream: name})
}

// ReaderGroup describes a group.
func (c *Client) ReaderGroup(ctx context.Context, group string) (GroupInfo, error) {
	return c.group(ctx, &wire.DescribeGroup{Group: group})
}

// ReaderGroups lists the groups.
func (c *Client) ReaderGroups(ctx context.Context) ([]string, error) {
	return c.names(ctx, &wire.ListGroups{})
}

// DeleteReaderGroup deletes a group; readers of it that joined through
// this client leave first.
func (c *Client) DeleteReaderGroup(ctx context.Context, group string) error {
	return c.ok(ctx, &wire.DeleteGroup{Group: group})
}

// Checkpoint makes the group's positions durable and returns them.
func (c *Client) Checkpoint(ctx context.Context, group string) (stream.StreamCut, error) {
	g, err := c.group(ctx, &wire.Checkpoint{Group: group})
	return g.Positions, err
}

func (c *Client) group(ctx context.Context, m wire.Message) (GroupInfo, error) {
	var info GroupInfo
	g, err := expect[*wire.Group](c.do(ctx, m))
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(g.Info, &info); err != nil {
		return info, fmt.Errorf("stream client: %s: reader group description: %w", c.addr, err)
	}
	return info, nil
}

// Reader is a member of a reader group, joined through a client. It
// belongs to the client's connection: when the connection closes, the
// reader leaves its group.
type Reader struct {
	c         *Client
	group, id string
	// MaxEvents bounds the events one Read returns; 0 means 100.
	MaxEvents int
}

// JoinReaderGroup adds a reader to a group, which rebalances its segments.
// Joining again on the same client is harmless.
func (c *Client) JoinReaderGroup(ctx context.Context, group, reader string) (*Reader, error) {
	if _, err := c.group(ctx, &wire.JoinGroup{Group: group, Reader: reader}); err != nil {
		return nil, err
	}
	return &Reader{c: c, group: group, id: reader}, nil
}

// ID returns the reader's id.
func (r *Reader) ID() string { return r.id }

// Read returns the next events of the reader's segments (at most
// MaxEvents), waiting for at least one until ctx ends.
func (r *Reader) Read(ctx context.Context) ([]stream.Event, error) {
	for {
		m := &wire.ReadGroup{Group: r.group, Reader: r.id, MaxEvents: uint32(min(max(r.MaxEvents, 0), wire.MaxGroupEvents)), Wait: waitFor(ctx)}
		ev, err := expect[*wire.Events](r.c.do(ctx, m))
		if err != nil {
			return nil, err
		}
		if len(ev.Events) > 0 {
			return ev.Events, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Close takes the reader out of its group, which hands its segments to the
// others at the positions it reached.
func (r *Reader) Close(ctx context.Context) error {
	return r.c.ok(ctx, &wire.LeaveGroup{Group: r.group, Reader: r.id})
}
