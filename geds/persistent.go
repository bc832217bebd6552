package geds

import (
	"context"
	"io"
)

// Persistent is the persistency tier (an S3 bucket in production; package
// geds/s3tier implements it). Missing objects return an error wrapping
// fs.ErrNotExist; a refused condition (the object under the key is not the
// one named) an error wrapping fs.ErrExist; any other error means the tier
// is unreachable or failing.
//
// Each life of a GEDS key is stored under the key itself, so other S3
// tools see the object where they expect it. Writes are conditional on
// what S3 holds there, and reads of a life name its ETag, so that one
// life's bytes never overwrite or pass for another's (see
// docs/RATIONALE.md, "GEDS: The lives of a key in S3").
type Persistent interface {
	// EnsureBucket creates bucket if it does not exist.
	EnsureBucket(ctx context.Context, bucket string) error
	// PutIfAbsent stores size bytes read from r as bucket/key if no object
	// is there, tagged with life (which Head returns), and returns the
	// ETag of the new object. An object there fails with fs.ErrExist.
	PutIfAbsent(ctx context.Context, bucket, key, life string, r io.Reader, size int64) (etag string, err error)
	// PutIfMatch is PutIfAbsent replacing the object whose ETag is match:
	// another object there fails with fs.ErrExist, none with
	// fs.ErrNotExist.
	PutIfMatch(ctx context.Context, bucket, key, life string, r io.Reader, size int64, match string) (etag string, err error)
	// GetRange reads n bytes at off (n < 0: to the end), of whatever
	// object is under the key.
	GetRange(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error)
	// GetRangeIfMatch is GetRange of the object whose ETag is etag; if the
	// key holds another object now, it fails with fs.ErrExist.
	GetRangeIfMatch(ctx context.Context, bucket, key string, off, n int64, etag string) (io.ReadCloser, error)
	// Head returns an object's size, ETag and the life it was tagged
	// with ("" if none).
	Head(ctx context.Context, bucket, key string) (size int64, etag, life string, err error)
	// List calls fn for every object whose key starts with prefix, in key
	// order (as S3 lists); an error from fn stops the listing and is returned.
	List(ctx context.Context, bucket, prefix string, fn func(key string, size int64) error) error
	// Delete removes an object.
	Delete(ctx context.Context, bucket, key string) error
}
