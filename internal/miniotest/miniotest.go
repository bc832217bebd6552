// Package miniotest runs a real MinIO server for tests and benchmarks: one
// process per call to Start, on loopback, over a temporary directory, with
// generated credentials, stopped when the test ends.
//
// It exists so that code speaking S3 (the GEDS persistency tier) is tested
// against the server it will meet in production rather than against a fake
// that only agrees with our own reading of the S3 protocol. The binary is
// installed, pinned, by scripts/install-deps.sh into .tools/bin/minio;
// $CLOUDSKIN_MINIO overrides that path. Without a binary, tests skip with a
// message saying how to install it (CI always installs it first).
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// EnvBinary names the environment variable that overrides where the MinIO
// binary is.
const EnvBinary = "CLOUDSKIN_MINIO"

const (
	// startTimeout bounds how long MinIO may take to answer its liveness
	// probe; it takes about half a second on a quiet machine, much longer
	// under a parallel `go test ./...` on two cores.
	startTimeout = 60 * time.Second
	// stopTimeout is how long MinIO gets to exit after SIGTERM before it is
	// killed.
	stopTimeout = 10 * time.Second
	// logTail is how much of MinIO's output is kept for failure messages.
	logTail = 8 << 10
)

// Server is one running (or stopped) MinIO process. Its data directory and
// address stay the same across Stop and Restart, so a test can take the
// server away and bring it back with its objects intact.
//
// Methods that can fail (Restart, Client) report through the testing.TB
// given to Start, so call them from that test's goroutine.
type Server struct {
	tb        testing.TB
	bin       string
	dir       string
	addr      string
	console   string
	accessKey string
	secretKey string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while stopped
	exited chan struct{} // closed when cmd has exited
	log    *tailBuffer
}

// Start starts a MinIO server for the duration of tb, or skips tb if no
// MinIO binary is installed.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin := findBinary(tb)
	dir := tb.TempDir()
	addrs := freeAddrs(tb, 2)
	s := &Server{
		tb:        tb,
		bin:       bin,
		dir:       dir,
		addr:      addrs[0],
		console:   addrs[1],
		accessKey: "test-" + randomHex(tb, 6),
		secretKey: randomHex(tb, 20),
	}
	// Registered after TempDir, so it runs before the directory is removed.
	tb.Cleanup(s.Stop)
	s.start()
	return s
}

// Endpoint is the server's S3 address, host:port.
func (s *Server) Endpoint() string { return s.addr }

// AccessKey is the root user.
func (s *Server) AccessKey() string { return s.accessKey }

// SecretKey is the root user's password.
func (s *Server) SecretKey() string { return s.secretKey }

// Client returns a new minio-go client for the server, authenticated as the
// root user.
func (s *Server) Client() *minio.Client {
	s.tb.Helper()
	c, err := minio.New(s.addr, &minio.Options{
		Creds:  credentials.NewStaticV4(s.accessKey, s.secretKey, ""),
		Region: "us-east-1",
		// So that puts may carry a CRC32C trailer instead of a signed
		// SHA-256, as geds/s3tier sends them.
		TrailingHeaders: true,
	})
	if err != nil {
		s.tb.Fatalf("miniotest: client for %s: %v", s.addr, err)
	}
	return c
}

// Stop stops the server: SIGTERM, then SIGKILL if it has not exited within
// a few seconds. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.tb.Logf("miniotest: SIGTERM to MinIO: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.tb.Logf("miniotest: MinIO did not exit %s after SIGTERM; killing it", stopTimeout)
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Restart stops the server if it runs and starts it again on the same
// address over the same data.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// start launches MinIO and waits until it answers its liveness probe.
func (s *Server) start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	began := time.Now()
	cmd := exec.Command(s.bin, "server", filepath.Join(s.dir, "data"),
		"--address", s.addr,
		"--console-address", s.console,
		"--certs-dir", filepath.Join(s.dir, "certs"))
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.accessKey,
		"MINIO_ROOT_PASSWORD="+s.secretKey,
		"MINIO_UPDATE=off",
		// MinIO creates $HOME/.minio; keep that inside the test's directory.
		"HOME="+s.dir,
	)
	s.log = &tailBuffer{max: logTail}
	cmd.Stdout = s.log
	cmd.Stderr = s.log
	// MinIO forks nothing, but if something ever inherits its output pipes,
	// Wait must not block on them forever.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		s.tb.Fatalf("miniotest: start %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	var exitErr error // read only after exited is closed
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	if err := waitLive(s.addr, exited, startTimeout); err != nil {
		// Kill, not SIGTERM: it is not answering, and the test is failing.
		_ = cmd.Process.Kill()
		<-exited
		s.cmd = nil
		s.tb.Fatalf("miniotest: MinIO at %s: %v (%v)\nlast output:\n%s", s.addr, err, exitErr, s.log.String())
	}
	s.tb.Logf("miniotest: MinIO up at %s in %s", s.addr, time.Since(began).Round(time.Millisecond))
}

// waitLive polls MinIO's liveness endpoint until it answers 200 with its
// object layer up, the process exits, or timeout passes.
func waitLive(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	url := "http://" + addr + "/minio/health/live"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			// MinIO answers 200 as soon as it listens, and says in this
			// header that its object layer is not initialised yet (S3
			// calls would fail with XMinioServerNotInitialized).
			if resp.StatusCode == http.StatusOK && resp.Header.Get("X-Minio-Server-Status") != "offline" {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited before answering its liveness probe")
		case <-ctx.Done():
			return fmt.Errorf("no answer from %s within %s", url, timeout)
		case <-tick.C:
		}
	}
}

// findBinary returns the MinIO binary to run, or skips tb.
func findBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("miniotest: $%s=%s: %v", EnvBinary, p, err)
		}
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("miniotest: %v", err)
	}
	p := filepath.Join(root, ".tools", "bin", "minio")
	if _, err := os.Stat(p); err != nil {
		tb.Skipf("miniotest: no MinIO server at %s: run `make deps` (scripts/install-deps.sh) to install it, or set $%s", p, EnvBinary)
	}
	return p
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod; `go test` runs each package in its own directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// freeAddrs returns n distinct loopback addresses with ports nobody
// listens on right now. Another process could take one before MinIO does;
// on a test machine that is rare enough, and MinIO then fails with a clear
// message.
func freeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("miniotest: find a free port: %v", err)
		}
		// Held open until all are chosen, so no two are the same.
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("miniotest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last max bytes written to it; MinIO writes to it
// from exec's copying goroutines while a failing test reads it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
