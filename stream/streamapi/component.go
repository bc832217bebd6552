package streamapi

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// Component runs a stream store inside `cloudskin up`: it opens the store in
// Setup (in Options.Dir, or <data>/streams), serves its API on the shared
// server, runs it (tiering, retention) and closes it when up stops.
type Component struct {
	opts  stream.Options
	store *stream.Store
}

// NewComponent returns the component. opts.Dir empty means <data>/streams;
// opts.LTS nil means a directory LTS in <dir>/lts, so that tiering and log
// truncation run in the embedded continuum too (set opts.LTS to S3 for
// storage that outlives the machine).
func NewComponent(opts stream.Options) *Component { return &Component{opts: opts} }

var _ component.Component = (*Component)(nil)

// Name implements component.Component.
func (c *Component) Name() string { return "stream" }

// Store returns the store once Setup has opened it.
func (c *Component) Store() *stream.Store { return c.store }

// Setup implements component.Component.
func (c *Component) Setup(h *component.Host) error {
	opts := c.opts
	if opts.Dir == "" {
		dir, err := h.SubDir("streams")
		if err != nil {
			return err
		}
		opts.Dir = dir
	}
	if opts.LTS == nil {
		d, err := lts.NewDir(filepath.Join(opts.Dir, "lts"))
		if err != nil {
			return err
		}
		opts.LTS = d
	}
	if opts.Log == nil {
		opts.Log = h.Log.With("component", "stream")
	}
	s, err := stream.Open(context.Background(), opts)
	if err != nil {
		return err
	}
	if err := s.Setup(h); err != nil {
		s.Close()
		return err
	}
	if h.Server != nil {
		NewHandler(s, opts.Log).Register(h.Server)
		h.Announce("stream", "stream store API", h.ControlPlaneURL+Base+"/scopes")
	}
	c.store = s
	return nil
}

// Run implements component.Component: it runs the store until ctx ends,
// then closes it.
func (c *Component) Run(ctx context.Context) error {
	if c.store == nil {
		return errors.New("stream: Run before Setup")
	}
	err := c.store.Run(ctx)
	if cerr := c.store.Close(); err == nil {
		err = cerr
	}
	return err
}
