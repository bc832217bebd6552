package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/snapshot"
	"github.com/cloudskin/cloudskin/client"
	"github.com/prometheus/client_golang/prometheus"
)

// watchWait is how long one list of the site's cell runs waits for a
// change at the control plane (a long poll); retryAfter is the pause after
// a failed one.
const (
	watchWait  = 5 * time.Second
	retryAfter = 200 * time.Millisecond
)

// maxOutput bounds the output of a cell kept in its status.
const maxOutput = 1 << 20

// cells is what the agent runs: one stop channel per running cell, closed
// when the cell is asked to move to another site.
type cells struct {
	mu      sync.Mutex
	running map[string]chan struct{}
	// kill cancels a running cell's context: for runs deleted at the
	// control plane (an application scaled down, a replica replaced while
	// this agent was cut off), whose cells must not run on.
	kill map[string]context.CancelFunc
	// unconfirmed are claims whose report failed: the control plane may
	// have recorded them or not. The watch tells: if a run shows one, the
	// agent holds it and starts it then.
	unconfirmed map[string]claimed
}

// claimed is a run this agent reported Running with its claim, and what
// it needs to start it.
type claimed struct {
	run   v1alpha1.CellRun
	st    v1alpha1.CellRunStatus
	snaps []*snapshot.Snapshot
}

// runCells takes the cell runs assigned to the site (new ones, and
// migrating ones with their snapshot) and runs each in its own goroutine,
// and stops those asked to move elsewhere, until ctx ends; it waits for the
// running ones to finish. It learns of changes by watching the site's runs
// (WatchCellRuns), so a new or moving run is seen at once.
func (a *Agent) runCells(ctx context.Context) {
	rt := cell.NewRuntime(cell.Options{CacheDir: a.cacheDir})
	defer rt.Close(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { a.serveRanks(ctx) })
	taken := &takenRanks{} // offered ranks this agent took
	cs := &cells{running: map[string]chan struct{}{}, kill: map[string]context.CancelFunc{}, unconfirmed: map[string]claimed{}}
	site := a.site.Metadata.Name
	version := ""
	adopted := false // runs left by an earlier life of this agent handled
	for ctx.Err() == nil {
		list, err := a.client.WatchCellRuns(ctx, client.CellRunQuery{Involves: site}, version, watchWait)
		if err != nil {
			// The heartbeat loop reports connectivity; try again soon.
			version = ""
			select {
			case <-ctx.Done():
			case <-time.After(retryAfter):
			}
			continue
		}
		version = list.Metadata.ResourceVersion
		if !adopted {
			a.failOrphans(ctx, list.Items)
			adopted = true
		}
		cs.killDeleted(list.Items, a.log)
		a.cores.setWaiting(waitingRuns(list.Items, site))
		for _, run := range list.Items {
			switch {
			case run.Status.Phase == v1alpha1.CellRunning && run.Status.Site == site && run.Spec.Site != site:
				cs.stop(run.Metadata.Name)
			case run.Spec.Site == site && (run.Status.Phase == v1alpha1.CellPending || run.Status.Phase == v1alpha1.CellMigrating):
				a.take(ctx, rt, cs, &wg, run)
			}
			if c, ok := cs.confirmed(run); ok {
				a.start(ctx, rt, cs, &wg, c)
			}
			if run.Status.Phase == v1alpha1.CellRunning && run.Status.Site == site {
				a.askMoves(ctx, run)
			}
			a.takeRanks(ctx, rt, taken, &wg, run)
		}
	}
}

// confirmed returns an unconfirmed claim that run shows was recorded
// after all, forgetting claims the run shows were not.
func (cs *cells) confirmed(run v1alpha1.CellRun) (claimed, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.unconfirmed[run.Metadata.Name]
	if !ok {
		return claimed{}, false
	}
	if run.Status.Claim == c.st.Claim && run.Status.Phase == v1alpha1.CellRunning {
		delete(cs.unconfirmed, run.Metadata.Name)
		return c, true
	}
	if run.Status.Phase != v1alpha1.CellPending && run.Status.Phase != v1alpha1.CellMigrating {
		delete(cs.unconfirmed, run.Metadata.Name) // taken by another claim, or over
	}
	return claimed{}, false
}

