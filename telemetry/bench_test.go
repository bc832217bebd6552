package telemetry

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BenchmarkScrape measures one scrape of a real client_golang exporter
// with 500 series: HTTP fetch, parse, append, commit.
func BenchmarkScrape(b *testing.B) {
	reg := prometheus.NewRegistry()
	vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bench_value", Help: "Benchmark series."}, []string{"shard"})
	reg.MustRegister(vec)
	for i := range 500 {
		vec.WithLabelValues(strconv.Itoa(i)).Set(float64(i))
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	db := openTestDB(b, DBOptions{})
	c := newClock()
	s := newTestScraper(b, db, c, staticTargets(Target{Job: "bench", URL: srv.URL + "/metrics"}), ScraperOptions{})
	ctx := context.Background()
	s.ScrapeOnce(ctx) // first scrape creates the series
	b.ResetTimer()
	for b.Loop() {
		c.Advance(5 * time.Second)
		s.ScrapeOnce(ctx)
	}
	b.StopTimer()
	if st := s.Status(); len(st) != 1 || !st[0].Up || st[0].Samples != 500 {
		b.Fatalf("status %+v, want one target up with 500 samples", st)
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkQueryRange measures rate() over one hour of 5 s samples of 100
// series, at a 15 s step (240 steps, the resolution of a dashboard chart).
func BenchmarkQueryRange(b *testing.B) {
	db := openTestDB(b, DBOptions{})
	ctx := context.Background()
	const series, points = 100, 720 // 1 h at 5 s
	samples := make([]Sample, 0, series*points)
	for p := range points {
		for s := range series {
			samples = append(samples, Sample{
				Labels: map[string]string{"__name__": "bench_requests_total", "instance": strconv.Itoa(s)},
				T:      t0.Add(time.Duration(p) * 5 * time.Second),
				Value:  float64(p * (s + 1)),
			})
		}
	}
	if err := db.Append(ctx, samples...); err != nil {
		b.Fatal(err)
	}
	end := t0.Add(time.Hour)
	b.ResetTimer()
	for b.Loop() {
		got, err := db.QueryRange(ctx, `rate(bench_requests_total[1m])`, t0, end, 15*time.Second)
		if err != nil || len(got) != series {
			b.Fatalf("%d series, %v", len(got), err)
		}
	}
}
