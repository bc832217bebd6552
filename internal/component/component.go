// Package component defines how a part of the continuum plugs into
// `cloudskin up`: each part (control plane, node agents, and later GEDS,
// streams, cells, the learning plane, the dashboard) is a Component that
// receives a Host with the shared plumbing, registers its routes and
// metrics in Setup, and runs in Run until its context ends.
//
// Components never know about each other; they meet only through the Host
// (shared server, store, data directory) and through the control plane's API.
package component

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/store"
)

// Component is one part of the embedded continuum.
type Component interface {
	// Name identifies the component in logs and in the start-up report.
	Name() string
	// Setup registers routes, metrics and readiness checks on the host. It
	// starts no goroutines and may fail, in which case up stops before
	// serving anything.
	Setup(h *Host) error
	// Run does the component's work until ctx ends, then returns nil. An
	// error stops the whole continuum.
	Run(ctx context.Context) error
}

// Host is what the continuum gives each component.
type Host struct {
	Log *slog.Logger
	// Metrics registers with the cloudskin_ prefix already applied.
	Metrics prometheus.Registerer
	// Server is the control plane's HTTP server (routes, readiness checks).
	Server *httpserver.Server
	// Store is the control plane's state store.
	Store store.Store
	// DataDir is the root data directory; components use their own subdirectory.
	DataDir string
	// ControlPlaneURL is where the control plane's API answers, e.g. http://127.0.0.1:7070.
	ControlPlaneURL string

	endpoints []Endpoint
}

// Endpoint is something a component serves, shown to the user at start-up.
type Endpoint struct {
	Component string
	What      string
	URL       string
}

// Announce records an endpoint for the start-up report.
func (h *Host) Announce(component, what, url string) {
	h.endpoints = append(h.endpoints, Endpoint{Component: component, What: what, URL: url})
}

// Endpoints returns what has been announced, in order.
func (h *Host) Endpoints() []Endpoint { return h.endpoints }

// SubDir returns (and creates) the component's own data directory.
func (h *Host) SubDir(name string) (string, error) {
	dir := filepath.Join(h.DataDir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("data directory for %s: %w", name, err)
	}
	return dir, nil
}
