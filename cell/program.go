package cell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/mpi"
	"github.com/cloudskin/cloudskin/cell/wasi"
)

// pageSize is WebAssembly's memory page.
const pageSize = 64 << 10

// Program is a compiled module ready to run as cells.
type Program struct {
	engine   engine.Engine
	compiled engine.Compiled

	// Engine is the engine the program runs on, and Reason why it was chosen.
	Engine EngineChoice
	Reason string
	// Hash is the SHA-256 of the module's bytes, in hex.
	Hash string
	sum  [32]byte
	// UsesMPI says whether the module imports MPI functions.
	UsesMPI bool
	// Migratable says whether the module was built with `cell cc
	// --migratable`, so that RunUntil, RunStoppable and Resume work.
	Migratable bool
}

// Spec describes one cell.
type Spec struct {
	// Name is argv[0]; "" means "cell".
	Name string
	// Args follow argv[0].
	Args []string
	// Env holds "KEY=VALUE" entries; the host's environment is not inherited.
	Env []string
	// Stdin, Stdout and Stderr are the cell's stdio; nil is empty input or discard.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Dirs are the host directories the cell sees; nothing else is reachable.
	Dirs []wasi.Preopen
	// MemoryLimit caps linear memory in bytes (rounded down to 64 KiB
	// pages); 0 means the WebAssembly maximum of 4 GiB.
	MemoryLimit int64
	// Timeout stops the cell after this much wall-clock time; 0 means none.
	Timeout time.Duration
	// Uninterruptible runs the cell without the checks that let a
	// cancelled context stop running guest code (see
	// engine.InstanceConfig): much faster loops on wazero, but only the
	// end of the program, a trap or a host call that looks at the context
	// stops it. Ignored when Timeout is set.
	Uninterruptible bool
	// Streams serves the cell's cloudskin_stream_append and
	// cloudskin_stream_read (see StreamsFromAPI); nil makes them return
	// -1, no stream store.
	Streams Streams
	// Metrics receives each QoS sample the cell reports with
	// cloudskin_metric (a valid Prometheus-style name and its value); nil
	// drops them. It is called on the cell's goroutine, while the cell
	// waits, so it should return quickly; cells that share it (MPI ranks,
	// forks) call it concurrently.
	Metrics func(name string, value float64)
	// Parallelism, when set, answers cloudskin_parallelism: the cores the
	// cell may use in the parallel phase it starts (the agent's elastic
	// grant). It is called on the cell's goroutine. Nil, or an answer
	// below 1, means 1.
	Parallelism func() int
	// Usage, when set, measures the cell's CPU time and memory while it
	// runs (see Usage); one Usage may serve every rank of a world.
	Usage *Usage
}

// Result is how a cell ended.
type Result struct {
	// ExitCode is the program's exit status (0 when it returned from main).
	ExitCode int
	// Elapsed is the wall-clock time from instantiation to exit.
	Elapsed time.Duration
}

// ErrTimeout is wrapped by the error of a cell stopped by its time limit.
var ErrTimeout = errors.New("time limit exceeded")

// Run runs one cell to completion. A program that exits, with any status,
// is a Result and a nil error; a trap, a time limit, a cancelled ctx or a
// cell that cannot start is an error saying which.
// An MPI program run this way is a world of one rank.
func (p *Program) Run(ctx context.Context, spec Spec) (Result, error) {
	if p.UsesMPI {
		results, err := p.RunMPI(ctx, 1, func(int) Spec { return spec })
		return results[0], err
	}
	return p.run(ctx, spec, nil)
}

// run runs the cell from its start; an MPI rank's cell imports mpiModule.
func (p *Program) run(ctx context.Context, spec Spec, mpiModule *engine.HostModule) (Result, error) {
	pages, err := memoryPages(spec.MemoryLimit)
	if err != nil {
		return Result{}, err
	}
	sys, err := wasi.New(wasiConfig(spec))
	if err != nil {
		return Result{}, fmt.Errorf("cell filesystem: %w", err)
	}
	defer sys.Close()
	hosts := []engine.HostModule{sys.Module(), cloudskinHost(spec, -1)}
	if mpiModule != nil {
		hosts = append(hosts, *mpiModule)
	}
	hosts = observing(hosts, spec.Usage)
	defer spec.Usage.begin()()

	if spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, spec.Timeout, fmt.Errorf("cell: %w (%s)", ErrTimeout, spec.Timeout))
		defer cancel()
	}
	start := time.Now()
	inst, err := p.compiled.Instantiate(ctx, engine.InstanceConfig{
		HostModules:      hosts,
		MemoryLimitPages: pages,
		Uninterruptible:  spec.Uninterruptible && spec.Timeout == 0,
	})
	if err != nil {
		return Result{}, fmt.Errorf("start cell: %w", err)
	}
	defer inst.Close(context.WithoutCancel(ctx))
	_, err = inst.Call(ctx, "_start")
	res := Result{Elapsed: time.Since(start)}
	return exitStatus(ctx, res, err)
}

