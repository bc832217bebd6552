package cell

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/migrate"
	"github.com/cloudskin/cloudskin/cell/snapshot"
)

// Fork is one cell started by cloudskin_fork.
type Fork struct {
	// Child is the number cloudskin_fork returned in the parent.
	Child  int
	Result Result
	Err    error
	// Latency is from the parent's call to cloudskin_fork until the
	// child runs: the snapshot and a fresh instance restored from it.
	Latency time.Duration
}

// RunForking runs a migratable cell to completion, forking a child cell
// each time a cell calls cloudskin_fork: the parent and the child go on
// from the call, each in its own instance restored from one snapshot
// taken there, concurrently. child gives each child's spec from its
// number (stdio, limits; args, env and open files come from the
// snapshot). A child whose spec has no Streams or Metrics uses the
// parent's, as a forked process keeps its parent's connections. It
// returns the parent's result and, once every child has ended too, theirs,
// in the order they were forked.
func (p *Program) RunForking(ctx context.Context, spec Spec, child func(n int) Spec) (Result, []Fork, error) {
	if !p.Migratable {
		return Result{}, nil, errors.New("the program is not migratable: build it with `cloudskin cell cc --migratable` to fork")
	}
	f := &forker{p: p, child: child}
	res, err := f.run(ctx, spec, nil, -1)
	f.wg.Wait()
	return res, f.forks, err
}

// forker runs a cell and the tree of cells it forks.
type forker struct {
	p     *Program
	child func(n int) Spec
	next  atomic.Int32 // children numbered so far
	wg    sync.WaitGroup

	mu    sync.Mutex
	forks []Fork
}

// run runs one cell of the tree, from its start or from a fork's snapshot
// with forkResult as cloudskin_fork's value, until it ends.
func (f *forker) run(ctx context.Context, spec Spec, from *snapshot.Snapshot, forkResult int32) (Result, error) {
	ctx, cancel := withTimeout(ctx, spec)
	defer cancel()
	start := time.Now()
	for {
		c, err := f.p.migrateCell(spec, migrate.Cell{
			Hosts: []engine.HostModule{cloudskinHost(spec, forkResult)},
			StopBefore: func(module, name string, _ []uint64) bool {
				return module == cloudskinModule && name == forkFunc
			},
		})
		if err != nil {
			return Result{}, err
		}
		snap, err := migrate.Run(ctx, c, from, 0)
		if snap == nil {
			_, res, err := ended(ctx, start, nil, err)
			return res, err
		}
		n := int(f.next.Add(1))
		f.start(ctx, n, spec, snap)
		from, forkResult = snap, int32(n)
	}
}

// start runs child n of a cell described by parent from snap in its own
// goroutine.
func (f *forker) start(ctx context.Context, n int, parent Spec, snap *snapshot.Snapshot) {
	spec := f.child(n)
	if spec.Streams == nil {
		spec.Streams = parent.Streams
	}
	if spec.Metrics == nil {
		spec.Metrics = parent.Metrics
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		res, err := f.run(ctx, spec, snap, 0)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.forks = append(f.forks, Fork{Child: n, Result: res, Err: err})
	}()
}
