package stream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// Append stores the request's events in the segment that owns its routing
// key and returns once they are durable. If ctx ends first, the events may
// still be stored; retrying with the same WriterID and Seq is then safe.
func (s *Store) Append(ctx context.Context, req AppendRequest) (AppendResult, error) {
	type result struct {
		r   AppendResult
		err error
	}
	ch := make(chan result, 1)
	if err := s.AppendAsync(req, func(r AppendResult, err error) { ch <- result{r, err} }); err != nil {
		return AppendResult{}, err
	}
	select {
	case res := <-ch:
		return res.r, res.err
	case <-ctx.Done():
		return AppendResult{}, fmt.Errorf("stream: append to %s: %w (the events may still be stored)", req.Stream, ctx.Err())
	}
}

func validateAppend(req AppendRequest) error {
	if len(req.Events) == 0 {
		return fmt.Errorf("stream: append to %s: no events", req.Stream)
	}
	total := 0
	for _, e := range req.Events {
		total += len(e)
	}
	if total > MaxAppendBytes {
		return fmt.Errorf("stream: append to %s: %d bytes of events, at most %d are allowed in one append", req.Stream, total, MaxAppendBytes)
	}
	if req.WriterID == "" {
		if req.Seq != 0 {
			return fmt.Errorf("stream: append to %s: seq %d without a writer id", req.Stream, req.Seq)
		}
		return nil
	}
	if err := validateID("writer", req.WriterID); err != nil {
		return err
	}
	if req.Seq < 1 {
		return fmt.Errorf("stream: append to %s: writer %q: seq %d, want 1 or more", req.Stream, req.WriterID, req.Seq)
	}
	return nil
}

// AppendAsync queues an append and returns at once; done is called once,
// on the log's goroutine, when it is durable or has failed, and must not
// block. Appends to one segment (so with one routing key) reach the log in
// the order AppendAsync is called. An error returned by AppendAsync itself
// (a bad request, back-pressure, a full disk) means nothing was queued.
func (s *Store) AppendAsync(req AppendRequest, done func(AppendResult, error)) error {
	if err := validateAppend(req); err != nil {
		return err
	}
	// Encode outside the locks (events can be megabytes); the offset and
	// time are filled in once the segment is locked.
	r := eventsRecord{seq: req.Seq, writer: req.WriterID}
	data := appendEventsRecord(nil, r, req.Events)
	frames := data[eventsHeaderSize+len(r.writer)+4:]

	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return err
	}
	st, err := s.streamLocked(req.Stream)
	if err != nil {
		return err
	}
	// The active segment owning the key. A scale, which changes the
	// active segments, waits for s.mu exclusively, so this append reaches
	// the log before the scale's record (in the segment it seals) or after
	// it (in a successor), never in a segment already sealed.
	seg := st.active[segmentFor(st.ranges, KeyPosition(req.RoutingKey))]
	queued := time.Now()

	seg.mu.Lock()
	defer seg.mu.Unlock()
	if req.WriterID != "" && req.Seq <= seg.writers[req.WriterID].seq {
		// A retry of an append already in the log, perhaps not yet
		// durable: answer once everything before this point is.
		return s.appendToLog(nil, func([]wal.Address) {
			st.counters.duplicates.Inc()
			done(AppendResult{Segment: seg.id, Offset: -1, Duplicate: true}, nil)
		}, done)
	}
	logBytes := int64(wal.FrameSize(len(data)))
	if err := s.checkBudget(req.Stream, logBytes); err != nil {
		return err
	}
	r.stream, r.segment, r.offset, r.time = st.no, seg.id, seg.tailEnd, s.now().UnixNano()
	setEventsPlace(data, r)
	end := r.offset + int64(len(frames))
	s.queued.Add(logBytes)
	err = s.appendToLog([]wal.Record{{Type: recEvents, Data: data}}, func(addrs []wal.Address) {
		s.queued.Add(-logBytes)
		s.kickTiering(logBytes)
		entry := indexEntry{offset: r.offset, addr: addrs[0], time: r.time}
		s.cache.put(addrs[0], cachedRecord{segment: seg.id, offset: r.offset, time: r.time, frames: frames})
		seg.mu.Lock()
		seg.index = append(seg.index, entry)
		seg.end = end
		seg.load.pendingEvents += int64(len(req.Events))
		seg.load.pendingBytes += int64(len(frames))
		seg.wakeLocked()
		seg.mu.Unlock()
		st.wake()
		st.counters.appended(len(req.Events), len(frames), time.Since(queued))
		done(AppendResult{Segment: seg.id, Offset: r.offset}, nil)
	}, func(r AppendResult, err error) {
		s.queued.Add(-logBytes)
		done(r, err)
	})
	if err != nil {
		s.queued.Add(-logBytes)
		return err
	}
	seg.tailEnd = end
	if req.WriterID != "" {
		seg.writers[req.WriterID] = writerMark{seq: req.Seq, seen: r.time}
	}
	return nil
}

