// Package catalog is the marketplace of blocks: publishers add versioned
// application components, users list and search them, and applications
// name them as "name" (the newest version) or "name@version".
//
// A published version is immutable: publishing it again with the same
// spec is a no-op (so `apply -f` can be repeated), with another spec a
// conflict. Versions order by semantic version, not by publication time.
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/store"
)

const keyPrefix = "/blocks/"

// ErrNotFound is returned (wrapped) for a block or version that does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) when a published version is published
// again with a different spec.
var ErrConflict = errors.New("conflict")

// ErrInvalid is returned (wrapped) for a block that fails validation.
var ErrInvalid = errors.New("invalid")

// Catalog stores blocks under /blocks/{name}/{version}.
type Catalog struct {
	store store.Store
	now   func() time.Time
}

// New returns the catalog kept in s.
func New(s store.Store, now func() time.Time) *Catalog {
	return &Catalog{store: s, now: now}
}

func key(name, version string) string { return keyPrefix + name + "/" + version }

// Digest is the SHA-256 of a block's spec as JSON: the identity of a
// published version.
func Digest(spec v1alpha1.BlockSpec) string {
	b, _ := json.Marshal(spec) // a spec always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Publish adds a block version. It reports whether the version is new.
func (c *Catalog) Publish(ctx context.Context, b v1alpha1.Block) (v1alpha1.Block, bool, error) {
	if err := b.Validate(); err != nil {
		return b, false, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	b.Status = v1alpha1.BlockStatus{Digest: Digest(b.Spec)}
	old, err := c.Get(ctx, b.Metadata.Name, b.Spec.Version)
	switch {
	case err == nil && old.Status.Digest == b.Status.Digest:
		return old, false, nil
	case err == nil:
		return old, false, fmt.Errorf("%w: block %s is published with another spec; publish a new version", ErrConflict, b.Ref())
	case !errors.Is(err, ErrNotFound):
		return b, false, err
	}
	now := c.now().UTC()
	b.Metadata.CreationTimestamp = &now
	b.Metadata.Generation = 1
	if err := store.PutJSON(ctx, c.store, key(b.Metadata.Name, b.Spec.Version), b); err != nil {
		return b, false, err
	}
	return b, true, nil
}

// Get returns one version; an empty version means the newest.
func (c *Catalog) Get(ctx context.Context, name, version string) (v1alpha1.Block, error) {
	if version == "" {
		versions, err := c.Versions(ctx, name)
		if err != nil {
			return v1alpha1.Block{}, err
		}
		return versions[len(versions)-1], nil
	}
	var b v1alpha1.Block
	err := store.GetJSON(ctx, c.store, key(name, version), &b)
	if errors.Is(err, store.ErrNotFound) {
		return b, fmt.Errorf("block %s@%s: %w", name, version, ErrNotFound)
	}
	return b, err
}

// Resolve returns the block a reference ("name" or "name@version") names.
func (c *Catalog) Resolve(ctx context.Context, ref string) (v1alpha1.Block, error) {
	name, version, err := v1alpha1.ParseBlockRef(ref)
	if err != nil {
		return v1alpha1.Block{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return c.Get(ctx, name, version)
}

// Versions returns every version of a block, oldest first.
func (c *Catalog) Versions(ctx context.Context, name string) ([]v1alpha1.Block, error) {
	list, err := store.ListJSON[v1alpha1.Block](ctx, c.store, keyPrefix+name+"/")
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("block %s: %w", name, ErrNotFound)
	}
	sortVersions(list)
	return list, nil
}

// Query selects blocks to list.
type Query struct {
	// Search keeps blocks whose name, description or label values contain
	// it, ignoring case.
	Search string
	// Type keeps blocks of one type.
	Type v1alpha1.BlockType
	// AllVersions lists every version instead of the newest of each block.
	AllVersions bool
}

// List returns the blocks matching q, by name, newest version only unless
// q.AllVersions.
func (c *Catalog) List(ctx context.Context, q Query) ([]v1alpha1.Block, error) {
	all, err := store.ListJSON[v1alpha1.Block](ctx, c.store, keyPrefix)
	if err != nil {
		return nil, err
	}
	sortVersions(all)
	var out []v1alpha1.Block
	for i, b := range all {
		newest := i == len(all)-1 || all[i+1].Metadata.Name != b.Metadata.Name
		if (q.AllVersions || newest) && q.match(b) {
			out = append(out, b)
		}
	}
	return out, nil
}

func (q Query) match(b v1alpha1.Block) bool {
	if q.Type != "" && b.Spec.Type != q.Type {
		return false
	}
	if q.Search == "" {
		return true
	}
	s := strings.ToLower(q.Search)
	if strings.Contains(b.Metadata.Name, s) || strings.Contains(strings.ToLower(b.Spec.Description), s) {
		return true
	}
	for _, v := range b.Metadata.Labels {
		if strings.Contains(strings.ToLower(v), s) {
			return true
		}
	}
	return false
}

// Delete removes one version ("name@version") or, with an empty version,
// every version of the block.
func (c *Catalog) Delete(ctx context.Context, name, version string) error {
	versions, err := c.Versions(ctx, name)
	if err != nil {
		return err
	}
	found := false
	for _, b := range versions {
		if version != "" && b.Spec.Version != version {
			continue
		}
		found = true
		if err := c.store.Delete(ctx, key(name, b.Spec.Version)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if !found {
		return fmt.Errorf("block %s@%s: %w", name, version, ErrNotFound)
	}
	return nil
}

// sortVersions orders blocks by name, then by semantic version.
func sortVersions(list []v1alpha1.Block) {
	slices.SortStableFunc(list, func(a, b v1alpha1.Block) int {
		if c := strings.Compare(a.Metadata.Name, b.Metadata.Name); c != 0 {
			return c
		}
		return v1alpha1.CompareVersions(a.Spec.Version, b.Spec.Version)
	})
}
