package lts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudskin/cloudskin/geds/s3tier"
)

// S3 is Storage in one bucket of an S3-compatible store, through
// s3tier. Each call is one attempt: the store decides when to try again,
// because during an outage it has better things to do than wait inside a
// call.
type S3 struct {
	tier   *s3tier.Tier
	bucket string
}

// NewS3 returns storage in bucket (created if missing, which needs S3 to
// be reachable now).
func NewS3(ctx context.Context, tier *s3tier.Tier, bucket string) (*S3, error) {
	if err := tier.EnsureBucket(ctx, bucket); err != nil {
		return nil, fmt.Errorf("lts: bucket %s: %w", bucket, mapS3(err))
	}
	return &S3{tier: tier, bucket: bucket}, nil
}

// Put implements Storage.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := s.tier.Put(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("lts: put %s: %w", key, mapS3(err))
	}
	return nil
}

// Get implements Storage.
func (s *S3) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	body, err := s.tier.GetRange(ctx, s.bucket, key, off, n)
	if err != nil {
		return nil, fmt.Errorf("lts: get %s: %w", key, mapS3(err))
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("lts: get %s: %w", key, mapS3(err))
	}
	return b, nil
}

// Delete implements Storage.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := s.tier.Delete(ctx, s.bucket, key); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("lts: delete %s: %w", key, mapS3(err))
	}
	return nil
}

// mapS3 adds ErrUnavailable to s3tier's outage errors (which keep their
// own class too); not-found errors already wrap fs.ErrNotExist.
func mapS3(err error) error {
	if errors.Is(err, s3tier.ErrUnavailable) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
