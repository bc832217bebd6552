package telemetry

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeMetrics are the scraper's metrics about itself. The host registry
// adds the cloudskin_ prefix.
type scrapeMetrics struct {
	scrapes  *prometheus.CounterVec
	duration prometheus.Histogram
}

func newScrapeMetrics(reg prometheus.Registerer) (*scrapeMetrics, error) {
	m := &scrapeMetrics{
		scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "telemetry_scrapes_total",
			Help: "Scrapes of targets' /metrics pages, by result (success or failure).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "telemetry_scrape_duration_seconds",
			Help:    "Time to fetch, parse and store one target's metrics page.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8), // 1 ms to 16 s
		}),
	}
	// Both results exist from the start, so rate() over failures works
	// before the first one.
	m.scrapes.WithLabelValues("success")
	m.scrapes.WithLabelValues("failure")
	if err := register(reg, m.scrapes, m.duration); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *scrapeMetrics) observe(ok bool, took time.Duration) {
	result := "success"
	if !ok {
		result = "failure"
	}
	m.scrapes.WithLabelValues(result).Inc()
	m.duration.Observe(took.Seconds())
}

// headSeriesMetric reports the series in the store's head block.
func headSeriesMetric(db *DB) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "telemetry_head_series",
		Help: "Series in the embedded store's in-memory head block (about the last two to three hours).",
	}, func() float64 { return float64(db.HeadSeries()) })
}

// register adds collectors to reg (nothing when reg is nil), failing
// rather than panicking when one is already there.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: register metrics: %w", err)
	}
	return nil
}
