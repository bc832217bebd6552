package lts_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// contract checks what the stream store relies on from any Storage.
func contract(t *testing.T, s lts.Storage) {
	ctx := context.Background()
	key := "streams/0/1/00000000000000000042.chunk"
	data := bytes.Repeat([]byte("chunk-"), 1000)
	if err := s.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, key, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get whole: %d bytes, %v", len(got), err)
	}
	got, err = s.Get(ctx, key, 6, 6)
	if err != nil || string(got) != "chunk-" {
		t.Fatalf("Get range: %q, %v", got, err)
	}
	if err := s.Put(ctx, key, []byte("replaced")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, key, 0, -1); string(got) != "replaced" {
		t.Fatalf("after a second Put: %q", got)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, key); err != nil {
		t.Fatalf("deleting a missing object: %v", err)
	}
	if _, err := s.Get(ctx, key, 0, -1); !errors.Is(err, lts.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"", "/abs", "a/../b", "UPPER", "a//b", "sp ace"} {
		if err := s.Put(ctx, bad, data); err == nil {
			t.Fatalf("Put with key %q succeeded", bad)
		}
	}
}

func TestDir(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lts")
	d, err := lts.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	contract(t, d)
	// A directory that is gone (an unmounted share) is an outage, not a
	// missing object.
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(context.Background(), "a/b", []byte("x")); !errors.Is(err, lts.ErrUnavailable) {
		t.Fatalf("Put into a removed directory: %v, want ErrUnavailable", err)
	}
	if _, err := d.Get(context.Background(), "a/b", 0, -1); !errors.Is(err, lts.ErrUnavailable) {
		t.Fatalf("Get from a removed directory: %v, want ErrUnavailable", err)
	}
}

func TestS3(t *testing.T) {
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := lts.NewS3(context.Background(), tier, "streams")
	if err != nil {
		t.Fatal(err)
	}
	contract(t, s)
	srv.Stop()
	if err := s.Put(context.Background(), "a/b", []byte("x")); !errors.Is(err, lts.ErrUnavailable) {
		t.Fatalf("Put while MinIO is stopped: %v, want ErrUnavailable", err)
	}
}
