// Package engine is the boundary between C-Cells and the WebAssembly
// engines that run them. A cell's host side (WASI, MPI) is written once
// against the types here (HostModule, HostFunc, Memory) and runs unchanged on
// every engine: wasmtime (package engine/wasmtime, Cranelift, near-native
// speed, cgo) and wazero (package engine/wazero, pure Go, fastest start).
//
// Host functions use wazero's calling convention because it costs nothing
// there and little elsewhere: parameters arrive in a []uint64 stack and
// results are written back into it. A host function ends the guest by
// panicking with *Exit (proc_exit) or *Trap; adapters turn those into the
// engine's own mechanism and back into errors for the caller.
//
// Everything that makes up a cell's state is reachable through Instance
// (memory, exported globals) or lives in our host modules (WASI and MPI
// state), never inside an engine, so a cell can later be snapshotted on one
// engine and resumed on the other.
package engine

import (
	"context"
	"fmt"
)

// ValueType is a WebAssembly value type of a host function's signature.
type ValueType byte

// The value types host functions use.
const (
	I32 ValueType = iota + 1
	I64
	F32
	F64
)

func (t ValueType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case F32:
		return "f32"
	case F64:
		return "f64"
	}
	return fmt.Sprintf("ValueType(%d)", byte(t))
}

// Memory is a guest's linear memory as host functions see it.
type Memory interface {
	// Bytes returns the whole linear memory. The slice aliases the guest's
	// memory and stays valid until the guest runs again (it may grow).
	Bytes() []byte
}

// HostFunc is one function the host provides to guests.
type HostFunc struct {
	Name    string
	Params  []ValueType
	Results []ValueType
	// Call runs the function: stack[:len(Params)] holds the arguments on
	// entry; the function writes its results to stack[:len(Results)].
	// len(stack) is max(len(Params), len(Results)).
	Call func(ctx context.Context, mem Memory, stack []uint64)
}

// HostModule is a named set of host functions, e.g. wasi_snapshot_preview1.
// Host modules are built per instance, so their closures may hold that
// instance's state.
type HostModule struct {
	Name  string
	Funcs []HostFunc
}

// ImportKind says what an import is.
type ImportKind byte

// The import kinds.
const (
	ImportFunc ImportKind = iota + 1
	ImportMemory
	ImportGlobal
	ImportTable
)

// Import is one import a module declares.
type Import struct {
	Module string
	Name   string
	Kind   ImportKind
}

// Engine compiles modules. Implementations are safe for concurrent use.
type Engine interface {
	// Name is "wasmtime" or "wazero".
	Name() string
	// Version identifies the engine build; compiled code cached on disk is
	// keyed by it.
	Version() string
	// Compile validates and compiles a module, using the engine's on-disk
	// cache when it has the module already.
	Compile(ctx context.Context, wasm []byte) (Compiled, error)
	// Close releases the engine; compiled modules must be closed first.
	Close(ctx context.Context) error
}

// Compiled is a compiled module from which many instances are made.
type Compiled interface {
	// Imports lists what the module imports, in declaration order.
	Imports() []Import
	// Instantiate makes a new, isolated instance. A module's start section
	// runs now; exported entry points such as _start are not run: the
	// caller calls them itself.
	Instantiate(ctx context.Context, cfg InstanceConfig) (Instance, error)
	Close(ctx context.Context) error
}

// InstanceConfig configures one instance.
type InstanceConfig struct {
	// HostModules satisfy the module's function imports. An import that no
	// host module provides is an error naming it.
	HostModules []HostModule
	// MemoryLimitPages caps linear memory in 64 KiB pages; 0 means the
	// WebAssembly maximum (65536 pages, 4 GiB).
	MemoryLimitPages uint32
	// Uninterruptible says the caller will not stop running guest code
	// through the context, so engines may leave out the checks that make
	// that possible: on wazero they cost a call into Go at every loop
	// iteration and function entry (20-30x on tight loops); wasmtime's
	// epoch checks are nearly free and stay. A cancelled context then
	// stops the guest only where a host function looks at it.
	Uninterruptible bool
}

// Instance is a running or runnable guest.
type Instance interface {
	// Call calls an exported function. Cancelling ctx stops the guest
	// (the call returns an error wrapping ctx.Err()), unless the instance
	// is Uninterruptible; after a cancelled call the instance must not be
	// called again. A proc_exit returns *Exit; a trap returns *Trap.
	Call(ctx context.Context, name string, args ...uint64) ([]uint64, error)
	// Memory is the instance's exported memory ("memory"), or nil.
	Memory() Memory
	// Global reads an exported global's raw bits.
	Global(name string) (uint64, bool)
	// SetGlobal writes an exported mutable global's raw bits.
	SetGlobal(name string, v uint64) error
	Close(ctx context.Context) error
}

// Exit is how a guest ends itself (WASI proc_exit). Host functions panic
// with it; Call returns it as an error.
type Exit struct {
	Code uint32
}

func (e *Exit) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Trap is a guest fault: unreachable, out-of-bounds access, stack
// overflow, or a host function that refused its arguments.
type Trap struct {
	// Reason says what went wrong, e.g. "out of bounds memory access".
	Reason string
	// Function is the guest function that trapped, when the engine says.
	Function string
}

func (t *Trap) Error() string {
	if t.Function != "" {
		return fmt.Sprintf("trap in %s: %s", t.Function, t.Reason)
	}
	return "trap: " + t.Reason
}
