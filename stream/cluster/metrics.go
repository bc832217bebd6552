package cluster

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the controller's own; every container's store has its
// stream_* metrics, labelled with the container.
type metrics struct {
	instances   prometheus.Gauge
	moves       prometheus.Counter
	moveSeconds prometheus.Histogram

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics() *metrics {
	return &metrics{
		instances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stream_cluster_instances", Help: "Segment-store instances hosting the containers.",
		}),
		moves: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stream_cluster_container_moves_total", Help: "Containers moved from one instance to another.",
		}),
		moveSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "stream_cluster_container_move_seconds", Help: "Time a container refused requests while it moved (close, then replay on the target).",
			Buckets: prometheus.ExponentialBuckets(1e-3, 2, 14),
		}),
	}
}

func (m *metrics) moved(took time.Duration) {
	m.moves.Inc()
	m.moveSeconds.Observe(took.Seconds())
}

func (m *metrics) register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{m.instances, m.moves, m.moveSeconds}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("stream cluster: metrics: %w", err)
		}
	}
	m.reg, m.registered = reg, cs
	return nil
}

func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}
