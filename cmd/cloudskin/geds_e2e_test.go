package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// TestGEDSThroughUp uses GEDS the way a user does: `cloudskin up` with a
// real MinIO as the persistency tier, then `cloudskin geds` commands (S3
// to up's gateway): make a bucket, put a 20 MiB file (a multipart upload)
// and a small one, list, stat, get back byte for byte, spill one to MinIO
// and still read it, and delete.
func TestGEDSThroughUp(t *testing.T) {
	t.Parallel()
	store := miniotest.Start(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "continuum.yaml")
	if err := os.WriteFile(conf, []byte("apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: t\nspec:\n  geds:\n    persistent:\n      endpoint: "+store.Endpoint()+"\n      bucketPrefix: geds-\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startWith(t, []string{"CLOUDSKIN_GEDS_S3_ACCESS_KEY=" + store.AccessKey(), "CLOUDSKIN_GEDS_S3_SECRET_KEY=" + store.SecretKey()},
		"up", "-f", conf, "--listen", "127.0.0.1:0", "--data", data)
	geds := func(args ...string) string {
		t.Helper()
		out, err := run(t, nil, append([]string{"geds", "--data", data}, args...)...)
		if err != nil {
			t.Fatalf("cloudskin geds %v: %v\n%s", args, err, out)
		}
		return out
	}
	big := make([]byte, 20<<20)
	rand.Read(big)
	bigFile, smallFile := filepath.Join(dir, "big.bin"), filepath.Join(dir, "small.txt")
	os.WriteFile(bigFile, big, 0o600)
	os.WriteFile(smallFile, []byte("hello, tier 0\n"), 0o600)

	// The S3 gateway may take a moment to open its GEDS node.
	for i := 0; ; i++ {
		out, err := run(t, nil, "geds", "--data", data, "mb", "results")
		if err == nil {
			break
		}
		if i == 50 {
			t.Fatalf("geds mb: %v\n%s", err, out)
		}
	}
	if out := geds("put", "results/run-1/big.bin", bigFile); !strings.Contains(out, "20971520 bytes") {
		t.Fatalf("put: %s", out)
	}
	geds("put", "results/run-1/small.txt", smallFile)
	if out := geds("ls", "results/run-1/"); !strings.Contains(out, "20971520  run-1/big.bin") || !strings.Contains(out, "run-1/small.txt") {
		t.Fatalf("ls:\n%s", out)
	}
	if out := geds("stat", "results/run-1/small.txt"); !strings.Contains(out, "size:   14") {
		t.Fatalf("stat:\n%s", out)
	}
	back := filepath.Join(dir, "back.bin")
	geds("get", "results/run-1/big.bin", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, big) {
		t.Fatal("get returned other bytes than put")
	}

	geds("spill", "results/run-1/big.bin")
	st, err := store.Client().StatObject(context.Background(), "geds-results", "run-1/big.bin", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(big)) {
		t.Fatalf("the spilled object in MinIO: %+v %v", st, err)
	}
	os.Remove(back)
	geds("get", "results/run-1/big.bin", back)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, big) {
		t.Fatal("get after spill returned other bytes")
	}
	geds("rm", "results/run-1/small.txt")
	if out := geds("ls", "results/"); strings.Contains(out, "small.txt") {
		t.Fatalf("ls after rm:\n%s", out)
	}
	if out, err := run(t, nil, "geds", "--data", data, "get", "results/missing", "-"); err == nil {
		t.Fatalf("get of a missing object succeeded:\n%s", out)
	}
}
