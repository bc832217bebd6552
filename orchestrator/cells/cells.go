// Package cells keeps the control plane's cell runs and the modules they
// run: a client uploads a module once by its SHA-256, asks for a cell run at
// a site, and that site's agent takes it, runs it and reports its status.
// Running cells' checkpoints go to a Checkpoints storage: a directory of
// the control plane (DirCheckpoints) or GEDS, persisted to S3
// (GEDSCheckpoints).
package cells

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/store"
)

const keyPrefix = "/cells/"

// MaxModuleBytes bounds an uploaded module.
const MaxModuleBytes = 256 << 20

// ErrNotFound is returned (wrapped) for a missing cell run or module.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned (wrapped) for a request that cannot be accepted.
var ErrInvalid = errors.New("invalid")

// ErrConflict is returned (wrapped) for a report, snapshot or checkpoint
// of an attempt the run has left behind (status.attempt).
var ErrConflict = errors.New("conflict")

// Registry stores cell runs in the store, modules and snapshots as files,
// and checkpoints in its Checkpoints.
type Registry struct {
	store       store.Store
	modulesDir  string
	checkpoints Checkpoints
	now         func() time.Time

	mu sync.Mutex // serialises status updates

	// versionMu guards version and changed: every write makes a new
	// version and closes changed, waking the lists that wait (Changes).
	versionMu sync.Mutex
	epoch     string // this registry's life, so versions of another never match
	version   uint64
	changed   chan struct{}
}

// NewRegistry keeps modules under modulesDir, and checkpoints in
// checkpoints; nil keeps them in the directory "checkpoints" next to
// modulesDir (DirCheckpoints).
func NewRegistry(s store.Store, modulesDir string, now func() time.Time, checkpoints Checkpoints) *Registry {
	if checkpoints == nil {
		checkpoints = NewDirCheckpoints(filepath.Join(filepath.Dir(modulesDir), "checkpoints"))
	}
	return &Registry{
		store: s, modulesDir: modulesDir, checkpoints: checkpoints, now: now,
		epoch: strings.ToLower(rand.Text()[:8]), changed: make(chan struct{}),
	}
}

// PutModule stores a module under digest after checking that it is the
// module's SHA-256. Putting a module twice is harmless.
func (r *Registry) PutModule(digest string, body io.Reader) error {
	if err := v1alpha1.ValidateDigest(digest); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := os.MkdirAll(r.modulesDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.modulesDir, ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, MaxModuleBytes+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("module upload: %w", err)
	case n > MaxModuleBytes:
		return fmt.Errorf("%w: module larger than %d bytes", ErrInvalid, MaxModuleBytes)
	case hex.EncodeToString(h.Sum(nil)) != digest:
		return fmt.Errorf("%w: the body's SHA-256 is %x, not %s", ErrInvalid, h.Sum(nil), digest)
	}
	return os.Rename(tmp.Name(), r.modulePath(digest))
}

