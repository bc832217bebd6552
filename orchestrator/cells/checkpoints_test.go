package cells_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gedstest"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
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
		{"lost with a rank moved away", func() v1alpha1.CellRun {
			c := running("spot", cp)
			c.Spec.Ranks = 3
			c.Spec.RankSites = []v1alpha1.CellRankSite{{Rank: 2, Site: "edge"}}
			c.Status.Ranks = []v1alpha1.CellRankStatus{{Rank: 2, Site: "edge", Phase: v1alpha1.RankMoved}}
			return c
		}(), ready, cells.Resume, func(t *testing.T, c v1alpha1.CellRun) {
			// The checkpoint is of the whole world: every rank resumes at
			// the new site.
			if c.Spec.RankSites != nil || c.Status.Ranks != nil {
				t.Errorf("resumed world keeps its rank moves: %+v %+v", c.Spec.RankSites, c.Status.Ranks)
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

// storage is a checkpoint storage under test: a registry over it, and a
// look at what it holds for a run (names of files or objects, sorted).
type storage struct {
	registry *cells.Registry
	holds    func(t *testing.T, run string) []string
}

// dirStorage is the default: files under <data>/checkpoints.
func dirStorage(t *testing.T) storage {
	data := t.TempDir()
	return storage{
		registry: newRegistryWith(t, filepath.Join(data, "modules"), nil),
		holds: func(t *testing.T, run string) []string {
			entries, err := os.ReadDir(filepath.Join(data, "checkpoints", run))
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return names
		},
	}
}

// gedsWorld is a real GEDS metadata service and a real MinIO as its
// persistency tier.
type gedsWorld struct {
	meta  *gedstest.Metadata
	minio *miniotest.Server
	tier  geds.Persistent
}

const testBucketPrefix = "geds-"

func startGEDS(t testing.TB) *gedsWorld {
	t.Helper()
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{
		Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
		Region: "us-east-1", BucketPrefix: testBucketPrefix,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &gedsWorld{meta: gedstest.StartMetadata(t, time.Second), minio: srv, tier: tier}
}

// node opens a GEDS node, closed at the end of the test unless before.
func (w *gedsWorld) node(t testing.TB, id string) *geds.Client {
	t.Helper()
	c, err := geds.Open(context.Background(), geds.Options{
		NodeID: id, Dir: t.TempDir(), Limit: 256 << 20, MetadataURL: w.meta.URL, Persistent: w.tier,
		HeartbeatInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// inS3 lists the keys under prefix in the checkpoints' S3 bucket.
func (w *gedsWorld) inS3(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	for o := range w.minio.Client().ListObjects(context.Background(), testBucketPrefix+cells.CheckpointBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

// gedsStorage keeps checkpoints in GEDS; what it holds is checked in S3,
// where a checkpoint must be before it counts.
func gedsStorage(t *testing.T) storage {
	w := startGEDS(t)
	cp, err := cells.NewGEDSCheckpoints(context.Background(), w.node(t, "control-plane"))
	if err != nil {
		t.Fatal(err)
	}
	return storage{
		registry: newRegistryWith(t, filepath.Join(t.TempDir(), "modules"), cp),
		holds: func(t *testing.T, run string) []string {
			var names []string
			for _, k := range w.inS3(t, run+"/") {
				names = append(names, strings.TrimPrefix(k, run+"/"))
			}
			return names
		},
	}
}

// TestCheckpointsRecoveryAndFencing runs the registry's checkpoint rules
// on both storages: a checkpoint becomes the run's only through the status
// that names it; after recovery, the old attempt's reports and uploads are
// refused, and the new site gets the checkpoint as its snapshot. What each
// storage holds on the way is checked: the directory's files as before
// the storages were pluggable; GEDS's objects in S3, where the older ones
// go when a newer one is promoted.
func TestCheckpointsRecoveryAndFencing(t *testing.T) {
	t.Run("dir", func(t *testing.T) {
		testCheckpointsRecoveryAndFencing(t, dirStorage(t), map[string]string{
			"promoted": "current.snap",
			"orphan":   "current.snap k2.snap",
			// An upload never reported stays until the run goes.
			"again": "current.snap k2.snap",
		})
	})
	t.Run("geds", func(t *testing.T) {
		testCheckpointsRecoveryAndFencing(t, gedsStorage(t), map[string]string{
			"promoted": "k1.snap",
			"orphan":   "k1.snap k2.snap",
			// k4's promotion deleted k1 and the orphan k2, both older.
			"again": "k4.snap",
		})
	})
}

func testCheckpointsRecoveryAndFencing(t *testing.T, s storage, holds map[string]string) {
	ctx := context.Background()
	r := s.registry
	held := func(when, run string) {
		t.Helper()
		if got := strings.Join(s.holds(t, run), " "); got != holds[when] {
			t.Errorf("%s: the storage holds %q, want %q", when, got, holds[when])
		}
	}
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
	if n, err := r.PutCheckpoint(ctx, name, "c1", "k1", bytes.NewReader([]byte("first"))); err != nil || n != 5 {
		t.Fatalf("put k1: %d bytes, %v", n, err)
	}
	st.Checkpoint.ID = "k1"
	if _, err := r.SetStatus(ctx, name, st); err != nil {
		t.Fatal(err)
	}
	held("promoted", name)
	// An upload without its status report is never used.
	if _, err := r.PutCheckpoint(ctx, name, "c1", "k2", bytes.NewReader([]byte("orphan"))); err != nil {
		t.Fatal(err)
	}
	held("orphan", name)

	changed, decisions, err := r.Recover(ctx, func(s string) bool { return s == "spot" }, []string{"edge"})
	if err != nil || len(changed) != 1 || decisions[0] != cells.Resume || changed[0].Spec.Site != "edge" {
		t.Fatalf("recover: %v %v %+v", err, decisions, changed)
	}
	if got := snapshotOf(t, r, name); got != "first" {
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

	// The new site checkpoints in turn, and is lost in turn: the run
	// resumes from the newer checkpoint.
	st.Claim = "c2"
	if _, err := r.PutCheckpoint(ctx, name, "c2", "k4", bytes.NewReader([]byte("second"))); err != nil {
		t.Fatal(err)
	}
	st.Checkpoint = &v1alpha1.CellCheckpoint{ID: "k4", Time: time.Now(), Site: "edge"}
	if _, err := r.SetStatus(ctx, name, st); err != nil {
		t.Fatal(err)
	}
	held("again", name)
	if changed, _, err := r.Recover(ctx, func(s string) bool { return s == "edge" }, []string{"cloud"}); err != nil || len(changed) != 1 {
		t.Fatalf("second recovery: %v %+v", err, changed)
	}
	if got := snapshotOf(t, r, name); got != "second" {
		t.Errorf("after the second recovery the snapshot is %q, want the newer checkpoint", got)
	}
	// Deleting the run deletes its checkpoints.
	if err := r.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if left := s.holds(t, name); len(left) != 0 {
		t.Errorf("after deleting the run the storage still holds %q", left)
	}
}

func snapshotOf(t *testing.T, r *cells.Registry, name string) string {
	t.Helper()
	f, err := r.OpenSnapshot(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// A checkpoint in GEDS outlives the node that took it: once Put returns
// it is in S3, and another node reads it after the first one is gone.
// With S3 or the metadata service down, an upload fails as unavailable
// (the agent tries again at its next checkpoint) and leaves nothing that
// could be promoted.
func TestGEDSCheckpointsOutliveTheirNode(t *testing.T) {
	ctx := context.Background()
	w := startGEDS(t)
	first := w.node(t, "control-plane-1")
	cp, err := cells.NewGEDSCheckpoints(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("linear memory "), 100_000)
	if _, err := cp.Put(ctx, "run-1", "a1", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if err := cp.Promote(ctx, "run-1", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := cp.Promote(ctx, "run-1", "b2"); !errors.Is(err, cells.ErrNotFound) {
		t.Errorf("promoting an upload that never came: %v, want ErrNotFound", err)
	}
	if got := w.inS3(t, "run-1/"); len(got) != 1 || got[0] != "run-1/a1.snap" {
		t.Fatalf("in S3 after Put: %q", got)
	}
	first.Close() // the host that took the checkpoint is gone

	other, err := cells.NewGEDSCheckpoints(ctx, w.node(t, "control-plane-2"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := other.Open(ctx, "run-1", "a1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read from another node: %d bytes (want %d), %v", len(got), len(body), err)
	}
	if _, err := other.Open(ctx, "run-1", "zz"); !errors.Is(err, cells.ErrNotFound) {
		t.Errorf("open of a checkpoint never taken: %v, want ErrNotFound", err)
	}

	w.minio.Stop()
	if _, err := other.Put(ctx, "run-1", "c3", bytes.NewReader(body)); !errors.Is(err, cells.ErrUnavailable) {
		t.Fatalf("Put while S3 is down: %v, want ErrUnavailable", err)
	}
	if err := other.Promote(ctx, "run-1", "c3"); !errors.Is(err, cells.ErrNotFound) {
		t.Errorf("an upload that never reached S3 can be promoted: %v", err)
	}
	w.minio.Restart()
	w.meta.Stop()
	if _, err := other.Put(ctx, "run-1", "d4", bytes.NewReader(body)); !errors.Is(err, cells.ErrUnavailable) {
		t.Fatalf("Put while the metadata service is down: %v, want ErrUnavailable", err)
	}
}

// Deferred storage is unavailable until it is set, then the storage set.
func TestDeferredCheckpoints(t *testing.T) {
	ctx := context.Background()
	d := cells.NewDeferredCheckpoints("not open yet")
	if _, err := d.Put(ctx, "run-1", "a1", bytes.NewReader([]byte("x"))); !errors.Is(err, cells.ErrUnavailable) || !strings.Contains(err.Error(), "not open yet") {
		t.Fatalf("Put before Set: %v, want ErrUnavailable saying why", err)
	}
	if _, err := d.Open(ctx, "run-1", "a1"); !errors.Is(err, cells.ErrUnavailable) {
		t.Fatalf("Open before Set: %v", err)
	}
	d.Set(cells.NewDirCheckpoints(t.TempDir()))
	if _, err := d.Put(ctx, "run-1", "a1", bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if err := d.Promote(ctx, "run-1", "a1"); err != nil {
		t.Fatal(err)
	}
	rc, err := d.Open(ctx, "run-1", "a1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "x" {
		t.Fatalf("read %q after Set", got)
	}
	if err := d.Delete(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Open(ctx, "run-1", "a1"); !errors.Is(err, cells.ErrNotFound) {
		t.Fatalf("Open after Delete: %v", err)
	}
}

// BenchmarkCheckpointPut measures taking one 16 MiB checkpoint (random
// bytes, as a compressed snapshot is): a file on the control plane's disk,
// against GEDS with its copy to S3 (MinIO on loopback) before Put returns.
func BenchmarkCheckpointPut(b *testing.B) {
	body := make([]byte, 16<<20)
	rand.Read(body)
	for _, bc := range []struct {
		name string
		open func(b *testing.B) cells.Checkpoints
	}{
		{"dir", func(b *testing.B) cells.Checkpoints { return cells.NewDirCheckpoints(b.TempDir()) }},
		{"geds", func(b *testing.B) cells.Checkpoints {
			w := startGEDS(b)
			cp, err := cells.NewGEDSCheckpoints(context.Background(), w.node(b, "control-plane"))
			if err != nil {
				b.Fatal(err)
			}
			return cp
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cp := bc.open(b)
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("k%d", i)
				if _, err := cp.Put(ctx, "run-1", id, bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
				if err := cp.Promote(ctx, "run-1", id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
