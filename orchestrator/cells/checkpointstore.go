package cells

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
)

// ErrUnavailable is returned (wrapped) when the checkpoint storage cannot
// be reached now (GEDS not open yet, its metadata service or S3 down): the
// same request may succeed later. An agent whose checkpoint upload fails
// logs it and keeps the cell running; it uploads the next one on time.
var ErrUnavailable = errors.New("unavailable")

// Checkpoints keeps the checkpoints of cell runs: uploads of a running
// cell's snapshot, by run and ID, one of which a status report makes the
// run's current checkpoint. The registry checks IDs and claims before it
// calls; implementations may assume run and id are valid names.
type Checkpoints interface {
	// Put keeps body as run's upload id and returns its size. Once it
	// returns, the upload is as durable as the storage promises.
	Put(ctx context.Context, run, id string, body io.Reader) (int64, error)
	// Promote makes upload id run's current checkpoint; an error wrapping
	// ErrNotFound says there is no such upload. Older checkpoints may go.
	Promote(ctx context.Context, run, id string) error
	// Open opens run's current checkpoint; id is the one the run's status
	// records, which Promote made current.
	Open(ctx context.Context, run, id string) (io.ReadCloser, error)
	// Delete forgets all of run's checkpoints and uploads.
	Delete(ctx context.Context, run string) error
}

// DirCheckpoints keeps checkpoints as files: uploads in <dir>/<run>/<id>.snap,
// renamed to <dir>/<run>/current.snap when promoted. They live on the
// control plane's disk: they survive the loss of the host that ran the
// cell, not the loss of the control plane's.
type DirCheckpoints struct {
	dir string
}

// NewDirCheckpoints keeps checkpoints under dir, made when first needed.
func NewDirCheckpoints(dir string) *DirCheckpoints { return &DirCheckpoints{dir: dir} }

func (d *DirCheckpoints) runDir(run string) string { return filepath.Join(d.dir, run) }

func (d *DirCheckpoints) current(run string) string {
	return filepath.Join(d.runDir(run), "current.snap")
}

// Put implements Checkpoints.
func (d *DirCheckpoints) Put(_ context.Context, run, id string, body io.Reader) (int64, error) {
	dir := d.runDir(run)
	return writeFile(dir, filepath.Join(dir, id+".snap"), body)
}

// Promote implements Checkpoints: a rename, which replaces the previous
// current checkpoint.
func (d *DirCheckpoints) Promote(_ context.Context, run, id string) error {
	err := os.Rename(filepath.Join(d.runDir(run), id+".snap"), d.current(run))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint %s of %s: %w", id, run, ErrNotFound)
	}
	return err
}

// Open implements Checkpoints; the current checkpoint is the one file of
// that name, whatever its ID was.
func (d *DirCheckpoints) Open(_ context.Context, run, _ string) (io.ReadCloser, error) {
	f, err := os.Open(d.current(run))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint of %s: %w", run, ErrNotFound)
	}
	return f, err
}

// Delete implements Checkpoints.
func (d *DirCheckpoints) Delete(_ context.Context, run string) error {
	return os.RemoveAll(d.runDir(run))
}

// DeferredCheckpoints is checkpoint storage that becomes another once that
// one is ready: in `cloudskin up` the control plane opens before the GEDS
// node its checkpoints go to, which needs the metadata service up. Until
// Set, every call fails with ErrUnavailable, so no start-up order is
// needed: an agent's upload fails and the next one succeeds.
type DeferredCheckpoints struct {
	why         string
	checkpoints atomic.Pointer[Checkpoints]
}

// NewDeferredCheckpoints returns storage that is unavailable, for the
// reason why, until Set.
func NewDeferredCheckpoints(why string) *DeferredCheckpoints {
	return &DeferredCheckpoints{why: why}
}

// Set makes calls go to c from now on.
func (d *DeferredCheckpoints) Set(c Checkpoints) { d.checkpoints.Store(&c) }

func (d *DeferredCheckpoints) get() (Checkpoints, error) {
	if c := d.checkpoints.Load(); c != nil {
		return *c, nil
	}
	return nil, fmt.Errorf("checkpoints: %w: %s", ErrUnavailable, d.why)
}

// Put implements Checkpoints.
func (d *DeferredCheckpoints) Put(ctx context.Context, run, id string, body io.Reader) (int64, error) {
	c, err := d.get()
	if err != nil {
		return 0, err
	}
	return c.Put(ctx, run, id, body)
}

// Promote implements Checkpoints.
func (d *DeferredCheckpoints) Promote(ctx context.Context, run, id string) error {
	c, err := d.get()
	if err != nil {
		return err
	}
	return c.Promote(ctx, run, id)
}

// Open implements Checkpoints.
func (d *DeferredCheckpoints) Open(ctx context.Context, run, id string) (io.ReadCloser, error) {
	c, err := d.get()
	if err != nil {
		return nil, err
	}
	return c.Open(ctx, run, id)
}

// Delete implements Checkpoints.
func (d *DeferredCheckpoints) Delete(ctx context.Context, run string) error {
	c, err := d.get()
	if err != nil {
		return err
	}
	return c.Delete(ctx, run)
}