// failOrphans reports as Failed the runs that the site's agent was
// running before this one started (the process restarted, its cells
// died with it): left Running, nothing would ever end them. An
// application's replica is then restarted by the orchestrator.
func (a *Agent) failOrphans(ctx context.Context, runs []v1alpha1.CellRun) {
	for _, r := range runs {
		if r.Status.Phase != v1alpha1.CellRunning || r.Status.Site != a.site.Metadata.Name {
			continue
		}
		st := r.Status
		now := time.Now().UTC()
		st.Phase, st.ExitCode, st.FinishTime = v1alpha1.CellFailed, -1, &now
		st.Message = "the agent of site " + a.site.Metadata.Name + " restarted while the cell ran; the cell ended with it"
		a.log.Warn("cell run of an earlier agent process", "cell", r.Metadata.Name, "action", "reported failed")
		a.report(ctx, r.Metadata.Name, st)
	}
}

// killDeleted stops the cells of runs that are no longer in the list of
// the site's runs: the control plane deleted them.
func (cs *cells) killDeleted(runs []v1alpha1.CellRun, log *slog.Logger) {
	listed := make(map[string]bool, len(runs))
	for _, r := range runs {
		listed[r.Metadata.Name] = true
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for name, kill := range cs.kill {
		if !listed[name] {
			log.Info("cell run deleted at the control plane; stopping its cell", "cell", name)
			kill()
			delete(cs.kill, name)
		}
	}
}

// stop closes the stop channel of a running cell asked to move elsewhere.
func (cs *cells) stop(name string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if stop, ok := cs.running[name]; ok {
		close(stop)
		delete(cs.running, name)
	}
}

// take claims a run and starts it (or, for a migrating one, resumes it
// from its snapshot) in a goroutine.
func (a *Agent) take(ctx context.Context, rt *cell.Runtime, cs *cells, wg *sync.WaitGroup, run v1alpha1.CellRun) {
	var snaps []*snapshot.Snapshot
	var snapBytes int
	if run.Status.Phase == v1alpha1.CellMigrating {
		data, err := a.client.GetSnapshot(ctx, run.Metadata.Name)
		if err == nil {
			snaps, err = snapshot.DecodeAll(bytes.NewReader(data), nil)
		}
		if err != nil {
			a.log.Warn("fetching a migrating cell's snapshot", "cell", run.Metadata.Name, "err", err)
			return
		}
		snapBytes = len(data)
	}
	now := time.Now().UTC()
	st := run.Status
	st.Phase, st.Site = v1alpha1.CellRunning, a.site.Metadata.Name
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if snaps != nil && st.StoppedAt != nil {
		from := run.Status.Site
		if st.RecoveredFrom != "" {
			from = st.RecoveredFrom
		}
		st.Migrations = append(st.Migrations, v1alpha1.CellMigration{
			From: from, To: a.site.Metadata.Name, HostCall: snaps[0].HostCalls, Ranks: len(snaps),
			Bytes: int64(snapBytes), Downtime: v1alpha1.Duration{Duration: now.Sub(*st.StoppedAt)},
			Recovered: st.RecoveredFrom != "",
		})
		st.StoppedAt, st.RecoveredFrom = nil, ""
	}
	st.Claim = strings.ToLower(rand.Text())
	c := claimed{run: run, st: st, snaps: snaps}
	if _, err := a.client.SetCellRunStatus(ctx, run.Metadata.Name, st); err != nil {
		a.log.Warn("claiming cell run", "cell", run.Metadata.Name, "err", err)
		if !client.IsConflict(err) {
			// The claim may have been recorded with its answer lost: the
			// watch will tell.
			cs.mu.Lock()
			cs.unconfirmed[run.Metadata.Name] = c
			cs.mu.Unlock()
		}
		return
	}
	a.start(ctx, rt, cs, wg, c)
}

// start runs a claimed run in its own goroutine and reports how it ended.
func (a *Agent) start(ctx context.Context, rt *cell.Runtime, cs *cells, wg *sync.WaitGroup, c claimed) {
	run, st, snaps := c.run, c.st, c.snaps
	stop := make(chan struct{})
	cellCtx, kill := context.WithCancel(ctx)
	cs.mu.Lock()
	cs.running[run.Metadata.Name] = stop
	cs.kill[run.Metadata.Name] = kill
	cs.mu.Unlock()
	book := a.ranks.open(run.Metadata.Name, st)
	releaseCores := a.cores.add(run.Metadata.Name, max(run.Spec.Ranks, 1), run.Spec.Elastic)
	wg.Add(1)
	a.running.Inc()
	go func() {
		defer wg.Done()
		defer a.running.Dec()
		defer kill()
		defer a.ranks.close(run.Metadata.Name)
		defer releaseCores()
		renew := func() <-chan struct{} {
			next := make(chan struct{})
			cs.mu.Lock()
			cs.running[run.Metadata.Name] = next
			cs.mu.Unlock()
			return next
		}
		moves := worldMoves{moves: book.moves}
		if snaps == nil {
			moves.away = a.awayRanks(cellCtx, run, book)
		}
		final, outcome := a.runCell(cellCtx, rt, run, st, snaps, stop, renew, moves)
		cs.mu.Lock()
		delete(cs.running, run.Metadata.Name)
		delete(cs.kill, run.Metadata.Name)
		cs.mu.Unlock()
		switch {
		case cellCtx.Err() != nil && ctx.Err() == nil:
			return // deleted: nobody to report to
		case outcome == fenced:
			a.log.Warn("cell dropped: its run moved on without this agent", "cell", run.Metadata.Name)
		case outcome == toReport:
			a.report(ctx, run.Metadata.Name, final)
		}
	}()
}

// runCell runs one cell run (one cell, or an MPI world of spec.ranks
// cells) until it ends or moves, and returns the status to report: final,
// or Migrating after its snapshot was handed over. from holds the
// snapshots a migrating run resumes from (one per rank). A migratable cell
// with spec.checkpointInterval stops that often to upload a checkpoint
// and goes on.
//
// The outcome says what is left to do: report the status, nothing (the
// hand-over recorded it), or nothing because the control plane refused
// this agent's claim (the run was recovered or taken elsewhere while this
// agent was cut off): the cell has stopped and its results do not count.
//
// renew registers and returns a new stop channel, for a cell that goes on
// here after a failed move.
//
// moves moves single ranks of the run's MPI world elsewhere.
func (a *Agent) runCell(ctx context.Context, rt *cell.Runtime, run v1alpha1.CellRun, st v1alpha1.CellRunStatus, from []*snapshot.Snapshot, stop <-chan struct{}, renew func() <-chan struct{}, moves worldMoves) (v1alpha1.CellRunStatus, outcome) {
	fail := func(err error) (v1alpha1.CellRunStatus, outcome) {
		now := time.Now().UTC()
		st.Phase, st.ExitCode, st.Message, st.FinishTime = v1alpha1.CellFailed, -1, err.Error(), &now
		return st, toReport
	}
	if run.Spec.Process != nil {
		return a.runProcess(ctx, run, st)
	}
	prog, err := a.load(ctx, rt, run.Spec)
	if err != nil {
		return fail(err)
	}
	defer prog.Close(context.WithoutCancel(ctx))
	st.Engine = string(prog.Engine)
	// earlier is the output of the run before this agent took it (up to
	// its last checkpoint or hand-over); out is what it prints here.
	earlier := st.Output
	out := &cappedBuffer{limit: maxOutput - len(earlier)}
	spec, err := cellSpec(run, out)
	if err != nil {
		return fail(err)
	}
	spec.Streams = a.streams
	spec.Parallelism = a.parallelism(run)
	spec.Metrics = a.qosReporter(run)
	defer a.forgetQoS(run)
	spec.Usage = a.usage.track(run)
	defer a.usage.forget(run)
	var res cell.Result
	if !prog.Migratable {
		endLogs := a.reportOutput(ctx, run.Metadata.Name, st, earlier, out)
		res, err = runToEnd(ctx, prog, run.Spec.Ranks, spec, moves.away)
		endLogs()
	}
	for prog.Migratable {
		seg := newSegment(stop, run.Spec.CheckpointInterval.Duration)
		var snaps []*snapshot.Snapshot
		endLogs := a.reportOutput(ctx, run.Metadata.Name, st, earlier, out)
		snaps, res, err = runStoppable(ctx, prog, run.Spec.Ranks, spec, from, seg.stop, moves)
		moves.away = nil // only a world that starts has ranks away from its start
		endLogs()
		seg.end()
		if err != nil || snaps == nil {
			break
		}
		if !seg.moving() {
			st.Output = earlier + out.String()
			next, cerr := a.checkpoint(ctx, run.Metadata.Name, snaps, st)
			switch {
			case client.IsConflict(cerr):
				return st, fenced
			case cerr != nil:
				a.log.Warn("checkpoint failed; the cell goes on", "cell", run.Metadata.Name, "err", cerr)
			default:
				st = next
			}
			from = snaps
			continue
		}
		st.Output = earlier + out.String()
		handed, herr := a.handOver(ctx, run.Metadata.Name, snaps, st)
		if herr == nil {
			return handed, reported
		}
		if client.IsConflict(herr) {
			return st, fenced
		}
		// The snapshot could not be handed over: the cell goes on here,
		// never lost; the move is tried again while it is still asked for.
		a.log.Warn("migration failed; the cell continues here", "cell", run.Metadata.Name, "err", herr)
		from, stop = snaps, renew()
	}
	st.Output = earlier + out.String()
	if err != nil {
		return fail(err)
	}
	now := time.Now().UTC()
	st.FinishTime = &now
	st.ExitCode, st.Phase = res.ExitCode, v1alpha1.CellSucceeded
	if res.ExitCode != 0 {
		st.Phase, st.Message = v1alpha1.CellFailed, fmt.Sprintf("exit status %d", res.ExitCode)
	}
	return st, toReport
}

// qosReporter returns the callback that turns a cell's cloudskin_metric
// calls into the agent's cloudskin_cell_qos gauges, labelled with the
// application replica the run realises (if any).
func (a *Agent) qosReporter(run v1alpha1.CellRun) func(string, float64) {
	l := run.Metadata.Labels
	return func(name string, v float64) {
		a.qos.WithLabelValues(run.Metadata.Name, l[v1alpha1.LabelApplication], l[v1alpha1.LabelComponent], l[v1alpha1.LabelBlock], l[v1alpha1.LabelIndex], name).Set(v)
	}
}

// forgetQoS drops a run's gauges once its cell stops here.
func (a *Agent) forgetQoS(run v1alpha1.CellRun) {
	a.qos.DeletePartialMatch(prometheus.Labels{"workload": run.Metadata.Name})
}

// outputEvery is how often a running cell's new output is reported, so
// that `cloudskin logs` shows services that never end.
const outputEvery = 2 * time.Second

// reportOutput reports, while a cell runs, the status st with the output
// so far whenever it grew; the returned function stops it and waits, so
// no such report can land after a status the caller sends next.
func (a *Agent) reportOutput(ctx context.Context, name string, st v1alpha1.CellRunStatus, earlier string, out *cappedBuffer) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(outputEvery)
		defer ticker.Stop()
		last := st.Output
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			if now := earlier + out.String(); now != last {
				st.Output, last = now, now
				if err := a.setStatus(ctx, name, st, 1); err != nil && ctx.Err() == nil {
					a.log.Debug("reporting a running cell's output", "cell", name, "err", err)
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// outcome is what is left to do when a cell stops running here.
type outcome int

const (
	toReport outcome = iota // report the returned status
	reported                // the hand-over recorded it already
	fenced                  // the run moved on without this agent
)

// segment is one stretch of a migratable cell's run: it stops when the
// cell is asked to move, or when a checkpoint is due.
type segment struct {
	stop chan struct{} // closed when the cell is to stop
	move <-chan struct{}
	done chan struct{}
}

// newSegment returns a segment that stops when move is closed or, if
// every > 0, after every.
func newSegment(move <-chan struct{}, every time.Duration) *segment {
	s := &segment{stop: make(chan struct{}), move: move, done: make(chan struct{})}
	go func() {
		var due <-chan time.Time
		if every > 0 {
			t := time.NewTimer(every)
			defer t.Stop()
			due = t.C
		}
		select {
		case <-move:
		case <-due:
		case <-s.done:
			return
		}
		close(s.stop)
	}()
	return s
}

// end releases the segment's goroutines.
func (s *segment) end() { close(s.done) }

// moving reports whether the segment stopped because the cell must move.
func (s *segment) moving() bool {
	select {
	case <-s.move:
		return true
	default:
		return false
	}
}

// checkpoint uploads a stopped cell's snapshots as its run's checkpoint
// and reports the status that makes it current (with the output so far).
func (a *Agent) checkpoint(ctx context.Context, name string, snaps []*snapshot.Snapshot, st v1alpha1.CellRunStatus) (v1alpha1.CellRunStatus, error) {
	var buf bytes.Buffer
	if err := snapshot.EncodeAll(&buf, snaps); err != nil {
		return st, fmt.Errorf("encoding the checkpoint: %w", err)
	}
	id := strings.ToLower(rand.Text())
	if err := a.client.PutCheckpoint(ctx, name, st.Claim, id, buf.Bytes()); err != nil {
		return st, err
	}
	st.Checkpoint = &v1alpha1.CellCheckpoint{
		ID: id, Time: time.Now().UTC(), Site: a.site.Metadata.Name,
		HostCall: snaps[0].HostCalls, Bytes: int64(buf.Len()),
	}
	if _, err := a.client.SetCellRunStatus(ctx, name, a.ranks.merge(name, st)); err != nil {
		return st, err
	}
	return st, nil
}

// cellSpec is the cell a run describes, writing its output to out.
func cellSpec(run v1alpha1.CellRun, out io.Writer) (cell.Spec, error) {
	spec := cell.Spec{
		Name: run.Metadata.Name, Args: run.Spec.Args, Env: run.Spec.Env,
		Stdout: out, Stderr: out,
		MemoryLimit: run.Spec.Memory.Value(), Timeout: run.Spec.Timeout.Duration,
	}
	for _, d := range run.Spec.Dirs {
		p, err := cell.ParseDir(d)
		if err != nil {
			return spec, fmt.Errorf("spec.dirs: %w", err)
		}
		spec.Dirs = append(spec.Dirs, p)
	}
	return spec, nil
}

// worldMoves are the ways single ranks of a run's world leave its agent:
// requests to move running ones, and those that start elsewhere.
type worldMoves struct {
	moves <-chan cell.RankMove
	away  map[int]cell.RankMove
}

// runToEnd runs a program that cannot migrate: one cell, or a world,
// with the ranks in away started elsewhere.
func runToEnd(ctx context.Context, prog *cell.Program, ranks int, spec cell.Spec, away map[int]cell.RankMove) (cell.Result, error) {
	if !prog.UsesMPI {
		return prog.Run(ctx, spec)
	}
	results, err := prog.RunMPISpread(ctx, max(ranks, 1), func(int) cell.Spec { return spec }, away)
	return worldResult(results), err
}

// runStoppable runs a migratable program from its start or from snapshots
// until it ends or stop is closed; a stopped one returns its snapshots.
// moves moves single ranks of an MPI world elsewhere.
func runStoppable(ctx context.Context, prog *cell.Program, ranks int, spec cell.Spec, from []*snapshot.Snapshot, stop <-chan struct{}, moves worldMoves) ([]*snapshot.Snapshot, cell.Result, error) {
	if !prog.UsesMPI {
		var start *snapshot.Snapshot
		if len(from) > 0 {
			start = from[0]
		}
		snap, res, err := prog.RunStoppable(ctx, spec, start, stop)
		if snap == nil {
			return nil, res, err
		}
		return []*snapshot.Snapshot{snap}, res, err
	}
	snaps, results, err := prog.RunMPIStoppable(ctx, max(ranks, 1), func(int) cell.Spec { return spec }, from, cell.WorldStop{Request: stop, Move: moves.moves, Away: moves.away})
	return snaps, worldResult(results), err
}

// worldResult is how a world ended, as one result: the first non-zero
// exit status, and the longest time.
func worldResult(results []cell.Result) cell.Result {
	var res cell.Result
	for _, r := range results {
		res.Elapsed = max(res.Elapsed, r.Elapsed)
		if res.ExitCode == 0 {
			res.ExitCode = r.ExitCode
		}
	}
	return res
}

// handOver gives a stopped cell's snapshot to the control plane, for the
// site it moves to, and returns the Migrating status to report.
func (a *Agent) handOver(ctx context.Context, name string, snaps []*snapshot.Snapshot, st v1alpha1.CellRunStatus) (v1alpha1.CellRunStatus, error) {
	stopped := time.Now().UTC()
	var buf bytes.Buffer
	if err := snapshot.EncodeAll(&buf, snaps); err != nil {
		return st, fmt.Errorf("encoding the snapshot to migrate: %w", err)
	}
	// The snapshot is also the run's checkpoint from now on: if the site
	// that takes it is lost, the run resumes elsewhere from here.
	id := strings.ToLower(rand.Text())
	if err := a.client.PutSnapshot(context.WithoutCancel(ctx), name, st.Claim, id, buf.Bytes()); err != nil {
		return st, fmt.Errorf("handing over the snapshot to migrate: %w", err)
	}
	handed := st
	handed.Phase, handed.StoppedAt = v1alpha1.CellMigrating, &stopped
	handed.Checkpoint = &v1alpha1.CellCheckpoint{ID: id, Time: stopped, Site: a.site.Metadata.Name, HostCall: snaps[0].HostCalls, Bytes: int64(buf.Len())}
	// Until the control plane records Migrating, the run is still ours;
	// if it cannot, the cell goes on here (a report that landed with its
	// answer lost shows up as a conflict on our next report instead).
	if err := a.setStatus(ctx, name, handed, handOverTries); err != nil {
		return st, fmt.Errorf("recording the hand-over: %w", err)
	}
	st = handed
	a.log.Info("cell stopped to migrate", "cell", name, "ranks", len(snaps), "hostCall", snaps[0].HostCalls, "bytes", buf.Len())
	return st, nil
}

// How many times a status is sent before giving up: a hand-over gives up
// soon (the cell then goes on here); a final report keeps trying longer,
// since nothing else will say how the cell ended.
const (
	handOverTries = 5
	reportTries   = 12
)

// setStatus sends a status, retrying while the control plane cannot be
// reached or fails (see retry).
func (a *Agent) setStatus(ctx context.Context, name string, st v1alpha1.CellRunStatus, tries int) error {
	st = a.ranks.merge(name, st)
	return retry(ctx, tries, func(ctx context.Context) error {
		_, err := a.client.SetCellRunStatus(ctx, name, st)
		return err
	})
}

// retry calls fn, each call bounded to 5 s, up to tries times with
// backoff (200 ms doubling, up to 5 s) while it fails for want of the
// control plane; an answer that refuses (4xx) is returned at once. Once
// ctx is done (the agent stops) it calls fn once more and no longer waits.
func retry(ctx context.Context, tries int, fn func(context.Context) error) error {
	wait := 200 * time.Millisecond
	var err error
	for i := 0; i < tries; i++ {
		if i > 0 && ctx.Err() != nil {
			break
		}
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = fn(callCtx)
		cancel()
		var refused *v1alpha1.Status
		if err == nil || (errors.As(err, &refused) && refused.Code/100 == 4) {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	return err
}

// load compiles the run's module, fetching it from the control plane the
// first time this agent sees it.
func (a *Agent) load(ctx context.Context, rt *cell.Runtime, spec v1alpha1.CellRunSpec) (*cell.Program, error) {
	var sum [32]byte
	if _, err := hex.Decode(sum[:], []byte(spec.Module)); err != nil {
		return nil, fmt.Errorf("module digest %q: %w", spec.Module, err)
	}
	wasm, err := rt.Kept(sum)
	if err != nil {
		err = retry(ctx, reportTries, func(ctx context.Context) error {
			var err error
			wasm, err = a.client.GetModule(ctx, spec.Module)
			return err
		})
		if err != nil {
			return nil, err
		}
		if err := rt.Keep(wasm); err != nil {
			return nil, err
		}
	}
	choice, err := cell.ParseEngine(spec.Engine)
	if err != nil {
		return nil, err
	}
	return rt.Load(ctx, wasm, choice)
}

// report sends a run's status, even while the agent stops.
func (a *Agent) report(ctx context.Context, name string, st v1alpha1.CellRunStatus) {
	if err := a.setStatus(ctx, name, st, reportTries); err != nil {
		a.log.Warn("reporting cell run", "cell", name, "err", err)
		return
	}
	a.log.Info("cell run reported", "cell", name, "phase", string(st.Phase), "exit", st.ExitCode)
}

// cappedBuffer keeps the first limit bytes written to it, safely for the
// cell's stdout and stderr writing at once.
type cappedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
