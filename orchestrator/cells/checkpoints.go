package cells

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Checkpoints: an agent uploads a running cell's snapshot under a new ID
// (PutCheckpoint), then reports a status naming that ID; the report makes
// the upload the run's checkpoint. Two steps, so that the checkpoint and
// the status (its output so far, the host call) change together: an
// upload whose report never came is never used.

var checkpointIDPattern = regexp.MustCompile(`^[0-9a-z]{1,32}$`)

// PutCheckpoint keeps an upload of a running cell's snapshot until a
// status report makes it the run's checkpoint.
func (r *Registry) PutCheckpoint(ctx context.Context, name, claim, id string, body io.Reader) (int64, error) {
	if !checkpointIDPattern.MatchString(id) {
		return 0, fmt.Errorf("%w: checkpoint id %q: want 1 to 32 lower-case letters and digits", ErrInvalid, id)
	}
	if err := r.checkClaim(ctx, name, claim); err != nil {
		return 0, err
	}
	return r.checkpoints.Put(ctx, name, id, body)
}

// promoteCheckpoint makes the upload cp names the run's checkpoint, if it
// is a new one. The caller holds r.mu.
func (r *Registry) promoteCheckpoint(ctx context.Context, c v1alpha1.CellRun, cp *v1alpha1.CellCheckpoint) error {
	if cp == nil || (c.Status.Checkpoint != nil && c.Status.Checkpoint.ID == cp.ID) {
		return nil
	}
	if !checkpointIDPattern.MatchString(cp.ID) {
		return fmt.Errorf("%w: status.checkpoint.id %q", ErrInvalid, cp.ID)
	}
	if err := r.checkpoints.Promote(ctx, c.Metadata.Name, cp.ID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: status.checkpoint.id %q: no such upload", ErrInvalid, cp.ID)
		}
		return err
	}
	return nil
}

// Recovery is what PlanRecovery decided for a run.
type Recovery string

// The decisions.
const (
	// Keep: the run's site is not lost, or nothing can be done yet.
	Keep Recovery = ""
	// Resume: the run's site is lost; it resumes elsewhere from its
	// checkpoint, as a new attempt.
	Resume Recovery = "Resume"
	// Retarget: a migrating run's destination is lost before it took the
	// run; it goes to another site.
	Retarget Recovery = "Retarget"
	// Fail: the run's site is lost and it has no checkpoint.
	Fail Recovery = "Fail"
)

// PlanRecovery decides what to do about a run given which sites are lost
// and which are Ready (sorted by preference), and returns the run as it
// should be stored. It does no I/O.
//
// A run is never restarted from its beginning: that would run part of it
// twice. Without a checkpoint it fails, saying why.
func PlanRecovery(c v1alpha1.CellRun, lost func(site string) bool, ready []string, now time.Time) (v1alpha1.CellRun, Recovery) {
	st := c.Status
	target := func(avoid ...string) string {
		for _, s := range ready {
			if !lost(s) && !slices.Contains(avoid, s) {
				return s
			}
		}
		return ""
	}
	switch {
	case st.Phase == v1alpha1.CellRunning && lost(st.Site) && st.Checkpoint == nil:
		c.Status.Phase, c.Status.ExitCode = v1alpha1.CellFailed, -1
		c.Status.Message = fmt.Sprintf("site %s was lost and the cell had no checkpoint to resume from (set spec.checkpointInterval)", st.Site)
		c.Status.FinishTime = &now
		return c, Fail
	case st.Phase == v1alpha1.CellRunning && lost(st.Site):
		to := target(st.Site)
		if to == "" {
			return c, Keep
		}
		c.Spec.Site = to
		c.Status.Phase = v1alpha1.CellMigrating
		c.Status.Attempt++
		c.Status.Claim = "" // the lost site's agent no longer holds it
		c.Status.RecoveredFrom = st.Site
		// Every rank resumes at the new site: moves of single ranks made
		// after the checkpoint are undone with the rest.
		c.Spec.RankSites, c.Status.Ranks = nil, nil
		stopped := st.Checkpoint.Time
		c.Status.StoppedAt = &stopped
		return c, Resume
	case st.Phase == v1alpha1.CellMigrating && lost(c.Spec.Site):
		to := target(c.Spec.Site)
		if to == "" {
			return c, Keep
		}
		c.Spec.Site = to
		return c, Retarget
	}
	return c, Keep
}

// Recover applies PlanRecovery to every unfinished run and returns the
// runs it changed, with what it decided. A resumed run's checkpoint
// becomes the snapshot its new site takes.
func (r *Registry) Recover(ctx context.Context, lost func(site string) bool, ready []string) ([]v1alpha1.CellRun, []Recovery, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	runs, err := r.List(ctx, Filter{})
	if err != nil {
		return nil, nil, err
	}
	var changed []v1alpha1.CellRun
	var decisions []Recovery
	for _, c := range runs {
		if c.Status.Phase.Done() {
			continue
		}
		next, d := PlanRecovery(c, lost, ready, r.now())
		if d == Keep {
			continue
		}
		if d == Resume {
			if err := r.checkpointToSnapshot(ctx, c.Metadata.Name, c.Status.Checkpoint.ID); err != nil {
				return changed, decisions, err
			}
		}
		if err := r.put(ctx, next); err != nil {
			return changed, decisions, err
		}
		changed, decisions = append(changed, next), append(decisions, d)
	}
	return changed, decisions, nil
}

// checkpointToSnapshot copies a run's checkpoint to where its next site
// fetches a migrating run's snapshot.
func (r *Registry) checkpointToSnapshot(ctx context.Context, name, id string) error {
	f, err := r.checkpoints.Open(ctx, name, id)
	if err != nil {
		return fmt.Errorf("checkpoint of %s: %w", name, err)
	}
	defer f.Close()
	_, err = writeFile(filepath.Join(r.dataDir(), "snapshots"), r.snapshotPath(name), f)
	return err
}
