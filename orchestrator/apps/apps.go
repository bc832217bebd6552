// Package apps keeps the orchestrator's applications, their placement
// decisions and migration records in the control plane's store. It only
// stores: deciding what runs where is package reconcile's job, carrying
// it out the orchestrator's.
package apps

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/store"
)

const (
	appPrefix       = "/applications/"
	placementPrefix = "/placements/"
	migrationPrefix = "/migrations/"
)

// ErrNotFound is returned (wrapped) for a missing resource.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned (wrapped) for a resource that fails validation.
var ErrInvalid = errors.New("invalid")

// ErrExists is returned (wrapped) by Create for a name already taken.
var ErrExists = errors.New("exists")

// Registry stores applications, placements and migrations.
type Registry struct {
	store store.Store
	now   func() time.Time

	mu sync.Mutex // serialises read-modify-write of one resource

	changeMu sync.Mutex
	changed  chan struct{}
}

// NewRegistry returns the registry kept in s.
func NewRegistry(s store.Store, now func() time.Time) *Registry {
	return &Registry{store: s, now: now, changed: make(chan struct{})}
}

// Changed returns a channel closed at the next change of any application
// or migration: the reconciler waits on it so a new application is acted
// on at once rather than at the next periodic pass.
func (r *Registry) Changed() <-chan struct{} {
	r.changeMu.Lock()
	defer r.changeMu.Unlock()
	return r.changed
}

func (r *Registry) notify() {
	r.changeMu.Lock()
	defer r.changeMu.Unlock()
	close(r.changed)
	r.changed = make(chan struct{})
}

// Create adds an application that must not exist yet: the check and the
// write happen under one lock, so of two concurrent creates of one name
// exactly one succeeds and the other gets an error wrapping ErrExists.
func (r *Registry) Create(ctx context.Context, a v1alpha1.Application) (v1alpha1.Application, error) {
	if err := a.Validate(); err != nil {
		return a, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch _, err := r.Get(ctx, a.Metadata.Name); {
	case err == nil:
		return a, fmt.Errorf("application %s: %w", a.Metadata.Name, ErrExists)
	case !errors.Is(err, ErrNotFound):
		return a, err
	}
	return r.create(ctx, a)
}

// create writes a new application with its first generation; r.mu is held.
func (r *Registry) create(ctx context.Context, a v1alpha1.Application) (v1alpha1.Application, error) {
	now := r.now().UTC()
	a.Metadata.CreationTimestamp = &now
	a.Metadata.Generation = 1
	a.Status = v1alpha1.ApplicationStatus{Phase: v1alpha1.AppPending}
	return a, r.put(ctx, appPrefix, a.Metadata.Name, a)
}

// Apply creates an application or updates its spec, keeping its status.
// The generation goes up only when the spec changed, so applying the same
// file twice changes nothing. It reports what happened: "created",
// "configured" or "unchanged", kubectl's words.
func (r *Registry) Apply(ctx context.Context, a v1alpha1.Application) (v1alpha1.Application, string, error) {
	if err := a.Validate(); err != nil {
		return a, "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, err := r.Get(ctx, a.Metadata.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		a, err := r.create(ctx, a)
		return a, "created", err
	case err != nil:
		return a, "", err
	}
	if reflect.DeepEqual(old.Spec, a.Spec) && maps.Equal(old.Metadata.Labels, a.Metadata.Labels) && maps.Equal(old.Metadata.Annotations, a.Metadata.Annotations) {
		return old, "unchanged", nil
	}
	old.Metadata.Labels, old.Metadata.Annotations = a.Metadata.Labels, a.Metadata.Annotations
	if !reflect.DeepEqual(old.Spec, a.Spec) {
		old.Metadata.Generation++
	}
	old.Spec = a.Spec
	return old, "configured", r.put(ctx, appPrefix, old.Metadata.Name, old)
}

// Get returns one application.
func (r *Registry) Get(ctx context.Context, name string) (v1alpha1.Application, error) {
	var a v1alpha1.Application
	err := store.GetJSON(ctx, r.store, appPrefix+name, &a)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("application %s: %w", name, ErrNotFound)
	}
	return a, err
}

// List returns every application, by name.
func (r *Registry) List(ctx context.Context) ([]v1alpha1.Application, error) {
	return store.ListJSON[v1alpha1.Application](ctx, r.store, appPrefix)
}

// Stored is one application as the store keeps it: its name and its JSON
// document, which is what the API answers for it.
type Stored struct {
	Name string
	JSON json.RawMessage
}

