// Package migrate stops a running cell at a call into the host and
// continues it later in a fresh instance, on the same engine or the other
// one, so that a cell can be checkpointed or moved between machines.
//
// A cell's state is its linear memory, its globals, its WASI state (all
// engine-neutral, see package cell/snapshot) and its call stack, which
// lives inside the engine and cannot be read. Binaryen's Asyncify transform
// (toolchain.Options.Migratable) makes the call stack data: after every
// call into the host, instrumented code checks a state flag and, when the
// host asked for it, saves the function's locals and position into a
// buffer in linear memory and returns, all the way out of _start
// ("unwinding"). Calling _start again in "rewinding" state walks back down
// into the same call, restoring the locals, where the host sees its
// function called again and lets the guest go on normally.
//
// So a host call is a migration point. Run wraps the cell's host modules
// with a counter: at call number N the wrapper, instead of running the host
// function, starts an unwind (asyncify_start_unwind, an export the guest
// calls back into) and returns. When _start returns, Run captures a
// snapshot.Snapshot: the memory pages that differ from a fresh instance,
// __stack_pointer (which the unwound functions did not get to restore), the
// WASI state and N. Resuming makes a fresh instance, restores memory and
// globals, starts a rewind and calls _start; the wrapper sees the
// re-entered call N, stops the rewind and performs the real host call.
// Output buffered by the C library is in linear memory and moves with the
// cell; files and their offsets are in the WASI state, and wasi.Restore
// reopens them on the same fds, so the preopened directories must be
// reachable, with the cell's files in them, where the cell resumes.
//
// Both engines allow a host function to call back into its own instance,
// which is how the wrapper reaches the Asyncify exports. Nothing here
// depends on the engine.
package migrate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/snapshot"
	"github.com/cloudskin/cloudskin/cell/wasi"
)

// The exports a migratable module has: Asyncify's, and those of the
// support object the toolchain links in (toolchain.ExportAsyncifyData and
// toolchain.ExportMemoryGrow; not imported, to keep the runtime free of
// the compiler).
const (
	exportStart        = "_start"
	exportStartUnwind  = "asyncify_start_unwind"
	exportStopUnwind   = "asyncify_stop_unwind"
	exportStartRewind  = "asyncify_start_rewind"
	exportStopRewind   = "asyncify_stop_rewind"
	exportAsyncifyData = "cloudskin_asyncify_data"
	exportMemoryGrow   = "cloudskin_memory_grow"
	exportStackPointer = "__stack_pointer"
)

// Migratable reports whether a module was built migratable: it exports
// the unwind buffer our toolchain links in. It looks for the export's name
// in the module's bytes, enough to choose how to run a module; Run checks
// the export itself.
func Migratable(wasm []byte) bool {
	return bytes.Contains(wasm, []byte(exportAsyncifyData))
}

// carriedGlobals are the exported mutable globals a snapshot carries. Our
// toolchain's modules export one: the C stack pointer, which functions
// restore on return and unwound functions therefore did not. Asyncify's
// own globals are set by asyncify_start_rewind.
var carriedGlobals = []string{exportStackPointer}

