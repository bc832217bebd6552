package video

import (
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

// readBytes is how many segment bytes one read asks for: a few dozen
// frames, so a replay makes few round trips.
const readBytes = 4 << 20

// NewRESTClient adapts the stream store's REST client (package
// stream/streamapi) to Client, using its binary append and read.
//
// HTTP/1.1 requests on separate connections may overtake each other, so
// to keep a camera's frames in order the adapter sends one append per
// routing key at a time, each once the one before it is acknowledged; the
// caller still does not wait (AppendAsync), and appends with other keys
// go side by side.
func NewRESTClient(c *streamapi.Client) Client {
	return &restClient{c: c, last: map[chainKey]*link{}}
}

type restClient struct {
	c *streamapi.Client

	mu   sync.Mutex
	last map[chainKey]*link // the latest append queued per stream and key
}

type chainKey struct {
	name stream.StreamName
	key  string
}

// link is one queued append; the next one with its key waits for done.
type link struct {
	done   chan struct{}
	failed bool // set before done is closed
}

func (r *restClient) EnsureStream(ctx context.Context, name stream.StreamName) error {
	if err := r.c.CreateScope(ctx, name.Scope); err != nil && !streamapi.IsConflict(err) {
		return fmt.Errorf("video: create scope %s: %w", name.Scope, err)
	}
	if _, err := r.c.CreateStream(ctx, name, streamapi.StreamSpec{}); err != nil && !streamapi.IsConflict(err) {
		return fmt.Errorf("video: create stream %s: %w", name, err)
	}
	return nil
}

func (r *restClient) ListStreams(ctx context.Context) ([]stream.StreamName, error) {
	scopes, err := r.c.Scopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("video: list scopes: %w", err)
	}
	var out []stream.StreamName
	for _, scope := range scopes {
		names, err := r.c.Streams(ctx, scope)
		if err != nil {
			return nil, fmt.Errorf("video: list streams of %s: %w", scope, err)
		}
		for _, n := range names {
			out = append(out, stream.StreamName{Scope: scope, Stream: n})
		}
	}
	return out, nil
}

func (r *restClient) Segments(ctx context.Context, name stream.StreamName) ([]Segment, error) {
	st, err := r.c.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("video: describe %s: %w", name, classify(err))
	}
	out := make([]Segment, len(st.Segments))
	for i, s := range st.Segments {
		out[i] = Segment{ID: s.ID, Low: s.Low, High: s.High, Start: s.Start, End: s.End}
	}
	return out, nil
}

func (r *restClient) ReadSegment(ctx context.Context, name stream.StreamName, segment uint64, from int64, wait time.Duration) (Batch, error) {
	got, err := r.c.ReadSegmentBinary(ctx, name, segment, from, readBytes, wait)
	if err != nil {
		return Batch{}, fmt.Errorf("video: read %s segment %d at %d: %w", name, segment, from, classify(err))
	}
	b := Batch{Next: got.Next, Events: make([]Event, len(got.Events))}
	for i, e := range got.Events {
		b.Events[i] = Event{Segment: e.Segment, Offset: e.Offset, Next: e.Next, Stored: e.Time, Data: e.Data}
	}
	return b, nil
}

// classify wraps the store's sentinel errors around the API's answers
// that mean them, so callers need not know the transport.
func classify(err error) error {
	var st *v1alpha1.Status
	if !errors.As(err, &st) {
		return err
	}
	switch st.Code {
	case http.StatusGone:
		return fmt.Errorf("%w: %w", stream.ErrTruncated, err)
	case http.StatusNotFound:
		return fmt.Errorf("%w: %w", stream.ErrNotFound, err)
	}
	return err
}

func (r *restClient) AppendAsync(ctx context.Context, name stream.StreamName, key string, event []byte) <-chan Appended {
	out := make(chan Appended, 1)
	me := &link{done: make(chan struct{})}
	k := chainKey{name, key}
	r.mu.Lock()
	prev := r.last[k]
	r.last[k] = me
	r.mu.Unlock()
	go func() {
		res := r.appendAfter(ctx, prev, name, key, event)
		me.failed = res.Err != nil
		close(me.done)
		r.mu.Lock()
		if r.last[k] == me {
			delete(r.last, k)
		}
		r.mu.Unlock()
		out <- res
	}()
	return out
}

// appendAfter sends one append once the one queued before it with the
// same key (prev, if any) is acknowledged.
func (r *restClient) appendAfter(ctx context.Context, prev *link, name stream.StreamName, key string, event []byte) Appended {
	if prev != nil {
		select {
		case <-prev.done:
			if prev.failed {
				return Appended{Err: ErrEarlierAppendFailed}
			}
		case <-ctx.Done():
			return Appended{Err: fmt.Errorf("video: append to %s: %w", name, ctx.Err())}
		}
	}
	res, err := r.c.AppendBinary(ctx, name, key, event, "", 0)
	if err != nil {
		return Appended{Err: fmt.Errorf("video: append to %s: %w", name, err)}
	}
	return Appended{Segment: res.Segment, Offset: res.Offset}
}
