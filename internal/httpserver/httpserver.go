// Package httpserver is the HTTP server every CloudSkin component serves
// from: one mux with /metrics, /healthz and /readyz already in place,
// per-route request metrics, and graceful shutdown when its context ends.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/internal/metrics"
)

// ShutdownTimeout bounds how long in-flight requests may take to finish
// after shutdown begins; the whole process must stop within 5 s of a signal.
const ShutdownTimeout = 3 * time.Second

// ReadinessCheck reports whether a dependency is ready; nil means ready.
type ReadinessCheck func(ctx context.Context) error

// Server is an HTTP server with the standard CloudSkin endpoints.
type Server struct {
	log      *slog.Logger
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	mu       sync.Mutex
	checks   map[string]ReadinessCheck
	patterns []string
	guards   []guard
}

// guard checks requests whose path starts with prefix.
type guard struct {
	prefix string
	check  func(*http.Request) error
}

// New returns a server whose /metrics serves reg.
func New(log *slog.Logger, reg metrics.Registry) *Server {
	s := &Server{
		log:    log,
		mux:    http.NewServeMux(),
		checks: map[string]ReadinessCheck{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern, method and status code.",
		}, []string{"handler", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"handler"}),
	}
	reg.Registerer.MustRegister(s.requests, s.latency)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	return s
}

// Handle registers h for pattern (Go 1.22 mux syntax, e.g. "GET /api/v1/sites/{name}"),
// counting its requests under the pattern.
func (s *Server) Handle(pattern string, h http.Handler) {
	labels := prometheus.Labels{"handler": pattern}
	instrumented := promhttp.InstrumentHandlerCounter(s.requests.MustCurryWith(labels),
		promhttp.InstrumentHandlerDuration(s.latency.MustCurryWith(labels), h))
	s.mux.Handle(pattern, s.guarded(instrumented))
	s.mu.Lock()
	s.patterns = append(s.patterns, pattern)
	s.mu.Unlock()
}

// Guard makes every request whose path starts with prefix pass check
// first; an error from check is the answer (an *httpapi.Error chooses
// its status, e.g. 401). Routes registered before and after both count.
func (s *Server) Guard(prefix string, check func(*http.Request) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guards = append(s.guards, guard{prefix, check})
}

func (s *Server) guarded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		guards := s.guards
		s.mu.Unlock()
		for _, g := range guards {
			if strings.HasPrefix(r.URL.Path, g.prefix) {
				if err := g.check(r); err != nil {
					httpapi.WriteError(w, s.log, err)
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Patterns returns the patterns registered with Handle, in order: what a
// test compares with the API's OpenAPI document so the two cannot drift.
func (s *Server) Patterns() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.patterns)
}

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, h http.HandlerFunc) { s.Handle(pattern, h) }

// AddReadinessCheck makes /readyz fail while check fails.
func (s *Server) AddReadinessCheck(name string, check ReadinessCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	checks := s.checks
	s.mu.Unlock()
	slices.Sort(names)

	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var failed []string
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", n, err))
		}
	}
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, f := range failed {
			fmt.Fprintln(w, "not ready:", f)
		}
		return
	}
	fmt.Fprintln(w, "ok")
}

// ServeHTTP routes r. A request no route takes (no path, or not that
// method) gets a problem document like every other API error, rather than
// the mux's plain-text 404 or 405: clients decode one error format.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	// The mux's own answer tells a missing path from a wrong method, and
	// carries the Allow header of the latter.
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.code {
	case http.StatusNotFound:
		httpapi.WriteError(w, s.log, httpapi.NotFound(fmt.Errorf("no route for %s", r.URL.Path)))
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		httpapi.WriteError(w, s.log, httpapi.MethodNotAllowed(fmt.Errorf("%s %s: method not allowed (allowed: %s)", r.Method, r.URL.Path, rec.header.Get("Allow"))))
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// headerRecorder keeps the status and headers of a small answer and drops
// its body.
type headerRecorder struct {
	header http.Header
	code   int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}
func (h *headerRecorder) Write(p []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(p), nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully, giving
// in-flight requests up to ShutdownTimeout. It returns nil after a clean
// shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Requests still running (or connections that never sent one: Go
		// waits 5 s for those) are cut, so the process stops on time.
		s.log.Warn("http server: closing connections still open after the shutdown grace period", "addr", ln.Addr().String(), "grace", ShutdownTimeout)
		err = srv.Close()
	}
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("http server on %s: shutdown: %w", ln.Addr(), err)
	}
	return nil
}
