package geds

import (
	"context"
	"io"
)

// Persistent is the persistency tier (an S3 bucket in production; package
// geds/s3tier implements it). Missing objects return an error wrapping
// fs.ErrNotExist; any other error means the tier is unreachable or failing.
type Persistent interface {
	// EnsureBucket creates bucket if it does not exist.
	EnsureBucket(ctx context.Context, bucket string) error
	// Put stores size bytes read from r as bucket/key, replacing any object there.
	Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error
	// GetRange reads n bytes at off (n < 0: to the end).
	GetRange(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error)
	// Stat returns an object's size.
	Stat(ctx context.Context, bucket, key string) (size int64, err error)
	// List calls fn for every object whose key starts with prefix, in key
	// order (as S3 lists); an error from fn stops the listing and is returned.
	List(ctx context.Context, bucket, prefix string, fn func(key string, size int64) error) error
	// Delete removes an object.
	Delete(ctx context.Context, bucket, key string) error
}
