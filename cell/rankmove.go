package cell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/migrate"
	"github.com/cloudskin/cloudskin/cell/mpi"
	"github.com/cloudskin/cloudskin/cell/snapshot"
)

// RankMove asks a running MPI world (RunMPIStoppable, WorldStop.Move) to
// move one rank to another process while the other ranks run on. The
// rank's cell stops at its next host call and is offered at Home; a mover
// (RunMovedRank, given the token) takes it over TCP and runs it to its
// end, its MPI calls made here (see package cell/mpi, home.go). If no
// mover attaches within AttachWithin, the rank goes on here.
type RankMove struct {
	Rank         int
	Home         *mpi.Home
	AttachWithin time.Duration
	// Offered, if set, is called once the rank is offered, with what a
	// mover needs (the token) and what it will carry.
	Offered func(RankOffer)
	// Moved, if set, is called when the move is decided: a mover
	// attached, or the rank stays here and why.
	Moved func(RankMoveResult)
	// Returned, if set, is called when the moved rank came home (its
	// mover stopped it and sent it back, RunMovedRankReturning) and goes
	// on here.
	Returned func(RankReturn)
}

// RankReturn describes a rank come home.
type RankReturn struct {
	Rank     int
	Bytes    int
	HostCall uint64
}

// RankOffer describes an offered rank.
type RankOffer struct {
	Rank     int
	Token    string
	Bytes    int    // the encoded snapshot the mover fetches
	HostCall uint64 // where the cell stopped
	Stopped  time.Time
}

// RankMoveResult is how a move went.
type RankMoveResult struct {
	Rank     int
	Attached bool
	// Downtime runs from the cell's stop here (before its memory is
	// captured) to the mover's attach, which it makes once it restored the
	// cell into its instance.
	Downtime time.Duration
	// Err says why a move that did not happen did not.
	Err error
}

// mover is one rank's part in moves: a flag its StopBefore hook reads on
// every host call, and the pending request.
type mover struct {
	requested atomic.Bool
	req       RankMove
	// stopped says the rank's cell stopped to move, and stoppedAt when it
	// did (before its memory was captured); only the rank's goroutine
	// uses them.
	stopped   bool
	stoppedAt time.Time
}

// watchMoves hands rank moves from ch to the ranks' movers until done.
// A request for a rank out of range or already moving is dropped: the
// caller learns of each move it asked for through Offered and Moved.
func watchMoves(ch <-chan RankMove, movers []*mover, done <-chan struct{}) {
	for {
		select {
		case rm := <-ch:
			if rm.Rank < 0 || rm.Rank >= len(movers) || rm.Home == nil {
				continue
			}
			m := movers[rm.Rank]
			if m.requested.Load() {
				continue
			}
			m.req = rm
			m.requested.Store(true) // publishes req to the rank's goroutine
		case <-done:
			return
		}
	}
}

// startAway runs rank elsewhere from its start if away asks for it; moved
// false means it runs here, from its start or, if it came home, from
// resume.
func (p *Program) startAway(ctx context.Context, world *mpi.World, rank int, spec Spec, away map[int]RankMove) (res Result, resume *snapshot.Snapshot, moved bool, err error) {
	rm, ok := away[rank]
	if !ok || rm.Home == nil {
		return Result{}, nil, false, nil
	}
	return p.moveRank(ctx, world, rank, spec, nil, rm, time.Now())
}

