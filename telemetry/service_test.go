package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Run scrapes until its context ends, then returns promptly, closes the
// store and leaves no goroutine behind (TSDB's, the HTTP client's, ours).
func TestServiceRunCancel(t *testing.T) {
	exp := newExporter(t)
	before := goleak.IgnoreCurrent()

	dir := t.TempDir()
	svc, err := NewService(Options{
		Dir:            dir,
		ScrapeInterval: 50 * time.Millisecond,
		Targets:        staticTargets(Target{Job: "agent", URL: exp.URL()}),
	})
	if err != nil {
		t.Fatal(err)
	}
	exp.gauge.Set(7)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	waitFor(t, 10*time.Second, "three scrapes", func() bool {
		res, err := svc.Querier().Query(context.Background(), `count_over_time(up[1m])`, time.Now())
		return err == nil && len(res.Samples) == 1 && res.Samples[0].Value >= 3
	})
	if got := queryValue(t, svc.Querier(), `temperature_celsius{job="agent"}`, time.Now()); got != 7 {
		t.Errorf("gauge = %v, want 7", got)
	}
	if st := svc.Targets(); len(st) != 1 || !st[0].Up {
		t.Errorf("targets = %+v, want one up", st)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of cancel")
	}
	if _, err := svc.Querier().Query(context.Background(), "up", time.Now()); TypeOf(err) != ErrorUnavailable {
		t.Errorf("query after Run: %v, want the store closed", err)
	}
	if err := svc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The exporter still runs: its server's goroutines are not ours, but
	// the scraper's side of its connections must be gone.
	goleak.VerifyNone(t, before,
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("net/http/httptest.(*Server).goServe.func1"))

	// What was scraped is still there after a restart.
	svc, err = NewService(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	res, err := svc.Querier().Query(context.Background(), `max_over_time(temperature_celsius[1m])`, time.Now())
	if err != nil || len(res.Samples) != 1 || res.Samples[0].Value != 7 {
		t.Errorf("after restart: %+v, %v; want 7", res, err)
	}
}

// Run stops promptly even while a target hangs (the scrape's context is
// cancelled with Run's) and records no failure for it.
func TestServiceRunCancelDuringScrape(t *testing.T) {
	entered := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	defer hang.Close()
	svc, err := NewService(Options{
		Dir:            t.TempDir(),
		ScrapeInterval: time.Minute,
		Targets:        staticTargets(Target{Job: "hang", URL: hang.URL}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	<-entered
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of cancel during a scrape")
	}
	if st := svc.Targets(); len(st) != 0 {
		t.Errorf("targets = %+v, want no outcome recorded for an interrupted scrape", st)
	}
}

func TestServiceOptions(t *testing.T) {
	if _, err := NewService(Options{}); err == nil {
		t.Error("no Dir and no RemoteURL accepted")
	}
	if _, err := NewService(Options{RemoteURL: "not a url"}); err == nil {
		t.Error("bad RemoteURL accepted")
	}
	svc, err := NewService(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	if err := svc.AppendSample(ctx, map[string]string{"__name__": "placement_score", "site": "edge"}, t0, 0.75); err != nil {
		t.Fatal(err)
	}
	if got := queryValue(t, svc.Querier(), `placement_score`, t0); got != 0.75 {
		t.Errorf("appended sample = %v, want 0.75", got)
	}
	if len(svc.Targets()) != 0 {
		t.Error("targets without a targets function")
	}
}
