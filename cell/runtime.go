package cell

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/wasmtime"
	"github.com/cloudskin/cloudskin/cell/engine/wazero"
	"github.com/cloudskin/cloudskin/cell/migrate"
)

// EngineChoice names an engine, or auto.
type EngineChoice string

// The engine choices.
const (
	Auto     EngineChoice = "auto"
	Wasmtime EngineChoice = "wasmtime"
	Wazero   EngineChoice = "wazero"
)

// ParseEngine checks an --engine value.
func ParseEngine(s string) (EngineChoice, error) {
	switch c := EngineChoice(s); c {
	case Auto, Wasmtime, Wazero:
		return c, nil
	case "":
		return Auto, nil
	}
	return "", fmt.Errorf("engine %q: want wasmtime, wazero or auto", s)
}

// Options configure a Runtime.
type Options struct {
	// CacheDir keeps compiled code between runs, one subdirectory per
	// engine; "" means DefaultCacheDir().
	CacheDir string
}

// DefaultCacheDir is where compiled cells are cached when no directory is
// given: the user's cache directory, as the Go build cache does.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "cloudskin", "compiled")
}

// Runtime compiles and runs cells. It is safe for concurrent use.
type Runtime struct {
	cacheDir string

	mu      sync.Mutex
	engines map[EngineChoice]engine.Engine
}

// NewRuntime returns a runtime; engines start on first use.
func NewRuntime(opts Options) *Runtime {
	if opts.CacheDir == "" {
		opts.CacheDir = DefaultCacheDir()
	}
	return &Runtime{cacheDir: opts.CacheDir, engines: map[EngineChoice]engine.Engine{}}
}

// Resolve turns auto into a concrete engine and says why.
func Resolve(choice EngineChoice) (EngineChoice, string) {
	switch {
	case choice == Wasmtime:
		return Wasmtime, "asked for wasmtime"
	case choice == Wazero:
		return Wazero, "asked for wazero"
	case wasmtime.Available():
		return Wasmtime, "auto: wasmtime generates near-native code and this build has cgo"
	default:
		return Wazero, "auto: this build has no cgo, so wasmtime is unavailable"
	}
}

// engine returns the started engine for a concrete choice.
func (r *Runtime) engine(ctx context.Context, choice EngineChoice) (engine.Engine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.engines[choice]; ok {
		return e, nil
	}
	dir := filepath.Join(r.cacheDir, string(choice))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("compiled-code cache: %w", err)
	}
	var (
		e   engine.Engine
		err error
	)
	switch choice {
	case Wasmtime:
		e, err = wasmtime.New(wasmtime.Options{CacheDir: dir})
	case Wazero:
		e, err = wazero.New(ctx, wazero.Options{CacheDir: dir})
	default:
		err = fmt.Errorf("engine %q is not concrete", choice)
	}
	if err != nil {
		return nil, err
	}
	r.engines[choice] = e
	return e, nil
}

// Load compiles a module (or takes it from the cache) on the chosen engine.
// The module's imports are checked against what cells are given (WASI and
// MPI); anything else is refused here, naming every missing function.
func (r *Runtime) Load(ctx context.Context, wasm []byte, choice EngineChoice) (*Program, error) {
	concrete, reason := Resolve(choice)
	e, err := r.engine(ctx, concrete)
	if err != nil {
		return nil, err
	}
	compiled, err := e.Compile(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", concrete, err)
	}
	sum := sha256.Sum256(wasm)
	p := &Program{
		engine:   e,
		compiled: compiled,
		Engine:   concrete,
		Reason:   reason,
		Hash:     hex.EncodeToString(sum[:]),
		sum:      sum,

		Migratable: migrate.Migratable(wasm),
	}
	for _, imp := range compiled.Imports() {
		p.UsesMPI = p.UsesMPI || imp.Module == "mpi"
	}
	if err := engine.CheckImports(compiled.Imports(), providedModules()); err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	return p, nil
}

// Close stops every engine. Programs must be closed first.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, e := range r.engines {
		errs = append(errs, e.Close(ctx))
	}
	r.engines = map[EngineChoice]engine.Engine{}
	return errors.Join(errs...)
}

// modulesDir keeps modules by hash, so that a snapshot, which names its
// module only by hash, can be resumed without the caller finding the file.
func (r *Runtime) modulesDir() string { return filepath.Join(r.cacheDir, "modules") }

// Keep stores wasm in the runtime's module store under its SHA-256.
func (r *Runtime) Keep(wasm []byte) error {
	sum := sha256.Sum256(wasm)
	path := filepath.Join(r.modulesDir(), hex.EncodeToString(sum[:])+".wasm")
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(r.modulesDir(), 0o700); err != nil {
		return fmt.Errorf("module store: %w", err)
	}
	tmp, err := os.CreateTemp(r.modulesDir(), ".module-*")
	if err != nil {
		return fmt.Errorf("module store: %w", err)
	}
	_, err = tmp.Write(wasm)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("module store: %w", err)
	}
	return nil
}

// Kept returns the module stored under hash by Keep.
func (r *Runtime) Kept(hash [32]byte) ([]byte, error) {
	path := filepath.Join(r.modulesDir(), hex.EncodeToString(hash[:])+".wasm")
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("module %x is not in the module store %s (give it with --module): %w", hash[:8], r.modulesDir(), err)
	}
	if sha256.Sum256(wasm) != hash {
		return nil, fmt.Errorf("module store: %s is damaged: its content does not match its name", path)
	}
	return wasm, nil
}