// Cell is what it takes to run one migratable cell.
type Cell struct {
	// Compiled is the module, built with toolchain.Options.Migratable.
	Compiled engine.Compiled
	// Engine names Compiled's engine; snapshots record it.
	Engine string
	// ModuleHash is the SHA-256 of the module's bytes. A snapshot resumes
	// only in a cell of the module it was taken from.
	ModuleHash [32]byte
	// WASI configures the cell's WASI. When resuming, Args, Env,
	// Preopens and the open files come from the snapshot instead, and the
	// monotonic clock goes on from where it was (see wasi.Restore); stdio,
	// the realtime clock and randomness still come from here.
	WASI wasi.Config
	// MemoryLimitPages and Uninterruptible are as in engine.InstanceConfig.
	MemoryLimitPages uint32
	Uninterruptible  bool
	// Stats, when set, receives measurements of the run.
	Stats *Stats
	// Observe, when set, sees the cell's memory at every host call (on
	// the cell's goroutine), before the call: for usage metrics.
	Observe func(mem engine.Memory)
	// Stop, when closed, stops the cell at its next host call as if that
	// call were stopAt: how a running cell is asked to migrate.
	Stop <-chan struct{}
	// Hosts are host modules the cell imports besides WASI, such as an MPI
	// rank's "mpi" (mpi.Rank.Module); their calls are migration points too.
	Hosts []engine.HostModule
	// StopBefore, when set, is asked before every host call that is not a
	// rewind, with the call's module, name and arguments; true stops the
	// cell there. An MPI rank stops only where its whole world can
	// (mpi.Rank.StopBefore), so it uses this instead of Stop and stopAt.
	StopBefore func(module, name string, args []uint64) bool
	// Restored, when set, is called once a snapshot has been restored into
	// the fresh instance, before the cell goes on from it. An error from
	// it ends Run with that error, the cell not run: a mover commits to a
	// move only once the cell is in place, so a cell that cannot be
	// restored never leaves its old home.
	Restored func() error
}

// Stats measure a run.
type Stats struct {
	// HostCalls counts the cell's host calls from its start, across
	// resumes, up to where the run stopped or ended.
	HostCalls uint64
	// UnwindBytes is how much of the unwind buffer the call stack took
	// when the run stopped; 0 when it did not.
	UnwindBytes uint32
}

// RunUntil runs a cell from its start until its n-th call into the host
// (n >= 1) and returns the snapshot taken there; the call itself is made
// when the snapshot resumes. A cell that ends first returns a nil snapshot
// and what _start returned (see Run).
func RunUntil(ctx context.Context, c Cell, n uint64) (*snapshot.Snapshot, error) {
	if n == 0 {
		return nil, errors.New("migrate: host call 0: calls count from 1")
	}
	return Run(ctx, c, nil, n)
}

// Resume continues a snapshot in a fresh instance of c until the cell
// ends, and returns what _start returned (see Run).
func Resume(ctx context.Context, c Cell, snap *snapshot.Snapshot) error {
	if snap == nil {
		return errors.New("migrate: resume: no snapshot")
	}
	_, err := Run(ctx, c, snap, 0)
	return err
}

