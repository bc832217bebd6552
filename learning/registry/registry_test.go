package registry_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/registry"
	"github.com/cloudskin/cloudskin/store/bolt"
)

func clock() func() time.Time {
	t := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(time.Second); return t }
}

func openRegistry(t *testing.T, path string) (*registry.Registry, func()) {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return registry.New(st, clock()), func() { st.Close() }
}

// version is a candidate; against > 0 records an evaluation against that
// production version, won or lost.
func version(model string, against int, won bool) v1alpha1.ModelVersion {
	mv := v1alpha1.ModelVersion{Spec: v1alpha1.ModelVersionSpec{
		Model: model, Kind: "holt-winters", Artifact: []byte(`{"model":"holt-winters"}`),
		Metrics: map[string]float64{"mase": 0.8},
	}}
	if against > 0 {
		cand, cur := 0.7, 0.9
		if !won {
			cand, cur = 1.1, 0.9
		}
		mv.Spec.Evaluation = &v1alpha1.ModelEvaluation{Against: against, Metric: "mase", Candidate: cand, Current: cur, Better: won}
		mv.Spec.Parent = against
	}
	return mv
}

func mustRegister(t *testing.T, r *registry.Registry, mv v1alpha1.ModelVersion) v1alpha1.ModelVersion {
	t.Helper()
	out, err := r.Register(context.Background(), mv)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVersionsAreNumberedAndStartAsCandidates(t *testing.T) {
	r, done := openRegistry(t, filepath.Join(t.TempDir(), "s.db"))
	defer done()
	for i := 1; i <= 3; i++ {
		mv := mustRegister(t, r, version("load", 0, false))
		if mv.Status.Version != i || mv.Status.Stage != v1alpha1.StageCandidate || mv.Metadata.Name != fmt.Sprintf("load-v%d", i) {
			t.Fatalf("registration %d: got version %d stage %s name %s", i, mv.Status.Version, mv.Status.Stage, mv.Metadata.Name)
		}
	}
	mustRegister(t, r, version("other", 0, false))
	ms, err := r.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Model != "load" || ms[0].Versions != 3 || ms[0].Latest != 3 || ms[0].Production != 0 || ms[1].Model != "other" {
		t.Fatalf("models = %+v", ms)
	}
}

func TestPromotionNeedsAHeldOutWinOverProduction(t *testing.T) {
	ctx := context.Background()
	r, done := openRegistry(t, filepath.Join(t.TempDir(), "s.db"))
	defer done()
	mustRegister(t, r, version("load", 0, false))
	if _, err := r.Promote(ctx, "load", 1, false); err != nil {
		t.Fatalf("the first version needs no comparison: %v", err)
	}

	mustRegister(t, r, version("load", 1, false)) // v2 lost to v1
	_, err := r.Promote(ctx, "load", 2, false)
	if !errors.Is(err, registry.ErrNotBetter) {
		t.Fatalf("promoting a loser: err = %v, want ErrNotBetter", err)
	}
	if v2, _ := r.Get(ctx, "load", 2); v2.Status.Stage != v1alpha1.StageRejected {
		t.Fatalf("a loser is marked rejected, got %s", v2.Status.Stage)
	}

	unevaluated := mustRegister(t, r, version("load", 0, false)) // v3, no evaluation
	if _, err := r.Promote(ctx, "load", unevaluated.Status.Version, false); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("promoting an unevaluated version: err = %v, want ErrConflict", err)
	}

	mustRegister(t, r, version("load", 1, true)) // v4 beat v1
	p, err := r.Promote(ctx, "load", 4, false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Status.Stage != v1alpha1.StageProduction || p.Status.Replaced != 1 || p.Status.PromotedAt == nil {
		t.Fatalf("promoted = %+v", p.Status)
	}
	if v1, _ := r.Get(ctx, "load", 1); v1.Status.Stage != v1alpha1.StageArchived {
		t.Fatalf("the replaced version is archived, got %s", v1.Status.Stage)
	}

	mustRegister(t, r, version("load", 1, true)) // v5 beat v1, but production is v4 now
	if _, err := r.Promote(ctx, "load", 5, false); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("a win against an old production version: err = %v, want ErrConflict", err)
	}
	forced, err := r.Promote(ctx, "load", 5, true)
	if err != nil || forced.Status.Stage != v1alpha1.StageProduction {
		t.Fatalf("force: %v %+v", err, forced.Status)
	}
	prod, err := r.Production(ctx, "load")
	if err != nil || prod.Status.Version != 5 {
		t.Fatalf("production = v%d (%v), want v5", prod.Status.Version, err)
	}
}

func TestRollbackReturnsToTheReplacedVersionAndSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	r, done := openRegistry(t, path)
	mustRegister(t, r, version("load", 0, false))
	if _, err := r.Promote(ctx, "load", 1, false); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Rollback(ctx, "load"); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("rolling back the first production version: err = %v, want ErrConflict", err)
	}
	mustRegister(t, r, version("load", 1, true))
	if _, err := r.Promote(ctx, "load", 2, false); err != nil {
		t.Fatal(err)
	}
	done()

	r, done = openRegistry(t, path) // the registry lives in the store
	defer done()
	back, err := r.Rollback(ctx, "load")
	if err != nil {
		t.Fatal(err)
	}
	if back.Status.Version != 1 || back.Status.Stage != v1alpha1.StageProduction {
		t.Fatalf("rollback gave v%d %s, want v1 production", back.Status.Version, back.Status.Stage)
	}
	if v2, _ := r.Get(ctx, "load", 2); v2.Status.Stage != v1alpha1.StageRolledBack {
		t.Fatalf("v2 is %s, want rolled-back", v2.Status.Stage)
	}
}

func TestRegisterRejectsBadVersionsAndUnknownModels(t *testing.T) {
	ctx := context.Background()
	r, done := openRegistry(t, filepath.Join(t.TempDir(), "s.db"))
	defer done()
	bad := version("load", 0, false)
	bad.Spec.Artifact = nil
	if _, err := r.Register(ctx, bad); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("no artifact: err = %v, want ErrInvalid", err)
	}
	bad = version("Not_A_Name", 0, false)
	if _, err := r.Register(ctx, bad); !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("bad name: err = %v, want ErrInvalid", err)
	}
	if _, err := r.Versions(ctx, "missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("unknown model: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Promote(ctx, "missing", 1, false); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("promote unknown: err = %v, want ErrNotFound", err)
	}
}

func TestOldVersionsArePrunedButProductionAndItsPredecessorKept(t *testing.T) {
	ctx := context.Background()
	r, done := openRegistry(t, filepath.Join(t.TempDir(), "s.db"))
	defer done()
	mustRegister(t, r, version("load", 0, false))
	if _, err := r.Promote(ctx, "load", 1, false); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, r, version("load", 1, true))
	if _, err := r.Promote(ctx, "load", 2, false); err != nil {
		t.Fatal(err)
	}
	for range registry.Keep + 10 {
		mustRegister(t, r, version("load", 2, false))
	}
	vs, err := r.Versions(ctx, "load")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != registry.Keep {
		t.Fatalf("%d versions kept, want %d", len(vs), registry.Keep)
	}
	if vs[0].Status.Version != 1 || vs[1].Status.Version != 2 {
		t.Fatalf("the oldest kept are v%d and v%d, want v1 (rollback target) and v2 (production)", vs[0].Status.Version, vs[1].Status.Version)
	}
	if last := vs[len(vs)-1].Status.Version; last != registry.Keep+12 {
		t.Fatalf("newest kept is v%d, want v%d", last, registry.Keep+12)
	}
}
