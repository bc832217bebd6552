package gateway_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/geds/gateway"
	"github.com/cloudskin/cloudskin/geds/gateway/backendtest"
)

func newDirBackend(t *testing.T) gateway.Backend {
	t.Helper()
	b, err := gateway.NewDirBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDirBackendContract(t *testing.T) {
	backendtest.Run(t, newDirBackend)
}

func TestDirBackendLayout(t *testing.T) {
	dir := t.TempDir()
	b, err := gateway.NewDirBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"photos/2024/a.jpg", "photos", ".x/%y", "a//"} {
		if _, err := b.PutObject(ctx, "bkt", k, strings.NewReader("data"), 4); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{
		"bkt/photos%/2024%/a.jpg",
		"bkt/photos",
		"bkt/%2Ex%/%25y",
		"bkt/a%/%2F%/%2F",
		".buckets/bkt",
	} {
		if _, err := os.Stat(filepath.Join(dir, path)); err != nil {
			t.Errorf("expected %s: %v", path, err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "bkt/photos"))
	if err != nil || string(data[:4]) != "GGW1" || string(data[20:]) != "data" || len(data) != 24 {
		t.Fatalf("object file = %q, %v; want GGW1, 16 bytes of MD5, data", data, err)
	}
	// Deleting the last object under a prefix removes its directories.
	if err := b.DeleteObject(ctx, "bkt", "photos/2024/a.jpg"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bkt/photos%")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty key directory left behind: %v", err)
	}
}

func TestDirBackendRecovers(t *testing.T) {
	dir := t.TempDir()
	b, err := gateway.NewDirBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	// What a crash leaves: a half-written temporary file and an empty key
	// directory.
	if err := os.WriteFile(filepath.Join(dir, ".tmp", "put-123"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bkt", "a%", "b%"), 0o700); err != nil {
		t.Fatal(err)
	}
	b, err = gateway.NewDirBackend(dir)
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, ".tmp")); len(entries) != 0 {
		t.Errorf("unfinished writes left in .tmp: %v", entries)
	}
	objs, _, err := b.ListObjects(ctx, "bkt", "", "", 10)
	if err != nil || len(objs) != 0 {
		t.Fatalf("ListObjects = %v, %v", objs, err)
	}
	if err := b.DeleteBucket(ctx, "bkt"); err != nil {
		t.Fatalf("DeleteBucket with only empty directories left: %v", err)
	}
}

func TestDirBackendRefusesNames(t *testing.T) {
	b := newDirBackend(t)
	ctx := context.Background()
	for _, bucket := range []string{".tmp", "../x", "a/b", "UPPER"} {
		if err := b.CreateBucket(ctx, bucket); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("CreateBucket(%q) = %v, want fs.ErrInvalid", bucket, err)
		}
	}
	if err := b.CreateBucket(ctx, "bkt"); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"", "a\x00b", strings.Repeat("x", 300)} {
		if _, err := b.PutObject(ctx, "bkt", key, strings.NewReader("x"), 1); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("PutObject(%.20q) = %v, want fs.ErrInvalid", key, err)
		}
	}
}
