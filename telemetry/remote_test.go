package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// prometheusBinary is where Debian's package "prometheus" installs the server.
const prometheusBinary = "/usr/bin/prometheus"

// startPrometheus runs a real Prometheus on a free loopback port, scraping
// target every second under job "exporter", and returns its base URL. It
// is stopped when the test ends.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	if _, err := os.Stat(prometheusBinary); err != nil {
		t.Skipf("%s not found: install the Debian package prometheus", prometheusBinary)
	}
	u := strings.TrimPrefix(target, "http://")
	host, path, _ := strings.Cut(u, "/")
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: exporter
    metrics_path: /%s
    static_configs:
      - targets: [%q]
        labels: {site: edge}
`, path, host)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	// The port may be taken between Close and Prometheus's bind; try a few.
	for attempt := 0; attempt < 3; attempt++ {
		addr := freeLoopbackAddr(t)
		var logs lockedBuffer
		cmd := exec.Command(prometheusBinary,
			"--config.file="+filepath.Join(dir, "prometheus.yml"),
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprint("data", attempt)),
			"--web.listen-address="+addr,
		)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", prometheusBinary, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		base := "http://" + addr
		if waitReady(base, exited, 30*time.Second) {
			t.Cleanup(stop)
			return base
		}
		stop()
		t.Logf("prometheus on %s did not become ready (attempt %d):\n%s", addr, attempt+1, logs.String())
	}
	t.Fatal("prometheus did not start")
	return ""
}

// waitReady polls Prometheus's readiness endpoint until it answers 200, the
// process exits or the time is up.
func waitReady(base string, exited <-chan struct{}, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A real Prometheus scrapes a real exporter; Remote queries it, and so
// does client_golang through our API backed by Remote (a Service with
// RemoteURL): the gauge we set comes back both ways.
func TestRemoteRealPrometheus(t *testing.T) {
	exp := newExporter(t)
	exp.gauge.Set(42)
	exp.counter.Add(7)
	base := startPrometheus(t, exp.URL())
	remote, err := NewRemote(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	waitFor(t, 30*time.Second, "Prometheus to scrape the exporter", func() bool {
		res, err := remote.Query(ctx, `temperature_celsius{job="exporter"}`, time.Now())
		return err == nil && len(res.Samples) == 1
	})

	now := time.Now()
	if got := queryValue(t, remote, `temperature_celsius{site="edge"}`, now); got != 42 {
		t.Errorf("gauge through Remote = %v, want 42", got)
	}
	if got := queryValue(t, remote, `up{job="exporter"}`, now); got != 1 {
		t.Errorf("up through Remote = %v, want 1", got)
	}
	if got := queryValue(t, remote, `requests_total`, now); got != 7 {
		t.Errorf("counter through Remote = %v, want 7", got)
	}
	res, err := remote.Query(ctx, `2 * 21`, now)
	if err != nil || res.Type != ValueScalar || res.Samples[0].Value != 42 {
		t.Errorf("scalar through Remote = %+v, %v", res, err)
	}
	series, err := remote.QueryRange(ctx, `temperature_celsius`, now.Add(-2*time.Second), now, time.Second)
	if err != nil || len(series) != 1 || len(series[0].Points) == 0 {
		t.Fatalf("range through Remote = %v, %v", series, err)
	}
	for _, p := range series[0].Points {
		if p.V != 42 {
			t.Errorf("range point %v, want 42", p)
		}
	}
	values, err := remote.LabelValues(ctx, "job", nil, time.Time{}, time.Time{})
	if err != nil || len(values) != 1 || values[0] != "exporter" {
		t.Errorf("job values through Remote = %v, %v", values, err)
	}
	sets, err := remote.Series(ctx, []string{`up`}, time.Time{}, time.Time{})
	if err != nil || len(sets) != 1 || sets[0]["instance"] == "" {
		t.Errorf("series through Remote = %v, %v", sets, err)
	}
	if _, err := remote.Query(ctx, `rate(x[`, now); TypeOf(err) != ErrorBadData || !strings.Contains(err.Error(), base) {
		t.Errorf("parse error through Remote: %v, want bad_data naming %s", err, base)
	}

	// Our API backed by the Remote, read with client_golang.
	svc, err := NewService(Options{RemoteURL: base})
	if err != nil {
		t.Fatal(err)
	}
	mux := serveMux{http.NewServeMux()}
	svc.Routes(mux)
	srv := newHTTPServer(t, mux)
	prom := promClient(t, srv)
	v, _, _, err := prom.QueryRange(ctx, `temperature_celsius`, v1.Range{Start: now.Add(-2 * time.Second), End: now, Step: time.Second})
	m, ok := v.(model.Matrix)
	if err != nil || !ok || len(m) != 1 || m[0].Metric["site"] != "edge" || len(m[0].Values) == 0 || m[0].Values[0].Value != 42 {
		t.Errorf("range through our API over Remote = %v, %v", v, err)
	}
	names, _, _, err := prom.LabelNames(ctx, []string{"up"}, time.Time{}, time.Time{})
	if err != nil || !slices.Contains(names, "instance") {
		t.Errorf("label names through our API over Remote = %v, %v", names, err)
	}
	get(t, srv+"/api/v1/query?query=sum(", http.StatusBadRequest)
	if err := svc.AppendSample(ctx, map[string]string{"__name__": "x"}, now, 1); err == nil || !strings.Contains(err.Error(), base) {
		t.Errorf("AppendSample on a remote service: %v, want an error naming %s", err, base)
	}
}

// A Remote that cannot be reached fails as unavailable, naming its URL.
func TestRemoteUnreachable(t *testing.T) {
	base := "http://" + freeLoopbackAddr(t) // nothing listens there any more
	remote, err := NewRemote(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = remote.Query(context.Background(), "up", time.Now())
	if TypeOf(err) != ErrorUnavailable || !strings.Contains(err.Error(), base) {
		t.Errorf("error %v (type %s), want unavailable naming %s", err, TypeOf(err), base)
	}
	// Through the API: 503 with Prometheus's envelope.
	body := get(t, serveAPI(t, remote)+"/api/v1/query?query=up", http.StatusServiceUnavailable)
	if !strings.Contains(body, `"errorType":"unavailable"`) {
		t.Errorf("API answer %s, want errorType unavailable", body)
	}
	for _, bad := range []string{"", "prometheus:9090", "ftp://x"} {
		if _, err := NewRemote(bad, nil); err == nil {
			t.Errorf("NewRemote(%q) accepted", bad)
		}
	}
}

// Remote reading our own API: values and every error type survive the
// round trip, including a timeout, which comes back as a 503 whose body
// the API client leaves undecoded.
func TestRemoteOverOurAPI(t *testing.T) {
	ctx := context.Background()
	remote, err := NewRemote(serveAPI(t, apiTestDB(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(60 * time.Second)
	if got := queryValue(t, remote, `sum(requests_total)`, at); got != 132 {
		t.Errorf("sum = %v, want 132", got)
	}
	series, err := remote.QueryRange(ctx, `requests_total{site="edge"}`, t0, at, 30*time.Second)
	if err != nil || len(series) != 1 || len(series[0].Points) != 3 || series[0].Points[2].V != 120 || !series[0].Points[2].T.Equal(at) {
		t.Errorf("range = %+v, %v; want 3 points ending with 120 at %s", series, err, at)
	}

	slow := openTestDB(t, DBOptions{QueryTimeout: time.Nanosecond})
	if err := slow.AppendSample(ctx, map[string]string{"__name__": "m"}, t0, 1); err != nil {
		t.Fatal(err)
	}
	remote, err = NewRemote(serveAPI(t, slow), nil)
	if err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]ErrorType{`m`: ErrorTimeout, `sum(`: ErrorBadData} {
		_, err := remote.Query(ctx, expr, t0)
		if TypeOf(err) != want {
			t.Errorf("%s: %v (type %s), want %s", expr, err, TypeOf(err), want)
		}
		if want == ErrorTimeout && !strings.Contains(err.Error(), "timed out") {
			t.Errorf("%s: %v, want the server's message", expr, err)
		}
	}
}
