package cell

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/migrate"
	"github.com/cloudskin/cloudskin/cell/snapshot"
)

// RunUntil runs a migratable cell (built with `cloudskin cell cc
// --migratable`) until its n-th call into the host and returns the
// snapshot taken there; the call itself is made when the snapshot resumes.
// A cell that ends first returns a nil snapshot and its Result, as Run does.
func (p *Program) RunUntil(ctx context.Context, spec Spec, n uint64) (*snapshot.Snapshot, Result, error) {
	if n == 0 {
		return nil, Result{}, errors.New("snapshot at host call 0: calls count from 1")
	}
	return p.migrated(ctx, spec, nil, n, nil)
}

// RunStoppable runs a migratable cell from its start, or from a snapshot,
// until it ends, or until stop is closed: then it stops at its next host
// call and returns the snapshot taken there.
func (p *Program) RunStoppable(ctx context.Context, spec Spec, from *snapshot.Snapshot, stop <-chan struct{}) (*snapshot.Snapshot, Result, error) {
	return p.migrated(ctx, spec, from, 0, stop)
}

// Resume continues a snapshot of this program to the end. Args, env and
// granted directories come from the snapshot; stdio, limits, Streams and
// Metrics from spec.
func (p *Program) Resume(ctx context.Context, spec Spec, snap *snapshot.Snapshot) (Result, error) {
	if snap == nil {
		return Result{}, errors.New("resume: no snapshot")
	}
	_, res, err := p.migrated(ctx, spec, snap, 0, nil)
	return res, err
}

// migrated runs the cell through package migrate, from its start or from a
// snapshot, until it ends or reaches host call stopAt (0: never stops).
func (p *Program) migrated(ctx context.Context, spec Spec, from *snapshot.Snapshot, stopAt uint64, stop <-chan struct{}) (*snapshot.Snapshot, Result, error) {
	if p.UsesMPI {
		return nil, Result{}, errors.New("snapshots of MPI programs are not supported yet")
	}
	c, err := p.migrateCell(spec, migrate.Cell{Stop: stop, Hosts: []engine.HostModule{cloudskinHost(spec, -1)}})
	if err != nil {
		return nil, Result{}, err
	}
	ctx, cancel := withTimeout(ctx, spec)
	defer cancel()
	defer spec.Usage.begin()()
	start := time.Now()
	snap, err := migrate.Run(ctx, c, from, stopAt)
	return ended(ctx, start, snap, err)
}

// migrateCell completes how (its Stop, Hosts and StopBefore) into the
// migrate.Cell that runs this program as spec describes.
func (p *Program) migrateCell(spec Spec, how migrate.Cell) (migrate.Cell, error) {
	pages, err := memoryPages(spec.MemoryLimit)
	if err != nil {
		return how, err
	}
	how.Compiled, how.Engine, how.ModuleHash = p.compiled, string(p.Engine), p.sum
	how.WASI = wasiConfig(spec)
	how.MemoryLimitPages = pages
	how.Uninterruptible = spec.Uninterruptible && spec.Timeout == 0
	if spec.Usage != nil {
		how.Observe = spec.Usage.observe
	}
	return how, nil
}

// withTimeout bounds ctx by spec's time limit, if it has one.
func withTimeout(ctx context.Context, spec Spec) (context.Context, context.CancelFunc) {
	if spec.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, spec.Timeout, fmt.Errorf("cell: %w (%s)", ErrTimeout, spec.Timeout))
}

// ended turns what migrate.Run returned, for a run that began at start,
// into a stopped cell's snapshot or an ended one's Result.
func ended(ctx context.Context, start time.Time, snap *snapshot.Snapshot, err error) (*snapshot.Snapshot, Result, error) {
	res := Result{Elapsed: time.Since(start)}
	if snap != nil {
		return snap, res, nil
	}
	res, err = exitStatus(ctx, res, err)
	return nil, res, err
}
