// Package registry is the Learning Plane's model registry: every trained
// version of a named model with its training window, parameters, held-out
// metrics and lineage, kept in the control plane's store, and the rules
// that move versions between stages. A version becomes production only if
// it beat the production version on the same held-out data (recorded in
// its evaluation), unless an operator forces it; a rollback returns to the
// version the current one replaced.
//
// Written here rather than taken from MLflow or similar: those are servers
// of their own with their own databases, while a registry of a few small
// JSON models per agent fits in the store the control plane already has.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/store"
)

const prefix = "/models/"

// Keep bounds the versions kept per model: the oldest ones that are not
// production and not a rollback target are pruned beyond it.
const Keep = 50

// Errors callers tell apart (the API maps them to 404, 422 and 409).
var (
	ErrNotFound  = errors.New("not found")
	ErrInvalid   = errors.New("invalid")
	ErrConflict  = errors.New("conflict")
	ErrNotBetter = errors.New("not better than production")
)

// Registry stores model versions.
type Registry struct {
	store store.Store
	now   func() time.Time
	mu    sync.Mutex // serialises version numbering and stage changes
}

// New returns the registry kept in s.
func New(s store.Store, now func() time.Time) *Registry {
	return &Registry{store: s, now: now}
}

func key(model string, version int) string {
	return fmt.Sprintf("%s%s/%010d", prefix, model, version)
}

// Register stores mv as the model's next version, stage candidate.
func (r *Registry) Register(ctx context.Context, mv v1alpha1.ModelVersion) (v1alpha1.ModelVersion, error) {
	if err := mv.Validate(); err != nil {
		return mv, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	versions, err := r.versions(ctx, mv.Spec.Model)
	if err != nil {
		return mv, err
	}
	next := 1
	if n := len(versions); n > 0 {
		next = versions[n-1].Status.Version + 1
	}
	now := r.now().UTC()
	mv.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindModelVersion}
	mv.Metadata = v1alpha1.ObjectMeta{Name: v1alpha1.ModelVersionName(mv.Spec.Model, next), Labels: mv.Metadata.Labels}
	mv.Status = v1alpha1.ModelVersionStatus{Version: next, Stage: v1alpha1.StageCandidate, Created: &now}
	if err := store.PutJSON(ctx, r.store, key(mv.Spec.Model, next), mv); err != nil {
		return mv, fmt.Errorf("registry: register %s: %w", mv.Metadata.Name, err)
	}
	return mv, r.prune(ctx, append(versions, mv))
}

// prune deletes the oldest versions beyond Keep that nothing points to.
func (r *Registry) prune(ctx context.Context, versions []v1alpha1.ModelVersion) error {
	excess := len(versions) - Keep
	if excess <= 0 {
		return nil
	}
	needed := map[int]bool{}
	for _, v := range versions {
		if v.Status.Stage == v1alpha1.StageProduction {
			needed[v.Status.Version] = true
			needed[v.Status.Replaced] = true
		}
	}
	for _, v := range versions {
		if excess == 0 {
			break
		}
		if needed[v.Status.Version] {
			continue
		}
		if err := r.store.Delete(ctx, key(v.Spec.Model, v.Status.Version)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("registry: prune %s: %w", v.Metadata.Name, err)
		}
		excess--
	}
	return nil
}

// Versions lists a model's versions, oldest first.
func (r *Registry) Versions(ctx context.Context, model string) ([]v1alpha1.ModelVersion, error) {
	vs, err := r.versions(ctx, model)
	if err == nil && len(vs) == 0 {
		return nil, fmt.Errorf("%w: model %q", ErrNotFound, model)
	}
	return vs, err
}

func (r *Registry) versions(ctx context.Context, model string) ([]v1alpha1.ModelVersion, error) {
	if err := v1alpha1.ValidateName(model); err != nil {
		return nil, fmt.Errorf("%w: model: %v", ErrInvalid, err)
	}
	vs, err := store.ListJSON[v1alpha1.ModelVersion](ctx, r.store, prefix+model+"/")
	if err != nil {
		return nil, fmt.Errorf("registry: list %s: %w", model, err)
	}
	return vs, nil
}

