package geds

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// readSource is where a read was served from, the label of the read
// metrics: a local read is a tier-0 hit, remote and s3 reads are misses.
type readSource int

const (
	sourceLocal readSource = iota
	sourceRemote
	sourceS3
	numSources
)

var sourceLabels = [numSources]string{"local", "remote", "s3"}

// clientMetrics are the client's Prometheus metrics. Counters of the read path
// are resolved once into arrays, so a read costs two atomic adds and no
// lookup.
type clientMetrics struct {
	reads, readBytes [numSources]prometheus.Counter
	remoteLatency    prometheus.Observer
	spilledBytes     prometheus.Counter
	persistedBytes   prometheus.Counter
	spillErrors      prometheus.Counter
	tierFull         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, node string, used, limit, queue func() float64) (*clientMetrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"node": node}, reg)
	reads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "geds_reads_total",
		Help: "GEDS reads (ReadAt calls and streams) by source: local is a tier-0 hit, remote (a peer) and s3 are misses.",
	}, []string{"source"})
	readBytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "geds_read_bytes_total", Help: "Bytes read by GEDS clients, by source (local, remote, s3).",
	}, []string{"source"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "geds_remote_read_seconds",
		Help:    "Latency of range reads from a peer's tier 0.",
		Buckets: prometheus.ExponentialBuckets(25e-6, 2, 14), // 25 µs to 200 ms
	})
	m := &clientMetrics{
		remoteLatency: latency,
		spilledBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geds_spilled_bytes_total", Help: "Bytes moved from tier 0 to the persistency tier (spills, automatic or asked for)."}),
		persistedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geds_persisted_bytes_total", Help: "Bytes copied to the persistency tier (persists and spills)."}),
		spillErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geds_spill_errors_total", Help: "Failed spill attempts (each is retried with backoff)."}),
		tierFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "geds_tier_full_total", Help: "Writes refused with ErrTierFull."}),
	}
	for src, label := range sourceLabels {
		m.reads[src] = reads.WithLabelValues(label)
		m.readBytes[src] = readBytes.WithLabelValues(label)
	}
	collectors := []prometheus.Collector{
		reads, readBytes, latency, m.spilledBytes, m.persistedBytes, m.spillErrors, m.tierFull,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geds_tier_bytes", Help: "Bytes this client holds in tier 0.", ConstLabels: prometheus.Labels{"tier": "local"}}, used),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geds_tier_limit_bytes", Help: "Tier 0's configured limit.", ConstLabels: prometheus.Labels{"tier": "local"}}, limit),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "geds_spill_queue_length", Help: "Objects waiting to be spilled to the persistency tier."}, queue),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			if errors.As(err, &dup) {
				return nil, fmt.Errorf("geds: metrics: another client with node id %q registered them already: %w", node, err)
			}
			return nil, fmt.Errorf("geds: metrics: %w", err)
		}
	}
	return m, nil
}

// read counts one read of n bytes served from src.
func (m *clientMetrics) read(src readSource, n int) {
	m.reads[src].Inc()
	m.readBytes[src].Add(float64(n))
}
