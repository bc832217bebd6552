// Package wazero runs cells on wazero (github.com/tetratelabs/wazero), the
// pure-Go WebAssembly runtime. It implements engine.Engine without cgo, so
// it is the engine of static builds (CGO_ENABLED=0) and the one that starts
// cells fastest; wasmtime generates faster code for long runs.
//
// Two wazero rules shape this adapter:
//
//   - A memory limit belongs to a wazero.Runtime, not to an instance. The
//     engine therefore keeps one Runtime per distinct limit, made on first
//     use, and compiles a module in the Runtime it is instantiated in. All
//     Runtimes share one compilation cache (on disk when Options.CacheDir is
//     set, in memory otherwise), so compiling again in a second Runtime reuses
//     the code compiled in the first.
//   - Imports resolve to modules by name, and a name is instantiated once per
//     Runtime, while our host modules are closures per instance. Each host
//     module (by name and set of signatures) is instantiated once per Runtime
//     as Go functions that dispatch to the calling instance's own HostFunc,
//     found through the context of the call (see host.go).
//
// Guest modules are instantiated anonymously, without wazero's WASI or any
// file system or stdio configuration: all of that is the host modules' job.
//
// Two costs are worth knowing. Cancellation (wazero's
// WithCloseOnContextDone) makes compiled code call into Go at every loop
// iteration and function entry: a tight loop runs about 30 times slower
// than without it (BenchmarkLoop). And wazero 1.12 allocates what
// counts in a module's binary claim before reading them, so Compile first
// checks them (sizes.go): a tiny malformed module would otherwise kill the
// process by exhausting memory.
package wazero

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/tetratelabs/wazero"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// maxPages is the WebAssembly 32-bit memory maximum: 65536 pages, 4 GiB.
const maxPages = 65536

// Options configures an Engine.
type Options struct {
	// CacheDir keeps compiled code on disk so that a module compiled once is
	// not compiled again by later processes. Empty means no disk cache.
	// wazero keys entries by module hash and wazero version itself.
	CacheDir string

	// noCloseOnDone turns cancellation off, so that tests can measure its
	// cost (see BenchmarkLoop).
	noCloseOnDone bool
}

// Engine is the wazero implementation of engine.Engine.
type Engine struct {
	cache       wazero.CompilationCache
	version     string
	closeOnDone bool

	mu       sync.Mutex
	runtimes map[runtimeKey]*runtime
	closed   bool
}

var _ engine.Engine = (*Engine)(nil)

// New returns an Engine. Runtimes are made lazily, one per memory limit.
func New(ctx context.Context, opts Options) (*Engine, error) {
	cache := wazero.NewCompilationCache()
	if opts.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(opts.CacheDir); err != nil {
			return nil, fmt.Errorf("wazero: cache dir %s: %w", opts.CacheDir, err)
		}
	}
	return &Engine{
		cache:       cache,
		version:     "wazero " + engine.ModuleVersion("github.com/tetratelabs/wazero"),
		closeOnDone: !opts.noCloseOnDone,
		runtimes:    make(map[runtimeKey]*runtime),
	}, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "wazero" }

// Version implements engine.Engine: "wazero v1.12.0".
func (e *Engine) Version() string { return e.version }

// Compile implements engine.Engine. It validates and compiles the module in
// the Runtime without a memory limit; Instantiate compiles it again (from
// the cache) in the Runtime of the instance's limit.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (engine.Compiled, error) {
	rt, err := e.runtime(ctx, runtimeKey{limit: maxPages, interruptible: true})
	if err != nil {
		return nil, err
	}
	if err := checkSizes(wasm); err != nil {
		return nil, fmt.Errorf("wazero: compile: malformed module: %w", err)
	}
	cm, err := rt.r.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("wazero: compile: %w", err)
	}
	imports, err := readImports(wasm)
	if err != nil {
		// wazero accepted the module, so this is a bug in readImports.
		_ = cm.Close(ctx)
		return nil, fmt.Errorf("wazero: compile: internal error reading imports: %w", err)
	}
	return &Compiled{
		e:         e,
		wasm:      slices.Clone(wasm), // compiled again per memory limit
		imports:   imports,
		funcs:     cm.ImportedFunctions(),
		byRuntime: map[*runtime]wazero.CompiledModule{rt: cm},
	}, nil
}

// Close implements engine.Engine. It closes every Runtime, which closes
// every instance and compiled module still open.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	for _, rt := range e.runtimes {
		errs = append(errs, rt.r.Close(ctx))
	}
	e.runtimes = nil
	errs = append(errs, e.cache.Close(ctx))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wazero: close: %w", err)
	}
	return nil
}

// runtimeKey says which Runtime an instance belongs in: wazero sets the
// memory limit and cancellation per Runtime, not per instance.
type runtimeKey struct {
	limit         uint32 // pages
	interruptible bool
}

// runtime returns the Runtime for key, making it on first use.
func (e *Engine) runtime(ctx context.Context, key runtimeKey) (*runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("wazero: engine is closed")
	}
	if rt := e.runtimes[key]; rt != nil {
		return rt, nil
	}
	// NewRuntimeConfig picks the compiler where wazero has one. With
	// WithCloseOnContextDone, cancelling a call's context stops the guest:
	// compiled code then calls into Go to check for it at every function
	// entry and loop iteration, which BenchmarkLoop measures; so only
	// interruptible instances get it.
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(e.cache).
		WithCloseOnContextDone(e.closeOnDone && key.interruptible).
		WithMemoryLimitPages(key.limit)
	rt := &runtime{
		r:     wazero.NewRuntimeWithConfig(ctx, cfg),
		limit: key.limit,
		hosts: make(map[string]*hostModule),
	}
	e.runtimes[key] = rt
	return rt, nil
}

// runtime is a wazero.Runtime for one memory limit, with the host modules
// instantiated in it.
type runtime struct {
	r     wazero.Runtime
	limit uint32

	mu    sync.Mutex
	hosts map[string]*hostModule // by hostKey
}
