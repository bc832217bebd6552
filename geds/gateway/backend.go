package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// Backend is the storage the gateway serves. The GEDS client is adapted to
// it; DirBackend is the reference implementation and backendtest the
// contract every implementation passes.
//
// Errors are matched with errors.Is:
//   - fs.ErrNotExist: a missing bucket or key. An implementation that can
//     tell which wraps ErrNoSuchBucket or ErrNoSuchKey (both wrap
//     fs.ErrNotExist); otherwise the gateway asks ListBuckets.
//   - fs.ErrExist: CreateBucket of a bucket that exists.
//   - ErrBucketNotEmpty: DeleteBucket of a bucket with objects.
//   - fs.ErrInvalid: a name the backend cannot store (answered 400).
//
// Anything else is answered as an internal error.
type Backend interface {
	// CreateBucket makes an empty bucket; an existing one: fs.ErrExist.
	CreateBucket(ctx context.Context, bucket string) error
	// DeleteBucket removes an empty bucket; not empty: ErrBucketNotEmpty;
	// missing: fs.ErrNotExist.
	DeleteBucket(ctx context.Context, bucket string) error
	// ListBuckets returns every bucket ordered by name.
	ListBuckets(ctx context.Context) ([]BucketInfo, error)
	// PutObject stores r's bytes under key, replacing any object there.
	// size is the length r will have, or -1 if unknown. It reads r until
	// io.EOF and stores nothing (leaving an old object in place) if r
	// returns any other error, if r's length is not size, or if ctx ends:
	// the gateway relies on that to refuse bodies whose signature or
	// checksum fails at their end. Readers never see a partly written
	// object. The returned ObjectInfo has the ETag the backend computed
	// (hex, without quotes; the gateway's DirBackend uses the MD5).
	PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64) (ObjectInfo, error)
	// GetObject returns n bytes of the object from offset off (n < 0: to
	// the end; fewer if the object ends first) and the object's info.
	// 0 <= off <= size; the gateway checks ranges before calling.
	// Missing: fs.ErrNotExist.
	GetObject(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, ObjectInfo, error)
	// HeadObject returns the object's info; missing: fs.ErrNotExist.
	HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// DeleteObject removes the object. A missing key is not an error (or
	// fs.ErrNotExist, which the gateway treats the same); a missing bucket
	// is fs.ErrNotExist.
	DeleteObject(ctx context.Context, bucket, key string) error
	// ListObjects returns up to max objects whose keys start with prefix
	// and sort after startAfter (byte order), in key order, and whether
	// more such objects exist. A missing bucket is fs.ErrNotExist.
	ListObjects(ctx context.Context, bucket, prefix, startAfter string, max int) (objs []ObjectInfo, truncated bool, err error)
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// ObjectInfo describes an object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	ETag    string
}

// ErrBucketNotEmpty is returned (wrapped) by DeleteBucket for a bucket that
// still holds objects.
var ErrBucketNotEmpty = errors.New("bucket not empty")

// ErrNoSuchBucket and ErrNoSuchKey may be returned (wrapped) by a Backend
// that knows which of the two is missing; they wrap fs.ErrNotExist, so a
// backend that only returns fs.ErrNotExist is still correct (and costs
// the gateway a ListBuckets to tell).
var (
	ErrNoSuchBucket = fmt.Errorf("no such bucket: %w", fs.ErrNotExist)
	ErrNoSuchKey    = fmt.Errorf("no such key: %w", fs.ErrNotExist)
)

// Tiering is what a Backend with a persistency tier behind it may also
// do, through two CloudSkin extensions to S3 on an object: POST ?persist
// copies it to the persistency tier and keeps it, POST ?spill moves it
// there. A Backend without it answers them NotImplemented.
type Tiering interface {
	Persist(ctx context.Context, bucket, key string) error
	Spill(ctx context.Context, bucket, key string) error
}
