package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"

	"github.com/cloudskin/cloudskin/stream"
)

// Writer appends events to one stream with an id and growing sequence
// numbers, like stream.Writer, and survives moves of its container.
//
// It uses a stream.Writer of the container's current store. A move drains
// the container before closing it: every append queued on the old store
// becomes durable and is acknowledged by the close, and nothing is queued
// on a closed store, so no append is in doubt and none is resent. On the
// target, a new stream.Writer with the same id continues after the highest
// sequence number the replay found, so sequence numbers keep growing and a
// retry of an old one (say, by a client that lost its connection) is still
// dropped as a duplicate.
type Writer struct {
	c      *container
	stream stream.StreamName
	id     string

	mu    sync.Mutex
	gen   uint64
	inner *stream.Writer
}

// NewWriter returns a writer for a stream. A writer that reuses the id of
// an earlier one continues after the highest sequence number stored for
// that id. An empty id gets a random one (chosen here, so that it stays
// the same across moves).
func (cl *Cluster) NewWriter(name stream.StreamName, id string) (*Writer, error) {
	if id == "" {
		var b [8]byte
		rand.Read(b[:])
		id = "writer-" + hex.EncodeToString(b[:])
	}
	w := &Writer{c: cl.containerOf(name), stream: name, id: id}
	l, err := w.c.acquire(context.Background())
	if err != nil {
		return nil, err
	}
	defer l.release()
	if _, err := w.writer(l); err != nil {
		return nil, err
	}
	return w, nil
}

// writer returns the stream.Writer of the lease's incarnation of the
// container, making it if the container moved since the last call.
func (w *Writer) writer(l lease) (*stream.Writer, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inner == nil || w.gen != l.gen {
		inner, err := l.store.NewWriter(w.stream, w.id)
		if err != nil {
			return nil, err
		}
		w.inner, w.gen = inner, l.gen
	}
	return w.inner, nil
}

// ID returns the writer's id.
func (w *Writer) ID() string { return w.id }

// WriteAsync queues one event and returns without waiting for it to be
// durable; the Ack says when it is. During a move of the container it
// waits (bounded by ctx) and then queues on the target.
func (w *Writer) WriteAsync(ctx context.Context, key string, data []byte) (*stream.Ack, error) {
	l, err := w.c.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer l.release()
	inner, err := w.writer(l)
	if err != nil {
		return nil, err
	}
	return inner.WriteAsync(ctx, key, data)
}

// Write appends one event and waits until it is durable.
func (w *Writer) Write(ctx context.Context, key string, data []byte) error {
	ack, err := w.WriteAsync(ctx, key, data)
	if err != nil {
		return err
	}
	_, err = ack.Wait(ctx)
	return err
}

// WriteBatch appends events with one key atomically and waits until they
// are durable.
func (w *Writer) WriteBatch(ctx context.Context, key string, events [][]byte) error {
	l, err := w.c.acquire(ctx)
	if err != nil {
		return err
	}
	defer l.release()
	inner, err := w.writer(l)
	if err != nil {
		return err
	}
	return inner.WriteBatch(ctx, key, events)
}

// Flush waits until every append the writer queued before is durable.
// Appends queued before a move are durable once it is over.
func (w *Writer) Flush(ctx context.Context) error {
	l, err := w.c.acquire(ctx)
	if err != nil {
		return err
	}
	defer l.release()
	inner, err := w.writer(l)
	if err != nil {
		return err
	}
	return inner.Flush(ctx)
}
