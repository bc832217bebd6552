package service_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/gedstest"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/geds/service"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// beforeRead runs hook once, before the first conditional range read.
type beforeRead struct {
	*s3tier.Tier
	once sync.Once
	hook func()
}

func (b *beforeRead) GetRangeIfMatch(ctx context.Context, bucket, key string, off, n int64, etag string) (io.ReadCloser, error) {
	b.once.Do(b.hook)
	return b.Tier.GetRangeIfMatch(ctx, bucket, key, off, n, etag)
}

// A GET whose object is overwritten, and the new one spilled, between the
// backend opening the key and reading it from S3 answers with the new
// object rather than fail (or return a mix).
func TestGetObjectReopensAReplacedLife(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	m := gedstest.StartMetadata(t, 10*time.Second)
	hooked := &beforeRead{Tier: tier}
	c := openNode(t, m.URL, "gw", hooked)
	b := service.NewBackend(c)
	if err := b.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	first, second := bytes.Repeat([]byte("first "), 1000), bytes.Repeat([]byte("second "), 2000)
	put := func(data []byte) {
		t.Helper()
		if _, err := b.PutObject(ctx, "bkt", "k", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if err := c.Spill(ctx, "bkt", "k"); err != nil {
			t.Fatal(err)
		}
	}
	put(first)
	hooked.hook = func() { put(second) }

	rc, info, err := b.GetObject(ctx, "bkt", "k", 0, -1)
	if err != nil {
		t.Fatalf("GET of an object replaced as it was opened: %v", err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, second) || info.Size != int64(len(second)) {
		t.Fatalf("GET: %d bytes (size %d), %v; want the new object's %d", len(got), info.Size, err, len(second))
	}
}
