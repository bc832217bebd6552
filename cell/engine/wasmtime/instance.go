//go:build cgo

package wasmtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// pageSize is the size of a WebAssembly memory page.
const pageSize = 65536

// Instance is the wasmtime implementation of engine.Instance: one Store
// holding one instance. Like a Store, it must not be used from two
// goroutines at once.
type Instance struct {
	e     *Engine
	store *wasmtime.Store
	inst  *wasmtime.Instance
	mem   *wasmtime.Memory // the export "memory", or nil
	watch *watch

	// caller is the Caller of the host function running, if any: inside
	// a host call, the store must be reached through it.
	caller *wasmtime.Caller
	// hostMem is the Memory host functions get.
	hostMem memory
	// exit and hostTrap are how the host function that ended the call
	// ended it; Call returns them rather than what wasmtime reports.
	exit     *engine.Exit
	hostTrap *engine.Trap
	closed   bool
}

var _ engine.Instance = (*Instance)(nil)

// enter runs the guest through run with ctx watched for cancellation. A
// call made from inside a host function (such as Asyncify's unwind and
// rewind exports, which migration calls) nests: it saves the outer call's
// state and gives it back, so the outer call stays cancellable and keeps
// how it ended.
func (i *Instance) enter(ctx context.Context, run func() error) error {
	leave := i.e.epoch.enter(ctx)
	defer leave()
	outerCtx, outerInterrupted := i.watch.ctx, i.watch.interrupted
	outerExit, outerTrap := i.exit, i.hostTrap
	nested := i.caller != nil
	i.watch.ctx, i.watch.interrupted = ctx, false
	i.exit, i.hostTrap = nil, nil
	defer func() {
		if nested {
			i.watch.ctx, i.watch.interrupted = outerCtx, outerInterrupted
			i.exit, i.hostTrap = outerExit, outerTrap
			return
		}
		i.watch.ctx = nil // interrupted stays: callError reads it
	}()
	if !nested {
		i.store.SetEpochDeadline(1)
	}
	return run()
}

// storelike is what calls go through: the caller inside a host function,
// as wasmtime wants, else the store.
func (i *Instance) storelike() wasmtime.Storelike {
	if i.caller != nil {
		return i.caller
	}
	return i.store
}

