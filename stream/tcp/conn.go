package tcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/wire"
)

// Timeouts of a connection's reads: the hello must come soon after
// connecting, and a frame once started must arrive whole.
const (
	helloTimeout = 10 * time.Second
	frameTimeout = time.Minute
)

// conn is one client connection on the server.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader

	// ctx ends when the connection is killed: appends in the store are
	// abandoned (they may still be stored). reads ends earlier, when the
	// server starts draining, so that waiting reads answer at once.
	ctx       context.Context
	kill      context.CancelFunc
	reads     context.Context
	stopReads context.CancelFunc
	draining  atomic.Bool
	canWrite  bool

	slots    chan struct{}
	bytes    *semaphore.Weighted
	inflight sync.WaitGroup
	active   atomic.Int64

	wmu  sync.Mutex
	wbuf []byte

	// answers carries the answers of appends from the store's callbacks,
	// which must not block, to the goroutine that writes them. Every
	// append holds a request slot until its answer is written, so the
	// channel, as large as the slots, never fills.
	answers chan appendAnswer

	mu      sync.Mutex
	lanes   map[laneKey]*lane
	failed  map[laneKey]int64 // writer lanes: the seq whose append was pushed back
	pending map[*pendingAppend]struct{}
	cancels map[uint32]context.CancelFunc
	readers map[readerKey]*session
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s: s, nc: nc, br: bufio.NewReaderSize(nc, 64<<10),
		slots: make(chan struct{}, s.opts.MaxInFlight), bytes: semaphore.NewWeighted(max(s.opts.MaxInFlightBytes, wire.MaxPayload)),
		answers: make(chan appendAnswer, s.opts.MaxInFlight),
		lanes:   map[laneKey]*lane{}, failed: map[laneKey]int64{}, pending: map[*pendingAppend]struct{}{},
		cancels: map[uint32]context.CancelFunc{}, readers: map[readerKey]*session{},
	}
	c.ctx, c.kill = context.WithCancel(context.Background())
	c.reads, c.stopReads = context.WithCancel(c.ctx)
	return c
}

// drain makes the connection stop reading requests and end waiting reads;
// serve then waits for what is in flight and closes.
func (c *conn) drain() {
	c.draining.Store(true)
	c.stopReads()
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	defer c.kill()
	defer c.nc.Close()
	log := c.s.log.With("remote", c.nc.RemoteAddr().String())
	if err := c.hello(); err != nil {
		log.Debug("stream server: hello failed", "err", err)
		c.lingerClose()
		return
	}
	answered := make(chan struct{})
	go c.answerAppends(answered)
	stopAbandon := context.AfterFunc(c.ctx, c.abandonAppends)
	defer stopAbandon()
	err := c.loop()
	if err != nil && !c.draining.Load() {
		log.Debug("stream server: connection ends", "err", err)
	}
	c.inflight.Wait()
	close(c.answers) // every append is answered: nothing sends any more
	<-answered
	c.leaveGroups()
	if c.ctx.Err() == nil {
		c.lingerClose()
	}
}

// lingerClose closes a connection whose client may still be sending
// (after a bad frame, or at shutdown) so that it reads every answer
// written: closing a socket with unread input sends a reset, which can
// overtake answers the client has not read yet. It shuts down the sending
// side, then reads and drops the client's bytes until the client closes
// too, for a second at most.
func (c *conn) lingerClose() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
}

// hello reads the client's hello and answers it.
func (c *conn) hello() error {
	c.nc.SetReadDeadline(time.Now().Add(helloTimeout))
	f, err := wire.ReadFrame(c.br)
	if err != nil {
		if errors.Is(err, wire.ErrFrame) {
			c.reply(f.ID, wire.Errorf(wire.CodeBadRequest, "%v", err))
		}
		return err
	}
	if f.Type != wire.TypeHello {
		err := wire.Errorf(wire.CodeBadRequest, "stream server: the first frame must be a hello, not %s", f.Type)
		c.reply(f.ID, err)
		return err
	}
	m, err := wire.Decode(f)
	if err != nil {
		c.reply(f.ID, wire.Errorf(wire.CodeBadRequest, "%v", err))
		return err
	}
	h := m.(*wire.Hello)
	if h.Version != wire.Version {
		err := wire.Errorf(wire.CodeVersion, "stream server: protocol version %d is not supported; this server speaks version %d", h.Version, wire.Version)
		c.reply(f.ID, err)
		return err
	}
	switch auth := c.s.opts.Auth; {
	case auth == nil:
		c.canWrite = true
	case h.Token != "" && !auth(h.Token):
		err := wire.Errorf(wire.CodeUnauthorized, "stream server: the token is not accepted")
		c.reply(f.ID, err)
		return err
	default:
		c.canWrite = h.Token != ""
	}
	c.reply(f.ID, &wire.Welcome{Version: wire.Version, MaxInFlight: uint32(c.s.opts.MaxInFlight)})
	return nil
}

