package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/gateway"
)

// clientEnv runs the gateway on a real loopback listener for command-line
// S3 clients, counting the multipart uploads they start.
type clientEnv struct {
	url       string
	host      string
	backend   gateway.Backend
	multipart atomic.Int32
	home      string

	mu    sync.Mutex
	modes map[string]int // "PUT UNSIGNED-PAYLOAD" and the like, for the log
}

func newClientEnv(t *testing.T) *clientEnv {
	t.Helper()
	backend, err := gateway.NewDirBackend(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Config{AccessKey: testAccessKey, SecretKey: testSecretKey, TempDir: t.TempDir(), Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	ce := &clientEnv{backend: backend, home: t.TempDir(), modes: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Query().Has("uploads") {
			ce.multipart.Add(1)
		}
		mode := r.Header.Get("X-Amz-Content-Sha256")
		if len(mode) == 64 {
			mode = "<sha256>"
		}
		if r.URL.Query().Has("X-Amz-Signature") {
			mode = "presigned"
		}
		ce.mu.Lock()
		ce.modes[r.Method+" "+mode]++
		ce.mu.Unlock()
		gw.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		gw.Close()
		t.Logf("requests by method and payload signing: %v", ce.modes)
	})
	ce.url = srv.URL
	ce.host = strings.TrimPrefix(srv.URL, "http://")
	return ce
}

// run runs a client command and returns its standard output.
func (ce *clientEnv) run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	stdout, _ := ce.runBoth(t, env, name, args...)
	return stdout
}

// runBoth runs a client command and returns its standard output and error.
func (ce *clientEnv) runBoth(t *testing.T, env []string, name string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// The clients see only our settings: AWS_* (AWS_CA_BUNDLE makes
	// rclone's SDK fail on a plain-HTTP endpoint) and RCLONE_* from the
	// outer environment are left out, and HOME is a fresh directory.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RCLONE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+ce.home, "XDG_CONFIG_HOME="+ce.home, "XDG_CACHE_HOME="+ce.home)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

func needBinary(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s); skipping the real-client test", name, name)
	}
	return path
}