// ListStored returns every application's stored JSON, by name, without
// decoding it: the API's list answers it as it is, which saves decoding
// and encoding every application on every list.
func (r *Registry) ListStored(ctx context.Context) ([]Stored, error) {
	kvs, err := r.store.List(ctx, appPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]Stored, len(kvs))
	for i, kv := range kvs {
		out[i] = Stored{Name: strings.TrimPrefix(kv.Key, appPrefix), JSON: kv.Value}
	}
	return out, nil
}

// SetStatus replaces an application's status if it changed. It does not
// touch an application whose spec moved on past the status' observed
// generation, nor one deleted since.
func (r *Registry) SetStatus(ctx context.Context, name string, st v1alpha1.ApplicationStatus) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, err := r.Get(ctx, name)
	if err != nil {
		return err
	}
	if st.ObservedGeneration < a.Metadata.Generation || reflect.DeepEqual(a.Status, st) {
		return nil
	}
	a.Status = st
	return r.put(ctx, appPrefix, name, a)
}

// Delete removes an application and its placement; the orchestrator
// then stops its replicas, which no application claims any more.
func (r *Registry) Delete(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.Delete(ctx, appPrefix+name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("application %s: %w", name, ErrNotFound)
		}
		return err
	}
	if err := r.store.Delete(ctx, placementPrefix+name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r.notify()
	return nil
}

// PutPlacement records an application's placement decisions.
func (r *Registry) PutPlacement(ctx context.Context, p v1alpha1.Placement) error {
	p.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindPlacement}
	p.Metadata.Name = p.Application
	return store.PutJSON(ctx, r.store, placementPrefix+p.Application, p)
}

// GetPlacement returns an application's placement decisions.
func (r *Registry) GetPlacement(ctx context.Context, app string) (v1alpha1.Placement, error) {
	var p v1alpha1.Placement
	err := store.GetJSON(ctx, r.store, placementPrefix+app, &p)
	if errors.Is(err, store.ErrNotFound) {
		return p, fmt.Errorf("placement of %s: %w", app, ErrNotFound)
	}
	return p, err
}

// ListPlacements returns every application's placement.
func (r *Registry) ListPlacements(ctx context.Context) ([]v1alpha1.Placement, error) {
	return store.ListJSON[v1alpha1.Placement](ctx, r.store, placementPrefix)
}

// CreateMigration records a migration request as Pending; an empty name
// gets a generated one, and empty apiVersion and kind are filled in.
func (r *Registry) CreateMigration(ctx context.Context, m v1alpha1.Migration) (v1alpha1.Migration, error) {
	if m.TypeMeta == (v1alpha1.TypeMeta{}) {
		m.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindMigration}
	}
	if m.Metadata.Name == "" {
		m.Metadata.Name = m.Spec.Application + "-" + strings.ToLower(rand.Text()[:6])
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	a, err := r.Get(ctx, m.Spec.Application)
	if err != nil {
		return m, fmt.Errorf("%w: spec.application: %v", ErrInvalid, err)
	}
	if _, ok := a.Component(m.Spec.Component); !ok {
		return m, fmt.Errorf("%w: spec.component: application %s has no component %q", ErrInvalid, a.Metadata.Name, m.Spec.Component)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.GetMigration(ctx, m.Metadata.Name); err == nil {
		return m, fmt.Errorf("%w: migration %s exists", ErrInvalid, m.Metadata.Name)
	}
	now := r.now().UTC()
	m.Metadata.CreationTimestamp = &now
	m.Status = v1alpha1.MigrationStatus{Phase: v1alpha1.MigrationPending}
	return m, r.put(ctx, migrationPrefix, m.Metadata.Name, m)
}

// GetMigration returns one migration.
func (r *Registry) GetMigration(ctx context.Context, name string) (v1alpha1.Migration, error) {
	var m v1alpha1.Migration
	err := store.GetJSON(ctx, r.store, migrationPrefix+name, &m)
	if errors.Is(err, store.ErrNotFound) {
		return m, fmt.Errorf("migration %s: %w", name, ErrNotFound)
	}
	return m, err
}

// ListMigrations returns every migration, by name.
func (r *Registry) ListMigrations(ctx context.Context) ([]v1alpha1.Migration, error) {
	return store.ListJSON[v1alpha1.Migration](ctx, r.store, migrationPrefix)
}

// SetMigrationStatus replaces a migration's status.
func (r *Registry) SetMigrationStatus(ctx context.Context, name string, st v1alpha1.MigrationStatus) (v1alpha1.Migration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.GetMigration(ctx, name)
	if err != nil {
		return m, err
	}
	if reflect.DeepEqual(m.Status, st) {
		return m, nil
	}
	m.Status = st
	return m, r.put(ctx, migrationPrefix, name, m)
}

func (r *Registry) put(ctx context.Context, prefix, name string, v any) error {
	if err := store.PutJSON(ctx, r.store, prefix+name, v); err != nil {
		return err
	}
	r.notify()
	return nil
}