// loop reads requests until the connection ends, starting each one.
func (c *conn) loop() error {
	for {
		if err := c.awaitFrame(); err != nil {
			return err
		}
		var h [wire.HeaderSize]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return c.badFrame(0, fmt.Errorf("wire: %w: connection closed inside a frame header: %w", wire.ErrFrame, err))
		}
		n, typ, id, err := wire.ParseHeader(h)
		if err != nil {
			return c.badFrame(id, err)
		}
		if !typ.IsRequest() || typ == wire.TypeHello {
			return c.badFrame(id, fmt.Errorf("wire: %w: a %s frame is not a request a client may send here", wire.ErrBadMessage, typ))
		}
		if typ != wire.TypeCancel {
			if err := c.acquire(n); err != nil {
				return err
			}
		}
		f := wire.Frame{Type: typ, ID: id, Payload: make([]byte, n)}
		if _, err := io.ReadFull(c.br, f.Payload); err != nil {
			c.release(typ, n)
			return c.badFrame(id, fmt.Errorf("wire: %w: connection closed inside the payload of %s frame %d: %w", wire.ErrFrame, typ, id, err))
		}
		m, err := wire.Decode(f)
		if errors.Is(err, wire.ErrInvalid) {
			c.release(typ, n) // a bad request, in a good frame
			c.reply(id, wire.Errorf(wire.CodeBadRequest, "%v", err))
			continue
		}
		if err != nil {
			c.release(typ, n)
			return c.badFrame(id, err)
		}
		if typ == wire.TypeCancel {
			c.cancel(id)
			continue
		}
		c.start(id, m, n)
	}
}

// awaitFrame waits for the first byte of the next frame, closing an idle
// connection, then gives the frame frameTimeout to arrive. Deadlines are
// set before draining is checked, so a drain that sets its own deadline
// concurrently is never overwritten unseen.
func (c *conn) awaitFrame() error {
	for {
		var deadline time.Time
		if idle := c.s.opts.IdleTimeout; idle > 0 {
			deadline = time.Now().Add(idle)
		}
		c.nc.SetReadDeadline(deadline)
		if c.draining.Load() {
			return errDraining
		}
		_, err := c.br.Peek(1)
		if err == nil {
			c.nc.SetReadDeadline(time.Now().Add(frameTimeout))
			if c.draining.Load() {
				return errDraining
			}
			return nil
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !c.draining.Load() && c.active.Load() > 0 {
			continue // waiting on its own requests: not idle
		}
		return err
	}
}

var errDraining = errors.New("stream server: shutting down")

// badFrame answers a frame that cannot be served with an error and ends
// the connection: after a bad frame the stream of frames cannot be
// trusted.
func (c *conn) badFrame(id uint32, err error) error {
	if c.draining.Load() {
		return err
	}
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.As(err, &ne) {
		return err // the peer went away, or a deadline: nobody to tell
	}
	c.reply(id, wire.Errorf(wire.CodeBadRequest, "%v; closing the connection", err))
	return err
}

// acquire takes a request slot and n bytes of the connection's budget,
// waiting (and so not reading from the client) while they are taken.
func (c *conn) acquire(n int) error {
	select {
	case c.slots <- struct{}{}:
	case <-c.reads.Done():
		return errDraining
	}
	if err := c.bytes.Acquire(c.reads, int64(n)); err != nil {
		<-c.slots
		return errDraining
	}
	return nil
}

func (c *conn) release(typ wire.Type, n int) {
	if typ == wire.TypeCancel {
		return
	}
	c.bytes.Release(int64(n))
	<-c.slots
}

// start runs a request: appends go to their lane, everything else to a
// goroutine of its own.
func (c *conn) start(id uint32, m wire.Message, n int) {
	c.inflight.Add(1)
	c.active.Add(1)
	done := func() {
		c.release(m.Type(), n)
		c.active.Add(-1)
		c.inflight.Done()
	}
	if writes(m.Type()) && !c.canWrite {
		c.reply(id, wire.Errorf(wire.CodeUnauthorized, "stream server: %s needs a token that may write; send one in the hello", m.Type()))
		done()
		return
	}
	if a, ok := m.(*wire.Append); ok {
		c.enqueue(id, a, done)
		return
	}
	go func() {
		defer done()
		c.reply(id, c.handle(id, m))
	}()
}

// writes reports whether requests of type t change the store.
func writes(t wire.Type) bool {
	switch t {
	case wire.TypeCreateScope, wire.TypeDeleteScope, wire.TypeCreateStream, wire.TypeDeleteStream,
		wire.TypeTruncate, wire.TypeScale, wire.TypeAppend, wire.TypeCreateGroup, wire.TypeDeleteGroup,
		wire.TypeSetInstances:
		return true
	}
	return false
}

// reply writes an answer. A failed write kills the connection.
func (c *conn) reply(id uint32, m wire.Message) {
	c.replyAll([]appendAnswer{{id: id, m: m}})
}

// replyAll writes answers in one write (acknowledgements that one fsync
// made ready go out together). A failed write kills the connection.
func (c *conn) replyAll(answers []appendAnswer) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = c.wbuf[:0]
	for _, a := range answers {
		start := len(c.wbuf)
		c.wbuf = wire.AppendFrame(c.wbuf, a.id, a.m)
		if len(c.wbuf)-start-wire.HeaderSize > wire.MaxPayload {
			c.wbuf = wire.AppendFrame(c.wbuf[:start], a.id, wire.Errorf(wire.CodeInternal, "stream server: the answer to request %d is larger than a frame", a.id))
		}
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout))
	if _, err := c.nc.Write(c.wbuf); err != nil {
		c.kill()
		c.nc.Close()
	}
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // keep no large buffer for an idle connection
	}
}

