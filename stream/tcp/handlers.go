package tcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/wire"
)

// handle answers every request but appends.
func (c *conn) handle(id uint32, m wire.Message) wire.Message {
	st := c.s.store
	switch m := m.(type) {
	case *wire.CreateScope:
		return c.okOr(st.CreateScope(c.ctx, m.Scope))
	case *wire.DeleteScope:
		return c.okOr(conflict(st.DeleteScope(c.ctx, m.Scope)))
	case *wire.ListScopes:
		return &wire.Names{Names: st.Scopes()}
	case *wire.ListStreams:
		names, err := st.Streams(m.Scope)
		if err != nil {
			return c.errorOf(err)
		}
		return &wire.Names{Names: names}
	case *wire.CreateStream:
		return c.createStream(m)
	case *wire.DescribeStream:
		return c.describe(m.Stream)
	case *wire.DeleteStream:
		return c.okOr(conflict(st.DeleteStream(c.ctx, m.Stream)))
	case *wire.Truncate:
		return c.okOr(st.Truncate(c.ctx, m.Stream, m.Cut))
	case *wire.Scale:
		return c.scale(m)
	case *wire.ListInstances:
		return c.instances()
	case *wire.SetInstances:
		return c.setInstances(m)
	case *wire.Read:
		return c.read(id, m)
	case *wire.ListGroups:
		return &wire.Names{Names: st.ReaderGroups()}
	case *wire.CreateGroup:
		g, err := st.CreateReaderGroup(c.ctx, m.Group, m.Stream)
		if err != nil {
			return c.errorOf(err)
		}
		return groupAnswer(g)
	case *wire.DescribeGroup:
		g, err := st.ReaderGroup(m.Group)
		if err != nil {
			return c.errorOf(err)
		}
		return groupAnswer(g)
	case *wire.DeleteGroup:
		return c.deleteGroup(m.Group)
	case *wire.Checkpoint:
		g, err := st.ReaderGroup(m.Group)
		if err == nil {
			_, err = g.Checkpoint(c.ctx)
		}
		if err != nil {
			return c.errorOf(err)
		}
		return groupAnswer(g)
	case *wire.JoinGroup:
		return c.join(m)
	case *wire.ReadGroup:
		return c.readGroup(id, m)
	case *wire.LeaveGroup:
		return c.leave(m)
	}
	return wire.Errorf(wire.CodeBadRequest, "stream server: %s is not a request", m.Type())
}

func (c *conn) okOr(err error) wire.Message {
	if err != nil {
		return c.errorOf(err)
	}
	return &wire.OK{}
}

// conflict marks the refusals of deletes (a scope with streams, a stream a
// group reads, a group with readers), which the store does not mark.
func conflict(err error) error {
	if err != nil && wire.CodeOf(err) == wire.CodeBadRequest {
		return &wire.Error{Code: wire.CodeConflict, Message: err.Error()}
	}
	return err
}

// createStream decodes the configuration strictly, so that a field this
// store does not know is an error rather than silently dropped.
func (c *conn) createStream(m *wire.CreateStream) wire.Message {
	var cfg stream.StreamConfig
	if len(m.Config) > 0 {
		dec := json.NewDecoder(bytes.NewReader(m.Config))
		dec.DisallowUnknownFields()
		err := dec.Decode(&cfg)
		if err == nil {
			if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
				err = errors.New("data after the JSON value")
			}
		}
		if err != nil {
			return wire.Errorf(wire.CodeBadRequest, "stream server: stream %s: configuration: %v", m.Stream, err)
		}
	}
	if err := c.s.store.CreateStream(c.ctx, m.Stream, cfg); err != nil {
		return c.errorOf(err)
	}
	return c.describe(m.Stream)
}

func (c *conn) describe(name stream.StreamName) wire.Message {
	info, err := c.s.store.Stream(name)
	if err != nil {
		return c.errorOf(err)
	}
	b, err := json.Marshal(info)
	if err != nil {
		return wire.Errorf(wire.CodeInternal, "stream server: stream %s: %v", name, err)
	}
	return &wire.Stream{Info: b}
}

// defaultReadBytes is what a read without MaxBytes returns at most, as
// the store's default.
const defaultReadBytes = 1 << 20

