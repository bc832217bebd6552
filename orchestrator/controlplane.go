package orchestrator

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/orchestrator/apps"
	"github.com/cloudskin/cloudskin/orchestrator/catalog"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
	"github.com/cloudskin/cloudskin/orchestrator/sites"
	"github.com/cloudskin/cloudskin/store"
)

// Options configure the control plane.
type Options struct {
	// NotReadyAfter is the agent silence after which a site is NotReady.
	NotReadyAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// WatchInterval is how often phase changes are looked for and logged; 0 means 1 s.
	WatchInterval time.Duration
	// Observe returns the latest measurements of an application's QoS
	// objectives (see reconcile.App.Observed); nil measures nothing.
	Observe func(ctx context.Context, a v1alpha1.Application) map[string]float64
	// Recommend, when set, is the Learning Plane's placement
	// recommendation API: placement then uses the learning scorer (the
	// heuristic plus the Learning Plane's rank of each site for components
	// whose application has objectives).
	Recommend func(ctx context.Context, req v1alpha1.PlacementRecommendationRequest) (v1alpha1.PlacementRecommendation, error)
	// Checkpoints, when set, keeps cell runs' checkpoints (spec.cells.checkpoints);
	// nil keeps them in a directory under the data directory.
	Checkpoints cells.Checkpoints
}

// ControlPlane is the orchestrator as a continuum component.
type ControlPlane struct {
	opts    Options
	log     *slog.Logger
	sites   *sites.Registry
	cells   *cells.Registry
	catalog *catalog.Catalog
	store   store.Store
	kube    kubeSites
	apps    *apps.Registry
	observe func(ctx context.Context, a v1alpha1.Application) map[string]float64

	// reconcileMu makes reconciliation passes one at a time (the loop and
	// API calls that ask for a pass).
	reconcileMu  sync.Mutex
	migratableMu sync.Mutex
	migratable   map[string]bool // by module digest
	// recommendations caches the Learning Plane's answers for a while.
	recommendations map[string]cachedRecommendation
	// started is when Run began: sites are not judged lost before they
	// had the time to heartbeat to this control plane.
	started time.Time
}

var _ component.Component = (*ControlPlane)(nil)

// New returns a control plane; Setup connects it to a host.
func New(opts Options) *ControlPlane {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WatchInterval == 0 {
		opts.WatchInterval = time.Second
	}
	return &ControlPlane{opts: opts, observe: opts.Observe, migratable: map[string]bool{}, recommendations: map[string]cachedRecommendation{}}
}

// Name implements component.Component.
func (cp *ControlPlane) Name() string { return "control-plane" }

// Setup mounts the API and the site metrics.
func (cp *ControlPlane) Setup(h *component.Host) error {
	cp.log = h.Log.With("component", cp.Name())
	cp.sites = sites.NewRegistry(h.Store, cp.opts.NotReadyAfter, cp.opts.Now)
	modules, err := h.SubDir("modules")
	if err != nil {
		return err
	}
	cp.cells = cells.NewRegistry(h.Store, modules, cp.opts.Now, cp.opts.Checkpoints)
	cp.catalog = catalog.New(h.Store, cp.opts.Now)
	cp.store = h.Store
	cp.apps = apps.NewRegistry(h.Store, cp.opts.Now)
	cp.routes(h)
	cp.cellRoutes(h)
	cp.appRoutes(h)
	cp.openAPIRoutes(h)
	if err := h.Metrics.Register(newSiteCollector(cp.sites, cp.log)); err != nil {
		return fmt.Errorf("control plane metrics: %w", err)
	}
	h.Server.AddReadinessCheck("store", func(ctx context.Context) error {
		_, err := h.Store.List(ctx, "/ready-probe/")
		return err
	})
	h.Announce(cp.Name(), "API", h.ControlPlaneURL+"/api/v1")
	h.Announce(cp.Name(), "metrics", h.ControlPlaneURL+"/metrics")
	return nil
}

// Run reconciles applications and logs every change of a site's phase
// until ctx ends.
func (cp *ControlPlane) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { cp.reconcileLoop(ctx) })
	ticker := time.NewTicker(cp.opts.WatchInterval)
	defer ticker.Stop()
	cp.started = cp.opts.Now()
	last := map[string]v1alpha1.SitePhase{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		list, err := cp.sites.List(ctx)
		if err != nil {
			if ctx.Err() == nil {
				cp.log.Warn("watching sites", "err", err)
			}
			continue
		}
		cp.pingKubeSites(ctx, list)
		for _, s := range list {
			name, phase := s.Metadata.Name, s.Status.Phase
			if last[name] != phase {
				cp.log.Info("site phase changed", "site", name, "from", string(last[name]), "to", string(phase), "reason", s.Status.Message)
				last[name] = phase
			}
		}
		cp.recoverCells(ctx, list)
	}
}

// recoverCells resumes elsewhere, from their checkpoints, the cells of
// sites that are lost (NotReady), and fails those without a checkpoint.
func (cp *ControlPlane) recoverCells(ctx context.Context, list []v1alpha1.Site) {
	lost := map[string]bool{}
	var ready []string
	for _, s := range list {
		switch s.Status.Phase {
		case v1alpha1.SiteReady:
			ready = append(ready, s.Metadata.Name)
		default:
			lost[s.Metadata.Name] = true
		}
	}
	// After a restart every site looks silent until its next heartbeat.
	if len(lost) == 0 || cp.opts.Now().Sub(cp.started) < 2*cp.opts.NotReadyAfter {
		return
	}
	changed, decisions, err := cp.cells.Recover(ctx, func(site string) bool { return lost[site] }, ready)
	if err != nil && ctx.Err() == nil {
		cp.log.Warn("recovering cells of lost sites", "err", err)
	}
	for i, c := range changed {
		cp.log.Warn("cell of a lost site", "cell", c.Metadata.Name, "decision", string(decisions[i]), "to", c.Spec.Site, "attempt", c.Status.Attempt, "message", c.Status.Message)
	}
}
