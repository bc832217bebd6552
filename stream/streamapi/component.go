package streamapi

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// Component runs the stream store inside `cloudskin up`: it opens it in
// Setup (in Options.Store.Dir, or <data>/streams) as a single store or as a
// cluster of segment-store instances (see OpenBackend); serves its API, the
// instance API included, on the shared server; runs it (tiering,
// retention); and closes it when up stops.
type Component struct {
	opts    BackendOptions
	backend Backend
}

// NewComponent returns the component. opts.Store.Dir empty means
// <data>/streams; opts.Store.LTS nil means a directory LTS in <dir>/lts, so
// that tiering and log truncation run in the embedded continuum too (set
// it to S3 for storage that outlives the machine).
func NewComponent(opts BackendOptions) *Component { return &Component{opts: opts} }

var _ component.Component = (*Component)(nil)

// Name implements component.Component.
func (c *Component) Name() string { return "stream" }

// Service returns the store as the front ends serve it, once Setup has
// opened it (nil before). A cluster's is also a stream.InstanceScaler.
func (c *Component) Service() stream.Service {
	if c.backend == nil {
		return nil
	}
	return c.backend.Service()
}

// Setup implements component.Component.
func (c *Component) Setup(h *component.Host) error {
	opts := c.opts
	if opts.Store.Dir == "" {
		dir, err := h.SubDir("streams")
		if err != nil {
			return err
		}
		opts.Store.Dir = dir
	}
	if opts.Store.LTS == nil {
		d, err := lts.NewDir(filepath.Join(opts.Store.Dir, "lts"))
		if err != nil {
			return err
		}
		opts.Store.LTS = d
	}
	if opts.Store.Log == nil {
		opts.Store.Log = h.Log.With("component", "stream")
	}
	b, _, err := OpenBackend(context.Background(), opts)
	if err != nil {
		return err
	}
	if err := b.Setup(h); err != nil {
		b.Close()
		return err
	}
	if h.Server != nil {
		NewHandler(b.Service(), opts.Store.Log).Register(h.Server)
		h.Announce("stream", "stream store API", h.ControlPlaneURL+Base+"/scopes")
	}
	c.backend = b
	return nil
}

// Run implements component.Component: it runs the store until ctx ends,
// then closes it.
func (c *Component) Run(ctx context.Context) error {
	if c.backend == nil {
		return errors.New("stream: Run before Setup")
	}
	err := c.backend.Run(ctx)
	if cerr := c.backend.Close(); err == nil {
		err = cerr
	}
	return err
}
