// Package plane is the Learning Plane as a component of the continuum: it
// serves the model registry, the Agent resources with their logs, and the
// scaling and pre-warming recommendations over REST, and runs every
// agent on its trigger until the agent is deleted or the continuum stops.
package plane

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/learning/agent"
	"github.com/cloudskin/cloudskin/learning/registry"
	"github.com/cloudskin/cloudskin/telemetry"
)

// Options wire the plane to the rest of the continuum.
type Options struct {
	// Querier reads telemetry (sensors, recommendation queries); called
	// when needed, so the observer may be set up after the plane.
	Querier func() telemetry.Querier
	// NBI is the orchestrator's API, as the agents' actuator; Migrations
	// answers migration recommendations. A *client.Client is both.
	NBI        agent.NBI
	Migrations agent.MigrationAdvisor
	// SyncEvery is how often the list of agents is re-read; default 1 s.
	SyncEvery time.Duration
}

// Plane is the Learning Plane component.
type Plane struct {
	opts     Options
	log      *slog.Logger
	registry *registry.Registry
	agents   *agent.Store
}

var _ component.Component = (*Plane)(nil)

// New returns the plane; Setup connects it to the store.
func New(opts Options) *Plane {
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = time.Second
	}
	return &Plane{opts: opts}
}

// Name implements component.Component.
func (p *Plane) Name() string { return "learning-plane" }

// Registry is the model registry (after Setup).
func (p *Plane) Registry() *registry.Registry { return p.registry }

// Agents is the agents' store (after Setup).
func (p *Plane) Agents() *agent.Store { return p.agents }

// Setup keeps the registry and agents in the host's store and mounts the
// API.
func (p *Plane) Setup(h *component.Host) error {
	p.log = h.Log.With("component", p.Name())
	p.registry = registry.New(h.Store, time.Now)
	p.agents = agent.NewStore(h.Store, time.Now)
	p.routes(h)
	h.Announce(p.Name(), "models, agents, scaling and pre-warm recommendations", h.ControlPlaneURL+"/api/v1/agents")
	return nil
}

// Run runs every agent until ctx ends.
func (p *Plane) Run(ctx context.Context) error {
	s := &scheduler{plane: p, loops: map[string]*loop{}}
	defer s.stopAll()
	t := time.NewTicker(p.opts.SyncEvery)
	defer t.Stop()
	for {
		s.sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// scheduler keeps one goroutine per agent, restarted when its spec
// changes (its generation) and stopped when it is deleted.
type scheduler struct {
	plane *Plane
	loops map[string]*loop
}

type loop struct {
	generation int64
	cancel     context.CancelFunc
	done       chan struct{}
}

func (s *scheduler) sync(ctx context.Context) {
	list, err := s.plane.agents.List(ctx)
	if err != nil {
		s.plane.log.Warn("listing agents", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, a := range list {
		name := a.Metadata.Name
		seen[name] = true
		if l, ok := s.loops[name]; ok && l.generation == a.Metadata.Generation {
			continue
		}
		s.stop(name)
		lctx, cancel := context.WithCancel(ctx)
		l := &loop{generation: a.Metadata.Generation, cancel: cancel, done: make(chan struct{})}
		s.loops[name] = l
		go func() {
			defer close(l.done)
			s.plane.runAgent(lctx, a)
		}()
	}
	for name := range s.loops {
		if !seen[name] {
			s.stop(name)
		}
	}
}

func (s *scheduler) stop(name string) {
	if l, ok := s.loops[name]; ok {
		l.cancel()
		<-l.done
		delete(s.loops, name)
	}
}

func (s *scheduler) stopAll() {
	var wg sync.WaitGroup
	for _, l := range s.loops {
		l.cancel()
		wg.Go(func() { <-l.done })
	}
	wg.Wait()
}

// runAgent ticks one agent on its trigger until ctx ends.
func (p *Plane) runAgent(ctx context.Context, a v1alpha1.Agent) {
	name, gen := a.Metadata.Name, a.Metadata.Generation
	log := p.log.With("agent", name)
	deps := agent.Deps{Querier: p.querier, Registry: p.registry, NBI: p.opts.NBI, Migrations: p.opts.Migrations, Log: log}
	r, err := agent.NewRunner(a, deps, time.Now())
	if err != nil {
		p.record(ctx, name, gen, v1alpha1.AgentTick{Time: time.Now().UTC(), Decision: "no decision", Action: "none", Error: err.Error()}, 0)
		return // until the spec changes
	}
	last := a.Status.LastTick
	for {
		next, err := agent.Next(a.Spec.Trigger, last, time.Now())
		if err != nil {
			log.Error("agent trigger", "err", err)
			return
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		now := time.Now()
		t, version := r.Tick(ctx, now)
		if ctx.Err() != nil {
			return // cut short by a change or shutdown: not a tick to log
		}
		p.record(ctx, name, gen, t, version)
		log.Info("agent tick", "decision", t.Decision, "action", t.Action, "err", t.Error)
		last = &now
	}
}

func (p *Plane) record(ctx context.Context, name string, gen int64, t v1alpha1.AgentTick, version int) {
	if err := p.agents.Record(ctx, name, gen, t, version); err != nil && ctx.Err() == nil {
		p.log.Warn("recording agent tick", "agent", name, "err", err)
	}
}

func (p *Plane) querier() telemetry.Querier {
	if p.opts.Querier == nil {
		return nil
	}
	return p.opts.Querier()
}
