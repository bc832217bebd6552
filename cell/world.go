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
	// that no rank has entered yet. A world with a rank moved out of this
	// process (Move) can no longer stop as a whole and ignores it.
	Request <-chan struct{}
	// Move delivers requests to move one rank to another process while
	// the others run on (see RankMove).
	Move <-chan RankMove
	// Away runs ranks elsewhere from their start, as RunMPISpread does;
	// only for a world that starts (from is nil).
	Away map[int]RankMove
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
	movers := make([]*mover, n)
	for i := range movers {
		movers[i] = &mover{}
	}
	if stop.Move != nil {
		go watchMoves(stop.Move, movers, done)
	}
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
			rank, sp := world.Rank(i), spec(i) // spec once per rank
			moved := false
			if from == nil {
				rank.Module()
				results[i], start, moved, errs[i] = p.startAway(ctx, world, i, sp, stop.Away)
			}
			if !moved {
				snaps[i], results[i], errs[i] = p.runMovableRank(ctx, world, sp, rank, start, movers[i])
			}
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

// runMovableRank runs one rank's cell until it ends, stops with its
// world, or moves to another process (then its result is the moved
// cell's). A rank whose move no mover takes goes on here.
func (p *Program) runMovableRank(ctx context.Context, world *mpi.World, spec Spec, rank *mpi.Rank, from *snapshot.Snapshot, mv *mover) (*snapshot.Snapshot, Result, error) {
	for {
		snap, res, err := p.runRank(ctx, spec, rank, from, mv)
		if snap == nil || !mv.stopped {
			return snap, res, err
		}
		mv.stopped = false
		res, resume, moved, err := p.moveRank(ctx, world, rank.Index(), spec, snap, mv.req, mv.stoppedAt)
		if moved {
			return nil, res, err
		}
		from = resume             // the cell as it stopped here, or as it came home
		mv.requested.Store(false) // it may be asked again
	}
}

// runRank runs one rank's cell through package migrate until it ends or
// stops with its world, or alone at any host call to move (mv.stopped).
func (p *Program) runRank(ctx context.Context, spec Spec, rank *mpi.Rank, from *snapshot.Snapshot, mv *mover) (*snapshot.Snapshot, Result, error) {
	c, err := p.migrateCell(spec, migrate.Cell{
		Hosts: []engine.HostModule{rank.Module(), cloudskinHost(spec, -1)},
		StopBefore: func(module, name string, args []uint64) bool {
			// A world collective is counted first (and a stop of the
			// whole world there wins), as a call re-made on resuming is
			// not asked about again.
			if module == "mpi" && rank.StopBefore(name, args) {
				return true
			}
			if mv.requested.Load() {
				mv.stopped, mv.stoppedAt = true, time.Now()
				return true
			}
			return false
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
