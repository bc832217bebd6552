package agent

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell"
)

// cellUsage exports each running cell's CPU time and memory, read from
// its cell.Usage at every scrape (a collector, not gauges set in a loop,
// so the values are as fresh as the scrape).
type cellUsage struct {
	site   string
	cpu    *prometheus.Desc
	memory *prometheus.Desc

	mu    sync.Mutex
	cells map[string]trackedCell // by run name
}

type trackedCell struct {
	labels []string
	usage  *cell.Usage
}

var usageLabels = []string{"workload", "application", "component", "block", "replica"}

func newCellUsage(site string) *cellUsage {
	constLabels := prometheus.Labels{"site": site}
	return &cellUsage{
		site: site,
		cpu: prometheus.NewDesc("cell_cpu_seconds_total",
			"CPU time a running cell has taken at this site (its guest code and host functions; an MPI world's ranks together).",
			usageLabels, constLabels),
		memory: prometheus.NewDesc("cell_memory_bytes",
			"Linear memory of a running cell (an MPI world's ranks together), as of its last host call.",
			usageLabels, constLabels),
		cells: map[string]trackedCell{},
	}
}

// track starts measuring a run and returns the Usage its cell fills.
func (c *cellUsage) track(run v1alpha1.CellRun) *cell.Usage {
	l := run.Metadata.Labels
	u := &cell.Usage{}
	c.mu.Lock()
	c.cells[run.Metadata.Name] = trackedCell{
		labels: []string{run.Metadata.Name, l[v1alpha1.LabelApplication], l[v1alpha1.LabelComponent], l[v1alpha1.LabelBlock], l[v1alpha1.LabelIndex]},
		usage:  u,
	}
	c.mu.Unlock()
	return u
}

// forget stops exporting a run that no longer runs here.
func (c *cellUsage) forget(run v1alpha1.CellRun) {
	c.mu.Lock()
	delete(c.cells, run.Metadata.Name)
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *cellUsage) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.cpu
	ch <- c.memory
}

// Collect implements prometheus.Collector.
func (c *cellUsage) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.cells {
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, t.usage.CPU().Seconds(), t.labels...)
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(t.usage.Memory()), t.labels...)
	}
}
