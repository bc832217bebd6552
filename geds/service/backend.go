package service

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gateway"
	"github.com/cloudskin/cloudskin/geds/metadata"
)

// Backend serves the S3 gateway from a GEDS client.
type Backend struct {
	c *geds.Client
}

var (
	_ gateway.Backend = (*Backend)(nil)
	_ gateway.Tiering = (*Backend)(nil)
)

// NewBackend serves c through the gateway.
func NewBackend(c *geds.Client) *Backend { return &Backend{c: c} }

func (b *Backend) CreateBucket(ctx context.Context, bucket string) error {
	return b.c.CreateBucket(ctx, bucket)
}

func (b *Backend) DeleteBucket(ctx context.Context, bucket string) error {
	err := b.c.DeleteBucket(ctx, bucket)
	if errors.Is(err, metadata.ErrBucketNotEmpty) {
		return fmt.Errorf("%w: %w", gateway.ErrBucketNotEmpty, err)
	}
	return bucketErr(err)
}

func (b *Backend) ListBuckets(ctx context.Context) ([]gateway.BucketInfo, error) {
	list, err := b.c.ListBuckets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]gateway.BucketInfo, 0, len(list))
	for _, bk := range list {
		if bk.Name != stagingBucket {
			out = append(out, gateway.BucketInfo{Name: bk.Name, Created: bk.Created})
		}
	}
	return out, nil
}

// stagingBucket holds bodies that replace existing objects until they
// are whole; it is hidden from S3 clients.
const stagingBucket = "cloudskin-staging"

// PutObject stores an object only if r ends with io.EOF after exactly
// size bytes (when size >= 0). A new key is written in place. A body for
// an existing key is first written whole into the staging bucket, so that
// a failed upload leaves the old object as it was, then renamed over the
// key in one step (geds.Client.Rename): a reader finds the old object or
// the new one, never none, and one that has the old one open reads it to
// the end.
func (b *Backend) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64) (gateway.ObjectInfo, error) {
	if err := checkKey(key); err != nil {
		return gateway.ObjectInfo{}, err
	}
	if _, err := b.c.Stat(ctx, bucket, key); errors.Is(err, geds.ErrNotFound) {
		if err := b.write(ctx, bucket, key, r, size); err != nil {
			return gateway.ObjectInfo{}, err
		}
		return b.HeadObject(ctx, bucket, key)
	}
	return b.replace(ctx, bucket, key, r, size)
}

