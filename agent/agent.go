// Package agent is the node agent (kubelet-like): it serves one site,
// registers it with the control plane and heartbeats. When the control plane
// is unreachable it keeps going (edge autonomy: later it keeps its workloads
// running) and re-registers as soon as it can.
//
// An agent talks to the control plane only through the public API client,
// whether it runs inside `cloudskin up` or alone (`cloudskin agent`), so the
// embedded continuum exercises the same path as a real multi-host one.
package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/mpi"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/version"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

// Agent serves one site.
type Agent struct {
	site     v1alpha1.Site
	interval time.Duration
	server   string // control plane URL; "" means the host's
	token    string // bearer token for the control plane, if it asks for one
	// allowProcesses lets the agent run blocks of type process: native
	// programs with the agent's rights, so off unless asked for.
	allowProcesses bool

	log        *slog.Logger
	client     *client.Client
	cacheDir   string // compiled cells and the modules they came from
	heartbeats *prometheus.CounterVec
	qos        *prometheus.GaugeVec // what cells report with cloudskin_metric
	running    prometheus.Gauge     // cells running here now
	usage      *cellUsage           // each running cell's CPU and memory
	streams    cell.Streams         // the stream store cells read and append to
	info       v1alpha1.AgentInfo

	// Moving single ranks of MPI worlds (ranks.go): the listener where
	// other sites' agents fetch ranks moving there, the home that serves
	// them, and each running run's moves.
	rankListen string
	rankLn     net.Listener
	home       *mpi.Home
	ranks      rankBooks

	// cores counts the site's busy cores for elastic grants (cores.go).
	cores coreBook
}

var _ component.Component = (*Agent)(nil)

// New returns an agent for site that heartbeats every interval to the
// control plane at server ("" means the one on the same host).
func New(site v1alpha1.Site, interval time.Duration, server string) (*Agent, error) {
	if err := site.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if interval <= 0 {
		return nil, fmt.Errorf("agent: heartbeat interval %s must be positive", interval)
	}
	hostname, _ := os.Hostname()
	return &Agent{
		site:     site,
		interval: interval,
		server:   server,
		info:     v1alpha1.AgentInfo{Version: version.Get().Version, Hostname: hostname},
	}, nil
}

// SetMetricsURL tells the control plane where to scrape the agent's
// metrics, for an agent serving them itself.
func (a *Agent) SetMetricsURL(u string) { a.info.MetricsURL = u }

// AllowProcesses lets the agent run native processes (blocks of type
// process) as well as cells.
func (a *Agent) AllowProcesses(on bool) { a.allowProcesses = on }

// SetToken gives the agent the bearer token it sends the control plane
// (an operator's, when the API requires tokens).
func (a *Agent) SetToken(token string) { a.token = token }

// Name implements component.Component.
func (a *Agent) Name() string { return "agent/" + a.site.Metadata.Name }

// Setup connects the agent to its control plane and registers its metrics.
func (a *Agent) Setup(h *component.Host) error {
	a.log = h.Log.With("component", a.Name())
	server := a.server
	if server == "" {
		server = h.ControlPlaneURL
	}
	c, err := client.New(server)
	if err != nil {
		return fmt.Errorf("%s: %w", a.Name(), err)
	}
	a.client = c.WithToken(a.token)
	a.cacheDir = cell.DefaultCacheDir()
	if h.DataDir != "" {
		if a.cacheDir, err = h.SubDir("cells"); err != nil {
			return err
		}
	}
	a.heartbeats = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        "agent_heartbeats_total",
		Help:        "Heartbeats and registrations the agent sent, by result.",
		ConstLabels: prometheus.Labels{"site": a.site.Metadata.Name},
	}, []string{"result"})
	a.qos = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        "cell_qos",
		Help:        "The last value of each QoS metric a running cell reported with cloudskin_metric (fps, latency_ms...).",
		ConstLabels: prometheus.Labels{"site": a.site.Metadata.Name},
	}, []string{"workload", "application", "component", "block", "replica", "metric"})
	a.running = prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "agent_cells_running",
		Help:        "Cell runs this agent is running now (an MPI world counts once).",
		ConstLabels: prometheus.Labels{"site": a.site.Metadata.Name},
	})
	a.usage = newCellUsage(a.site.Metadata.Name)
	for _, c := range []prometheus.Collector{a.heartbeats, a.qos, a.running, a.usage} {
		if err := h.Metrics.Register(c); err != nil {
			return fmt.Errorf("%s metrics: %w", a.Name(), err)
		}
	}
	sc, err := streamapi.NewClient(server, a.token)
	if err != nil {
		return fmt.Errorf("%s: %w", a.Name(), err)
	}
	a.streams = cell.StreamsFromAPI(sc)
	if err := a.listenRanks(); err != nil {
		return err
	}
	h.Announce(a.Name(), string(a.site.Spec.Type)+" site", server+"/api/v1/sites/"+a.site.Metadata.Name)
	return nil
}

// Run registers the site, then heartbeats every interval and runs the cell
// runs assigned to the site, until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	cellsDone := make(chan struct{})
	go func() { defer close(cellsDone); a.runCells(ctx) }()
	defer func() { <-cellsDone; a.client.Close() }()
	ticker := time.NewTicker(a.interval)
	defer ticker.Stop()
	registered, connected := false, true
	for {
		err := a.beat(ctx, &registered)
		if ctx.Err() != nil {
			return nil
		}
		connected = a.logConnectivity(err, connected)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// beat registers the site if needed, else heartbeats. A control plane that
// forgot the site (404) gets it registered again on the next beat.
func (a *Agent) beat(ctx context.Context, registered *bool) error {
	if !*registered {
		site := a.site
		site.Status.Agent = a.info
		if _, err := a.client.RegisterSite(ctx, site); err != nil {
			a.heartbeats.WithLabelValues("register_error").Inc()
			return err
		}
		a.heartbeats.WithLabelValues("registered").Inc()
		a.log.Info("site registered with control plane", "server", a.client.Server())
		*registered = true
		return nil
	}
	_, err := a.client.Heartbeat(ctx, a.site.Metadata.Name, v1alpha1.Heartbeat{Agent: a.info})
	if client.IsNotFound(err) {
		*registered = false
	}
	if err != nil {
		a.heartbeats.WithLabelValues("error").Inc()
		return err
	}
	a.heartbeats.WithLabelValues("ok").Inc()
	return nil
}

// logConnectivity logs only changes, so an outage is one line, not one per beat.
func (a *Agent) logConnectivity(err error, wasConnected bool) bool {
	switch {
	case err != nil && wasConnected:
		a.log.Warn("control plane unreachable; will keep trying", "err", err)
		return false
	case err == nil && !wasConnected:
		a.log.Info("control plane reachable again")
		return true
	}
	return wasConnected
}
