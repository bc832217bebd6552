package geds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/tier0"
)

// writeChunk bounds how much of one Write is placed in tier 0 at a time,
// so a large write needs room for a chunk, not for all of itself, and
// spilling can make progress between chunks.
const writeChunk = 4 << 20

// Create starts a new object in this node's tier 0. Write appends to it;
// Seal makes it immutable and visible to other nodes. A key that exists
// (open or sealed) must be deleted first; a lost one may be created again.
func (c *Client) Create(ctx context.Context, bucket, key string) (*Writer, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if err := metadata.ValidateObjectName(bucket, key); err != nil {
		return nil, fmt.Errorf("geds: create: %w", err)
	}
	node, inc := c.holder()
	o, err := c.meta.CreateObject(ctx, bucket, key, metadata.CreateObjectRequest{Node: node, Incarnation: inc})
	if err != nil {
		return nil, fmt.Errorf("geds: create %s/%s: %w", bucket, key, err)
	}
	tw, err := c.t0.Create(bucket, key, o.ID)
	if errors.Is(err, fs.ErrExist) {
		// A copy of an earlier life of the key, which the metadata server
		// no longer lists here: drop it.
		_ = c.t0.Remove(bucket, key, "")
		tw, err = c.t0.Create(bucket, key, o.ID)
	}
	if err != nil {
		_, _ = c.meta.DeleteObject(ctx, bucket, key)
		return nil, fmt.Errorf("geds: create %s/%s: %w", bucket, key, err)
	}
	return &Writer{c: c, bucket: bucket, key: key, id: o.ID, node: node, incarnation: inc, tw: tw}, nil
}

// Writer appends to a new object until it is sealed. Its methods may be
// called from several goroutines; writes are applied in the order they
// take the writer's lock.
type Writer struct {
	c                 *Client
	bucket, key, id   string
	node, incarnation string
	tw                *tier0.Writer

	mu     sync.Mutex
	etag   string
	sealed bool
}

// Write appends p. When tier 0 is full it waits (up to Options.FullWait)
// for spilling to make room, then fails with an error wrapping
// ErrTierFull; the bytes written before the error stay written.
func (w *Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		n, err := w.tw.Write(chunk)
		written += n
		p = p[n:]
		if errors.Is(err, tier0.ErrFull) {
			if err := w.c.makeRoom(int64(len(chunk)), err); err != nil {
				return written, fmt.Errorf("geds: write %s/%s: %w", w.bucket, w.key, err)
			}
			continue
		}
		if err != nil {
			return written, fmt.Errorf("geds: write %s/%s: %w", w.bucket, w.key, err)
		}
	}
	w.c.sp.nudgeIfAbove()
	return written, nil
}

// Size returns the bytes written so far.
func (w *Writer) Size() int64 { return w.tw.Size() }

// SetETag records an entity tag (the S3 gateway's MD5, say) to store with
// the object when it is sealed.
func (w *Writer) SetETag(etag string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.etag = etag
}

// Seal makes the object immutable and readable by every node. If the
// metadata server cannot be reached the object stays sealed locally and
// Seal may be called again; a writer whose node was declared dead in the
// meantime gets ErrLost.
func (w *Writer) Seal(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		return nil
	}
	if err := w.tw.Seal(); err != nil {
		return fmt.Errorf("geds: seal: %w", err)
	}
	_, err := w.c.meta.SealObject(ctx, w.bucket, w.key, metadata.SealRequest{
		ID: w.id, Node: w.node, Incarnation: w.incarnation, Size: w.tw.Size(), ETag: w.etag,
	})
	if err != nil {
		return fmt.Errorf("geds: seal %s/%s: %w", w.bucket, w.key, err)
	}
	w.sealed = true
	w.c.sp.nudgeIfAbove() // one more object the spiller may move
	return nil
}

// Abort gives up an object that is not sealed and forgets it.
func (w *Writer) Abort(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sealed {
		return fmt.Errorf("geds: abort %s/%s: %w", w.bucket, w.key, ErrSealed)
	}
	if err := w.tw.Abort(); err != nil {
		return fmt.Errorf("geds: abort: %w", err)
	}
	w.c.room.notify()
	o, err := w.c.meta.GetObject(ctx, w.bucket, w.key)
	if errors.Is(err, metadata.ErrNotFound) || (err == nil && o.ID != w.id) {
		return nil // deleted or replaced meanwhile
	}
	if err == nil {
		_, err = w.c.meta.DeleteObject(ctx, w.bucket, w.key)
	}
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("geds: abort %s/%s: %w", w.bucket, w.key, err)
	}
	return nil
}
