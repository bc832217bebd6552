package httpserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
)

func start(t *testing.T, s *httpserver.Server) (base string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), func() error { cancel(); return <-done }
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStandardEndpointsAndRouteMetrics(t *testing.T) {
	s := httpserver.New(logging.Discard(), metrics.New("v-test", "c-test"))
	s.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hi "+r.PathValue("name"))
	})
	var ready atomic.Bool
	s.AddReadinessCheck("store", func(context.Context) error {
		if !ready.Load() {
			return errors.New("store not open")
		}
		return nil
	})
	base, stop := start(t, s)

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "store: store not open") {
		t.Fatalf("/readyz while not ready = %d %q", code, body)
	}
	ready.Store(true)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz when ready = %d", code)
	}
	if _, body := get(t, base+"/hello/edge"); body != "hi edge" {
		t.Fatalf("route body = %q", body)
	}
	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`cloudskin_http_requests_total{code="200",handler="GET /hello/{name}",method="get"} 1`,
		`cloudskin_build_info{commit="c-test",version="v-test"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

func TestShutdownWaitsForInFlightRequest(t *testing.T) {
	s := httpserver.New(logging.Discard(), metrics.New("v", "c"))
	entered := make(chan struct{})
	s.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		time.Sleep(200 * time.Millisecond)
		io.WriteString(w, "done")
	})
	base, stop := start(t, s)
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request got %q, want it finished", body)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still answering after shutdown")
	}
}

// A connection that never sends a request (a client's dial finished after
// its request was cancelled) must not hold shutdown past the grace period.
func TestShutdownDoesNotWaitForSilentConnections(t *testing.T) {
	s := httpserver.New(logging.Discard(), metrics.New("v", "c"))
	base, stop := start(t, s)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(50 * time.Millisecond) // let the server accept it
	begin := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("shutdown with a silent connection open: %v", err)
	}
	if took := time.Since(begin); took > httpserver.ShutdownTimeout+time.Second {
		t.Fatalf("shutdown took %s", took)
	}
}

// A request no route takes gets a problem document naming what is wrong:
// 404 for a path nothing serves, 405 with Allow for a wrong method. A
// path the mux redirects (a missing trailing slash of a subtree) still
// redirects.
func TestUnroutedRequestsGetProblemDocuments(t *testing.T) {
	s := httpserver.New(logging.Discard(), metrics.New("v-test", "c-test"))
	s.HandleFunc("GET /api/v1/things", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "[]") })
	s.HandleFunc("POST /api/v1/things", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(201) })
	s.HandleFunc("GET /ui/", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "page") })
	base, stop := start(t, s)
	defer stop()

	code, body := get(t, base+"/api/v1/nothing")
	if code != 404 || !strings.Contains(body, `"status": 404`) || !strings.Contains(body, "/api/v1/nothing") {
		t.Fatalf("unknown path: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodDelete, base+"/api/v1/things", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	allow := resp.Header.Get("Allow")
	if resp.StatusCode != 405 || !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(b), "DELETE") {
		t.Fatalf("wrong method: %d Allow %q %s %s", resp.StatusCode, allow, resp.Header.Get("Content-Type"), b)
	}
	if code, body := get(t, base+"/ui"); code != 200 || body != "page" {
		t.Fatalf("/ui did not redirect to /ui/: %d %q", code, body)
	}
	if code, body := get(t, base+"/api/v1/things"); code != 200 || body != "[]" {
		t.Fatalf("a routed request: %d %q", code, body)
	}
}