// Run runs a cell from its start (from is nil) or from a snapshot until it
// ends or makes its host call number stopAt, counted from the cell's start
// across resumes; 0 never stops. A stopped cell returns its snapshot and a
// nil error. A cell that ends returns a nil snapshot and the error of
// Instance.Call("_start") as is: nil after main returned 0, *engine.Exit,
// *engine.Trap, or one wrapping ctx.Err(), which callers turn into an
// exit status as they do for cells run without migration. Other errors
// (the cell cannot start, the snapshot does not fit) are wrapped with what
// failed.
func Run(ctx context.Context, c Cell, from *snapshot.Snapshot, stopAt uint64) (*snapshot.Snapshot, error) {
	if from != nil && stopAt != 0 && stopAt <= from.HostCalls {
		return nil, fmt.Errorf("migrate: stop at host call %d: the snapshot is at call %d already", stopAt, from.HostCalls)
	}
	if from != nil && from.ModuleHash != c.ModuleHash {
		return nil, fmt.Errorf("migrate: snapshot of module %x cannot resume module %x", from.ModuleHash[:8], c.ModuleHash[:8])
	}
	sys, err := newWASI(c.WASI, from)
	if err != nil {
		return nil, err
	}
	defer sys.Close()

	p := &point{stopAt: stopAt, stop: c.Stop, stopBefore: c.StopBefore, observe: c.Observe}
	inst, err := c.Compiled.Instantiate(ctx, engine.InstanceConfig{
		HostModules:      p.wrap(append([]engine.HostModule{sys.Module()}, c.Hosts...)),
		MemoryLimitPages: c.MemoryLimitPages,
		Uninterruptible:  c.Uninterruptible,
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: start cell: %w", err)
	}
	defer inst.Close(context.WithoutCancel(ctx))
	p.inst = inst
	data, ok := inst.Global(exportAsyncifyData)
	if !ok {
		return nil, fmt.Errorf("migrate: module exports no %s: build it migratable (cloudskin cell cc --migratable, toolchain.Options.Migratable)", exportAsyncifyData)
	}
	p.data = uint32(data)
	mem := inst.Memory()
	if mem == nil {
		return nil, errors.New("migrate: module exports no memory")
	}
	// A fresh instance's memory is the module's initial image, which a
	// snapshot is the difference from. Only needed if we may stop.
	var initial []byte
	if stopAt != 0 || c.Stop != nil || c.StopBefore != nil {
		initial = slices.Clone(mem.Bytes())
	}
	if from != nil {
		if err := restore(ctx, inst, mem, from); err != nil {
			return nil, fmt.Errorf("migrate: resume: %w", err)
		}
		if c.Restored != nil {
			if err := c.Restored(); err != nil {
				return nil, err
			}
		}
		p.calls = from.HostCalls
		p.rewinding = true
		if _, err := inst.Call(ctx, exportStartRewind, uint64(p.data)); err != nil {
			return nil, fmt.Errorf("migrate: resume: %s: %w", exportStartRewind, err)
		}
	}

	_, err = inst.Call(ctx, exportStart)
	if c.Stats != nil {
		c.Stats.HostCalls = p.calls
	}
	switch {
	case p.err != nil:
		return nil, p.err
	case !p.unwinding:
		if p.rewinding && err == nil {
			return nil, errors.New("migrate: resume: the cell ended without re-entering the host call it stopped at")
		}
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("migrate: unwinding the call stack at host call %d: %w (an unwind buffer overflow traps as unreachable: build with a larger toolchain.Options.AsyncifyDataSize)", p.calls, err)
	}
	if _, err := inst.Call(ctx, exportStopUnwind); err != nil {
		return nil, fmt.Errorf("migrate: %s: %w", exportStopUnwind, err)
	}
	if c.Stats != nil {
		if b := mem.Bytes(); int(p.data)+4 <= len(b) {
			c.Stats.UnwindBytes = binary.LittleEndian.Uint32(b[p.data:]) - p.unwindFrom
		}
	}
	return capture(c, inst, mem, initial, p, sys)
}

// point is the migration machinery of one instance: the wrapper around
// its host functions. A cell runs on one goroutine at a time, so it needs
// no lock.
type point struct {
	inst engine.Instance
	data uint32 // address of Asyncify's data header

	calls  uint64          // host calls so far, the one running included
	stopAt uint64          // the call to stop at; 0 never stops
	stop   <-chan struct{} // closed: stop at the next call
	// stopBefore, when set, decides whether to stop at a call (Cell.StopBefore).
	stopBefore func(module, name string, args []uint64) bool
	rewinding  bool // the next host call is the one a snapshot stopped at
	unwinding  bool // a host call started an unwind
	// unwindFrom is where the unwind buffer started filling, to measure it.
	unwindFrom uint32
	// err is a failure of the machinery inside a host call.
	err error
	// observe, when set, sees the memory at every host call (Cell.Observe).
	observe func(engine.Memory)
}

// wrap returns hosts with every function going through p.
func (p *point) wrap(hosts []engine.HostModule) []engine.HostModule {
	out := make([]engine.HostModule, len(hosts))
	for i, h := range hosts {
		funcs := slices.Clone(h.Funcs)
		for j := range funcs {
			funcs[j].Call = p.hook(h.Name, funcs[j].Name, len(funcs[j].Params), funcs[j].Call)
		}
		out[i] = engine.HostModule{Name: h.Name, Funcs: funcs}
	}
	return out
}

func (p *point) hook(module, name string, params int, call func(context.Context, engine.Memory, []uint64)) func(context.Context, engine.Memory, []uint64) {
	return func(ctx context.Context, mem engine.Memory, stack []uint64) {
		if p.observe != nil {
			p.observe(mem)
		}
		if p.rewinding {
			// The guest is back at the call it stopped at; from here on
			// it runs normally, starting with the call itself. It is not
			// counted again.
			p.rewinding = false
			p.guestCall(ctx, exportStopRewind)
			call(ctx, mem, stack)
			return
		}
		p.calls++
		stopHere := p.stopBefore != nil && p.stopBefore(module, name, stack[:params])
		if !stopHere && p.calls != p.stopAt && !p.stopRequested() {
			call(ctx, mem, stack)
			return
		}
		// Instead of the call, unwind: the guest ignores the results and
		// returns from every function up to _start.
		if b := mem.Bytes(); int(p.data)+4 <= len(b) {
			p.unwindFrom = binary.LittleEndian.Uint32(b[p.data:])
		}
		p.unwinding = true
		p.guestCall(ctx, exportStartUnwind, uint64(p.data))
	}
}

// stopRequested reports whether Stop has been closed.
func (p *point) stopRequested() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// guestCall calls an Asyncify export from inside a host call; a failure
// stops the guest with a trap and is reported by Run.
func (p *point) guestCall(ctx context.Context, name string, args ...uint64) {
	if _, err := p.inst.Call(ctx, name, args...); err != nil {
		p.err = fmt.Errorf("migrate: %s at host call %d: %w", name, p.calls, err)
		panic(&engine.Trap{Reason: p.err.Error()})
	}
}

// capture takes the snapshot of a cell whose stack is unwound.
func capture(c Cell, inst engine.Instance, mem engine.Memory, initial []byte, p *point, sys *wasi.System) (*snapshot.Snapshot, error) {
	snap := &snapshot.Snapshot{
		ModuleHash: c.ModuleHash,
		Engine:     c.Engine,
		HostCalls:  p.calls,
		WASI:       sys.State(),
	}
	b := mem.Bytes()
	snap.MemoryPages = uint32(len(b) / snapshot.PageSize)
	// The pages alias memory, which goes away with the instance.
	snap.Pages = snapshot.DiffPages(b, initial)
	for i := range snap.Pages {
		snap.Pages[i].Data = slices.Clone(snap.Pages[i].Data)
	}
	for _, name := range carriedGlobals {
		v, ok := inst.Global(name)
		if !ok {
			return nil, fmt.Errorf("migrate: module exports no global %s", name)
		}
		snap.Globals = append(snap.Globals, snapshot.Global{Name: name, Value: v})
	}
	return snap, nil
}

// restore makes a fresh instance's memory and globals those of snap.
func restore(ctx context.Context, inst engine.Instance, mem engine.Memory, snap *snapshot.Snapshot) error {
	have := uint32(len(mem.Bytes()) / snapshot.PageSize)
	switch {
	case snap.MemoryPages < have:
		return fmt.Errorf("snapshot memory of %d pages is smaller than a fresh instance's %d", snap.MemoryPages, have)
	case snap.MemoryPages > have:
		res, err := inst.Call(ctx, exportMemoryGrow, uint64(snap.MemoryPages-have))
		if err != nil {
			return fmt.Errorf("growing memory to %d pages: %w", snap.MemoryPages, err)
		}
		if len(res) != 1 || int32(res[0]) < 0 {
			return fmt.Errorf("growing memory to %d pages: refused (memory limit?)", snap.MemoryPages)
		}
	}
	if err := snap.Apply(mem.Bytes()); err != nil {
		return err
	}
	for _, g := range snap.Globals {
		if err := inst.SetGlobal(g.Name, g.Value); err != nil {
			return err
		}
	}
	return nil
}

// newWASI makes the cell's WASI: fresh from cfg, or, resuming, the
// snapshot's, with every fd the cell had reopened on its number at its
// offset (wasi.Restore, which also continues the monotonic clock).
func newWASI(cfg wasi.Config, from *snapshot.Snapshot) (*wasi.System, error) {
	if from == nil {
		sys, err := wasi.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("migrate: cell filesystem: %w", err)
		}
		return sys, nil
	}
	sys, err := wasi.Restore(cfg, from.WASI)
	if err != nil {
		return nil, fmt.Errorf("migrate: resume: cell filesystem: %w", err)
	}
	return sys, nil
}
