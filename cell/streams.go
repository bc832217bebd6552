package cell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

// StreamsFromAPI serves cells' stream calls through the stream store's REST
// API, with its binary forms (one event as the raw body of an append;
// length-prefixed records on reads), so frames cross no JSON or base64.
// A read fetches up to ReadAheadBytes of events from the cell's offset
// and keeps those after the first, keyed by the offset the cell will ask
// for next: a reader catching up on a backlog of small events makes one
// request per ReadAheadBytes, not one per event. The offset still lives in
// the cell, so a cell that moves reads on from it elsewhere.
func StreamsFromAPI(c *streamapi.Client) Streams {
	return &apiStreams{c: c, ahead: newReadAhead(maxReadAheads)}
}

type apiStreams struct {
	c     *streamapi.Client
	ahead *readAhead
}

// ReadAheadBytes is how much a stream read asks the store for at once.
const ReadAheadBytes = 256 << 10

// maxReadAheads bounds the readers whose fetched events are kept (one per
// stream, segment and offset): ReadAheadBytes each at most.
const maxReadAheads = 64

func (s *apiStreams) Append(ctx context.Context, name, key string, data []byte) error {
	n, err := streamapi.ParseStreamName(name)
	if err != nil {
		return fmt.Errorf("cell streams: %w: %w", ErrStreamInvalid, err)
	}
	if len(data) > stream.MaxAppendBytes {
		return fmt.Errorf("cell streams: append to %s: %w: %d bytes, at most %d", name, ErrEventTooLarge, len(data), stream.MaxAppendBytes)
	}
	// data is the cell's memory, and the HTTP transport may still read a
	// request body after the answer came (an early error answer): send a
	// copy, so that the cell running on cannot race with it.
	body := bytes.Clone(data)
	_, err = s.c.AppendBinary(ctx, n, key, body, "", 0)
	if streamapi.IsNotFound(err) {
		// The first append makes the stream, as Kafka makes a topic, so a
		// camera cell needs nothing created before it starts.
		if err = s.create(ctx, n); err == nil {
			_, err = s.c.AppendBinary(ctx, n, key, body, "", 0)
		}
	}
	if err != nil {
		return fmt.Errorf("cell streams: append to %s: %w", name, classify(err))
	}
	return nil
}

// AutoCreatedRetention bounds a stream made by a cell's first append: a
// camera writing forever must not fill the disk.
const AutoCreatedRetention = 1 << 30

// create makes a stream (and its scope) of one segment; one made by
// someone else meanwhile is fine.
func (s *apiStreams) create(ctx context.Context, n stream.StreamName) error {
	if err := s.c.CreateScope(ctx, n.Scope); err != nil && !streamapi.IsConflict(err) {
		return err
	}
	_, err := s.c.CreateStream(ctx, n, streamapi.StreamSpec{Segments: 1, Retention: streamapi.Retention{MaxBytes: AutoCreatedRetention}})
	if streamapi.IsConflict(err) {
		return nil
	}
	return err
}

func (s *apiStreams) ReadNext(ctx context.Context, name string, segment uint32, offset uint64, wait time.Duration) ([]byte, uint64, error) {
	n, err := streamapi.ParseStreamName(name)
	if err != nil {
		return nil, offset, fmt.Errorf("cell streams: %w: %w", ErrStreamInvalid, err)
	}
	if offset > 1<<62 {
		return nil, offset, fmt.Errorf("cell streams: read %s: %w: offset %d", name, ErrStreamInvalid, offset)
	}
	if data, next, ok := s.ahead.take(name, segment, offset); ok {
		return data, next, nil
	}
	// The store returns at least one event whatever its size, and more
	// only within ReadAheadBytes.
	got, err := s.c.ReadSegmentBinary(ctx, n, uint64(segment), int64(offset), ReadAheadBytes, wait)
	if err != nil {
		err = classify(err)
		if errors.Is(err, ErrStreamTruncated) {
			return s.truncated(ctx, n, segment, offset, err)
		}
		return nil, offset, fmt.Errorf("cell streams: read %s segment %d at %d: %w", name, segment, offset, err)
	}
	if len(got.Events) == 0 {
		return nil, offset, nil
	}
	e := got.Events[0]
	if e.Offset != int64(offset) || e.Next <= e.Offset {
		return nil, offset, fmt.Errorf("cell streams: read %s segment %d at %d: %w: the store answered with the event at %d..%d", name, segment, offset, ErrStreamUnavailable, e.Offset, e.Next)
	}
	s.ahead.put(name, segment, got.Events[1:], e.Next)
	return eventData(e), uint64(e.Next), nil
}

