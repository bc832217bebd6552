package agent

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/store"
)

const (
	agentPrefix = "/agents/"
	tickPrefix  = "/agentticks/"
	// KeepTicks bounds each agent's log in the store.
	KeepTicks = 500
)

// Errors callers tell apart.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid")
)

// Store keeps Agent resources and their tick logs in the control plane's
// store.
type Store struct {
	store store.Store
	now   func() time.Time
	mu    sync.Mutex
}

// NewStore returns the agents kept in s.
func NewStore(s store.Store, now func() time.Time) *Store {
	return &Store{store: s, now: now}
}

// Apply creates an agent or updates its spec, keeping its status; it says
// "created", "configured" or "unchanged" as kubectl does.
func (s *Store) Apply(ctx context.Context, a v1alpha1.Agent) (v1alpha1.Agent, string, error) {
	if err := a.Validate(); err != nil {
		return a, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := checkCron(a.Spec.Trigger.Cron); err != nil {
		return a, "", fmt.Errorf("%w: spec.trigger.cron: %v", ErrInvalid, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.Get(ctx, a.Metadata.Name)
	result := "created"
	switch {
	case errors.Is(err, ErrNotFound):
		now := s.now().UTC()
		a.Metadata.CreationTimestamp = &now
		a.Metadata.Generation = 1
		a.Status = v1alpha1.AgentStatus{}
	case err != nil:
		return a, "", err
	case reflect.DeepEqual(old.Spec, a.Spec) && reflect.DeepEqual(old.Metadata.Labels, a.Metadata.Labels):
		return old, "unchanged", nil
	default:
		a.Metadata.CreationTimestamp = old.Metadata.CreationTimestamp
		a.Metadata.Generation = old.Metadata.Generation + 1
		a.Status = old.Status
		result = "configured"
	}
	if err := store.PutJSON(ctx, s.store, agentPrefix+a.Metadata.Name, a); err != nil {
		return a, "", fmt.Errorf("agents: save %s: %w", a.Metadata.Name, err)
	}
	return a, result, nil
}

// Get returns one agent.
func (s *Store) Get(ctx context.Context, name string) (v1alpha1.Agent, error) {
	var a v1alpha1.Agent
	if err := v1alpha1.ValidateName(name); err != nil {
		return a, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	err := store.GetJSON(ctx, s.store, agentPrefix+name, &a)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("%w: agent %q", ErrNotFound, name)
	}
	return a, err
}

// List returns every agent by name.
func (s *Store) List(ctx context.Context) ([]v1alpha1.Agent, error) {
	return store.ListJSON[v1alpha1.Agent](ctx, s.store, agentPrefix)
}

// Delete removes an agent and its log.
func (s *Store) Delete(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.Get(ctx, name); err != nil {
		return err
	}
	ticks, err := s.store.List(ctx, tickPrefix+name+"/")
	if err != nil {
		return fmt.Errorf("agents: delete %s: %w", name, err)
	}
	for _, kv := range ticks {
		if err := s.store.Delete(ctx, kv.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("agents: delete %s: %w", name, err)
		}
	}
	return s.store.Delete(ctx, agentPrefix+name)
}

// Record appends a tick to the agent's log (trimmed to KeepTicks) and
// updates its status, unless the agent was deleted or its spec changed
// meanwhile (generation differs): such a tick belongs to no current agent.
func (s *Store) Record(ctx context.Context, name string, generation int64, t v1alpha1.AgentTick, modelVersion int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if a.Metadata.Generation != generation {
		return nil
	}
	key := fmt.Sprintf("%s%s/%020d", tickPrefix, name, t.Time.UnixNano())
	if err := store.PutJSON(ctx, s.store, key, t); err != nil {
		return fmt.Errorf("agents: log %s: %w", name, err)
	}
	if err := s.trim(ctx, name); err != nil {
		return err
	}
	at := t.Time
	a.Status.Ticks++
	a.Status.LastTick = &at
	a.Status.LastDecision = t.Decision
	a.Status.LastError = t.Error
	if modelVersion > 0 {
		a.Status.ModelVersion = modelVersion
	}
	return store.PutJSON(ctx, s.store, agentPrefix+name, a)
}

func (s *Store) trim(ctx context.Context, name string) error {
	kvs, err := s.store.List(ctx, tickPrefix+name+"/")
	if err != nil {
		return fmt.Errorf("agents: log %s: %w", name, err)
	}
	for i := 0; i < len(kvs)-KeepTicks; i++ {
		if err := s.store.Delete(ctx, kvs[i].Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("agents: trim log of %s: %w", name, err)
		}
	}
	return nil
}

// Ticks returns the agent's last limit ticks (all kept if limit ≤ 0),
// oldest first.
func (s *Store) Ticks(ctx context.Context, name string, limit int) ([]v1alpha1.AgentTick, error) {
	if _, err := s.Get(ctx, name); err != nil {
		return nil, err
	}
	ticks, err := store.ListJSON[v1alpha1.AgentTick](ctx, s.store, tickPrefix+name+"/")
	if err != nil {
		return nil, err
	}
	if limit > 0 && len(ticks) > limit {
		ticks = ticks[len(ticks)-limit:]
	}
	return ticks, nil
}