// moveRank offers rank's cell and waits for the move: its stopped cell
// (snap), or with snap nil a rank that has not started, which the mover
// runs from its start. It returns the rank's result if it moved and ended
// there, or moved false if it runs here again: then the caller resumes
// resume (snap if the move did not happen, the cell come home if it came
// back), or starts the rank if resume is nil.
func (p *Program) moveRank(ctx context.Context, world *mpi.World, rank int, spec Spec, snap *snapshot.Snapshot, rm RankMove, stopped time.Time) (res Result, resume *snapshot.Snapshot, moved bool, err error) {
	notMoved := func(err error) (Result, *snapshot.Snapshot, bool, error) {
		if rm.Moved != nil {
			rm.Moved(RankMoveResult{Rank: rank, Err: err})
		}
		return Result{}, snap, false, nil
	}
	var cell []byte
	hostCall := uint64(0)
	if snap != nil {
		snap.MPI = nil // the rank's MPI state stays here
		hostCall = snap.HostCalls
		if cell, err = encodeCell(snap); err != nil {
			return notMoved(fmt.Errorf("rank %d: encode its snapshot to move: %w", rank, err))
		}
	}
	mv, err := rm.Home.Offer(world, rank, cell, writerOrDiscard(spec.Stdout), writerOrDiscard(spec.Stderr))
	if err != nil {
		return notMoved(err)
	}
	if rm.Offered != nil {
		rm.Offered(RankOffer{Rank: rank, Token: mv.Token(), Bytes: len(cell), HostCall: hostCall, Stopped: stopped})
	}
	attachWithin := rm.AttachWithin
	if attachWithin <= 0 {
		attachWithin = 30 * time.Second
	}
	if !mv.WaitAttached(ctx, attachWithin) {
		if err := mv.Reattach(); err != nil {
			return Result{}, nil, true, err
		}
		return notMoved(fmt.Errorf("rank %d: no mover attached within %s", rank, attachWithin))
	}
	if rm.Moved != nil {
		rm.Moved(RankMoveResult{Rank: rank, Attached: true, Downtime: mv.AttachedAt().Sub(stopped)})
	}
	exit := mv.WaitEnd(ctx)
	switch {
	case exit.Returned != nil:
		return p.comeHome(rank, mv, exit.Returned, rm)
	case exit.Lost != nil:
		return Result{}, nil, true, fmt.Errorf("rank %d moved and was lost: %w", rank, exit.Lost)
	case exit.Message != "":
		return Result{ExitCode: exit.Code}, nil, true, fmt.Errorf("rank %d (moved): %s", rank, exit.Message)
	}
	return Result{ExitCode: exit.Code, Elapsed: time.Since(stopped)}, nil, true, nil
}

// comeHome takes back a moved rank's cell, sent home by its mover: the
// rank resumes here from it.
func (p *Program) comeHome(rank int, mv *mpi.Move, cell []byte, rm RankMove) (Result, *snapshot.Snapshot, bool, error) {
	snap, err := snapshot.Decode(bytes.NewReader(cell), &p.sum)
	if err != nil {
		return Result{}, nil, true, fmt.Errorf("rank %d came home: %w", rank, err)
	}
	if err := mv.Return(); err != nil {
		return Result{}, nil, true, err
	}
	if rm.Returned != nil {
		rm.Returned(RankReturn{Rank: rank, Bytes: len(cell), HostCall: snap.HostCalls})
	}
	return Result{}, snap, false, nil
}