func eventData(e streamapi.Event) []byte {
	if e.Data == nil {
		return []byte{}
	}
	return e.Data
}

// readAhead keeps the events a read fetched past the one it asked for,
// by where the next read of that reader starts. Events are immutable
// once appended, so one kept is what the store would answer, unless the
// store truncated it since: then the cell reads it anyway, as it would
// have a moment earlier.
type readAhead struct {
	mu    sync.Mutex
	limit int
	held  map[aheadKey][]streamapi.Event
}

type aheadKey struct {
	stream  string
	segment uint32
	offset  uint64
}

func newReadAhead(limit int) *readAhead {
	return &readAhead{limit: limit, held: map[aheadKey][]streamapi.Event{}}
}

// put keeps events, which follow the event ending at next, as far as
// they are contiguous.
func (r *readAhead) put(stream string, segment uint32, events []streamapi.Event, next int64) {
	run := 0
	for run < len(events) && events[run].Offset == next && events[run].Next > next {
		next = events[run].Next
		run++
	}
	if run == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.held) >= r.limit {
		for k := range r.held { // any one: readers that stopped leave theirs behind
			delete(r.held, k)
			break
		}
	}
	r.held[aheadKey{stream, segment, uint64(events[0].Offset)}] = events[:run]
}

// take answers the kept event at offset, and where the one after it
// starts.
func (r *readAhead) take(stream string, segment uint32, offset uint64) ([]byte, uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := aheadKey{stream, segment, offset}
	events, ok := r.held[k]
	if !ok {
		return nil, 0, false
	}
	delete(r.held, k)
	e := events[0]
	if len(events) > 1 {
		r.held[aheadKey{stream, segment, uint64(e.Next)}] = events[1:]
	}
	return eventData(e), uint64(e.Next), true
}

// truncated finds where a segment now starts, for a read whose offset was
// discarded.
func (s *apiStreams) truncated(ctx context.Context, n stream.StreamName, segment uint32, offset uint64, cause error) ([]byte, uint64, error) {
	info, err := s.c.Stream(ctx, n)
	if err != nil {
		return nil, offset, fmt.Errorf("cell streams: read %s segment %d at %d: %w, and describing the stream failed: %w", n, segment, offset, ErrStreamUnavailable, classify(err))
	}
	for _, seg := range info.Segments {
		if seg.ID == uint64(segment) {
			return nil, uint64(seg.Start), fmt.Errorf("cell streams: read %s segment %d at %d: %w (the segment now starts at %d)", n, segment, offset, cause, seg.Start)
		}
	}
	return nil, offset, fmt.Errorf("cell streams: read %s segment %d: %w", n, segment, ErrStreamNotFound)
}

// classify wraps an error of the REST client with the ErrStream* error
// that says what a cell can do about it.
func classify(err error) error {
	var st *v1alpha1.Status
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case !errors.As(err, &st):
		return fmt.Errorf("%w: %w", ErrStreamUnavailable, err) // could not reach the store
	case st.Code == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrStreamNotFound, err)
	case st.Code == http.StatusGone:
		return fmt.Errorf("%w: %w", ErrStreamTruncated, err)
	case st.Code == http.StatusBadRequest:
		return fmt.Errorf("%w: %w", ErrStreamInvalid, err)
	}
	return fmt.Errorf("%w: %w", ErrStreamUnavailable, err) // 503 back-pressure or outage, 5xx
}
