package wal

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cloudmetrics "github.com/cloudskin/cloudskin/internal/metrics"
)

// metrics are the log's Prometheus metrics. Counters read the log's own
// totals, so they cost nothing on the write path.
type metrics struct {
	registration *cloudmetrics.Registration
	collectors   []prometheus.Collector
	batch        prometheus.Histogram
	syncTime     prometheus.Histogram
}

func newMetrics(l *FileLog) *metrics {
	m := &metrics{
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stream_wal_batch_records",
			Help:    "Records written by one group commit (one write and one fdatasync).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		syncTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stream_wal_commit_seconds",
			Help:    "Time to encode, write and fdatasync one group commit.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14),
		}),
	}
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	m.collectors = []prometheus.Collector{
		m.batch, m.syncTime,
		counter("stream_wal_fsyncs_total", "fdatasync calls on the write-ahead log.", l.syncs.Load),
		counter("stream_wal_records_total", "Records appended to the write-ahead log.", l.records.Load),
		counter("stream_wal_bytes_total", "Bytes appended to the write-ahead log, framing included.", l.bytes.Load),
	}
	return m
}

// register registers the metrics on reg; a log registers on one registry.
func (m *metrics) register(reg prometheus.Registerer) error {
	if m.registration != nil {
		return errors.New("wal: metrics are already registered")
	}
	r, err := cloudmetrics.RegisterAll(reg, m.collectors...)
	var are prometheus.AlreadyRegisteredError
	switch {
	case errors.As(err, &are):
		return fmt.Errorf("wal: metrics: already registered (is another log open on this registry?): %w", err)
	case err != nil:
		return fmt.Errorf("wal: metrics: %w", err)
	}
	m.registration = r
	return nil
}

func (m *metrics) observe(records int, took time.Duration) {
	m.batch.Observe(float64(records))
	m.syncTime.Observe(took.Seconds())
}

// unregister lets a log reopened in the same process register again.
func (m *metrics) unregister() {
	m.registration.Unregister()
	m.registration = nil
}