// read reads a segment, waiting up to m.Wait at the tail: a wait that ends
// with nothing is an empty answer, not an error.
func (c *conn) read(id uint32, m *wire.Read) wire.Message {
	ctx, done := c.requestContext(id)
	defer done()
	opts := stream.ReadOptions{MaxBytes: int64(m.MaxBytes), NoWait: m.Wait == 0}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = defaultReadBytes
	}
	wctx := ctx
	if m.Wait > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, m.Wait)
		defer cancel()
	}
	b, err := c.s.store.ReadSegment(wctx, m.Stream, m.Segment, m.Offset, opts)
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		b = stream.Batch{Next: m.Offset} // waited; nothing came
	case err != nil:
		return c.errorOf(c.waitError(err))
	}
	// The store bounds its bytes, not the 36-byte header each event gets
	// here: many tiny events could outgrow a frame. A trimmed batch no
	// longer reaches the sealed end.
	for len(b.Events) > 1 && wire.EventsSize(b.Events)+8*len(b.Successors) > wire.MaxPayload {
		b.Events = b.Events[:len(b.Events)/2]
		b.Next = b.Events[len(b.Events)-1].Next
		b.Sealed, b.Successors = false, nil
	}
	return &wire.Events{Next: b.Next, Events: b.Events, Sealed: b.Sealed, Successors: b.Successors}
}

// scale seals segments and creates their successors, in one of the three
// forms of the REST API's scale, and answers with the new segments.
func (c *conn) scale(m *wire.Scale) wire.Message {
	st := c.s.store
	var (
		created []stream.SegmentInfo
		err     error
	)
	switch m.Form {
	case wire.ScaleSplit:
		parts := int(m.Parts)
		if parts == 0 {
			parts = 2
		}
		created, err = st.SplitSegment(c.ctx, m.Stream, m.Segment, parts)
	case wire.ScaleMerge:
		created, err = st.MergeSegments(c.ctx, m.Stream, m.Merge)
	default:
		created, err = st.Scale(c.ctx, m.Stream, m.Seal, m.Ranges)
	}
	if err != nil {
		return c.errorOf(err)
	}
	if created == nil {
		created = []stream.SegmentInfo{}
	}
	b, err := json.Marshal(created)
	if err != nil {
		return wire.Errorf(wire.CodeInternal, "stream server: scale %s: %v", m.Stream, err)
	}
	return &wire.Segments{Info: b}
}

// instanceScaler returns the store as a stream.InstanceScaler, or the
// error that says it is not one.
func (c *conn) instanceScaler(what string) (stream.InstanceScaler, *wire.Error) {
	is, ok := c.s.store.(stream.InstanceScaler)
	if !ok {
		return nil, wire.Errorf(wire.CodeUnsupported, "stream server: cannot %s: this server runs a single segment store, not several instances under one controller (a cluster runs with 'cloudskin up --stream-instances N' or 'cloudskin stream serve --instances N' on a new data directory): %v", what, wire.ErrUnsupported)
	}
	return is, nil
}

func (c *conn) instances() wire.Message {
	is, werr := c.instanceScaler("list segment-store instances")
	if werr != nil {
		return werr
	}
	names := is.Instances()
	if names == nil {
		names = []string{}
	}
	return &wire.Names{Names: names}
}

func (c *conn) setInstances(m *wire.SetInstances) wire.Message {
	is, werr := c.instanceScaler("set the number of segment-store instances")
	if werr != nil {
		return werr
	}
	moves, err := is.SetInstances(c.ctx, int(m.Count))
	if err != nil {
		return c.errorOf(err)
	}
	return &wire.Moves{Moves: moves}
}

// GroupInfo describes a reader group.
type GroupInfo = wire.GroupInfo

func groupAnswer(g stream.Group) wire.Message {
	info := GroupInfo{Name: g.Name(), Stream: g.Stream().String(), Positions: g.Positions(), Readers: g.Readers()}
	if info.Readers == nil {
		info.Readers = []string{}
	}
	slices.Sort(info.Readers)
	b, err := json.Marshal(info)
	if err != nil {
		return wire.Errorf(wire.CodeInternal, "stream server: reader group %s: %v", g.Name(), err)
	}
	return &wire.Group{Info: b}
}

