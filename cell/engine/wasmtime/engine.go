//go:build cgo

package wasmtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Available reports whether this build includes wasmtime: it does, being
// built with cgo.
func Available() bool { return true }

// Engine is the wasmtime implementation of engine.Engine.
type Engine struct {
	eng      *wasmtime.Engine
	version  string
	cacheDir string
	// cacheKey identifies the engine build and settings in cache file
	// names: serialized code is only valid for the same ones.
	cacheKey  string
	cacheHits atomic.Uint64
	epoch     *epochTicker

	closeOnce sync.Once
}

var _ engine.Engine = (*Engine)(nil)

// New returns an Engine compiling with Cranelift for speed, with SIMD and
// with epoch interruption for cancellation.
func New(opts Options) (*Engine, error) { return newEngine(opts, true) }

// newEngine is New with epoch interruption optional, so that tests can
// measure its cost; cancellation does not work without it.
func newEngine(opts Options, epoch bool) (*Engine, error) {
	if err := checkStoreLayout(); err != nil {
		return nil, err
	}
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("wasmtime: cache dir: %w", err)
		}
	}
	cfg := wasmtime.NewConfig()
	cfg.SetStrategy(wasmtime.StrategyCranelift)
	cfg.SetCraneliftOptLevel(wasmtime.OptLevelSpeed)
	cfg.SetWasmSIMD(true)
	cfg.SetEpochInterruption(epoch)
	settings := fmt.Sprintf("cranelift speed simd epoch=%t", epoch)

	version := "wasmtime " + engine.ModuleVersion("github.com/bytecodealliance/wasmtime-go/v39")
	key := sha256.Sum256([]byte(version + "\x00" + runtime.GOOS + "/" + runtime.GOARCH + "\x00" + settings))
	eng := wasmtime.NewEngineWithConfig(cfg)
	return &Engine{
		eng:      eng,
		version:  version,
		cacheDir: opts.CacheDir,
		cacheKey: hex.EncodeToString(key[:8]),
		epoch:    newEpochTicker(eng),
	}, nil
}

// Name implements engine.Engine.
func (e *Engine) Name() string { return "wasmtime" }

// Version implements engine.Engine: "wasmtime v39.0.1", the version of the
// Go bindings, which pin the version of wasmtime they ship.
func (e *Engine) Version() string { return e.version }

// CacheHits reports how many compilations the disk cache served.
func (e *Engine) CacheHits() uint64 { return e.cacheHits.Load() }

// Compile implements engine.Engine.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (engine.Compiled, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wasmtime: compile: %w", err)
	}
	m, err := e.compile(wasm)
	if err != nil {
		return nil, fmt.Errorf("wasmtime: compile: %w", plainError(err))
	}
	return newCompiled(e, m), nil
}

// compile returns the compiled module from the disk cache, or compiles it
// and adds it to the cache.
func (e *Engine) compile(wasm []byte) (*wasmtime.Module, error) {
	if e.cacheDir == "" {
		return wasmtime.NewModule(e.eng, wasm)
	}
	path := e.cachePath(wasm)
	if m := e.cached(path); m != nil {
		e.cacheHits.Add(1)
		return m, nil
	}
	m, err := wasmtime.NewModule(e.eng, wasm)
	if err != nil {
		return nil, err
	}
	if err := e.store(path, m); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close implements engine.Engine.
func (e *Engine) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		e.epoch.stop()
		e.eng.Close()
	})
	return nil
}

var errClosed = errors.New("instance is closed")

// plainError drops the Rust backtrace that wasmtime appends to its error
// messages when RUST_BACKTRACE is set: mostly "<unknown>" frames that say
// nothing to a cell's user. The original error stays reachable by Unwrap.
func plainError(err error) error {
	msg, _, found := strings.Cut(err.Error(), "\n\nStack backtrace:")
	if !found {
		return err
	}
	return &trimmedError{msg: msg, err: err}
}

type trimmedError struct {
	msg string
	err error
}

func (e *trimmedError) Error() string { return e.msg }
func (e *trimmedError) Unwrap() error { return e.err }
