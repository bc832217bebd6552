package orchestrator

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/sites"
)

// siteCollector exports each site's state at scrape time, so the numbers are
// read from the same registry the API answers from and can never drift.
type siteCollector struct {
	sites *sites.Registry
	log   *slog.Logger

	ready, cores, memory, lastHeartbeat *prometheus.Desc
}

func newSiteCollector(r *sites.Registry, log *slog.Logger) *siteCollector {
	labels := []string{"site", "type"}
	return &siteCollector{
		sites:         r,
		log:           log,
		ready:         prometheus.NewDesc("site_ready", "1 if the site's agent heartbeats within the limit, else 0.", labels, nil),
		cores:         prometheus.NewDesc("site_capacity_cores", "Cores the site declares.", labels, nil),
		memory:        prometheus.NewDesc("site_capacity_memory_bytes", "Memory the site declares.", labels, nil),
		lastHeartbeat: prometheus.NewDesc("site_last_heartbeat_timestamp_seconds", "Unix time of the site's last heartbeat.", labels, nil),
	}
}

func (c *siteCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ready
	ch <- c.cores
	ch <- c.memory
	ch <- c.lastHeartbeat
}

func (c *siteCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	list, err := c.sites.List(ctx)
	if err != nil {
		c.log.Warn("collecting site metrics", "err", err)
		return
	}
	for _, s := range list {
		lv := []string{s.Metadata.Name, string(s.Spec.Type)}
		ready := 0.0
		if s.Status.Phase == v1alpha1.SiteReady {
			ready = 1
		}
		ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready, lv...)
		ch <- prometheus.MustNewConstMetric(c.cores, prometheus.GaugeValue, float64(s.Spec.Capacity.Cores), lv...)
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, s.Spec.Capacity.Memory.AsApproximateFloat64(), lv...)
		if hb := s.Status.LastHeartbeatTime; hb != nil {
			ch <- prometheus.MustNewConstMetric(c.lastHeartbeat, prometheus.GaugeValue, float64(hb.UnixNano())/1e9, lv...)
		}
	}
}
