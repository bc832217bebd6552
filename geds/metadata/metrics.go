package metadata

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reports the namespace's shape at scrape time: objects by state
// and tier, bytes by tier, holders by liveness. It reads the store on every
// scrape (one pass over the objects), which keeps the numbers exact and
// needs no counters kept in step with writes.
type collector struct {
	reg     *registry
	log     *slog.Logger
	objects *prometheus.Desc
	bytes   *prometheus.Desc
	holders *prometheus.Desc
}

func newCollector(reg *registry, log *slog.Logger) *collector {
	return &collector{
		reg: reg, log: log,
		objects: prometheus.NewDesc("geds_metadata_objects", "GEDS objects known to the metadata server, by state and tier.", []string{"state", "tier"}, nil),
		bytes:   prometheus.NewDesc("geds_metadata_bytes", "Bytes of sealed GEDS objects, by tier (local, s3, both).", []string{"tier"}, nil),
		holders: prometheus.NewDesc("geds_metadata_holders", "GEDS holders registered with the metadata server, by liveness.", []string{"alive"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.objects
	ch <- c.bytes
	ch <- c.holders
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	holders, err := c.reg.listHolders(ctx)
	if err != nil {
		c.log.Warn("GEDS metadata metrics", "err", err)
		return
	}
	alive := map[bool]float64{true: 0, false: 0}
	for _, h := range holders {
		alive[h.Alive]++
	}
	for a, n := range alive {
		label := "false"
		if a {
			label = "true"
		}
		ch <- prometheus.MustNewConstMetric(c.holders, prometheus.GaugeValue, n, label)
	}
	kvs, err := c.reg.st.List(ctx, objectsPrefix)
	if err != nil {
		c.log.Warn("GEDS metadata metrics", "err", err)
		return
	}
	type stateTier struct {
		state State
		tier  Tier
	}
	counts := map[stateTier]float64{}
	bytes := map[Tier]float64{TierLocal: 0, TierS3: 0, TierBoth: 0}
	for _, kv := range kvs {
		var o Object
		if json.Unmarshal(kv.Value, &o) != nil {
			continue // reported by the API paths that read it
		}
		counts[stateTier{o.State, o.Tier}]++
		if o.State == StateSealed {
			bytes[o.Tier] += float64(o.Size)
		}
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.objects, prometheus.GaugeValue, n, string(k.state), string(k.tier))
	}
	for t, n := range bytes {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, n, string(t))
	}
}
