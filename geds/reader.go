package geds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/peer"
	"github.com/cloudskin/cloudskin/geds/tier0"
)

// Open opens an object for reading, wherever its bytes are: this node's
// tier 0 (memory-mapped), another node's (read from it directly), or the
// persistency tier (read through). A lost object fails with ErrLost; an
// object still being written can be read only by its writer's process.
func (c *Client) Open(ctx context.Context, bucket, key string) (*Reader, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if err := metadata.ValidateObjectName(bucket, key); err != nil {
		return nil, fmt.Errorf("geds: open: %w", err)
	}
	// If this node's copy went away between the metadata answer and
	// opening it (spilled, or replaced by a new life of the key), the next
	// answer says where it went or names the new life. Each round lost is
	// a writer's step, so a few rounds suffice unless the key is replaced
	// without pause, which is then an error to retry.
	var lastErr error
	for range openRounds {
		o, err := c.meta.GetObject(ctx, bucket, key)
		if errors.Is(err, metadata.ErrNotFound) {
			info, err := c.statMounted(ctx, bucket, key, err)
			if err != nil {
				return nil, err
			}
			return c.s3Reader(ctx, info)
		}
		if err != nil {
			return nil, fmt.Errorf("geds: open: %w", err)
		}
		r, err := c.openObject(ctx, o)
		if !errors.Is(err, errCopyGone) {
			return r, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("geds: open %s/%s: %w", bucket, key, lastErr)
}

// OpenCached is Open, asking for a local copy: an object held by another
// node or kept only in the persistency tier is first read whole into this
// node's tier 0 as a cache copy of that life of the object, so that this
// read and later Opens here are local. A copy is never stale: objects are
// immutable, and a copy serves only the life (id) it was made from, which
// Open looks up first. Copies count against tier 0's limit and are the
// first thing dropped when room is needed; when there is no room for one,
// or another OpenCached is filling it, the reader reads from afar as Open's
// would.
func (c *Client) OpenCached(ctx context.Context, bucket, key string) (*Reader, error) {
	r, err := c.Open(ctx, bucket, key)
	if err != nil || r.local != nil {
		return r, err
	}
	local, err := c.fillCopy(ctx, r)
	if err != nil {
		c.log.Debug("GEDS read not cached", "bucket", bucket, "key", key, "reason", err)
		return r, nil
	}
	r.Close()
	return &Reader{c: c, info: r.info, local: local}, nil
}

// fillCopy reads far's object whole into a cache copy and opens it.
func (c *Client) fillCopy(ctx context.Context, far *Reader) (*tier0.Reader, error) {
	o := far.info
	w, err := c.t0.CreateCopy(o.Bucket, o.Key, o.ID)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(w, io.NewSectionReader(readerAtContext{far, ctx}, 0, o.Size))
	if err == nil {
		err = w.Seal()
	}
	if err != nil {
		_ = w.Abort()
		return nil, err
	}
	c.sp.nudgeIfAbove()
	return c.t0.Open(o.Bucket, o.Key, o.ID)
}

// readerAtContext reads through ReadAtContext with a fixed context.
type readerAtContext struct {
	r   *Reader
	ctx context.Context
}

func (r readerAtContext) ReadAt(p []byte, off int64) (int, error) {
	return r.r.ReadAtContext(r.ctx, p, off)
}

// errCopyGone: this node's copy vanished between two steps (spilled, or
// its life replaced).
var errCopyGone = errors.New("the local copy went away while opening (spilled or replaced); retry")

// openRounds bounds how many times Open looks a key up again after its
// local copy went away under it.
const openRounds = 8

func (c *Client) openObject(ctx context.Context, o ObjectInfo) (*Reader, error) {
	switch o.State {
	case StateLost:
		return nil, fmt.Errorf("geds: open %s/%s: %s: %w", o.Bucket, o.Key, o.LostReason, ErrLost)
	case StateOpen:
		if !c.isMe(o.Holder) {
			return nil, fmt.Errorf("geds: open %s/%s: it is being written on node %s and can be read once sealed: %w", o.Bucket, o.Key, o.Holder.Node, ErrNotSealed)
		}
	}
	if c.isMe(o.Holder) {
		lr, err := c.t0.Open(o.Bucket, o.Key, o.ID)
		if err != nil {
			return nil, errCopyGone
		}
		return &Reader{c: c, info: o, local: lr}, nil
	}
	if o.State == StateSealed {
		// A cache copy of this life (OpenCached) serves it locally.
		if lr, err := c.t0.Open(o.Bucket, o.Key, o.ID); err == nil {
			if lr.Sealed() {
				return &Reader{c: c, info: o, local: lr}, nil
			}
			lr.Close() // still being filled
		}
	}
	if o.Holder != nil {
		return &Reader{c: c, info: o, src: source{peerURL: o.Holder.PeerURL, holder: o.Holder.Node}}, nil
	}
	return c.s3Reader(ctx, o)
}

func (c *Client) s3Reader(ctx context.Context, o ObjectInfo) (*Reader, error) {
	if c.opts.Persistent == nil {
		return nil, fmt.Errorf("geds: open %s/%s: it is in the persistency tier: %w", o.Bucket, o.Key, ErrNoPersistent)
	}
	b, err := c.meta.GetBucket(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("geds: open: %w", err)
	}
	return &Reader{c: c, info: o, src: source{persistentBucket: b.Persistent, etag: o.LifeS3ETag()}}, nil
}

// Reader reads one object. ReadAt may be called from many goroutines at
// once; Close must come after they have all returned.
type Reader struct {
	c     *Client
	info  ObjectInfo
	local *tier0.Reader // set when the bytes are in this node's tier 0

	mu     sync.Mutex // guards src, which a failed remote read may switch to s3
	src    source
	closed atomic.Bool
}

// source is where a non-local reader gets bytes: a peer, or the
// persistency tier's bucket, where etag (if known) names the object that
// is this life's copy.
type source struct {
	peerURL, holder  string
	persistentBucket string
	etag             string
}

// Info describes the object as it was when opened.
func (r *Reader) Info() ObjectInfo { return r.info }

// Size returns the object's size; for an object still being written by
// this process, what has been written so far.
func (r *Reader) Size() int64 {
	if r.local != nil {
		return r.local.Size()
	}
	return r.info.Size
}

// Local reports whether the bytes are read from this node's tier 0.
func (r *Reader) Local() bool { return r.local != nil }

// Bytes returns the object's bytes without copying: a read-only view of
// the memory-mapped tier-0 file, valid until Close. It works only for a
// sealed object in this node's tier 0 (ErrNotLocal, ErrNotSealed otherwise).
func (r *Reader) Bytes() ([]byte, error) {
	if r.local == nil {
		return nil, fmt.Errorf("geds: Bytes of %s/%s: %w; read it with ReadAt", r.info.Bucket, r.info.Key, ErrNotLocal)
	}
	b, err := r.local.Bytes()
	if err != nil {
		return nil, fmt.Errorf("geds: %w", err)
	}
	r.c.m.read(sourceLocal, len(b))
	return b, nil
}

// ReadAt reads len(p) bytes at off, like io.ReaderAt: a read reaching the
// end returns what there was and io.EOF. Remote reads are not tied to a
// context; a peer that stops answering is detected by the connection's
// health checks. Use ReadAtContext to bound or cancel a read.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	return r.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt under ctx.
func (r *Reader) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if r.local != nil {
		n, err := r.local.ReadAt(p, off)
		r.c.m.read(sourceLocal, n)
		if err != nil && !errors.Is(err, io.EOF) {
			err = fmt.Errorf("geds: %w", err)
		}
		return n, err
	}
	if r.closed.Load() {
		return 0, fmt.Errorf("geds: read %s/%s: reader closed", r.info.Bucket, r.info.Key)
	}
	if off < 0 {
		return 0, fmt.Errorf("geds: read %s/%s: negative offset %d", r.info.Bucket, r.info.Key, off)
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	want := p[:min(int64(len(p)), r.info.Size-off)]
	n, err := r.readFar(ctx, want, off)
	if err == nil && len(want) < len(p) {
		err = io.EOF
	}
	return n, err
}

// readFar reads from a peer or the persistency tier. If a peer no longer
// has the object or cannot be reached, the metadata server is asked once
// where the object is now: spilled objects and those of a dead holder that
// reached S3 are then read from there.
func (r *Reader) readFar(ctx context.Context, p []byte, off int64) (int, error) {
	src := r.source()
	n, err := r.readFrom(ctx, src, p, off)
	if err == nil || ctx.Err() != nil || !(errors.Is(err, peer.ErrNotHeld) || errors.Is(err, peer.ErrPeerUnavailable)) {
		return n, err
	}
	moved, ferr := r.follow(ctx)
	if ferr != nil {
		return 0, ferr
	}
	if !moved {
		return n, err
	}
	return r.readFrom(ctx, r.source(), p, off)
}

func (r *Reader) source() source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.src
}

func (r *Reader) readFrom(ctx context.Context, src source, p []byte, off int64) (int, error) {
	if src.peerURL != "" {
		start := time.Now()
		n, err := r.c.peers.ReadAt(ctx, src.peerURL, r.info.Bucket, r.info.Key, r.info.ID, p, off)
		r.c.m.remoteLatency.Observe(time.Since(start).Seconds())
		r.c.m.read(sourceRemote, n)
		if err != nil {
			return n, fmt.Errorf("geds: read %s/%s from holder %s: %w", r.info.Bucket, r.info.Key, src.holder, err)
		}
		return n, nil
	}
	rc, err := r.s3Range(ctx, src, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	r.c.m.read(sourceS3, n)
	if err != nil {
		return n, fmt.Errorf("geds: read %s/%s from the persistency tier: got %d of %d bytes: %w", r.info.Bucket, r.info.Key, n, len(p), err)
	}
	return n, nil
}

// follow asks the metadata server where the object is now and switches to
// the persistency tier if it went there. It reports whether it switched;
// an object that was deleted, replaced or lost meanwhile is an error.
func (r *Reader) follow(ctx context.Context) (bool, error) {
	o, err := r.c.meta.GetObject(ctx, r.info.Bucket, r.info.Key)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return false, fmt.Errorf("geds: read %s/%s: deleted while being read: %w", r.info.Bucket, r.info.Key, ErrNotFound)
	case err != nil:
		return false, fmt.Errorf("geds: read %s/%s: %w", r.info.Bucket, r.info.Key, err)
	case o.ID != r.info.ID:
		return false, fmt.Errorf("geds: read %s/%s: the key was deleted and created again while being read: %w", r.info.Bucket, r.info.Key, ErrNotFound)
	case o.State == StateLost:
		return false, fmt.Errorf("geds: read %s/%s: %s: %w", r.info.Bucket, r.info.Key, o.LostReason, ErrLost)
	case o.Holder != nil || r.c.opts.Persistent == nil:
		return false, nil
	}
	b, err := r.c.meta.GetBucket(ctx, r.info.Bucket)
	if err != nil {
		return false, fmt.Errorf("geds: read %s/%s: %w", r.info.Bucket, r.info.Key, err)
	}
	r.mu.Lock()
	r.src = source{persistentBucket: b.Persistent, etag: o.LifeS3ETag()}
	r.mu.Unlock()
	return true, nil
}

// RangeReader streams n bytes from off (n < 0: to the end), from wherever
// the object is, in one request. Unlike ReadAt it does not switch source if
// the holder goes away mid-stream: the stream fails with a clear error.
func (r *Reader) RangeReader(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	size := r.Size()
	if off < 0 || off > size {
		return nil, fmt.Errorf("geds: range of %s/%s: offset %d outside 0..%d", r.info.Bucket, r.info.Key, off, size)
	}
	if n < 0 || off+n > size {
		n = size - off
	}
	if r.local != nil {
		r.c.m.read(sourceLocal, int(n))
		return io.NopCloser(io.NewSectionReader(r.local, off, n)), nil
	}
	src := r.source()
	if src.peerURL != "" {
		r.c.m.reads[sourceRemote].Inc()
		rc, err := r.c.peers.ReadRange(ctx, src.peerURL, r.info.Bucket, r.info.Key, r.info.ID, off, n)
		if err != nil {
			return nil, fmt.Errorf("geds: read %s/%s from holder %s: %w", r.info.Bucket, r.info.Key, src.holder, err)
		}
		return rc, nil
	}
	r.c.m.reads[sourceS3].Inc()
	return r.s3Range(ctx, src, off, n)
}

// s3Range opens n bytes at off of the object in the persistency tier. When
// the life's copy is known by its ETag, S3 is asked for that object only:
// if the key holds another life's bytes now, the read fails with
// ErrReplaced instead of returning them. A life recorded without an ETag
// (copied before GEDS recorded them) is read as whatever is there.
func (r *Reader) s3Range(ctx context.Context, src source, off, n int64) (io.ReadCloser, error) {
	var (
		rc  io.ReadCloser
		err error
	)
	if src.etag == "" {
		rc, err = r.c.opts.Persistent.GetRange(ctx, src.persistentBucket, r.info.Key, off, n)
	} else {
		rc, err = r.c.opts.Persistent.GetRangeIfMatch(ctx, src.persistentBucket, r.info.Key, off, n, src.etag)
	}
	switch {
	case err == nil:
		return rc, nil
	case src.etag != "" && errors.Is(err, fs.ErrExist):
		// Not wrapped: the refusal's fs.ErrExist would say the object
		// exists, which is not the point.
		return nil, fmt.Errorf("geds: read %s/%s (id %s) from the persistency tier: %w (%v)", r.info.Bucket, r.info.Key, r.info.ID, ErrReplaced, err)
	}
	return nil, fmt.Errorf("geds: read %s/%s from the persistency tier: %w", r.info.Bucket, r.info.Key, err)
}

// Close releases the reader (and, for a local object, its hold on the
// memory mapping).
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if r.local != nil {
		return r.local.Close()
	}
	return nil
}

// wholeObject streams a sealed object's bytes from this node's tier 0 or
// from its holder.
func (c *Client) wholeObject(ctx context.Context, o ObjectInfo) (io.ReadCloser, error) {
	if c.isMe(o.Holder) {
		lr, err := c.t0.Open(o.Bucket, o.Key, o.ID)
		if err != nil {
			return nil, fmt.Errorf("geds: %s/%s: no local copy of this life of the key: %w", o.Bucket, o.Key, err)
		}
		return readCloser{io.NewSectionReader(lr, 0, lr.Size()), lr}, nil
	}
	if o.Holder == nil {
		return nil, fmt.Errorf("geds: %s/%s has no holder: %w", o.Bucket, o.Key, fs.ErrNotExist)
	}
	return c.peers.ReadRange(ctx, o.Holder.PeerURL, o.Bucket, o.Key, o.ID, 0, -1)
}

type readCloser struct {
	io.Reader
	io.Closer
}
