package s3tier

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestClassify(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "http://s3/b/k", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		name string
		err  error
		want error // nil: neither sentinel, the error as is
	}{
		{"no such key", minio.ErrorResponse{StatusCode: 404, Code: "NoSuchKey"}, fs.ErrNotExist},
		{"no such bucket", minio.ErrorResponse{StatusCode: 404, Code: "NoSuchBucket"}, fs.ErrNotExist},
		{"bare 404 of a HEAD", minio.ErrorResponse{StatusCode: 404}, fs.ErrNotExist},
		{"access denied", minio.ErrorResponse{StatusCode: 403, Code: "AccessDenied"}, fs.ErrPermission},
		{"bad signature", minio.ErrorResponse{StatusCode: 403, Code: "SignatureDoesNotMatch"}, fs.ErrPermission},
		{"internal error", minio.ErrorResponse{StatusCode: 500, Code: "InternalError"}, ErrUnavailable},
		{"service unavailable", minio.ErrorResponse{StatusCode: 503, Code: "ServiceUnavailable"}, ErrUnavailable},
		{"slow down", minio.ErrorResponse{StatusCode: 503, Code: "SlowDown"}, ErrUnavailable},
		{"too many requests", minio.ErrorResponse{StatusCode: 429}, ErrUnavailable},
		{"request timeout", minio.ErrorResponse{StatusCode: 400, Code: "RequestTimeout"}, ErrUnavailable},
		{"invalid bucket name", minio.ErrorResponse{StatusCode: 400, Code: "InvalidBucketName"}, nil},
		{"precondition failed", minio.ErrorResponse{StatusCode: 412, Code: "PreconditionFailed"}, ErrPrecondition},
		{"bare 412 of a HEAD", minio.ErrorResponse{StatusCode: 412}, ErrPrecondition},
		{"wrapped response", fmt.Errorf("ctx: %w", minio.ErrorResponse{StatusCode: 404, Code: "NoSuchKey"}), fs.ErrNotExist},
		{"connection refused", refused, ErrUnavailable},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, ErrUnavailable},
		{"cut body", io.ErrUnexpectedEOF, ErrUnavailable},
		{"unknown CA", &url.Error{Op: "Get", URL: "https://s3", Err: x509.UnknownAuthorityError{}}, nil},
		{"http to https", &url.Error{Op: "Get", URL: "https://s3", Err: errors.New("http: server gave HTTP response to HTTPS client")}, nil},
		{"anything else", errors.New("odd"), nil},
	}
	for _, c := range cases {
		got := classify(context.Background(), c.err)
		for _, kind := range []error{fs.ErrNotExist, fs.ErrPermission, ErrUnavailable, ErrPrecondition} {
			if errors.Is(got, kind) != (kind == c.want) {
				t.Errorf("%s: classify(%v) = %v; errors.Is(%v) = %v", c.name, c.err, got, kind, !(kind == c.want))
			}
		}
		if !errors.Is(got, c.err) && got != c.err {
			t.Errorf("%s: classify lost the original error: %v", c.name, got)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := classify(ctx, refused)
	if !errors.Is(got, context.Canceled) || errors.Is(got, ErrUnavailable) {
		t.Errorf("a network error after the caller canceled: %v; want context.Canceled, not ErrUnavailable", got)
	}
}

// fakeS3 answers every request with status and an S3 error body.
func fakeS3(t *testing.T, status int, code string) *Tier {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>fake</Message></Error>`, code)
	}))
	t.Cleanup(srv.Close)
	return tierFor(t, srv.Listener.Addr().String(), time.Second)
}

func tierFor(t *testing.T, addr string, headerTimeout time.Duration) *Tier {
	t.Helper()
	tier, err := New(Config{
		Endpoint: addr, AccessKey: "k", SecretKey: "secret-key", Region: "us-east-1",
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
			ResponseHeaderTimeout: headerTimeout,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tier
}

func TestServerErrorsOverHTTP(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		status int
		code   string
		want   error
	}{
		{503, "SlowDown", ErrUnavailable},
		{500, "InternalError", ErrUnavailable},
		{502, "BadGateway", ErrUnavailable},
		{404, "NoSuchKey", fs.ErrNotExist},
		{400, "InvalidArgument", nil},
	}
	for _, c := range cases {
		tier := fakeS3(t, c.status, c.code)
		calls := map[string]error{}
		_, calls["Stat"] = tier.Stat(ctx, "bkt", "k")
		_, calls["GetRange"] = tier.GetRange(ctx, "bkt", "k", 0, 10)
		calls["Put"] = tier.Put(ctx, "bkt", "k", io.LimitReader(zeros{}, 10), 10)
		calls["List"] = tier.List(ctx, "bkt", "", func(string, int64) error { return nil })
		for op, err := range calls {
			if err == nil {
				t.Errorf("%s against a %d %s: no error", op, c.status, c.code)
				continue
			}
			if c.want != nil && !errors.Is(err, c.want) || c.want == nil && errors.Is(err, ErrUnavailable) {
				t.Errorf("%s against a %d %s: err = %v, want %v", op, c.status, c.code, err, c.want)
			}
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestHungServerIsUnavailable: a server that accepts connections and never
// answers is an outage, reported once the transport's timeout passes.
func TestHungServerIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-accepted
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})

	tier := tierFor(t, l.Addr().String(), 200*time.Millisecond)
	began := time.Now()
	_, err = tier.Stat(context.Background(), "bkt", "k")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Stat against a hung server: err = %v, want ErrUnavailable", err)
	}
	if elapsed := time.Since(began); elapsed > 5*time.Second {
		t.Fatalf("Stat against a hung server took %s with a 200ms header timeout", elapsed)
	}
}

// TestCutBodyIsUnavailable: a connection lost in the middle of an object
// surfaces from Read as ErrUnavailable, so a reader can retry the rest.
func TestCutBodyIsUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(1000))
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 10))
		// Returning with fewer bytes than Content-Length makes the server
		// close the connection.
	}))
	defer srv.Close()
	tier := tierFor(t, srv.Listener.Addr().String(), time.Second)
	rc, err := tier.GetRange(context.Background(), "bkt", "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if !errors.Is(err, ErrUnavailable) || n != 10 {
		t.Fatalf("reading a cut body: %d bytes, err %v; want 10 bytes then ErrUnavailable", n, err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "empty endpoint"},
		{Config{Endpoint: "http://s3:9000"}, "without a scheme"},
		{Config{Endpoint: "s3:9000", PartSize: 1 << 20}, "part size"},
		{Config{Endpoint: "s3:9000", PartSize: 6 << 30}, "part size"},
		{Config{Endpoint: "s3:9000", Concurrency: -1}, "concurrency"},
	}
	for _, c := range cases {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): err = %v, want one mentioning %q", c.cfg, err, c.want)
		}
	}
	if _, err := New(Config{Endpoint: "s3:9000"}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}