// write writes a new object from r, sealing it only if r is whole.
func (b *Backend) write(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	w, err := b.c.Create(ctx, bucket, key)
	if err != nil {
		return err
	}
	sum := md5.New()
	n, err := io.Copy(io.MultiWriter(w, sum), r)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("geds: %s/%s: the body has %d bytes, not the %d declared", bucket, key, n, size)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		w.SetETag(hex.EncodeToString(sum.Sum(nil)))
		err = w.Seal(ctx)
	}
	if err != nil {
		w.Abort(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

// replace writes the body to the staging bucket, then renames it over the
// key. If the staged object left this node's tier 0 before the rename (the
// spiller took it), it is copied in instead: delete, then write, which
// readers may see as a moment without the object.
func (b *Backend) replace(ctx context.Context, bucket, key string, r io.Reader, size int64) (gateway.ObjectInfo, error) {
	if err := b.c.CreateBucket(ctx, stagingBucket); err != nil && !errors.Is(err, geds.ErrExists) {
		return gateway.ObjectInfo{}, err
	}
	staged := rand.Text()
	if err := b.write(ctx, stagingBucket, staged, r, size); err != nil {
		return gateway.ObjectInfo{}, err
	}
	err := b.c.Rename(ctx, stagingBucket, staged, bucket, key)
	if errors.Is(err, geds.ErrNotLocal) {
		err = b.copyOver(ctx, staged, bucket, key)
	}
	if err != nil {
		b.c.Delete(context.WithoutCancel(ctx), stagingBucket, staged)
		return gateway.ObjectInfo{}, err
	}
	return b.HeadObject(ctx, bucket, key)
}

// copyOver replaces bucket/key with a copy of the staged object and
// deletes the staged one.
func (b *Backend) copyOver(ctx context.Context, staged, bucket, key string) error {
	src, err := b.c.Open(ctx, stagingBucket, staged)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := b.c.Delete(ctx, bucket, key); err != nil && !errors.Is(err, geds.ErrNotFound) {
		return err
	}
	if err := b.write(ctx, bucket, key, io.NewSectionReader(src, 0, src.Size()), src.Size()); err != nil {
		return err
	}
	b.c.Delete(context.WithoutCancel(ctx), stagingBucket, staged)
	return nil
}

// checkKey refuses keys GEDS cannot store, as invalid arguments.
func checkKey(key string) error {
	if err := geds.ValidateKey(key); err != nil {
		return fmt.Errorf("%w: %w", fs.ErrInvalid, err)
	}
	return nil
}

// GetObject streams a range of the key's current object. If the life it
// opened is replaced in the persistency tier before the range starts
// (geds.ErrReplaced), it opens the key once more: an S3 GET serves
// whatever the key holds when it is answered.
func (b *Backend) GetObject(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, gateway.ObjectInfo, error) {
	for attempt := 0; ; attempt++ {
		r, err := b.c.Open(ctx, bucket, key)
		if err != nil {
			return nil, gateway.ObjectInfo{}, err
		}
		rc, err := r.RangeReader(ctx, off, n)
		if err == nil {
			return &readCloser{ReadCloser: rc, r: r}, info(r.Info()), nil
		}
		r.Close()
		if attempt > 0 || !errors.Is(err, geds.ErrReplaced) {
			return nil, gateway.ObjectInfo{}, err
		}
	}
}

// readCloser closes the object's reader with its range's.
type readCloser struct {
	io.ReadCloser
	r *geds.Reader
}

func (rc *readCloser) Close() error {
	err := rc.ReadCloser.Close()
	return errors.Join(err, rc.r.Close())
}

func (b *Backend) HeadObject(ctx context.Context, bucket, key string) (gateway.ObjectInfo, error) {
	o, err := b.c.Stat(ctx, bucket, key)
	if err != nil {
		return gateway.ObjectInfo{}, err
	}
	if o.State != metadata.StateSealed {
		return gateway.ObjectInfo{}, fmt.Errorf("%s/%s is %s: %w", bucket, key, o.State, gateway.ErrNoSuchKey)
	}
	return info(o), nil
}

func (b *Backend) DeleteObject(ctx context.Context, bucket, key string) error {
	return b.c.Delete(ctx, bucket, key)
}

// ListObjects lists sealed objects after startAfter; GEDS's listing token
// is the last key of the page before, so startAfter is one.
func (b *Backend) ListObjects(ctx context.Context, bucket, prefix, startAfter string, max int) ([]gateway.ObjectInfo, bool, error) {
	var out []gateway.ObjectInfo
	token := startAfter
	for len(out) < max {
		page, err := b.c.List(ctx, bucket, prefix, token, max-len(out))
		if err != nil {
			return nil, false, bucketErr(err)
		}
		for _, o := range page.Items {
			if o.State == metadata.StateSealed {
				out = append(out, info(o))
			}
		}
		if page.NextToken == "" {
			return out, false, nil
		}
		token = page.NextToken
	}
	return out, true, nil
}

// Persist copies an object to the persistency tier (POST ?persist).
func (b *Backend) Persist(ctx context.Context, bucket, key string) error {
	return b.c.Persist(ctx, bucket, key)
}

// Spill moves an object to the persistency tier (POST ?spill).
func (b *Backend) Spill(ctx context.Context, bucket, key string) error {
	return b.c.Spill(ctx, bucket, key)
}

func info(o geds.ObjectInfo) gateway.ObjectInfo {
	mod := o.Sealed
	if mod.IsZero() {
		mod = o.Created
	}
	return gateway.ObjectInfo{Key: o.Key, Size: o.Size, ModTime: mod, ETag: o.ETag}
}

// bucketErr tells the gateway a missing bucket is one.
func bucketErr(err error) error {
	if errors.Is(err, geds.ErrNotFound) {
		return fmt.Errorf("%w: %w", gateway.ErrNoSuchBucket, err)
	}
	return err
}
