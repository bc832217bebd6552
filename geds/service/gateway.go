package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gateway"
	"github.com/cloudskin/cloudskin/internal/component"
)

// DefaultS3Listen is where the S3 gateway listens unless told otherwise.
const DefaultS3Listen = "127.0.0.1:7071"

// GatewayConfig configures the S3 gateway and the GEDS node behind it.
type GatewayConfig struct {
	// Listen is the S3 endpoint's address; "" means DefaultS3Listen.
	Listen string
	Keys   Keys
	// Dir is the node's tier 0 (and the gateway's multipart parts).
	Dir string
	// Limit is tier 0's size in bytes.
	Limit int64
	// NodeID names the node among GEDS holders; "" means "s3-gateway".
	NodeID string
	// Persistent is the persistency tier behind tier 0; nil means none.
	Persistent geds.Persistent
	// MetadataURL is the metadata server; "" means the control plane's.
	MetadataURL string
	// Listener, when set, is used instead of listening on Listen.
	Listener net.Listener
}

// Gateway is the S3 gateway as a component: it listens in Setup and, in
// Run, opens its GEDS node (once the metadata server answers) and serves.
type Gateway struct {
	cfg     GatewayConfig
	ln      net.Listener
	log     *slog.Logger
	metrics prometheus.Registerer
}

var _ component.Component = (*Gateway)(nil)

// NewGateway returns the gateway component.
func NewGateway(cfg GatewayConfig) *Gateway {
	if cfg.Listen == "" {
		cfg.Listen = DefaultS3Listen
	}
	if cfg.NodeID == "" {
		cfg.NodeID = "s3-gateway"
	}
	return &Gateway{cfg: cfg}
}

func (g *Gateway) Name() string { return "geds-gateway" }

// URL is the S3 endpoint, once Setup has listened.
func (g *Gateway) URL() string { return "http://" + g.ln.Addr().String() }

func (g *Gateway) Setup(h *component.Host) error {
	if g.cfg.Keys.AccessKey == "" || g.cfg.Keys.SecretKey == "" {
		return errors.New("geds gateway: no S3 keys")
	}
	ln := g.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", g.cfg.Listen); err != nil {
			return fmt.Errorf("geds gateway: listen on %s: %w", g.cfg.Listen, err)
		}
	}
	g.ln, g.log, g.metrics = ln, h.Log.With("component", g.Name()), h.Metrics
	if g.cfg.MetadataURL == "" {
		g.cfg.MetadataURL = h.ControlPlaneURL
	}
	h.Announce(g.Name(), "S3 endpoint", g.URL())
	return nil
}

// Run serves S3 until ctx ends.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.ln.Close()
	client, err := g.openNode(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer client.Close()
	gw, err := gateway.New(gateway.Config{
		AccessKey: g.cfg.Keys.AccessKey, SecretKey: g.cfg.Keys.SecretKey,
		Backend: NewBackend(client), Log: g.log,
	})
	if err != nil {
		return err
	}
	defer gw.Close()
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(g.ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("geds gateway: %w", err)
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(stop); err != nil {
		srv.Close()
	}
	return nil
}

// openNode opens the GEDS node behind the gateway, waiting for the
// metadata server, which may start at the same time.
func (g *Gateway) openNode(ctx context.Context) (*geds.Client, error) {
	c, err := OpenNode(ctx, geds.Options{
		NodeID: g.cfg.NodeID, Dir: g.cfg.Dir, Limit: g.cfg.Limit, MetadataURL: g.cfg.MetadataURL,
		Persistent: g.cfg.Persistent, Metrics: g.metrics, Log: g.log,
	})
	if err != nil {
		return nil, fmt.Errorf("geds gateway: %w", err)
	}
	return c, nil
}

// OpenNode opens a GEDS node in a process that also runs the metadata
// server (`cloudskin up`): it waits, with growing pauses, while the server
// cannot be reached yet, and fails at once on any other error, or when ctx
// ends.
func OpenNode(ctx context.Context, opts geds.Options) (*geds.Client, error) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		c, err := geds.Open(ctx, opts)
		if err == nil {
			return c, nil
		}
		var netErr net.Error
		if !errors.As(err, &netErr) {
			return nil, err
		}
		if opts.Log != nil {
			opts.Log.Debug("waiting for the GEDS metadata server", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}
