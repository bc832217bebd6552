package agent

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell"
)

// cellUsage exports each running cell's CPU time and memory, read from
// its cell.Usage at every scrape (a collector, not gauges set in a loop,
// so the values are as fresh as the scrape), and the same for each
// running native process, read from /proc.
type cellUsage struct {
	site   string
	cpu    *prometheus.Desc
	memory *prometheus.Desc

	mu    sync.Mutex
	cells map[string]trackedCell // by run name
}

type trackedCell struct {
	labels []string
	// read answers the run's CPU time and memory now.
	read func() (cpu time.Duration, memory int64)
}

var usageLabels = []string{"workload", "application", "component", "block", "replica"}

func newCellUsage(site string) *cellUsage {
	constLabels := prometheus.Labels{"site": site}
	return &cellUsage{
		site: site,
		cpu: prometheus.NewDesc("cell_cpu_seconds_total",
			"CPU time a running cell has taken at this site (its guest code and host functions; an MPI world's ranks together; for a native process, its user and system time and that of the children it waited for).",
			usageLabels, constLabels),
		memory: prometheus.NewDesc("cell_memory_bytes",
			"Linear memory of a running cell (an MPI world's ranks together), as of its last host call; for a native process, its resident set.",
			usageLabels, constLabels),
		cells: map[string]trackedCell{},
	}
}

// track starts measuring a run and returns the Usage its cell fills.
func (c *cellUsage) track(run v1alpha1.CellRun) *cell.Usage {
	u := &cell.Usage{}
	c.add(run, func() (time.Duration, int64) { return u.CPU(), u.Memory() })
	return u
}

// trackProcess starts measuring a run that is the native process pid.
// A process that has exited reads as zero until the run is forgotten.
func (c *cellUsage) trackProcess(run v1alpha1.CellRun, pid int) {
	c.add(run, func() (time.Duration, int64) {
		cpu, rss, err := processUsage(pid)
		if err != nil {
			return 0, 0
		}
		return cpu, rss
	})
}

func (c *cellUsage) add(run v1alpha1.CellRun, read func() (time.Duration, int64)) {
	l := run.Metadata.Labels
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cells[run.Metadata.Name] = trackedCell{
		labels: []string{run.Metadata.Name, l[v1alpha1.LabelApplication], l[v1alpha1.LabelComponent], l[v1alpha1.LabelBlock], l[v1alpha1.LabelIndex]},
		read:   read,
	}
}

// processUsage is a process's CPU time (its own and its waited-for
// children's, user and system) and resident memory, from /proc.
func processUsage(pid int) (time.Duration, int64, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return 0, 0, err
	}
	children := float64(st.CUTime+st.CSTime) / userHZ
	cpu := time.Duration((st.CPUTime() + children) * float64(time.Second))
	return cpu, int64(st.ResidentMemory()), nil
}

// userHZ is the kernel's clock tick for /proc times (procfs assumes the
// same: USER_HZ is 100 on every Linux architecture Go supports).
const userHZ = 100

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
		cpu, memory := t.read()
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, cpu.Seconds(), t.labels...)
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(memory), t.labels...)
	}
}
