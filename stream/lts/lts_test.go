package lts_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gedstest"
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

func openGEDSNode(t *testing.T, metaURL, id string, s3 geds.Persistent) *geds.Client {
	t.Helper()
	c, err := geds.Open(context.Background(), geds.Options{
		NodeID: id, Dir: t.TempDir(), Limit: 64 << 20, MetadataURL: metaURL, Persistent: s3,
		HeartbeatInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// GEDS storage keeps the contract, persists chunks to S3 before Put
// returns (so they outlive their holder), serves them to other GEDS
// nodes, and reports an unreachable metadata server as an outage.
func TestGEDS(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	meta := gedstest.StartMetadata(t, time.Second)
	holder := openGEDSNode(t, meta.URL, "stream-node", tier)
	s, err := lts.NewGEDS(ctx, holder, lts.GEDSOptions{Bucket: "streams"})
	if err != nil {
		t.Fatal(err)
	}
	contract(t, s)

	key := "scope/0/1/00000000000000000000.chunk"
	data := bytes.Repeat([]byte("frame "), 10_000)
	if err := s.Put(ctx, key, data); err != nil {
		t.Fatal(err)
	}
	info, err := holder.Stat(ctx, "streams", key)
	if err != nil || info.Tier != geds.TierBoth {
		t.Fatalf("after Put the chunk is in tier %q (%v), want %q: persisted and kept local", info.Tier, err, geds.TierBoth)
	}
	reader := openGEDSNode(t, meta.URL, "analytics-node", tier)
	other, err := lts.NewGEDS(ctx, reader, lts.GEDSOptions{Bucket: "streams"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.Get(ctx, key, 6, 12); err != nil || string(got) != "frame frame " {
		t.Fatalf("a range read from another node: %q, %v", got, err)
	}
	if got, err := other.Get(ctx, key, int64(len(data))-3, 100); err != nil || string(got) != "me " {
		t.Fatalf("a range read past the end: %q, %v", got, err)
	}

	// With S3 down a chunk cannot be made durable: an outage, so the store
	// keeps it in its log; an ephemeral storage does not need S3.
	srv.Stop()
	if err := s.Put(ctx, "a/b", []byte("x")); !errors.Is(err, lts.ErrUnavailable) {
		t.Fatalf("Put while S3 is down: %v, want ErrUnavailable", err)
	}
	eph, err := lts.NewGEDS(ctx, holder, lts.GEDSOptions{Bucket: "scratch", Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := eph.Put(ctx, "a/b", []byte("x")); err != nil {
		t.Fatalf("ephemeral Put while S3 is down: %v", err)
	}

	meta.Stop()
	if err := s.Put(ctx, "a/b", []byte("x")); !errors.Is(err, lts.ErrUnavailable) {
		t.Fatalf("Put while the metadata server is down: %v, want ErrUnavailable", err)
	}
}

// A Deferred storage is an outage until it is set, then the storage set.
func TestDeferred(t *testing.T) {
	d := lts.NewDeferred("the GEDS node is not open yet")
	if err := d.Put(context.Background(), "a/b", []byte("x")); !errors.Is(err, lts.ErrUnavailable) {
		t.Fatalf("Put before Set: %v, want ErrUnavailable", err)
	}
	dir, err := lts.NewDir(filepath.Join(t.TempDir(), "lts"))
	if err != nil {
		t.Fatal(err)
	}
	d.Set(dir)
	contract(t, d)
}
