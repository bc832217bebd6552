package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestGEDSMetadataAndGatewayApart runs the metadata service and a gateway
// as two processes of their own, and a standard S3 client (rclone, from
// Debian) copies a tree through the gateway and back.
func TestGEDSMetadataAndGatewayApart(t *testing.T) {
	t.Parallel()
	rclone, err := exec.LookPath("rclone")
	if err != nil {
		t.Skip("rclone is not installed (make deps installs it)")
	}
	dir := t.TempDir()
	_, metaURL := start(t, "geds", "metadata", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "meta"))
	s3Port := freePort(t)
	keys := []string{"CLOUDSKIN_S3_ACCESS_KEY=test-access", "CLOUDSKIN_S3_SECRET_KEY=test-secret-key-0123456789"}
	startWith(t, keys, "geds", "gateway", "--metadata", metaURL, "--s3-listen", s3Port, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "gw"))

	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("alpha\n"), 0o600)
	big := make([]byte, 12<<20)
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "sub", "big.bin"), big, 0o600)
	env := []string{
		"HOME=" + dir, "RCLONE_CONFIG_G_TYPE=s3", "RCLONE_CONFIG_G_PROVIDER=Other",
		"RCLONE_CONFIG_G_ENDPOINT=http://" + s3Port, "RCLONE_CONFIG_G_ACCESS_KEY_ID=test-access",
		"RCLONE_CONFIG_G_SECRET_ACCESS_KEY=test-secret-key-0123456789", "RCLONE_CONFIG_G_FORCE_PATH_STYLE=true",
		"RCLONE_CONFIG_G_REGION=us-east-1", "PATH=" + os.Getenv("PATH"),
	}
	rc := func(args ...string) string {
		t.Helper()
		var out []byte
		var err error
		for i := 0; i < 50; i++ { // the gateway opens its node once the metadata answers
			cmd := exec.Command(rclone, args...)
			cmd.Env = env
			if out, err = cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "connection refused") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("rclone %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	rc("mkdir", "g:tree")
	rc("copy", src, "g:tree")
	if out := rc("lsf", "-R", "g:tree"); !strings.Contains(out, "a.txt") || !strings.Contains(out, "sub/big.bin") {
		t.Fatalf("lsf:\n%s", out)
	}
	rc("check", src, "g:tree")
	back := filepath.Join(dir, "back")
	rc("copy", "g:tree", back)
	if got, _ := os.ReadFile(filepath.Join(back, "sub", "big.bin")); !bytes.Equal(got, big) {
		t.Fatal("rclone read back other bytes")
	}
}

// freePort returns a free loopback host:port.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