// OpenModule opens a stored module.
func (r *Registry) OpenModule(digest string) (*os.File, error) {
	if err := v1alpha1.ValidateDigest(digest); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	f, err := os.Open(r.modulePath(digest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("module %s: %w", digest, ErrNotFound)
	}
	return f, err
}

func (r *Registry) modulePath(digest string) string {
	return filepath.Join(r.modulesDir, digest+".wasm")
}

// Create records a new cell run as Pending; an empty name gets a generated one.
func (r *Registry) Create(ctx context.Context, c v1alpha1.CellRun) (v1alpha1.CellRun, error) {
	if c.Metadata.Name == "" {
		c.Metadata.Name = "cell-" + rand.Text()[:10]
	}
	c.Metadata.Name = lowerName(c.Metadata.Name)
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Spec.Process == nil {
		if _, err := os.Stat(r.modulePath(c.Spec.Module)); err != nil {
			return c, fmt.Errorf("%w: spec.module %s has not been uploaded (PUT /api/v1/modules/%s)", ErrInvalid, c.Spec.Module, c.Spec.Module)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.store.Get(ctx, keyPrefix+c.Metadata.Name); err == nil {
		return c, fmt.Errorf("%w: cell run %q exists already", ErrInvalid, c.Metadata.Name)
	}
	now := r.now().UTC()
	c.Metadata.CreationTimestamp = &now
	c.Status = v1alpha1.CellRunStatus{Phase: v1alpha1.CellPending}
	return c, r.put(ctx, c)
}

// Get returns one cell run.
func (r *Registry) Get(ctx context.Context, name string) (v1alpha1.CellRun, error) {
	var c v1alpha1.CellRun
	err := store.GetJSON(ctx, r.store, keyPrefix+name, &c)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("cell run %q: %w", name, ErrNotFound)
	}
	return c, err
}

// Filter selects cell runs; empty fields match anything.
type Filter struct {
	Site  string             // spec.site: where the run should be
	At    string             // status.site: where it runs now
	Phase v1alpha1.CellPhase // status.phase
	// Involves matches runs whose spec.site or status.site is this site,
	// or that move one of their ranks there: all that site's agent has to
	// act on.
	Involves string
}

func (f Filter) match(c v1alpha1.CellRun) bool {
	return (f.Site == "" || c.Spec.Site == f.Site) &&
		(f.At == "" || c.Status.Site == f.At) &&
		(f.Phase == "" || c.Status.Phase == f.Phase) &&
		(f.Involves == "" || c.Spec.Site == f.Involves || c.Status.Site == f.Involves || movesRankTo(c, f.Involves))
}

// movingRanks reports whether a rank of c has moved, or is asked to,
// away from the run's site.
func movingRanks(c v1alpha1.CellRun) bool {
	for _, rs := range c.Spec.RankSites {
		if st, ok := c.Status.RankStatus(rs.Rank); !ok || !st.Phase.AtHome() {
			return true
		}
	}
	return false
}

// movesRankTo reports whether a rank of c is offered to, or runs at, site.
func movesRankTo(c v1alpha1.CellRun, site string) bool {
	for _, r := range c.Status.Ranks {
		if r.Site == site && !r.Phase.AtHome() {
			return true
		}
	}
	return false
}

// Changes returns the registry's version and a channel closed at the next
// change. A version from an earlier life of the control plane never equals
// one of this life.
func (r *Registry) Changes() (string, <-chan struct{}) {
	r.versionMu.Lock()
	defer r.versionMu.Unlock()
	return fmt.Sprintf("%s.%d", r.epoch, r.version), r.changed
}

// changedNow records a write: a new version, and wakes the waiters.
func (r *Registry) changedNow() {
	r.versionMu.Lock()
	defer r.versionMu.Unlock()
	r.version++
	close(r.changed)
	r.changed = make(chan struct{})
}

// put writes a run and records the change.
func (r *Registry) put(ctx context.Context, c v1alpha1.CellRun) error {
	if err := store.PutJSON(ctx, r.store, keyPrefix+c.Metadata.Name, c); err != nil {
		return err
	}
	r.changedNow()
	return nil
}

// List returns the cell runs f selects, by name.
func (r *Registry) List(ctx context.Context, f Filter) ([]v1alpha1.CellRun, error) {
	runs, err := store.ListJSON[v1alpha1.CellRun](ctx, r.store, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("cell runs: %w", err)
	}
	out := []v1alpha1.CellRun{}
	for _, c := range runs {
		if f.match(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Delete forgets a cell run, its snapshot and checkpoints. The agent
// running it sees it vanish from its watch and stops the cell; a report
// of the deleted run gets 404.
func (r *Registry) Delete(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.Delete(ctx, keyPrefix+name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("cell run %q: %w", name, ErrNotFound)
		}
		return err
	}
	r.changedNow()
	if err := os.Remove(r.snapshotPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return r.checkpoints.Delete(ctx, name)
}

// SetStatus records what the agent reports. A finished run stays finished.
func (r *Registry) SetStatus(ctx context.Context, name string, st v1alpha1.CellRunStatus) (v1alpha1.CellRun, error) {
	if !slices.Contains([]v1alpha1.CellPhase{v1alpha1.CellRunning, v1alpha1.CellMigrating, v1alpha1.CellSucceeded, v1alpha1.CellFailed}, st.Phase) {
		return v1alpha1.CellRun{}, fmt.Errorf("%w: status.phase %q: an agent reports Running, Migrating, Succeeded or Failed", ErrInvalid, st.Phase)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.Get(ctx, name)
	if err != nil {
		return c, err
	}
	if c.Status.Phase.Done() {
		return c, fmt.Errorf("%w: cell run %q is %s already", ErrInvalid, name, c.Status.Phase)
	}
	if err := checkReport(c, st); err != nil {
		return c, err
	}
	st.Attempt = c.Status.Attempt // the control plane's count, not the agent's
	if err := r.promoteCheckpoint(ctx, c, st.Checkpoint); err != nil {
		return c, err
	}
	c.Status = st
	return c, r.put(ctx, c)
}

// checkReport accepts a status from the run's current claimant, or a new
// claim (Running, at the site the run is for) of a run that waits to be
// taken (Pending, Migrating). The site rule is what tells a new claim
// from a stale report of an agent the run has left.
func checkReport(c v1alpha1.CellRun, st v1alpha1.CellRunStatus) error {
	waiting := c.Status.Phase == v1alpha1.CellPending || c.Status.Phase == v1alpha1.CellMigrating
	switch {
	case st.Claim == c.Status.Claim:
		return nil
	case waiting && st.Phase == v1alpha1.CellRunning && st.Claim != "" && st.Site == c.Spec.Site:
		return nil
	}
	return staleClaim(c, st.Claim)
}

func staleClaim(c v1alpha1.CellRun, claim string) error {
	return fmt.Errorf("%w: cell run %q is held by claim %q (%s at site %s), not %q: it moved on without this agent",
		ErrConflict, c.Metadata.Name, c.Status.Claim, c.Status.Phase, c.Status.Site, claim)
}

// Migrate asks a running cell to move to site: its agent stops it at its
// next host call and hands its snapshot to that site's agent.
func (r *Registry) Migrate(ctx context.Context, name, site string) (v1alpha1.CellRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getToMove(ctx, name, site)
	if err != nil {
		return c, err
	}
	switch {
	case c.Status.Phase != v1alpha1.CellRunning:
		return c, fmt.Errorf("%w: cell run %q is %s, not Running", ErrInvalid, name, c.Status.Phase)
	case c.Spec.Site != c.Status.Site:
		return c, fmt.Errorf("%w: cell run %q is moving to %s already", ErrInvalid, name, c.Spec.Site)
	case site == c.Status.Site:
		return c, fmt.Errorf("%w: cell run %q runs at %s already", ErrInvalid, name, site)
	case movingRanks(c):
		return c, fmt.Errorf("%w: a rank of cell run %q has moved or is moving on its own: its world can no longer stop as a whole", ErrInvalid, name)
	}
	c.Spec.Site = site
	return c, r.put(ctx, c)
}

// getToMove reads the run a move to site is asked for, once site is a
// valid name. The caller holds r.mu.
func (r *Registry) getToMove(ctx context.Context, name, site string) (v1alpha1.CellRun, error) {
	if err := v1alpha1.ValidateName(site); err != nil {
		return v1alpha1.CellRun{}, fmt.Errorf("%w: to: %v", ErrInvalid, err)
	}
	return r.Get(ctx, name)
}

// MigrateRank asks one rank of a running MPI world to move to site while
// the others run on: the run's agent stops it at its next host call and
// offers it, and site's agent takes it (spec.rankSites, status.ranks).
func (r *Registry) MigrateRank(ctx context.Context, name string, rank int, site string) (v1alpha1.CellRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.getToMove(ctx, name, site)
	if err != nil {
		return c, err
	}
	st, asked := c.Status.RankStatus(rank)
	wanted, inSpec := c.Spec.RankSite(rank)
	away := asked && st.Phase == v1alpha1.RankMoved && wanted == st.Site
	switch {
	case c.Spec.Process != nil || c.Spec.Ranks < 2:
		return c, fmt.Errorf("%w: cell run %q is not an MPI world of several ranks", ErrInvalid, name)
	case rank < 0 || rank >= c.Spec.Ranks:
		return c, fmt.Errorf("%w: rank %d of a world of %d", ErrInvalid, rank, c.Spec.Ranks)
	case c.Status.Phase != v1alpha1.CellRunning:
		return c, fmt.Errorf("%w: cell run %q is %s, not Running", ErrInvalid, name, c.Status.Phase)
	case c.Spec.Site != c.Status.Site:
		return c, fmt.Errorf("%w: cell run %q is moving to %s already", ErrInvalid, name, c.Spec.Site)
	case away && site == c.Status.Site:
		// Bring it back home; its new site's agent sends it.
	case away:
		return c, fmt.Errorf("%w: rank %d of cell run %q runs at %s: bring it back to %s first", ErrInvalid, rank, name, st.Site, c.Status.Site)
	case asked && !st.Phase.AtHome(), inSpec && !asked:
		return c, fmt.Errorf("%w: rank %d of cell run %q is moving already", ErrInvalid, rank, name)
	case site == c.Status.Site:
		return c, fmt.Errorf("%w: rank %d of cell run %q runs at %s already", ErrInvalid, rank, name, site)
	}
	if away {
		for i := range c.Spec.RankSites {
			if c.Spec.RankSites[i].Rank == rank {
				c.Spec.RankSites[i].Site = site
			}
		}
		return c, r.put(ctx, c)
	}
	c.Spec.RankSites = slices.DeleteFunc(c.Spec.RankSites, func(s v1alpha1.CellRankSite) bool { return s.Rank == rank })
	c.Spec.RankSites = append(c.Spec.RankSites, v1alpha1.CellRankSite{Rank: rank, Site: site})
	// A move that did not happen is forgotten, so its rank's agent tries
	// this one.
	c.Status.Ranks = slices.DeleteFunc(c.Status.Ranks, func(s v1alpha1.CellRankStatus) bool { return s.Rank == rank })
	return c, r.put(ctx, c)
}

// PutSnapshot keeps a migrating cell's snapshot until its new site takes
// it. claim is the run's claim of the agent handing it over.
// A non-empty checkpoint keeps it also as the checkpoint upload of that
// id (see PutCheckpoint), so that the run stays recoverable from it if
// its new site is lost after taking it.
func (r *Registry) PutSnapshot(ctx context.Context, name, claim, checkpoint string, body io.Reader) (int64, error) {
	if checkpoint != "" && !checkpointIDPattern.MatchString(checkpoint) {
		return 0, fmt.Errorf("%w: checkpoint id %q: want 1 to 32 lower-case letters and digits", ErrInvalid, checkpoint)
	}
	if err := r.checkClaim(ctx, name, claim); err != nil {
		return 0, err
	}
	n, err := writeFile(filepath.Join(r.dataDir(), "snapshots"), r.snapshotPath(name), body)
	if err != nil || checkpoint == "" {
		return n, err
	}
	f, err := os.Open(r.snapshotPath(name))
	if err != nil {
		return n, err
	}
	defer f.Close()
	_, err = r.checkpoints.Put(ctx, name, checkpoint, f)
	return n, err
}

// checkClaim refuses uploads of an agent that no longer holds the run.
func (r *Registry) checkClaim(ctx context.Context, name, claim string) error {
	if err := v1alpha1.ValidateName(name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c, err := r.Get(ctx, name)
	if err != nil {
		return err
	}
	if c.Status.Claim != claim {
		return staleClaim(c, claim)
	}
	return nil
}

// dataDir is the control plane's directory the registry keeps files in.
func (r *Registry) dataDir() string { return filepath.Dir(r.modulesDir) }

// writeFile writes body to path through a temporary file in dir.
func writeFile(dir, path string, body io.Reader) (int64, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(dir, ".upload-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return n, err
}

// OpenSnapshot opens a migrating cell's snapshot.
func (r *Registry) OpenSnapshot(name string) (*os.File, error) {
	if err := v1alpha1.ValidateName(name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	f, err := os.Open(r.snapshotPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("snapshot of cell run %q: %w", name, ErrNotFound)
	}
	return f, err
}

func (r *Registry) snapshotPath(name string) string {
	return filepath.Join(r.dataDir(), "snapshots", name+".snap")
}

// lowerName makes generated names DNS labels (rand.Text is upper-case base32).
func lowerName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