// Get returns one version.
func (r *Registry) Get(ctx context.Context, model string, version int) (v1alpha1.ModelVersion, error) {
	var mv v1alpha1.ModelVersion
	if err := v1alpha1.ValidateName(model); err != nil {
		return mv, fmt.Errorf("%w: model: %v", ErrInvalid, err)
	}
	err := store.GetJSON(ctx, r.store, key(model, version), &mv)
	if errors.Is(err, store.ErrNotFound) {
		return mv, fmt.Errorf("%w: model %q has no version %d", ErrNotFound, model, version)
	}
	return mv, err
}

// Production returns the version that serves, or ErrNotFound.
func (r *Registry) Production(ctx context.Context, model string) (v1alpha1.ModelVersion, error) {
	vs, err := r.versions(ctx, model)
	if err != nil {
		return v1alpha1.ModelVersion{}, err
	}
	if p, ok := production(vs); ok {
		return p, nil
	}
	return v1alpha1.ModelVersion{}, fmt.Errorf("%w: model %q has no production version", ErrNotFound, model)
}

func production(vs []v1alpha1.ModelVersion) (v1alpha1.ModelVersion, bool) {
	for _, v := range vs {
		if v.Status.Stage == v1alpha1.StageProduction {
			return v, true
		}
	}
	return v1alpha1.ModelVersion{}, false
}

// Models summarises every model, by name.
func (r *Registry) Models(ctx context.Context) ([]v1alpha1.ModelSummary, error) {
	kvs, err := r.store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("registry: list: %w", err)
	}
	byModel := map[string]*v1alpha1.ModelSummary{}
	var names []string
	for _, kv := range kvs {
		model, _, _ := strings.Cut(strings.TrimPrefix(kv.Key, prefix), "/")
		s, ok := byModel[model]
		if !ok {
			s = &v1alpha1.ModelSummary{Model: model}
			byModel[model] = s
			names = append(names, model)
		}
		var mv v1alpha1.ModelVersion
		if err := json.Unmarshal(kv.Value, &mv); err != nil {
			return nil, fmt.Errorf("registry: decode %s: %w", kv.Key, err)
		}
		s.Versions++
		s.Latest = max(s.Latest, mv.Status.Version)
		if mv.Status.Stage == v1alpha1.StageProduction {
			s.Production, s.Kind = mv.Status.Version, mv.Spec.Kind
		}
	}
	sort.Strings(names)
	out := make([]v1alpha1.ModelSummary, 0, len(names))
	for _, n := range names {
		out = append(out, *byModel[n])
	}
	return out, nil
}

// Promote makes a version production. Without force it must have been
// evaluated against the current production version on the same held-out
// data and have strictly won (the first version of a model needs no
// evaluation); a version that lost is marked rejected. The replaced
// version is archived and remembered for rollback.
func (r *Registry) Promote(ctx context.Context, model string, version int, force bool) (v1alpha1.ModelVersion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	vs, err := r.versions(ctx, model)
	if err != nil {
		return v1alpha1.ModelVersion{}, err
	}
	cand, ok := find(vs, version)
	if !ok {
		return v1alpha1.ModelVersion{}, fmt.Errorf("%w: model %q has no version %d", ErrNotFound, model, version)
	}
	cur, hasCur := production(vs)
	if hasCur && cur.Status.Version == version {
		return cand, fmt.Errorf("%w: %s is already production", ErrConflict, cand.Metadata.Name)
	}
	message := "promoted"
	if hasCur {
		verdict, err := judge(cand, cur)
		switch {
		case err == nil:
			message = "promoted: " + verdict
		case force:
			message = fmt.Sprintf("promoted by force (%v)", err)
		default:
			if errors.Is(err, ErrNotBetter) {
				cand.Status.Stage = v1alpha1.StageRejected
				cand.Status.Message = err.Error()
				if perr := r.put(ctx, cand); perr != nil {
					return cand, perr
				}
			}
			return cand, err
		}
		cur.Status.Stage = v1alpha1.StageArchived
		cur.Status.Message = fmt.Sprintf("replaced by version %d", version)
		if err := r.put(ctx, cur); err != nil {
			return cand, err
		}
		cand.Status.Replaced = cur.Status.Version
	}
	now := r.now().UTC()
	cand.Status.Stage, cand.Status.PromotedAt, cand.Status.Message = v1alpha1.StageProduction, &now, message
	return cand, r.put(ctx, cand)
}

