package cells_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
)

func running(site string, cp *v1alpha1.CellCheckpoint) v1alpha1.CellRun {
	c := run(digest([]byte("m")))
	c.Metadata.Name = "c1"
	c.Spec.Site = site
	c.Status = v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: site, Checkpoint: cp}
	return c
}

func TestPlanRecovery(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	cp := &v1alpha1.CellCheckpoint{ID: "a1", Time: now.Add(-time.Second), Site: "spot"}
	lost := func(s string) bool { return s == "spot" }
	ready := []string{"cloud", "edge"}
	for _, tc := range []struct {
		name  string
		in    v1alpha1.CellRun
		ready []string
		want  cells.Recovery
		check func(t *testing.T, c v1alpha1.CellRun)
	}{
		{"site alive", running("edge", cp), ready, cells.Keep, nil},
		{"lost with checkpoint", running("spot", cp), ready, cells.Resume, func(t *testing.T, c v1alpha1.CellRun) {
			if c.Spec.Site != "cloud" || c.Status.Phase != v1alpha1.CellMigrating || c.Status.Attempt != 1 ||
				c.Status.RecoveredFrom != "spot" || !c.Status.StoppedAt.Equal(cp.Time) {
				t.Errorf("resumed run: spec %+v status %+v", c.Spec, c.Status)
			}
		}},
		{"lost, nowhere to go", running("spot", cp), []string{"spot"}, cells.Keep, nil},
		{"lost without checkpoint", running("spot", nil), ready, cells.Fail, func(t *testing.T, c v1alpha1.CellRun) {
			if c.Status.Phase != v1alpha1.CellFailed || c.Status.FinishTime == nil || c.Status.Message == "" {
				t.Errorf("failed run: %+v", c.Status)
			}
		}},
		{"destination lost before it took the run", func() v1alpha1.CellRun {
			c := running("edge", nil)
			c.Spec.Site, c.Status.Phase = "spot", v1alpha1.CellMigrating
			return c
		}(), ready, cells.Retarget, func(t *testing.T, c v1alpha1.CellRun) {
			if c.Spec.Site != "cloud" || c.Status.Attempt != 0 {
				t.Errorf("retargeted run: spec %+v status %+v", c.Spec, c.Status)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, d := cells.PlanRecovery(tc.in, lost, tc.ready, now)
			if d != tc.want {
				t.Fatalf("decision %q, want %q", d, tc.want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

// A checkpoint becomes the run's only through the status that names it;
// after recovery, the old attempt's reports and uploads are refused, and
// the new site gets the checkpoint as its snapshot.
func TestCheckpointsRecoveryAndFencing(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	if err := r.PutModule(digest([]byte("m")), bytes.NewReader([]byte("m"))); err != nil {
		t.Fatal(err)
	}
	c, err := r.Create(ctx, running("spot", nil))
	if err != nil {
		t.Fatal(err)
	}
	name := c.Metadata.Name
	st := v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: "spot", Claim: "c1"}
	if _, err := r.SetStatus(ctx, name, st); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PutCheckpoint(ctx, name, "c1", "../x", bytes.NewReader(nil)); !errors.Is(err, cells.ErrInvalid) {
		t.Errorf("bad checkpoint id: %v", err)
	}
	st.Checkpoint = &v1alpha1.CellCheckpoint{ID: "nope", Time: time.Now(), Site: "spot"}
	if _, err := r.SetStatus(ctx, name, st); !errors.Is(err, cells.ErrInvalid) {
		t.Errorf("a status naming a checkpoint never uploaded: %v", err)
	}
	if _, err := r.PutCheckpoint(ctx, name, "c1", "k1", bytes.NewReader([]byte("first"))); err != nil {
		t.Fatal(err)
	}
	st.Checkpoint.ID = "k1"
	if _, err := r.SetStatus(ctx, name, st); err != nil {
		t.Fatal(err)
	}
	// An upload without its status report is never used.
	if _, err := r.PutCheckpoint(ctx, name, "c1", "k2", bytes.NewReader([]byte("orphan"))); err != nil {
		t.Fatal(err)
	}

	changed, decisions, err := r.Recover(ctx, func(s string) bool { return s == "spot" }, []string{"edge"})
	if err != nil || len(changed) != 1 || decisions[0] != cells.Resume || changed[0].Spec.Site != "edge" {
		t.Fatalf("recover: %v %v %+v", err, decisions, changed)
	}
	f, err := r.OpenSnapshot(name)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if string(got) != "first" {
		t.Errorf("the new site's snapshot is %q, want the promoted checkpoint", got)
	}
	// The old claim is fenced off everywhere.
	if _, err := r.SetStatus(ctx, name, st); !errors.Is(err, cells.ErrConflict) {
		t.Errorf("status of the old attempt: %v", err)
	}
	if _, err := r.PutSnapshot(ctx, name, "c1", "", bytes.NewReader(nil)); !errors.Is(err, cells.ErrConflict) {
		t.Errorf("snapshot of the old attempt: %v", err)
	}
	if _, err := r.PutCheckpoint(ctx, name, "c1", "k3", bytes.NewReader(nil)); !errors.Is(err, cells.ErrConflict) {
		t.Errorf("checkpoint of the old attempt: %v", err)
	}
	// The new site's claim reports fine, and keeps the attempt count.
	st.Claim, st.Site = "c2", "edge"
	if after, err := r.SetStatus(ctx, name, st); err != nil || after.Status.Attempt != 1 || after.Status.Claim != "c2" {
		t.Fatalf("status of the new claim: %v", err)
	}
	st.Claim = "c3"
	if _, err := r.SetStatus(ctx, name, st); !errors.Is(err, cells.ErrConflict) {
		t.Errorf("a second claim of a run already taken: %v", err)
	}
	// Nothing more to do once the site is back or the run moved.
	if changed, _, _ := r.Recover(ctx, func(s string) bool { return s == "spot" }, []string{"edge"}); len(changed) != 0 {
		t.Errorf("recovered again: %+v", changed)
	}
}
