// Package sites is the control plane's registry of sites: node agents
// register the site they serve and heartbeat; the registry persists sites in
// the store and derives each site's phase from how long its agent has been
// silent.
//
// The phase is computed when a site is read, from the last heartbeat and the
// injected clock, rather than written by a background timer: reads are then
// always current and tests need no sleeping.
package sites

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/store"
)

// keyPrefix is where sites live in the store.
const keyPrefix = "/sites/"

// ErrNotFound is returned (wrapped) for a site that is not registered.
var ErrNotFound = errors.New("site not registered")

// Phase decides a site's phase: Ready while the agent's silence is at most
// notReadyAfter, NotReady after, with a message saying how long it has been.
func Phase(lastHeartbeat, now time.Time, notReadyAfter time.Duration) (v1alpha1.SitePhase, string) {
	if lastHeartbeat.IsZero() {
		return v1alpha1.SiteNotReady, "no heartbeat received yet"
	}
	silence := now.Sub(lastHeartbeat)
	if silence <= notReadyAfter {
		return v1alpha1.SiteReady, ""
	}
	return v1alpha1.SiteNotReady, fmt.Sprintf("no heartbeat for %s (limit %s)", silence.Round(time.Second), notReadyAfter)
}

// Registry stores sites and their heartbeats.
type Registry struct {
	store         store.Store
	now           func() time.Time
	notReadyAfter time.Duration

	// mu serialises read-modify-write cycles on a site record.
	mu sync.Mutex
}

// NewRegistry returns a registry over s. now is the clock (time.Now in
// production); notReadyAfter is the silence after which a site is NotReady.
func NewRegistry(s store.Store, notReadyAfter time.Duration, now func() time.Time) *Registry {
	return &Registry{store: s, now: now, notReadyAfter: notReadyAfter}
}

// Register creates or updates a site from what its agent declares. The
// agent's registration counts as a heartbeat. It reports whether the site
// was new.
func (r *Registry) Register(ctx context.Context, site v1alpha1.Site) (v1alpha1.Site, bool, error) {
	if err := site.Validate(); err != nil {
		return v1alpha1.Site{}, false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().UTC()
	var stored v1alpha1.Site
	err := store.GetJSON(ctx, r.store, keyPrefix+site.Metadata.Name, &stored)
	created := errors.Is(err, store.ErrNotFound)
	if err != nil && !created {
		return v1alpha1.Site{}, false, err
	}
	site.Metadata.CreationTimestamp = &now
	if !created {
		site.Metadata.CreationTimestamp = stored.Metadata.CreationTimestamp
	}
	site.Status = v1alpha1.SiteStatus{LastHeartbeatTime: &now, Agent: site.Status.Agent}
	if err := store.PutJSON(ctx, r.store, keyPrefix+site.Metadata.Name, site); err != nil {
		return v1alpha1.Site{}, false, err
	}
	return r.withPhase(site), created, nil
}

// Heartbeat records that the site's agent is alive.
func (r *Registry) Heartbeat(ctx context.Context, name string, hb v1alpha1.Heartbeat) (v1alpha1.Site, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	site, err := r.load(ctx, name)
	if err != nil {
		return v1alpha1.Site{}, err
	}
	now := r.now().UTC()
	site.Status.LastHeartbeatTime = &now
	site.Status.Agent = hb.Agent
	if err := store.PutJSON(ctx, r.store, keyPrefix+name, site); err != nil {
		return v1alpha1.Site{}, err
	}
	return r.withPhase(site), nil
}

// Get returns one site with its current phase.
func (r *Registry) Get(ctx context.Context, name string) (v1alpha1.Site, error) {
	site, err := r.load(ctx, name)
	if err != nil {
		return v1alpha1.Site{}, err
	}
	return r.withPhase(site), nil
}

// List returns every site, ordered by name, with its current phase.
func (r *Registry) List(ctx context.Context) ([]v1alpha1.Site, error) {
	sites, err := store.ListJSON[v1alpha1.Site](ctx, r.store, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	for i := range sites {
		sites[i] = r.withPhase(sites[i])
	}
	return sites, nil
}

// Delete removes a site.
func (r *Registry) Delete(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	err := r.store.Delete(ctx, keyPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("site %q: %w", name, ErrNotFound)
	}
	return err
}

func (r *Registry) load(ctx context.Context, name string) (v1alpha1.Site, error) {
	var s v1alpha1.Site
	err := store.GetJSON(ctx, r.store, keyPrefix+name, &s)
	if errors.Is(err, store.ErrNotFound) {
		return s, fmt.Errorf("site %q: %w", name, ErrNotFound)
	}
	return s, err
}

func (r *Registry) withPhase(s v1alpha1.Site) v1alpha1.Site {
	var last time.Time
	if s.Status.LastHeartbeatTime != nil {
		last = *s.Status.LastHeartbeatTime
	}
	s.Status.Phase, s.Status.Message = Phase(last, r.now(), r.notReadyAfter)
	return s
}
