package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// t0 is the start of the fake clock: a whole hour, so that TSDB blocks
// (two hours, aligned to the epoch) start predictably.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func openTestDB(t testing.TB, opts DBOptions) *DB {
	t.Helper()
	db, err := OpenDB(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

// clock is a fake clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// exporter is a real HTTP server exposing a real client_golang registry
// with a counter and a gauge, as every CloudSkin component does.
type exporter struct {
	srv     *httptest.Server
	counter prometheus.Counter
	gauge   prometheus.Gauge
}

func newExporter(t testing.TB) *exporter {
	t.Helper()
	reg := prometheus.NewRegistry()
	e := &exporter{
		counter: prometheus.NewCounter(prometheus.CounterOpts{Name: "requests_total", Help: "Requests."}),
		gauge:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "temperature_celsius", Help: "Temperature."}),
	}
	reg.MustRegister(e.counter, e.gauge)
	e.srv = httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *exporter) URL() string { return e.srv.URL + "/metrics" }

// pageServer serves whatever page the test sets, as text/plain.
type pageServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	page string
	code int
}

func newPageServer(t testing.TB, page string) *pageServer {
	t.Helper()
	p := &pageServer{page: page, code: http.StatusOK}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		p.mu.Lock()
		page, code := p.page, p.code
		p.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.WriteHeader(code)
		w.Write([]byte(page))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pageServer) Set(page string, code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.page, p.code = page, code
}

func (p *pageServer) URL() string { return p.srv.URL + "/metrics" }

// staticTargets returns a targets function listing ts.
func staticTargets(ts ...Target) func(context.Context) ([]Target, error) {
	return func(context.Context) ([]Target, error) { return ts, nil }
}

// logBuffer collects log lines from concurrent scrapes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) Count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

func (b *logBuffer) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// queryVector runs an instant query that must give a vector.
func queryVector(t testing.TB, q Querier, expr string, at time.Time) []Sample {
	t.Helper()
	res, err := q.Query(context.Background(), expr, at)
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	if res.Type != ValueVector {
		t.Fatalf("query %s: result type %s, want vector", expr, res.Type)
	}
	return res.Samples
}

// queryValue runs an instant query that must give exactly one sample.
func queryValue(t testing.TB, q Querier, expr string, at time.Time) float64 {
	t.Helper()
	samples := queryVector(t, q, expr, at)
	if len(samples) != 1 {
		t.Fatalf("query %s at %s: %d samples %v, want 1", expr, at, len(samples), samples)
	}
	return samples[0].Value
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newHTTPServer serves h until the test ends and returns its URL.
func newHTTPServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