// Readers that join through a connection belong to it: they leave their
// group when it closes, so their segments go to the group's other readers.
type readerKey struct{ group, reader string }

// session is a joined reader; mu makes its reads one at a time, as a
// stream.Reader expects.
type session struct {
	mu sync.Mutex
	r  stream.GroupReader
}

func (c *conn) join(m *wire.JoinGroup) wire.Message {
	g, err := c.s.store.ReaderGroup(m.Group)
	if err != nil {
		return c.errorOf(err)
	}
	key := readerKey{m.Group, m.Reader}
	c.mu.Lock()
	_, joined := c.readers[key]
	c.mu.Unlock()
	if !joined {
		r, err := g.Join(m.Reader)
		if err != nil {
			return c.errorOf(err)
		}
		c.mu.Lock()
		c.readers[key] = &session{r: r}
		c.mu.Unlock()
	}
	return groupAnswer(g)
}

func (c *conn) session(group, reader string) (*session, *wire.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sess, ok := c.readers[readerKey{group, reader}]
	if !ok {
		return nil, wire.Errorf(wire.CodeNotFound, "stream server: reader %q has not joined reader group %q on this connection; join first: %v", reader, group, stream.ErrNotFound)
	}
	return sess, nil
}

// groupReadBytes bounds the event bytes one group read gathers: after it,
// one more event of the largest size still fits in the answer's frame.
const groupReadBytes = wire.MaxPayload - stream.MaxAppendBytes - wire.EventHeaderSize - wire.EventsFixedSize

// readGroup returns up to m.MaxEvents of the reader's events, waiting up
// to m.Wait for the first and then taking only what is ready.
func (c *conn) readGroup(id uint32, m *wire.ReadGroup) wire.Message {
	sess, werr := c.session(m.Group, m.Reader)
	if werr != nil {
		return werr
	}
	limit := int(m.MaxEvents)
	if limit == 0 {
		limit = 100
	}
	ctx, done := c.requestContext(id)
	defer done()
	sess.mu.Lock()
	defer sess.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, m.Wait)
	defer cancel()
	out := &wire.Events{Events: []stream.Event{}}
	size := 0
	for len(out.Events) < limit && size <= groupReadBytes {
		ev, err := sess.r.Read(wctx)
		if err != nil {
			if len(out.Events) > 0 || (ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)) {
				break
			}
			return c.errorOf(c.waitError(err))
		}
		out.Events = append(out.Events, ev)
		size += wire.EventHeaderSize + len(ev.Data)
		cancel() // after the first event take only what is ready
	}
	return out
}

func (c *conn) leave(m *wire.LeaveGroup) wire.Message {
	sess, werr := c.session(m.Group, m.Reader)
	if werr != nil {
		return werr
	}
	if err := sess.r.Close(c.ctx); err != nil && !errors.Is(err, stream.ErrReaderClosed) {
		return c.errorOf(err)
	}
	c.mu.Lock()
	delete(c.readers, readerKey{m.Group, m.Reader})
	c.mu.Unlock()
	return &wire.OK{}
}

// deleteGroup makes this connection's readers of the group leave, then
// deletes it.
func (c *conn) deleteGroup(group string) wire.Message {
	c.mu.Lock()
	var mine []*session
	for k, sess := range c.readers {
		if k.group == group {
			mine = append(mine, sess)
			delete(c.readers, k)
		}
	}
	c.mu.Unlock()
	for _, sess := range mine {
		if err := sess.r.Close(c.ctx); err != nil && !errors.Is(err, stream.ErrReaderClosed) {
			return c.errorOf(err)
		}
	}
	return c.okOr(conflict(c.s.store.DeleteReaderGroup(c.ctx, group)))
}

// leaveGroups makes the connection's readers leave when it closes; their
// positions are checkpointed by Close.
func (c *conn) leaveGroups() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.mu.Lock()
	readers := c.readers
	c.readers = map[readerKey]*session{}
	c.mu.Unlock()
	for k, sess := range readers {
		if err := sess.r.Close(ctx); err != nil && !errors.Is(err, stream.ErrReaderClosed) && !errors.Is(err, stream.ErrClosed) {
			c.s.log.Warn("stream server: a reader of a closed connection could not leave its group", "group", k.group, "reader", k.reader, "err", fmt.Sprint(err))
		}
	}
}