// requestContext returns a context for a request that waits: it ends when
// the client cancels the request or the server drains.
func (c *conn) requestContext(id uint32) (context.Context, func()) {
	ctx, cancel := context.WithCancel(c.reads)
	c.mu.Lock()
	c.cancels[id] = cancel
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		delete(c.cancels, id)
		c.mu.Unlock()
		cancel()
	}
}

func (c *conn) cancel(id uint32) {
	c.mu.Lock()
	cancel := c.cancels[id]
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// waitError says why a waiting request ended early.
func (c *conn) waitError(err error) error {
	if c.reads.Err() != nil && c.ctx.Err() == nil {
		return wire.Errorf(wire.CodeClosed, "stream server: shutting down")
	}
	return err
}

// laneKey names the appends that must be stored in the order they came:
// those of one routing key, or of one idempotent writer, in a stream.
type laneKey struct {
	stream stream.StreamName
	writer bool
	key    string // routing key, or writer id
}

type lane struct {
	queue []queuedAppend
}

type queuedAppend struct {
	id   uint32
	m    *wire.Append
	done func()
}

func (c *conn) enqueue(id uint32, m *wire.Append, done func()) {
	k := laneKey{stream: m.Stream, key: m.RoutingKey}
	if m.WriterID != "" {
		k = laneKey{stream: m.Stream, writer: true, key: m.WriterID}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.lanes[k]
	if !ok {
		l = &lane{}
		c.lanes[k] = l
		go c.runLane(k, l)
	}
	l.queue = append(l.queue, queuedAppend{id: id, m: m, done: done})
}

// runLane hands a lane's appends to the store one after the other, in
// the order they arrived, without waiting for each to be durable: the
// store keeps the order of the appends of one routing key as they are
// handed to it, and the log's group commit makes one fsync durable for
// all the appends a pipelining client has in flight. Each is answered
// from the store's callback (answerAppends writes it). The lane ends when
// it is empty.
func (c *conn) runLane(k laneKey, l *lane) {
	for {
		c.mu.Lock()
		if len(l.queue) == 0 {
			delete(c.lanes, k)
			c.mu.Unlock()
			return
		}
		q := l.queue[0]
		l.queue[0] = queuedAppend{}
		l.queue = l.queue[1:]
		c.mu.Unlock()
		c.submit(k, q)
	}
}

// pendingAppend is an append taken from its lane and not yet answered.
// It is answered once: by the store's callback, by a refusal, or by
// abandonAppends when the connection is killed, whichever comes first.
type pendingAppend struct {
	id       uint32
	done     func()
	answered atomic.Bool
}

// appendAnswer is an answer on its way to the client: m, or the answer
// to err (turned into one by the writing goroutine, not the store's
// callback, which must not wait for anything). p, if set, is the append
// it answers, whose request slot is released once it is written.
type appendAnswer struct {
	id  uint32
	m   wire.Message
	err error
	p   *pendingAppend
}

// submit hands one append to the store. After an idempotent writer's
// append is pushed back, its later appends are refused until it sends the
// pushed-back one again: they were sent before the writer knew, and
// storing them would put them before it (and make its retry look like a
// duplicate). That holds because the store says back-pressure when it
// refuses to queue an append (AppendAsync's own error), before the lane
// hands it the next one.
func (c *conn) submit(k laneKey, q queuedAppend) {
	p := &pendingAppend{id: q.id, done: q.done}
	m := q.m
	if werr := c.refuseAfterPushBack(k, m); werr != nil {
		c.answer(p, werr, nil)
		return
	}
	c.mu.Lock()
	c.pending[p] = struct{}{}
	c.mu.Unlock()
	// Checked after p is pending, so that a kill either sees p
	// (abandonAppends) or is seen here.
	if c.ctx.Err() != nil {
		c.answer(p, abandoned(), nil)
		return
	}
	req := stream.AppendRequest{Stream: m.Stream, RoutingKey: m.RoutingKey, Events: m.Events, WriterID: m.WriterID, Seq: m.Seq}
	err := c.s.store.AppendAsync(req, func(res stream.AppendResult, err error) {
		if err != nil {
			c.answer(p, nil, c.pushedBack(k, m, err))
			return
		}
		c.answer(p, &wire.Ack{Segment: res.Segment, Offset: res.Offset, Duplicate: res.Duplicate}, nil)
	})
	if err != nil {
		c.answer(p, nil, c.pushedBack(k, m, err))
	}
}

// refuseAfterPushBack applies the pushed-back writer rule (see submit).
func (c *conn) refuseAfterPushBack(k laneKey, m *wire.Append) *wire.Error {
	if !k.writer {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	failed := c.failed[k]
	if failed > 0 && m.Seq <= failed {
		delete(c.failed, k)
	}
	if failed > 0 && m.Seq > failed {
		return wire.Errorf(wire.CodeBackPressure, "stream server: append seq %d of writer %s not tried: seq %d before it was pushed back (%v); send again from seq %d",
			m.Seq, m.WriterID, failed, stream.ErrBackPressure, failed)
	}
	return nil
}

// pushedBack remembers a writer whose append was pushed back (see
// submit) and returns err.
func (c *conn) pushedBack(k laneKey, m *wire.Append, err error) error {
	if k.writer && errors.Is(err, stream.ErrBackPressure) {
		c.mu.Lock()
		if c.failed[k] == 0 || m.Seq < c.failed[k] {
			c.failed[k] = m.Seq
		}
		c.mu.Unlock()
	}
	return err
}

// abandoned answers an append the connection stopped waiting for.
func abandoned() *wire.Error {
	return wire.Errorf(wire.CodeCanceled, "stream server: stopped waiting for an append (the connection was closed); it may still be stored: %v", context.Canceled)
}

// answer hands an append's answer (m, or err's) to answerAppends, unless
// it was answered already. It never blocks (see conn.answers).
func (c *conn) answer(p *pendingAppend, m wire.Message, err error) {
	if !p.answered.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	delete(c.pending, p)
	c.mu.Unlock()
	c.answers <- appendAnswer{id: p.id, m: m, err: err, p: p}
}

// answerAppends writes appends' answers as they come, those ready
// together in one write, and releases their requests, until the
// connection closes answers.
func (c *conn) answerAppends(stopped chan<- struct{}) {
	defer close(stopped)
	var batch []appendAnswer
	for a := range c.answers {
		batch = append(batch[:0], a)
	more:
		for len(batch) < 256 {
			select {
			case a, ok := <-c.answers:
				if !ok {
					break more
				}
				batch = append(batch, a)
			default:
				break more
			}
		}
		for i := range batch {
			if batch[i].err != nil {
				batch[i].m = c.errorOf(batch[i].err)
			}
		}
		c.replyAll(batch)
		for i := range batch {
			batch[i].p.done()
			batch[i] = appendAnswer{}
		}
	}
}

// abandonAppends answers the appends the store has not answered when the
// connection is killed (the client is gone, or shutdown ran out of time),
// so that the connection can close without waiting for the store: they
// may still be stored, as a client that saw its connection end must
// assume anyway.
func (c *conn) abandonAppends() {
	c.mu.Lock()
	pending := make([]*pendingAppend, 0, len(c.pending))
	for p := range c.pending {
		pending = append(pending, p)
	}
	c.mu.Unlock()
	for _, p := range pending {
		c.answer(p, abandoned(), nil)
	}
}

// errorOf turns a store error into an answer; an unmarked error is the
// store's failure if the store has failed, else a bad request.
func (c *conn) errorOf(err error) *wire.Error {
	e := wire.ErrorOf(err)
	if e.Code == wire.CodeBadRequest && c.s.store.Err() != nil {
		e.Code = wire.CodeInternal
	}
	return e
}
