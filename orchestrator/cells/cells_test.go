package cells_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
	"github.com/cloudskin/cloudskin/store/bolt"
)

func newRegistry(t *testing.T) *cells.Registry {
	t.Helper()
	return newRegistryWith(t, filepath.Join(t.TempDir(), "modules"), nil)
}

// newRegistryWith keeps modules in modulesDir and checkpoints in cp (nil:
// the directory next to modulesDir).
func newRegistryWith(t *testing.T, modulesDir string, cp cells.Checkpoints) *cells.Registry {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return cells.NewRegistry(st, modulesDir, time.Now, cp)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func run(module string) v1alpha1.CellRun {
	return v1alpha1.CellRun{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindCellRun},
		Spec:     v1alpha1.CellRunSpec{Site: "edge", Module: module, Args: []string{"a"}},
	}
}

func TestModulesAreStoredByTheirDigestOnly(t *testing.T) {
	r := newRegistry(t)
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	if err := r.PutModule(digest(wasm), bytes.NewReader(wasm)); err != nil {
		t.Fatal(err)
	}
	f, err := r.OpenModule(digest(wasm))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, wasm) {
		t.Fatalf("module read back as %q", got)
	}
	wrong := digest([]byte("other"))
	if err := r.PutModule(wrong, bytes.NewReader(wasm)); !errors.Is(err, cells.ErrInvalid) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("upload under another digest: err = %v", err)
	}
	if _, err := r.OpenModule(wrong); !errors.Is(err, cells.ErrNotFound) {
		t.Fatalf("a refused upload is readable: %v", err)
	}
	if err := r.PutModule("../../etc/passwd", bytes.NewReader(wasm)); !errors.Is(err, cells.ErrInvalid) {
		t.Fatalf("a path as digest: err = %v", err)
	}
}

func TestCellRunLifecycle(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	if _, err := r.Create(ctx, run(digest(wasm))); !errors.Is(err, cells.ErrInvalid) || !strings.Contains(err.Error(), "has not been uploaded") {
		t.Fatalf("run of a module never uploaded: err = %v", err)
	}
	r.PutModule(digest(wasm), bytes.NewReader(wasm))
	c, err := r.Create(ctx, run(digest(wasm)))
	if err != nil || c.Status.Phase != v1alpha1.CellPending || !strings.HasPrefix(c.Metadata.Name, "cell-") {
		t.Fatalf("create: %+v %v", c, err)
	}
	pending, _ := r.List(ctx, cells.Filter{Site: "edge", Phase: v1alpha1.CellPending})
	other, _ := r.List(ctx, cells.Filter{Site: "cloud"})
	if len(pending) != 1 || len(other) != 0 {
		t.Fatalf("list: edge pending %d, cloud %d", len(pending), len(other))
	}
	if _, err := r.SetStatus(ctx, c.Metadata.Name, v1alpha1.CellRunStatus{Phase: v1alpha1.CellPending}); !errors.Is(err, cells.ErrInvalid) {
		t.Fatalf("an agent setting Pending: err = %v", err)
	}
	r.SetStatus(ctx, c.Metadata.Name, v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning})
	done, err := r.SetStatus(ctx, c.Metadata.Name, v1alpha1.CellRunStatus{Phase: v1alpha1.CellSucceeded, Output: "hi\n"})
	if err != nil || done.Status.Output != "hi\n" {
		t.Fatalf("finish: %+v %v", done, err)
	}
	if _, err := r.SetStatus(ctx, c.Metadata.Name, v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning}); !errors.Is(err, cells.ErrInvalid) {
		t.Fatalf("a finished run started again: err = %v", err)
	}
	if _, err := r.Get(ctx, "cell-missing"); !errors.Is(err, cells.ErrNotFound) {
		t.Fatalf("get missing: err = %v", err)
	}
}
