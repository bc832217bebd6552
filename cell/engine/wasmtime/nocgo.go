//go:build !cgo

package wasmtime

import (
	"context"
	"errors"

	"github.com/cloudskin/cloudskin/cell/engine"
)

var errNoCgo = errors.New("wasmtime engine needs cgo; use --engine wazero")

// Available reports whether this build includes wasmtime: it does not,
// because it was built without cgo.
func Available() bool { return false }

// Engine is a placeholder: without cgo, New never returns one.
type Engine struct{}

var _ engine.Engine = (*Engine)(nil)

// New returns an error: wasmtime needs cgo.
func New(Options) (*Engine, error) { return nil, errNoCgo }

// Name implements engine.Engine.
func (*Engine) Name() string { return "wasmtime" }

// Version implements engine.Engine.
func (*Engine) Version() string { return "wasmtime unavailable (built without cgo)" }

// Compile implements engine.Engine.
func (*Engine) Compile(context.Context, []byte) (engine.Compiled, error) { return nil, errNoCgo }

// Close implements engine.Engine.
func (*Engine) Close(context.Context) error { return nil }

// CacheHits reports how many compilations the disk cache served: none.
func (*Engine) CacheHits() uint64 { return 0 }