// writeTree writes the files the clients upload: a 20 MiB file (multipart
// for both clients as configured), small ones, an empty one, a space.
func writeTree(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"big.bin":        randomBytes(t, 20<<20),
		"small.txt":      []byte("small file\n"),
		"sub/b.txt":      []byte("in a sub-directory\n"),
		"with space.txt": []byte("spaces in the key\n"),
		"empty.txt":      {},
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func TestRclone(t *testing.T) {
	rclone := needBinary(t, "rclone")
	ce := newClientEnv(t)
	env := []string{
		"RCLONE_CONFIG=" + filepath.Join(ce.home, "rclone.conf"),
		"RCLONE_CONFIG_GW_TYPE=s3",
		"RCLONE_CONFIG_GW_PROVIDER=Other",
		"RCLONE_CONFIG_GW_ENDPOINT=" + ce.url,
		"RCLONE_CONFIG_GW_ACCESS_KEY_ID=" + testAccessKey,
		"RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=" + testSecretKey,
		"RCLONE_CONFIG_GW_REGION=" + testRegion,
		"RCLONE_CONFIG_GW_FORCE_PATH_STYLE=true",
		"RCLONE_CONFIG_GW_UPLOAD_CUTOFF=5M",
		"RCLONE_CONFIG_GW_CHUNK_SIZE=5M",
		"RCLONE_RETRIES=1",
		"RCLONE_LOW_LEVEL_RETRIES=1",
	}
	rc := func(args ...string) string { return ce.run(t, env, rclone, args...) }
	src, files := writeTree(t)

	rc("mkdir", "gw:rclone-bucket")
	rc("copy", src, "gw:rclone-bucket/dir")
	if ce.multipart.Load() == 0 {
		t.Error("rclone did not use a multipart upload for the 20 MiB file")
	}
	listed := strings.Split(strings.TrimSpace(rc("lsf", "-R", "gw:rclone-bucket/dir")), "\n")
	slices.Sort(listed)
	want := []string{"big.bin", "empty.txt", "small.txt", "sub/", "sub/b.txt", "with space.txt"}
	if !slices.Equal(listed, want) {
		t.Fatalf("rclone lsf -R = %q, want %q", listed, want)
	}
	sizes := rc("ls", "gw:rclone-bucket/dir")
	for name, data := range files {
		if !strings.Contains(sizes, fmt.Sprintf("%d %s\n", len(data), name)) {
			t.Errorf("rclone ls has no %q of %d bytes:\n%s", name, len(data), sizes)
		}
	}
	got := rc("cat", "--offset", "5242870", "--count", "100", "gw:rclone-bucket/dir/big.bin")
	if got != string(files["big.bin"][5242870:5242970]) {
		t.Errorf("rclone cat of a range across parts returned %d bytes that differ", len(got))
	}
	// The ETags HEAD shows are the content MD5s, also of the multipart
	// file, so rclone compares every file by hash.
	_, report := ce.runBoth(t, env, rclone, "check", src, "gw:rclone-bucket/dir")
	if !strings.Contains(report, "5 matching files") || strings.Contains(report, "could not be checked") {
		t.Errorf("rclone check did not match every file by hash:\n%s", report)
	}
	rc("check", "--download", src, "gw:rclone-bucket/dir")

	rc("delete", "gw:rclone-bucket/dir/small.txt")
	listed = strings.Split(strings.TrimSpace(rc("lsf", "-R", "gw:rclone-bucket")), "\n")
	if slices.Contains(listed, "dir/small.txt") || !slices.Contains(listed, "dir/big.bin") {
		t.Fatalf("after deleting small.txt: %q", listed)
	}
	rc("delete", "gw:rclone-bucket")
	rc("rmdir", "gw:rclone-bucket")
	buckets, err := ce.backend.ListBuckets(context.Background())
	if err != nil || len(buckets) != 0 {
		t.Fatalf("after rclone rmdir, buckets = %v, %v", buckets, err)
	}
}

func TestS3cmd(t *testing.T) {
	s3cmd := needBinary(t, "s3cmd")
	ce := newClientEnv(t)
	config := filepath.Join(ce.home, "s3cfg")
	err := os.WriteFile(config, []byte(strings.Join([]string{
		"[default]",
		"access_key = " + testAccessKey,
		"secret_key = " + testSecretKey,
		"host_base = " + ce.host,
		"host_bucket = " + ce.host,
		"use_https = False",
		"signature_v2 = False",
		"bucket_location = " + testRegion,
		"check_ssl_certificate = False",
		"",
	}, "\n")), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s3 := func(args ...string) string { return ce.run(t, nil, s3cmd, append([]string{"-c", config}, args...)...) }
	src, files := writeTree(t)

	s3("mb", "s3://s3cmd-bucket")
	s3("put", "--multipart-chunk-size-mb=5", filepath.Join(src, "big.bin"), "s3://s3cmd-bucket/big.bin")
	if ce.multipart.Load() == 0 {
		t.Error("s3cmd did not use a multipart upload for the 20 MiB file")
	}
	s3("put", filepath.Join(src, "small.txt"), "s3://s3cmd-bucket/dir/small.txt")
	s3("put", filepath.Join(src, "with space.txt"), "s3://s3cmd-bucket/dir/with space.txt")

	top := s3("ls", "s3://s3cmd-bucket")
	if !strings.Contains(top, "DIR") || !strings.Contains(top, "s3://s3cmd-bucket/dir/") || !strings.Contains(top, "s3://s3cmd-bucket/big.bin") {
		t.Errorf("s3cmd ls:\n%s", top)
	}
	all := s3("ls", "-r", "s3://s3cmd-bucket")
	for _, want := range []string{"20971520  s3://s3cmd-bucket/big.bin", "s3://s3cmd-bucket/dir/small.txt", "s3://s3cmd-bucket/dir/with space.txt"} {
		if !strings.Contains(all, want) {
			t.Errorf("s3cmd ls -r has no %q:\n%s", want, all)
		}
	}
	if buckets := s3("ls"); !strings.Contains(buckets, "s3://s3cmd-bucket") {
		t.Errorf("s3cmd ls of buckets:\n%s", buckets)
	}

	out := filepath.Join(t.TempDir(), "big.out")
	s3("get", "--force", "s3://s3cmd-bucket/big.bin", out)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, files["big.bin"]) {
		t.Fatalf("s3cmd get returned %d bytes that differ (%v)", len(got), err)
	}
	s3("get", "--force", "s3://s3cmd-bucket/dir/with space.txt", out)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, files["with space.txt"]) {
		t.Fatalf("s3cmd get of a key with a space: %q", got)
	}

	s3("del", "s3://s3cmd-bucket/big.bin", "s3://s3cmd-bucket/dir/small.txt", "s3://s3cmd-bucket/dir/with space.txt")
	if rest := s3("ls", "-r", "s3://s3cmd-bucket"); strings.TrimSpace(rest) != "" {
		t.Fatalf("after s3cmd del: %q", rest)
	}
	s3("rb", "s3://s3cmd-bucket")
	buckets, err := ce.backend.ListBuckets(context.Background())
	if err != nil || len(buckets) != 0 {
		t.Fatalf("after s3cmd rb, buckets = %v, %v", buckets, err)
	}
}
