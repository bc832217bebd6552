package cluster

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	cloudmetrics "github.com/cloudskin/cloudskin/internal/metrics"
)

// metrics are the controller's own; every container's store has its
// stream_* metrics, labelled with the container.
type metrics struct {
	instances   prometheus.Gauge
	moves       prometheus.Counter
	moveSeconds prometheus.Histogram

	registration *cloudmetrics.Registration
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
	r, err := cloudmetrics.RegisterAll(reg, m.instances, m.moves, m.moveSeconds)
	if err != nil {
		return fmt.Errorf("stream cluster: metrics: %w", err)
	}
	m.registration = r
	return nil
}

func (m *metrics) unregister() {
	m.registration.Unregister()
	m.registration = nil
}
