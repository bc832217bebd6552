package telemetry

import (
	"context"
	"fmt"

	"github.com/cloudskin/cloudskin/internal/component"
)

// Component runs a Service inside `cloudskin up`: its store in the data
// directory under tsdb/, its query API on the control plane's server.
type Component struct {
	opts Options
	// targets lists what to scrape besides the server's own /metrics.
	targets func(context.Context) ([]Target, error)
	svc     *Service
}

var _ component.Component = (*Component)(nil)

// NewComponent returns the observer; opts.Dir, Logger and Registerer are
// filled in from the host, and the control plane's own /metrics is always
// scraped (job "cloudskin") besides what more lists.
func NewComponent(opts Options, more func(context.Context) ([]Target, error)) *Component {
	return &Component{opts: opts, targets: more}
}

// Name implements component.Component.
func (c *Component) Name() string { return "telemetry" }

// Setup opens the store and mounts the query API.
func (c *Component) Setup(h *component.Host) error {
	opts := c.opts
	if opts.RemoteURL == "" {
		dir, err := h.SubDir("tsdb")
		if err != nil {
			return err
		}
		opts.Dir = dir
	}
	opts.Logger = h.Log.With("component", c.Name())
	opts.Registerer = h.Metrics
	self := Target{Job: "cloudskin", URL: h.ControlPlaneURL + "/metrics"}
	opts.Targets = func(ctx context.Context) ([]Target, error) {
		ts := []Target{self}
		if c.targets == nil {
			return ts, nil
		}
		more, err := c.targets(ctx)
		return append(ts, more...), err
	}
	svc, err := NewService(opts)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	c.svc = svc
	svc.Routes(h.Server)
	where := "embedded TSDB"
	if opts.RemoteURL != "" {
		where = opts.RemoteURL
	}
	h.Announce(c.Name(), "PromQL ("+where+")", h.ControlPlaneURL+"/api/v1/query")
	return nil
}

// Run scrapes until ctx ends.
func (c *Component) Run(ctx context.Context) error { return c.svc.Run(ctx) }

// Querier answers PromQL; valid after Setup.
func (c *Component) Querier() Querier { return c.svc.Querier() }