// encodeCell is a moving cell's snapshot as it travels.
func encodeCell(snap *snapshot.Snapshot) ([]byte, error) {
	var buf bytes.Buffer
	// Room for the pages as they are (memory that does not compress): a
	// buffer grown step by step cost a 512 MiB cell a second.
	buf.Grow(len(snap.Pages)*snapshot.PageSize + 64<<10)
	if err := snapshot.Encode(&buf, snap); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writerOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// RunMovedRank takes over rank of a world that runs elsewhere: it joins the
// world's home over conn with the move's token, fetches the rank's cell,
// restores it and runs it here to its end, its MPI calls and its output
// going to the home. A rank offered before it started (an empty cell)
// starts here from the beginning, with spec's args and environment (the
// home's spec for the rank, as agents take both from the run), and needs
// no migratable module. If the cell cannot be restored here the home is
// told, and the rank goes on at home. It closes conn.
func (p *Program) RunMovedRank(ctx context.Context, spec Spec, conn net.Conn, rank int, token string) (Result, error) {
	res, _, err := p.RunMovedRankReturning(ctx, spec, conn, rank, token, nil)
	return res, err
}

// RunMovedRankReturning is RunMovedRank for a rank that may be sent home:
// when goHome is closed, a migratable cell stops at its next host call and
// goes back to the world's home, where it resumes (home is true then).
func (p *Program) RunMovedRankReturning(ctx context.Context, spec Spec, conn net.Conn, rank int, token string, goHome <-chan struct{}) (res Result, home bool, err error) {
	if !p.UsesMPI {
		conn.Close()
		return Result{}, false, errors.New("run a moved rank: the program does not use MPI")
	}
	j, err := mpi.Join(ctx, conn, rank, token)
	if err != nil {
		return Result{}, false, err
	}
	spec.Stdout, spec.Stderr = j.Stdout(), j.Stderr()
	var snap *snapshot.Snapshot
	switch {
	case len(j.Cell) == 0 && !p.Migratable:
		res, err := p.runFresh(ctx, spec, j)
		return res, false, err
	case len(j.Cell) > 0 && !p.Migratable:
		j.Refuse()
		return Result{}, false, errors.New("run a moved rank: the program is not migratable; build it with cloudskin cell cc --migratable")
	case len(j.Cell) > 0:
		if snap, err = snapshot.Decode(bytes.NewReader(j.Cell), &p.sum); err != nil {
			j.Refuse()
			return Result{}, false, fmt.Errorf("run a moved rank: %w", err)
		}
	}
	// The move commits (Attach) once the cell is restored here, so the
	// rank's downtime at the home includes the restore, and a cell that
	// cannot be restored stays at home.
	attached, attachErr := snap == nil, error(nil)
	cfg := migrate.Cell{Stop: goHome, Hosts: []engine.HostModule{j.Module(), cloudskinHost(spec, -1)}}
	if snap != nil {
		cfg.Restored = func() error {
			if attachErr = j.Attach(); attachErr == nil {
				attached = true
			}
			return attachErr
		}
	}
	c, err := p.migrateCell(spec, cfg)
	if err != nil {
		j.Refuse()
		return Result{}, false, err
	}
	if snap == nil {
		if err := j.Attach(); err != nil {
			return Result{}, false, fmt.Errorf("run a moved rank: %w", err)
		}
	}
	ctx, cancel := withTimeout(ctx, spec)
	defer cancel()
	defer spec.Usage.begin()()
	start := time.Now()
	stopped, runErr := migrate.Run(ctx, c, snap, 0)
	switch {
	case attachErr != nil:
		return Result{}, false, fmt.Errorf("run a moved rank: %w", attachErr)
	case !attached:
		j.Refuse() // not restored here: the rank goes on at home
		return Result{}, false, fmt.Errorf("run a moved rank: %w", runErr)
	}
	if stopped != nil {
		return Result{Elapsed: time.Since(start)}, true, p.sendHome(j, stopped)
	}
	_, res, err = ended(ctx, start, nil, runErr)
	return res, false, reportEnd(j, res, err)
}

// reportEnd tells the home how the moved rank's cell ended, and returns
// the cell's error, or else the report's.
func reportEnd(j *mpi.Joined, res Result, err error) error {
	if xerr := j.Exit(res.ExitCode, err); xerr != nil && err == nil {
		err = fmt.Errorf("run a moved rank: report its end to the home: %w", xerr)
	}
	return err
}

// sendHome sends a moved rank's stopped cell back to its home. A cell
// that cannot be encoded is reported ended with that error: it is the
// rank's end, at home as here.
func (p *Program) sendHome(j *mpi.Joined, snap *snapshot.Snapshot) error {
	cell, err := encodeCell(snap)
	if err != nil {
		err = fmt.Errorf("send a rank home: %w", err)
		j.Exit(-1, err)
		return err
	}
	if err := j.Return(cell); err != nil {
		return fmt.Errorf("send a rank home: %w", err)
	}
	return nil
}

// runFresh runs a rank offered before it started from its beginning.
func (p *Program) runFresh(ctx context.Context, spec Spec, j *mpi.Joined) (Result, error) {
	if err := j.Attach(); err != nil {
		return Result{}, fmt.Errorf("run a moved rank: %w", err)
	}
	mod := j.Module()
	res, err := p.run(ctx, spec, &mod)
	return res, reportEnd(j, res, err)
}
