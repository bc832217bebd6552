// Package continuum runs components together in one process: it listens,
// builds the shared Host (logger, metrics, HTTP server, store, data
// directory), sets every component up, reports what it started and where,
// and runs them until the context ends, then shuts everything down.
//
// `cloudskin up` (Up) is the control plane plus one agent per configured
// site; `cloudskin agent` is the same runtime with a single agent. A new
// part of the continuum joins by being added to the component list in Up;
// no other component changes.
package continuum

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"text/tabwriter"

	"golang.org/x/sync/errgroup"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/internal/version"
	"github.com/cloudskin/cloudskin/store"
)

// Runtime is a listening server with its Host, ready to run components.
type Runtime struct {
	host   *component.Host
	server *httpserver.Server
	ln     net.Listener
	out    io.Writer
}

// Options configure a Runtime.
type Options struct {
	// Listen is host:port; port 0 picks a free one.
	Listen string
	// DataDir is handed to components.
	DataDir string
	// Store is the state store, or nil for components that need none.
	Store store.Store
	Log   *slog.Logger
	// Out receives the start-up report.
	Out io.Writer
}

// Listen binds the address and builds the Host. Binding first means the
// real address (for port 0) is known before any component is set up.
func Listen(opts Options) (*Runtime, error) {
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	v := version.Get()
	reg := metrics.New(v.Version, v.Commit)
	server := httpserver.New(opts.Log, reg)
	host := &component.Host{
		Log:             opts.Log,
		Metrics:         reg.Registerer,
		Server:          server,
		Store:           opts.Store,
		DataDir:         opts.DataDir,
		ControlPlaneURL: "http://" + ln.Addr().String(),
	}
	return &Runtime{host: host, server: server, ln: ln, out: opts.Out}, nil
}

// URL is the base URL the runtime serves on.
func (rt *Runtime) URL() string { return rt.host.ControlPlaneURL }

// Close releases the listener of a runtime that will not Run.
func (rt *Runtime) Close() error { return rt.ln.Close() }

// Run sets up every component, prints the start-up report, then serves and
// runs them until ctx ends or one fails. It returns after all have stopped.
func (rt *Runtime) Run(ctx context.Context, comps ...component.Component) error {
	for _, c := range comps {
		if err := c.Setup(rt.host); err != nil {
			rt.ln.Close()
			return fmt.Errorf("set up %s: %w", c.Name(), err)
		}
	}
	rt.report()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return rt.server.Serve(gctx, rt.ln) })
	for _, c := range comps {
		g.Go(func() error {
			if err := c.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", c.Name(), err)
			}
			return nil
		})
	}
	return g.Wait()
}

// report prints what runs where, as a table a person can scan.
func (rt *Runtime) report() {
	if rt.out == nil {
		return
	}
	tw := tabwriter.NewWriter(rt.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSERVES\tURL")
	for _, e := range rt.host.Endpoints() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Component, e.What, e.URL)
	}
	fmt.Fprintf(tw, "http\thealth, readiness\t%s/healthz, %s/readyz\n", rt.URL(), rt.URL())
	tw.Flush()
}