// wasiConfig is the WASI a cell described by spec starts with.
func wasiConfig(spec Spec) wasi.Config {
	return wasi.Config{
		Args:     append([]string{argv0(spec.Name)}, spec.Args...),
		Env:      spec.Env,
		Stdin:    spec.Stdin,
		Stdout:   spec.Stdout,
		Stderr:   spec.Stderr,
		Preopens: spec.Dirs,
	}
}

// exitStatus turns the end of _start into a Result or an error.
func exitStatus(ctx context.Context, res Result, err error) (Result, error) {
	var exit *engine.Exit
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exit):
		res.ExitCode = int(exit.Code)
		return res, nil
	case ctx.Err() != nil:
		if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
			return res, cause
		}
		return res, fmt.Errorf("cell stopped: %w", ctx.Err())
	}
	var trap *engine.Trap
	if errors.As(err, &trap) {
		return res, fmt.Errorf("cell trapped: %w", err)
	}
	return res, err
}

func memoryPages(limit int64) (uint32, error) {
	switch {
	case limit == 0:
		return 0, nil
	case limit < pageSize:
		return 0, fmt.Errorf("memory limit %d bytes: below one 64 KiB WebAssembly page", limit)
	case limit > 1<<32:
		return 0, fmt.Errorf("memory limit %d bytes: above the 4 GiB a wasm32 cell can address", limit)
	}
	return uint32(limit / pageSize), nil
}

func argv0(name string) string {
	if name == "" {
		return "cell"
	}
	return name
}

// RunMPI runs an MPI world of n cells of this program, rank i described by
// spec(i). If a rank traps, times out, exits non-zero, or exits without
// MPI_Finalize while others may wait for it, the world is failed so that
// the other ranks stop instead of hanging, as mpirun does. It returns every
// rank's result and, if the world failed, an error naming the rank that
// caused it.
func (p *Program) RunMPI(ctx context.Context, n int, spec func(rank int) Spec) ([]Result, error) {
	return p.RunMPISpread(ctx, n, spec, nil)
}

// RunMPISpread is RunMPI with some ranks run elsewhere from their start:
// away[i] offers rank i, not started, to a mover (RunMovedRank) instead of
// running it here; a rank no mover takes in time runs here after all.
func (p *Program) RunMPISpread(ctx context.Context, n int, spec func(rank int) Spec, away map[int]RankMove) ([]Result, error) {
	if n < 1 {
		return nil, fmt.Errorf("mpi world of %d ranks: need at least 1", n)
	}
	world := mpi.NewWorld(n, mpi.Options{})
	results := make([]Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rank, sp := world.Rank(i), spec(i) // spec once per rank
			mod := rank.Module()
			// A cell that is not migratable cannot come home: it ends
			// where it runs, or runs here from its start.
			res, _, moved, err := p.startAway(ctx, world, i, sp, away)
			if !moved {
				res, err = p.run(ctx, sp, &mod)
			}
			results[i], errs[i] = res, err
			switch {
			case err != nil:
				world.Fail(i, err)
			case res.ExitCode != 0:
				world.Fail(i, &exitStatusError{res.ExitCode})
			case rank.Unfinished():
				world.Fail(i, errors.New("exited without calling MPI_Finalize"))
			}
		}()
	}
	wg.Wait()
	return results, worldError(world, errs)
}

// exitStatusError fails a world because a rank exited with a non-zero
// status; the status itself is in that rank's Result.
type exitStatusError struct{ code int }

func (e *exitStatusError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// worldError names what ended the world: the rank that failed or aborted
// it, rather than the ranks that were stopped because of it.
func worldError(world *mpi.World, errs []error) error {
	var failed *mpi.FailedError
	var aborted *mpi.AbortError
	var exit *exitStatusError
	switch err := world.Err(); {
	case errors.As(err, &aborted), errors.As(err, &exit):
		return nil // the exit statuses in the results say it
	case errors.As(err, &failed) && errs[failed.Rank] != nil:
		return fmt.Errorf("rank %d: %w", failed.Rank, errs[failed.Rank])
	case errors.As(err, &failed):
		return fmt.Errorf("rank %d: %w", failed.Rank, failed.Err)
	}
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("rank %d: %w", i, err)
		}
	}
	return nil
}

// Close releases the compiled module.
func (p *Program) Close(ctx context.Context) error {
	return p.compiled.Close(ctx)
}

// providedModules lists the host modules every cell gets, for checking a
// module's imports before any cell runs.
func providedModules() []engine.HostModule {
	sys, err := wasi.New(wasi.Config{})
	if err != nil {
		return nil
	}
	defer sys.Close()
	return []engine.HostModule{sys.Module(), mpi.NewWorld(1, mpi.Options{}).Rank(0).Module(), cloudskinHost(Spec{}, -1)}
}
