package stream

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cloudmetrics "github.com/cloudskin/cloudskin/internal/metrics"
)

// metrics are the store's Prometheus metrics (the log has its own,
// stream_wal_*). They exist from Open on and are registered when a
// registerer is known (Options.Metrics or the Host in Setup).
type metrics struct {
	s          *Store
	events     *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	latency    prometheus.Histogram
	scaling    *prometheus.CounterVec
	lagDesc    *prometheus.Desc
	segsDesc   *prometheus.Desc
	tierDesc   *prometheus.Desc
	cacheHits  atomic.Uint64
	cacheMiss  atomic.Uint64

	tieredBytes, tieredChunks atomic.Uint64
	chunkHits, chunkMisses    atomic.Uint64
	backPressure              atomic.Uint64

	registration *cloudmetrics.Registration
}

// streamCounters are one stream's children of the counter vectors, looked
// up once rather than on every append.
type streamCounters struct {
	events, bytes, duplicates prometheus.Counter
	latency                   prometheus.Observer
	scaling                   *prometheus.CounterVec
	name                      StreamName
}

// scaled counts a scale of the stream ("split", "merge" or "rebalance").
func (c *streamCounters) scaled(kind string) {
	c.scaling.WithLabelValues(c.name.Scope, c.name.Stream, kind).Inc()
}

func (c *streamCounters) appended(events, bytes int, took time.Duration) {
	c.events.Add(float64(events))
	c.bytes.Add(float64(bytes))
	c.latency.Observe(took.Seconds())
}

func newMetrics(s *Store) *metrics {
	labels := []string{"scope", "stream"}
	return &metrics{
		s: s,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stream_events_appended_total", Help: "Events appended and durable, per stream.",
		}, labels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stream_bytes_appended_total", Help: "Segment bytes appended and durable (events and their 4-byte lengths), per stream.",
		}, labels),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stream_append_duplicates_total", Help: "Appends dropped as retries of appends already stored (idempotent writers).",
		}, labels),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stream_append_seconds", Help: "Time from queueing an append to its acknowledgement (durable).",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14),
		}),
		scaling: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stream_scaling_events_total", Help: "Scales of a stream (Scale and the auto-scaler), by kind: split, merge or rebalance.",
		}, []string{"scope", "stream", "kind"}),
		lagDesc: prometheus.NewDesc("stream_reader_group_lag_bytes",
			"Segment bytes a reader group has yet to read.", []string{"group", "scope", "stream"}, nil),
		segsDesc: prometheus.NewDesc("stream_segments",
			"Segments of a stream by state: active (taking appends) or sealed (kept until their data is truncated).", []string{"scope", "stream", "state"}, nil),
		tierDesc: prometheus.NewDesc("stream_segment_bytes",
			"Retained segment bytes by where they are: log (local write-ahead log) or lts (long-term storage).", []string{"tier"}, nil),
	}
}

func (m *metrics) forStream(n StreamName) *streamCounters {
	return &streamCounters{
		events:     m.events.WithLabelValues(n.Scope, n.Stream),
		bytes:      m.bytes.WithLabelValues(n.Scope, n.Stream),
		duplicates: m.duplicates.WithLabelValues(n.Scope, n.Stream),
		latency:    m.latency,
		scaling:    m.scaling,
		name:       n,
	}
}

func (m *metrics) dropStream(n StreamName) {
	m.events.DeleteLabelValues(n.Scope, n.Stream)
	m.bytes.DeleteLabelValues(n.Scope, n.Stream)
	m.duplicates.DeleteLabelValues(n.Scope, n.Stream)
	m.scaling.DeletePartialMatch(prometheus.Labels{"scope": n.Scope, "stream": n.Stream})
}

func (m *metrics) register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{
		m.events, m.bytes, m.duplicates, m.latency, m.scaling, lagCollector{m}, segmentsCollector{m},
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stream_cache_hits_total", Help: "Segment reads served from the cache."},
			func() float64 { return float64(m.cacheHits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stream_cache_misses_total", Help: "Segment reads that went to the log."},
			func() float64 { return float64(m.cacheMiss.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stream_lts_bytes_total", Help: "Segment bytes written to long-term storage."},
			func() float64 { return float64(m.tieredBytes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stream_lts_chunks_total", Help: "Chunks written to long-term storage."},
			func() float64 { return float64(m.tieredChunks.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stream_lts_chunk_cache_hits_total", Help: "Reads of tiered data served from the chunk cache."},
			func() float64 { return float64(m.chunkHits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stream_lts_chunk_reads_total", Help: "Chunks read from long-term storage (misses and prefetches)."},
			func() float64 { return float64(m.chunkMisses.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stream_back_pressure_total", Help: "Appends refused because the local log budget was exhausted."},
			func() float64 { return float64(m.backPressure.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stream_lts_up", Help: "1 if the last tiering pass reached long-term storage."},
			func() float64 {
				if m.s.LTSAvailable() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stream_local_log_bytes", Help: "Bytes the write-ahead log holds on local disk (bounded by the local budget)."},
			func() float64 { return float64(m.s.LocalBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stream_lts_lag_bytes", Help: "Durable segment bytes not yet in long-term storage."},
			func() float64 { return float64(m.s.untieredBytes()) }),
	}
	r, err := cloudmetrics.RegisterAll(reg, cs...)
	if err != nil {
		return fmt.Errorf("stream: metrics: %w", err)
	}
	m.registration = r
	return nil
}

func (m *metrics) unregister() {
	m.registration.Unregister()
	m.registration = nil
}

// lagCollector reports each reader group's lag when scraped.
type lagCollector struct{ m *metrics }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.lagDesc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.s
	s.mu.RLock()
	groups := make([]*ReaderGroup, 0, len(s.groups))
	for _, g := range s.groups {
		groups = append(groups, g)
	}
	s.mu.RUnlock()
	for _, g := range groups {
		ch <- prometheus.MustNewConstMetric(c.m.lagDesc, prometheus.GaugeValue, float64(g.lag()), g.name, g.stream.name.Scope, g.stream.name.Stream)
	}
}

// segmentsCollector reports each stream's segment counts and the bytes
// held per tier when scraped.
type segmentsCollector struct{ m *metrics }

func (c segmentsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.m.segsDesc
	ch <- c.m.tierDesc
}

func (c segmentsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	var inLog, inLTS int64
	for _, st := range s.streams {
		active := len(st.active)
		ch <- prometheus.MustNewConstMetric(c.m.segsDesc, prometheus.GaugeValue, float64(active), st.name.Scope, st.name.Stream, "active")
		ch <- prometheus.MustNewConstMetric(c.m.segsDesc, prometheus.GaugeValue, float64(len(st.segments)-active), st.name.Scope, st.name.Stream, "sealed")
		for _, seg := range st.segments {
			seg.mu.Lock()
			tiered := max(seg.tiered, seg.start)
			inLTS += tiered - seg.start
			inLog += max(0, seg.end-tiered)
			seg.mu.Unlock()
		}
	}
	ch <- prometheus.MustNewConstMetric(c.m.tierDesc, prometheus.GaugeValue, float64(inLog), "log")
	ch <- prometheus.MustNewConstMetric(c.m.tierDesc, prometheus.GaugeValue, float64(inLTS), "lts")
}