// Call implements engine.Instance.
func (i *Instance) Call(ctx context.Context, name string, args ...uint64) ([]uint64, error) {
	if i.closed {
		return nil, fmt.Errorf("wasmtime: call %s: %w", name, errClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("wasmtime: call %s: %w", name, err)
	}
	store := i.storelike()
	f := i.inst.GetFunc(store, name)
	if f == nil {
		return nil, fmt.Errorf("wasmtime: call %s: no exported function of that name", name)
	}
	ty := f.Type(store)
	params, okP := engineTypes(ty.Params())
	results, okR := engineTypes(ty.Results())
	if !okP || !okR {
		return nil, fmt.Errorf("wasmtime: call %s: unsupported signature %s", name, wasmSignature(ty))
	}
	if len(args) != len(params) {
		return nil, fmt.Errorf("wasmtime: call %s: expected %d params, but passed %d", name, len(params), len(args))
	}
	vals := make([]any, len(args))
	for k, a := range args {
		vals[k] = toVal(params[k], a)
	}
	var res any
	err := i.enter(ctx, func() (err error) {
		res, err = f.Call(store, vals...)
		return err
	})
	if err != nil {
		return nil, i.callError(ctx, name, err)
	}
	switch r := res.(type) {
	case nil:
		return nil, nil
	case []wasmtime.Val:
		out := make([]uint64, len(r))
		for k, v := range r {
			out[k] = fromVal(v)
		}
		return out, nil
	default:
		if len(results) != 1 {
			return nil, fmt.Errorf("wasmtime: call %s: unexpected result %T", name, res)
		}
		return []uint64{fromGo(r)}, nil
	}
}

// callError turns the error of a call into *engine.Exit, *engine.Trap, or
// an error wrapping ctx.Err().
func (i *Instance) callError(ctx context.Context, name string, err error) error {
	switch {
	case i.exit != nil:
		return i.exit
	case i.hostTrap != nil:
		return i.hostTrap
	case i.watch.interrupted:
		return fmt.Errorf("wasmtime: call %s: %w", name, ctx.Err())
	}
	var trap *wasmtime.Trap
	if errors.As(err, &trap) {
		return guestTrap(trap)
	}
	return fmt.Errorf("wasmtime: call %s: %w", name, plainError(err))
}

// trapReasons words wasmtime's trap codes as wazero does, so that a trap
// reads the same on both engines.
var trapReasons = map[wasmtime.TrapCode]string{
	wasmtime.StackOverflow:          "stack overflow",
	wasmtime.MemoryOutOfBounds:      "out of bounds memory access",
	wasmtime.HeapMisaligned:         "unaligned atomic",
	wasmtime.TableOutOfBounds:       "invalid table access",
	wasmtime.IndirectCallToNull:     "invalid table access",
	wasmtime.BadSignature:           "indirect call type mismatch",
	wasmtime.IntegerOverflow:        "integer overflow",
	wasmtime.IntegerDivisionByZero:  "integer divide by zero",
	wasmtime.BadConversionToInteger: "invalid conversion to integer",
	wasmtime.UnreachableCodeReached: "unreachable",
	wasmtime.Interrupt:              "interrupted",
	wasmtime.OutOfFuel:              "out of fuel",
}

// guestTrap converts a wasmtime trap; the function is the innermost frame.
func guestTrap(trap *wasmtime.Trap) *engine.Trap {
	t := &engine.Trap{}
	if code := trap.Code(); code != nil {
		t.Reason = trapReasons[*code]
	}
	if t.Reason == "" {
		t.Reason, _, _ = strings.Cut(trap.Message(), "\n")
	}
	if frames := trap.Frames(); len(frames) > 0 {
		if name := frames[0].FuncName(); name != nil {
			t.Function = *name
		}
	}
	return t
}

// hostFunc binds a host function to this instance. The callback converts
// between wasmtime values and the []uint64 stack, and never lets a panic
// through: wasmtime-go would re-panic it in Call.
func (i *Instance) hostFunc(qualified string, f engine.HostFunc, ty *wasmtime.FuncType) *wasmtime.Func {
	// One stack per function suffices: a host function cannot be
	// re-entered, as it cannot call the guest.
	stack := make([]uint64, max(len(f.Params), len(f.Results)))
	return wasmtime.NewFunc(i.store, ty, func(caller *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		for k, a := range args {
			stack[k] = fromVal(a)
		}
		if reason, ok := i.runHost(qualified, f, caller, stack); !ok {
			return nil, wasmtime.NewTrap(reason)
		}
		results := make([]wasmtime.Val, len(f.Results))
		for k, t := range f.Results {
			results[k] = toVal(t, stack[k])
		}
		return results, nil
	})
}

// runHost runs a host function, recording on the instance how it ended
// the guest if it panicked; ok is false then.
func (i *Instance) runHost(qualified string, f engine.HostFunc, caller *wasmtime.Caller, stack []uint64) (reason string, ok bool) {
	i.caller = caller
	defer func() {
		i.caller = nil
		r := recover()
		if r == nil {
			return
		}
		switch v := r.(type) {
		case *engine.Exit:
			i.exit, reason = v, v.Error()
		case *engine.Trap:
			i.hostTrap, reason = v, v.Reason
		default:
			i.hostTrap = &engine.Trap{Reason: fmt.Sprintf("host function %s panicked: %v", qualified, r)}
			reason = i.hostTrap.Reason
		}
		ok = false
	}()
	f.Call(i.watchCtx(), &i.hostMem, stack)
	return "", true
}

// watchCtx is the context of the running call, for host functions.
func (i *Instance) watchCtx() context.Context {
	if i.watch.ctx != nil {
		return i.watch.ctx
	}
	return context.Background()
}

// Memory implements engine.Instance.
func (i *Instance) Memory() engine.Memory {
	if i.mem == nil {
		return nil
	}
	return &memory{i: i}
}

// Global implements engine.Instance.
func (i *Instance) Global(name string) (uint64, bool) {
	g := i.global(name)
	if g == nil || engineType(g.Type(i.store).Content().Kind()) == 0 {
		return 0, false
	}
	return fromVal(g.Get(i.store)), true
}

// SetGlobal implements engine.Instance.
func (i *Instance) SetGlobal(name string, v uint64) error {
	g := i.global(name)
	if g == nil {
		return fmt.Errorf("wasmtime: set global %s: no exported global of that name", name)
	}
	ty := g.Type(i.store)
	t := engineType(ty.Content().Kind())
	switch {
	case t == 0:
		return fmt.Errorf("wasmtime: set global %s: unsupported type", name)
	case !ty.Mutable():
		return fmt.Errorf("wasmtime: set global %s: global is immutable", name)
	}
	if err := g.Set(i.store, toVal(t, v)); err != nil {
		return fmt.Errorf("wasmtime: set global %s: %w", name, err)
	}
	return nil
}

func (i *Instance) global(name string) *wasmtime.Global {
	if i.closed {
		return nil
	}
	ext := i.inst.GetExport(i.store, name)
	if ext == nil {
		return nil
	}
	return ext.Global()
}

// Close implements engine.Instance. It frees the store, and with it the
// instance's memory and host functions.
func (i *Instance) Close(ctx context.Context) error {
	if !i.closed {
		i.closed = true
		i.store.Close()
	}
	return nil
}

// memory is a guest's linear memory, read through the running host
// function's Caller when there is one, as wasmtime requires.
type memory struct{ i *Instance }

// Bytes implements engine.Memory.
func (m *memory) Bytes() []byte {
	i := m.i
	if i.caller != nil {
		mem := i.mem
		if mem == nil {
			// During instantiation (a start function calling the host).
			ext := i.caller.GetExport("memory")
			if ext == nil || ext.Memory() == nil {
				return nil
			}
			mem = ext.Memory()
		}
		return mem.UnsafeData(i.caller)
	}
	if i.mem == nil || i.closed {
		return nil
	}
	return i.mem.UnsafeData(i.store)
}

// toVal makes a wasmtime value of type t from raw bits.
func toVal(t engine.ValueType, v uint64) wasmtime.Val {
	switch t {
	case engine.I32:
		return wasmtime.ValI32(int32(uint32(v)))
	case engine.I64:
		return wasmtime.ValI64(int64(v))
	case engine.F32:
		return wasmtime.ValF32(math.Float32frombits(uint32(v)))
	default:
		return wasmtime.ValF64(math.Float64frombits(v))
	}
}

// fromVal returns a wasmtime value's raw bits; i32 is zero-extended, as
// wazero does.
func fromVal(v wasmtime.Val) uint64 { return fromGo(v.Get()) }

func fromGo(v any) uint64 {
	switch v := v.(type) {
	case int32:
		return uint64(uint32(v))
	case int64:
		return uint64(v)
	case float32:
		return uint64(math.Float32bits(v))
	case float64:
		return math.Float64bits(v)
	}
	return 0 // references: never passed, see engineTypes
}
