package telemetry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTestScraper(t testing.TB, db *DB, c *clock, targets func(context.Context) ([]Target, error), opts ScraperOptions) *Scraper {
	t.Helper()
	opts.Now = c.Now
	s, err := NewScraper(db, targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Two real exporters scraped five times, 5 s apart on the fake clock, with
// the counter growing 10 per scrape (2/s) and the gauge changing: rate, up,
// label matching, aggregation and a range query give back those numbers.
func TestScrapeRealExporters(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	edge, cloud := newExporter(t), newExporter(t)
	c := newClock()
	s := newTestScraper(t, db, c, staticTargets(
		Target{Job: "agent", URL: edge.URL(), Labels: map[string]string{"site": "edge"}},
		Target{Job: "agent", Instance: "cloud-1", URL: cloud.URL(), Labels: map[string]string{"site": "cloud"}},
	), ScraperOptions{})
	ctx := context.Background()
	gauges := []float64{20, 21.5, 19, 25, 30}
	for i, g := range gauges {
		edge.gauge.Set(g)
		cloud.gauge.Set(100 + g)
		s.ScrapeOnce(ctx)
		if i < len(gauges)-1 {
			edge.counter.Add(10)
			cloud.counter.Add(1)
			c.Advance(5 * time.Second)
		}
	}
	end := t0.Add(20 * time.Second)

	if got := queryValue(t, db, `rate(requests_total{site="edge"}[20s])`, end); !near(got, 2) {
		t.Errorf("rate of edge counter = %v, want 2/s", got)
	}
	if got := queryValue(t, db, `irate(requests_total{instance="cloud-1"}[20s])`, end); !near(got, 0.2) {
		t.Errorf("irate of cloud counter = %v, want 0.2/s", got)
	}
	if got := queryValue(t, db, `requests_total{job="agent",site="edge"}`, end); got != 40 {
		t.Errorf("edge counter = %v, want 40", got)
	}
	if got := queryValue(t, db, `sum(up{job="agent"})`, end); got != 2 {
		t.Errorf("sum(up) = %v, want 2", got)
	}
	if got := queryValue(t, db, `scrape_samples_scraped{site="cloud"}`, end); got < 2 {
		t.Errorf("scrape_samples_scraped = %v, want at least the counter and the gauge", got)
	}
	if got := queryValue(t, db, `max_over_time(temperature_celsius{site=~"c.*"}[1m])`, end); got != 130 {
		t.Errorf("max over time of cloud gauge = %v, want 130", got)
	}
	edgeUp := queryVector(t, db, `up{site="edge"}`, end)
	wantInstance := strings.TrimPrefix(edge.srv.URL, "http://")
	if len(edgeUp) != 1 || edgeUp[0].Labels["instance"] != wantInstance || edgeUp[0].Labels["job"] != "agent" {
		t.Errorf("up{site=edge} = %v, want one series with instance %s and job agent", edgeUp, wantInstance)
	}
	bySite := queryVector(t, db, `sum by (site) (temperature_celsius)`, end)
	if len(bySite) != 2 {
		t.Fatalf("sum by site: %v, want 2 series", bySite)
	}

	series, err := db.QueryRange(ctx, `temperature_celsius{site="edge"}`, t0, end, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || len(series[0].Points) != len(gauges) {
		t.Fatalf("range query: %v, want 1 series of %d points", series, len(gauges))
	}
	for i, p := range series[0].Points {
		if want := t0.Add(time.Duration(i) * 5 * time.Second); !p.T.Equal(want) || p.V != gauges[i] {
			t.Errorf("point %d = %v at %s, want %v at %s", i, p.V, p.T, gauges[i], want)
		}
	}
	if series[0].Labels["__name__"] != "temperature_celsius" || series[0].Labels["site"] != "edge" {
		t.Errorf("range series labels = %v", series[0].Labels)
	}
}

// A target that starts failing gets up=0 and its series go stale at once;
// the change is logged once, not at every scrape, and so is the recovery.
func TestScrapeFailingTarget(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	page := newPageServer(t, "# TYPE jobs_running gauge\njobs_running 3\n")
	c := newClock()
	var logs logBuffer
	s := newTestScraper(t, db, c, staticTargets(Target{Job: "agent", URL: page.URL()}), ScraperOptions{Logger: logs.Logger()})
	ctx := context.Background()

	s.ScrapeOnce(ctx)
	if got := queryValue(t, db, `jobs_running`, t0); got != 3 {
		t.Fatalf("jobs_running = %v, want 3", got)
	}
	page.Set("boom", http.StatusInternalServerError)
	for range 3 {
		c.Advance(5 * time.Second)
		s.ScrapeOnce(ctx)
	}
	now := c.Now()
	if got := queryValue(t, db, `up{job="agent"}`, now); got != 0 {
		t.Errorf("up = %v after failures, want 0", got)
	}
	// Without staleness markers the last value would still answer for 5 minutes.
	if got := queryVector(t, db, `jobs_running`, t0.Add(5*time.Second)); len(got) != 0 {
		t.Errorf("jobs_running right after the failure = %v, want nothing (stale)", got)
	}
	if n := logs.Count("scrape target is down"); n != 1 {
		t.Errorf("%d down warnings for 3 failed scrapes, want 1", n)
	}
	status := s.Status()
	if len(status) != 1 || status[0].Up || !strings.Contains(status[0].LastError, "500") {
		t.Errorf("status = %+v, want one target down with the HTTP 500 in its error", status)
	}

	page.Set("# TYPE jobs_running gauge\njobs_running 4\n", http.StatusOK)
	c.Advance(5 * time.Second)
	s.ScrapeOnce(ctx)
	c.Advance(5 * time.Second)
	s.ScrapeOnce(ctx)
	if got := queryValue(t, db, `jobs_running`, c.Now()); got != 4 {
		t.Errorf("jobs_running after recovery = %v, want 4", got)
	}
	if got := queryValue(t, db, `up`, c.Now()); got != 1 {
		t.Errorf("up after recovery = %v, want 1", got)
	}
	if n := logs.Count("scrape target is up again"); n != 1 {
		t.Errorf("%d recovery messages, want 1", n)
	}
}

// A series that leaves the page, and a target that leaves the list, go
// stale; a page's own job label is kept as exported_job; a timestamp on
// the page is honoured.
func TestScrapeStalenessAndLabels(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	explicit := t0.Add(-time.Second)
	a := newPageServer(t, "a_total{job=\"inner\"} 1\nb_gauge 2\nc_gauge 5 "+strconv.FormatInt(explicit.UnixMilli(), 10)+"\n")
	b := newPageServer(t, "other 7\n")
	c := newClock()
	targets := []Target{{Job: "a", URL: a.URL()}, {Job: "b", URL: b.URL()}}
	s := newTestScraper(t, db, c, func(context.Context) ([]Target, error) { return targets, nil }, ScraperOptions{})
	ctx := context.Background()
	s.ScrapeOnce(ctx)

	got := queryVector(t, db, `a_total`, t0)
	if len(got) != 1 || got[0].Labels["job"] != "a" || got[0].Labels["exported_job"] != "inner" {
		t.Errorf("a_total = %v, want job=a exported_job=inner", got)
	}
	if v := queryValue(t, db, `c_gauge`, explicit); v != 5 {
		t.Errorf("c_gauge at its own timestamp = %v, want 5", v)
	}

	a.Set("a_total{job=\"inner\"} 2\n", http.StatusOK) // b_gauge leaves
	targets = targets[:1]                              // target b leaves
	c.Advance(5 * time.Second)
	s.ScrapeOnce(ctx)
	now := c.Now()
	if got := queryVector(t, db, `b_gauge`, now); len(got) != 0 {
		t.Errorf("b_gauge after leaving the page = %v, want nothing", got)
	}
	if got := queryVector(t, db, `{job="b"}`, now); len(got) != 0 {
		t.Errorf("series of the removed target = %v, want nothing", got)
	}
	if got := queryValue(t, db, `a_total`, now); got != 2 {
		t.Errorf("a_total = %v, want 2", got)
	}
	if got := s.Status(); len(got) != 1 || got[0].Target.Job != "a" {
		t.Errorf("status after removal = %+v, want only job a", got)
	}

	// New target labels rename every series: the old names end at once.
	targets = []Target{{Job: "a", URL: a.URL(), Labels: map[string]string{"site": "edge"}}}
	c.Advance(5 * time.Second)
	s.ScrapeOnce(ctx)
	got = queryVector(t, db, `a_total`, c.Now())
	if len(got) != 1 || got[0].Labels["site"] != "edge" {
		t.Errorf("a_total after relabelling = %v, want only the series with site=edge", got)
	}
}

// A target that does not answer in time fails within the timeout, while
// the others are scraped; an invalid target is skipped and logged once.
func TestScrapeTimeoutAndInvalidTargets(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(slow.Close)
	defer close(release)
	fast := newPageServer(t, "ok 1\n")
	var logs logBuffer
	c := newClock()
	s := newTestScraper(t, db, c, staticTargets(
		Target{Job: "slow", URL: slow.URL + "/metrics"},
		Target{Job: "fast", URL: fast.URL()},
		Target{Job: "", URL: fast.URL()},
		Target{Job: "bad", URL: "ftp://x/metrics"},
		Target{Job: "fast", URL: fast.URL()}, // same job and instance again
	), ScraperOptions{Interval: 5 * time.Second, Timeout: 200 * time.Millisecond, Logger: logs.Logger()})
	ctx := context.Background()

	start := time.Now()
	s.ScrapeOnce(ctx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a round with a hanging target took %s, want about the 200ms timeout", took)
	}
	c.Advance(5 * time.Second)
	s.ScrapeOnce(ctx)
	if got := queryValue(t, db, `up{job="slow"}`, c.Now()); got != 0 {
		t.Errorf("up of the hanging target = %v, want 0", got)
	}
	if got := queryValue(t, db, `up{job="fast"}`, c.Now()); got != 1 {
		t.Errorf("up of the good target = %v, want 1", got)
	}
	if n := logs.Count("ignoring invalid scrape target"); n != 3 {
		t.Errorf("%d invalid-target warnings over two rounds, want 3 (one per invalid target)", n)
	}
	status := s.Status()
	if len(status) != 2 || !strings.Contains(status[1].LastError, "deadline") {
		t.Errorf("status = %+v, want fast up and slow failed on its deadline", status)
	}
}

// When the targets function fails, the previous targets are scraped again.
func TestScrapeTargetsFunctionFails(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	page := newPageServer(t, "x 1\n")
	fail := false
	var logs logBuffer
	c := newClock()
	s := newTestScraper(t, db, c, func(context.Context) ([]Target, error) {
		if fail {
			return nil, errors.New("store down")
		}
		return []Target{{Job: "j", URL: page.URL()}}, nil
	}, ScraperOptions{Logger: logs.Logger()})
	ctx := context.Background()
	s.ScrapeOnce(ctx)
	fail = true
	page.Set("x 2\n", http.StatusOK)
	for range 2 {
		c.Advance(5 * time.Second)
		s.ScrapeOnce(ctx)
	}
	if got := queryValue(t, db, `x`, c.Now()); got != 2 {
		t.Errorf("x = %v, want 2 (the old target scraped again)", got)
	}
	if n := logs.Count("cannot list scrape targets"); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
}

// A page that is not the exposition format fails the scrape with the
// parser's reason; duplicate label names are refused.
func TestScrapeMalformedPage(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	for i, page := range []string{"metric{ 1\n", "m{a=\"1\",a=\"2\"} 1\n", "m notanumber\n"} {
		srv := newPageServer(t, page)
		c := newClock()
		instance := strconv.Itoa(i)
		s := newTestScraper(t, db, c, staticTargets(Target{Job: "bad", URL: srv.URL(), Instance: instance}), ScraperOptions{})
		s.ScrapeOnce(context.Background())
		st := s.Status()
		if len(st) != 1 || st[0].Up || st[0].LastError == "" {
			t.Errorf("page %q: status %+v, want a failed scrape with a reason", page, st)
		}
		if got := queryValue(t, db, `up{instance="`+instance+`"}`, t0); got != 0 {
			t.Errorf("page %q: up = %v, want 0", page, got)
		}
	}
}

// The scraper counts its scrapes and their durations; the service reports
// the head's series.
func TestScrapeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	page := newPageServer(t, "x 1\ny 2\n")
	dead := newPageServer(t, "")
	dead.srv.Close()
	svc, err := NewService(Options{
		Dir:        t.TempDir(),
		Targets:    staticTargets(Target{Job: "up", URL: page.URL()}, Target{Job: "down", URL: dead.URL()}),
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	svc.scraper.ScrapeOnce(context.Background())
	if got := testutil.ToFloat64(svc.scraper.metrics.scrapes.WithLabelValues("success")); got != 1 {
		t.Errorf("successful scrapes = %v, want 1", got)
	}
	if got := testutil.ToFloat64(svc.scraper.metrics.scrapes.WithLabelValues("failure")); got != 1 {
		t.Errorf("failed scrapes = %v, want 1", got)
	}
	// x, y, and up, scrape_duration_seconds, scrape_samples_scraped for each target.
	if n, err := testutil.GatherAndCount(reg, "telemetry_head_series"); err != nil || n != 1 {
		t.Fatalf("telemetry_head_series gathered %d times, err %v", n, err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "telemetry_head_series" {
			if got := mf.GetMetric()[0].GetGauge().GetValue(); got != 8 {
				t.Errorf("head series = %v, want 8", got)
			}
		}
	}
	if n, _ := testutil.GatherAndCount(reg, "telemetry_scrape_duration_seconds"); n != 1 {
		t.Errorf("scrape duration histogram not registered")
	}
	// A second service on the same registry is refused, not a panic.
	if _, err := NewService(Options{Dir: t.TempDir(), Registerer: reg}); err == nil {
		t.Error("a second service registering the same metrics was accepted")
	}
}

func TestTargetValidation(t *testing.T) {
	for _, tc := range []struct {
		target Target
		want   string
	}{
		{Target{URL: "http://h/metrics"}, "no job"},
		{Target{Job: "j", URL: "h:80/metrics"}, "http"},
		{Target{Job: "j", URL: "http://h/metrics", Labels: map[string]string{"__x": "1"}}, "invalid label name"},
		{Target{Job: "j", URL: "http://h/metrics", Labels: map[string]string{"a-b": "1"}}, "invalid label name"},
		{Target{Job: "j", URL: "http://h/metrics", Labels: map[string]string{"job": "x"}}, "set by the Job"},
	} {
		_, _, err := normalize(tc.target)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.target, err, tc.want)
		}
	}
	got, lset, err := normalize(Target{Job: "j", URL: "http://10.0.0.5:7071/metrics", Labels: map[string]string{"site": "edge", "empty": ""}})
	if err != nil || got.Instance != "10.0.0.5:7071" || lset.String() != `{instance="10.0.0.5:7071", job="j", site="edge"}` {
		t.Errorf("normalize: %+v %s %v", got, lset, err)
	}
}