// judge says why cand may replace cur, or why not.
func judge(cand, cur v1alpha1.ModelVersion) (string, error) {
	ev := cand.Spec.Evaluation
	switch {
	case ev == nil:
		return "", fmt.Errorf("%w: version %d was never evaluated against production version %d; retrain it or force", ErrConflict, cand.Status.Version, cur.Status.Version)
	case ev.Against != cur.Status.Version:
		return "", fmt.Errorf("%w: version %d was evaluated against version %d, but production is version %d; retrain it or force", ErrConflict, cand.Status.Version, ev.Against, cur.Status.Version)
	case !ev.Better:
		return "", fmt.Errorf("%w: version %d: held-out %s %.4g, production version %d %.4g", ErrNotBetter, cand.Status.Version, ev.Metric, ev.Candidate, cur.Status.Version, ev.Current)
	}
	return fmt.Sprintf("held-out %s %.4g < %.4g of version %d", ev.Metric, ev.Candidate, ev.Current, cur.Status.Version), nil
}

// Rollback returns production to the version the current one replaced.
func (r *Registry) Rollback(ctx context.Context, model string) (v1alpha1.ModelVersion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	vs, err := r.versions(ctx, model)
	if err != nil {
		return v1alpha1.ModelVersion{}, err
	}
	cur, ok := production(vs)
	if !ok {
		return v1alpha1.ModelVersion{}, fmt.Errorf("%w: model %q has no production version to roll back", ErrConflict, model)
	}
	prev, ok := find(vs, cur.Status.Replaced)
	if !ok {
		return cur, fmt.Errorf("%w: version %d replaced no version that is still kept; nothing to roll back to", ErrConflict, cur.Status.Version)
	}
	cur.Status.Stage, cur.Status.Message = v1alpha1.StageRolledBack, fmt.Sprintf("rolled back to version %d", prev.Status.Version)
	if err := r.put(ctx, cur); err != nil {
		return prev, err
	}
	now := r.now().UTC()
	prev.Status.Stage, prev.Status.PromotedAt = v1alpha1.StageProduction, &now
	prev.Status.Message = fmt.Sprintf("restored by rollback from version %d", cur.Status.Version)
	return prev, r.put(ctx, prev)
}

// Reject marks a candidate that will not be promoted, with why.
func (r *Registry) Reject(ctx context.Context, model string, version int, why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	mv, err := r.Get(ctx, model, version)
	if err != nil {
		return err
	}
	if mv.Status.Stage != v1alpha1.StageCandidate {
		return fmt.Errorf("%w: %s is %s, not a candidate", ErrConflict, mv.Metadata.Name, mv.Status.Stage)
	}
	mv.Status.Stage, mv.Status.Message = v1alpha1.StageRejected, why
	return r.put(ctx, mv)
}

func (r *Registry) put(ctx context.Context, mv v1alpha1.ModelVersion) error {
	if err := store.PutJSON(ctx, r.store, key(mv.Spec.Model, mv.Status.Version), mv); err != nil {
		return fmt.Errorf("registry: save %s: %w", mv.Metadata.Name, err)
	}
	return nil
}

func find(vs []v1alpha1.ModelVersion, version int) (v1alpha1.ModelVersion, bool) {
	for _, v := range vs {
		if v.Status.Version == version {
			return v, true
		}
	}
	return v1alpha1.ModelVersion{}, false
}
