package durable_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/durable"
	"github.com/cloudskin/cloudskin/geds/gedstest"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// Put leaves the object sealed and in both tiers (or only in tier 0 when
// not asked to persist), replaces an existing key, and with S3 down fails
// at persisting, naming the step.
func TestPut(t *testing.T) {
	ctx := context.Background()
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	meta := gedstest.StartMetadata(t, time.Second)
	c, err := geds.Open(ctx, geds.Options{NodeID: "n1", Dir: t.TempDir(), Limit: 64 << 20, MetadataURL: meta.URL, Persistent: tier})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	check := func(key, want string, tier geds.Tier) {
		t.Helper()
		info, err := c.Stat(ctx, "bkt", key)
		if err != nil || info.Tier != tier || info.State != geds.StateSealed {
			t.Fatalf("%s: %+v, %v; want sealed in tier %q", key, info, err, tier)
		}
		r, err := c.Open(ctx, "bkt", key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
		if err != nil || string(got) != want {
			t.Fatalf("%s reads %q, %v; want %q", key, got, err, want)
		}
	}
	// A reader without WriteTo goes through the copy buffer.
	if n, err := durable.Put(ctx, c, "bkt", "k", io.MultiReader(bytes.NewReader([]byte("one"))), true); err != nil || n != 3 {
		t.Fatalf("Put: %d, %v", n, err)
	}
	check("k", "one", geds.TierBoth)
	if _, err := durable.Put(ctx, c, "bkt", "k", bytes.NewReader([]byte("two")), true); err != nil {
		t.Fatalf("Put over an existing key: %v", err)
	}
	check("k", "two", geds.TierBoth)
	if _, err := durable.Put(ctx, c, "bkt", "local", bytes.NewReader([]byte("x")), false); err != nil {
		t.Fatal(err)
	}
	check("local", "x", geds.TierLocal)

	srv.Stop()
	_, err = durable.Put(ctx, c, "bkt", "k2", bytes.NewReader([]byte("y")), true)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("persisting bkt/k2")) {
		t.Fatalf("Put with S3 down: %v, want a failure at persisting", err)
	}
	if _, err := durable.Put(ctx, c, "nope", "k", bytes.NewReader(nil), false); !errors.Is(err, geds.ErrNotFound) {
		t.Fatalf("Put into a missing bucket: %v, want ErrNotFound", err)
	}
}
