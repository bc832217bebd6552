package cell

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/migrate"
	"github.com/cloudskin/cloudskin/cell/mpi"
	"github.com/cloudskin/cloudskin/cell/snapshot"
)

// WorldStop says where a migratable MPI world stops. Ranks stop together,
// on entering the same collective on MPI_COMM_WORLD (or MPI_Finalize): the
// only place where a world can be cut without a message or a collective
// in flight (see package cell/mpi, state.go).
type WorldStop struct {
	// Collective, when non-zero, stops the world on entering its
	// Collective-th world collective, counted from 1 over its whole life.
	Collective uint64
	// Request, when closed, stops the world at the next world collective
	// that no rank has entered yet.
	Request <-chan struct{}
}

// RunMPIStoppable runs an MPI world of n migratable cells of this program
// (built with `cloudskin cell cc --migratable`), from its start or from
// from (the snapshots of every rank of a stopped world, in rank order; n
// is then len(from)), until it ends or stops where stop says. A stopped
// world returns one snapshot per rank, each carrying its rank's MPI state;
// a world that ends returns nil snapshots, its ranks' results and an error
// as RunMPI does.
func (p *Program) RunMPIStoppable(ctx context.Context, n int, spec func(rank int) Spec, from []*snapshot.Snapshot, stop WorldStop) ([]*snapshot.Snapshot, []Result, error) {
	world, err := p.world(n, from, stop)
	if err != nil {
		return nil, nil, err
	}
	n = world.Size()
	done := make(chan struct{})
	defer close(done)
	if stop.Request != nil {
		go func() {
			select {
			case <-stop.Request:
				world.RequestStop()
			case <-done:
			}
		}()
	}

	snaps := make([]*snapshot.Snapshot, n)
	results := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var start *snapshot.Snapshot
			if from != nil {
				start = from[i]
			}
			snaps[i], results[i], errs[i] = p.runRank(ctx, spec(i), world.Rank(i), start)
			rank := world.Rank(i)
			switch {
			case snaps[i] != nil:
			case errs[i] != nil:
				world.Fail(i, errs[i])
			case results[i].ExitCode != 0:
				world.Fail(i, &exitStatusError{results[i].ExitCode})
			case rank.Unfinished():
				world.Fail(i, errors.New("exited without calling MPI_Finalize"))
			}
		}()
	}
	wg.Wait()
	if err := worldError(world, errs); err != nil {
		return nil, results, err
	}
	return capturedWorld(world, snaps, results)
}

// world makes the world to run: a fresh one, or the one from's ranks were in.
func (p *Program) world(n int, from []*snapshot.Snapshot, stop WorldStop) (*mpi.World, error) {
	if !p.Migratable {
		return nil, errors.New("the program is not migratable: build it with `cloudskin cell cc --migratable`")
	}
	var world *mpi.World
	if from == nil {
		if n < 1 {
			return nil, fmt.Errorf("mpi world of %d ranks: need at least 1", n)
		}
		world = mpi.NewWorld(n, mpi.Options{})
	} else {
		states := make([]*mpi.RankState, len(from))
		for i, s := range from {
			if s.ModuleHash != p.sum {
				return nil, fmt.Errorf("resume: rank %d's snapshot is of another module (%x, not %x)", i, s.ModuleHash[:6], p.sum[:6])
			}
			if len(s.MPI) == 0 {
				return nil, fmt.Errorf("resume: snapshot %d has no MPI state: it is not a rank of a stopped MPI world", i)
			}
			st, err := mpi.UnmarshalRankState(s.MPI)
			if err != nil {
				return nil, fmt.Errorf("resume: snapshot %d: %w", i, err)
			}
			states[i] = st
		}
		w, err := mpi.RestoreWorld(states, mpi.Options{})
		if err != nil {
			return nil, fmt.Errorf("resume: %w", err)
		}
		world = w
	}
	if stop.Collective != 0 {
		if err := world.StopAtCollective(stop.Collective); err != nil {
			return nil, err
		}
	}
	return world, nil
}

// runRank runs one rank's cell through package migrate until it ends or
// stops with its world.
func (p *Program) runRank(ctx context.Context, spec Spec, rank *mpi.Rank, from *snapshot.Snapshot) (*snapshot.Snapshot, Result, error) {
	c, err := p.migrateCell(spec, migrate.Cell{
		Hosts: []engine.HostModule{rank.Module(), cloudskinHost(spec, -1)},
		StopBefore: func(module, name string, args []uint64) bool {
			return module == "mpi" && rank.StopBefore(name, args)
		},
	})
	if err != nil {
		return nil, Result{}, err
	}
	ctx, cancel := withTimeout(ctx, spec)
	defer cancel()
	defer spec.Usage.begin()()
	start := time.Now()
	snap, err := migrate.Run(ctx, c, from, 0)
	return ended(ctx, start, snap, err)
}

// capturedWorld adds each stopped rank's MPI state to its snapshot, now
// that no rank can send any more. Either every rank stopped or none did.
func capturedWorld(world *mpi.World, snaps []*snapshot.Snapshot, results []Result) ([]*snapshot.Snapshot, []Result, error) {
	stopped := 0
	for _, s := range snaps {
		if s != nil {
			stopped++
		}
	}
	switch stopped {
	case 0:
		return nil, results, nil
	case len(snaps):
	default:
		return nil, results, fmt.Errorf("mpi world: %d of %d ranks stopped, the others ended: not a consistent cut", stopped, len(snaps))
	}
	for i, s := range snaps {
		st, err := world.Rank(i).State()
		if err != nil {
			return nil, results, err
		}
		if s.MPI, err = mpi.MarshalRankState(st); err != nil {
			return nil, results, err
		}
	}
	return snaps, results, nil
}