// appendToLog queues records; durable runs once they are durable, failed
// gets the error if the log fails first.
func (s *Store) appendToLog(recs []wal.Record, durable func([]wal.Address), failed func(AppendResult, error)) error {
	err := s.wal.Append(recs, func(addrs []wal.Address, err error) {
		if err != nil {
			failed(AppendResult{}, s.fail(err))
			return
		}
		durable(addrs)
	})
	if err != nil {
		return s.refusedOrFailed(err)
	}
	return nil
}

// Writer appends events to one stream with an id and growing sequence
// numbers, so that its appends are idempotent: see AppendRequest. It keeps
// the order of its calls per routing key. It is safe for concurrent use.
type Writer struct {
	s        *Store
	stream   StreamName
	id       string
	inflight chan struct{}

	mu  sync.Mutex
	seq int64
}

// NewWriter returns a writer for a stream. A writer that reuses the id of
// an earlier one (say, after a restart) continues after the highest
// sequence number stored for that id. An empty id gets a random one.
func (s *Store) NewWriter(name StreamName, id string) (*Writer, error) {
	if id == "" {
		var b [8]byte
		rand.Read(b[:])
		id = "writer-" + hex.EncodeToString(b[:])
	}
	if err := validateID("writer", id); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.streamLocked(name)
	if err != nil {
		return nil, err
	}
	w := &Writer{s: s, stream: name, id: id, inflight: make(chan struct{}, s.opts.WriterInFlight)}
	for _, seg := range st.segments {
		seg.mu.Lock()
		w.seq = max(w.seq, seg.writers[id].seq)
		seg.mu.Unlock()
	}
	return w, nil
}

// ID returns the writer's id.
func (w *Writer) ID() string { return w.id }

// Write appends one event and waits until it is durable.
func (w *Writer) Write(ctx context.Context, key string, data []byte) error {
	return w.WriteBatch(ctx, key, [][]byte{data})
}

// WriteBatch appends events with one key atomically (all or none survive a
// crash, in order) and waits until they are durable.
func (w *Writer) WriteBatch(ctx context.Context, key string, events [][]byte) error {
	ack, err := w.writeAsync(ctx, key, events)
	if err != nil {
		return err
	}
	_, err = ack.Wait(ctx)
	return err
}

// WriteAsync queues one event and returns without waiting for it to be
// durable; the Ack says when it is. It blocks only while the writer has
// Options.WriterInFlight appends waiting.
func (w *Writer) WriteAsync(ctx context.Context, key string, data []byte) (*Ack, error) {
	return w.writeAsync(ctx, key, [][]byte{data})
}

func (w *Writer) writeAsync(ctx context.Context, key string, events [][]byte) (*Ack, error) {
	select {
	case w.inflight <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	ack := &Ack{done: make(chan struct{})}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	req := AppendRequest{Stream: w.stream, RoutingKey: key, Events: events, WriterID: w.id, Seq: w.seq}
	err := w.s.AppendAsync(req, func(r AppendResult, err error) {
		ack.res, ack.err = r, err
		close(ack.done)
		<-w.inflight
	})
	if err != nil {
		<-w.inflight
		return nil, err
	}
	return ack, nil
}

// Flush waits until every append the writer queued before is durable.
func (w *Writer) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	err := w.s.appendToLog(nil, func([]wal.Address) { done <- nil }, func(_ AppendResult, err error) { done <- err })
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Ack is the outcome of an asynchronous write.
type Ack struct {
	done chan struct{}
	res  AppendResult
	err  error
}

// Done is closed once the outcome is known.
func (a *Ack) Done() <-chan struct{} { return a.done }

// Wait returns the outcome once it is known, or ctx's error if ctx ends
// first (the event may still be stored).
func (a *Ack) Wait(ctx context.Context) (AppendResult, error) {
	select {
	case <-a.done:
		return a.res, a.err
	case <-ctx.Done():
		return AppendResult{}, ctx.Err()
	}
}
