package wazero

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Instance is the wazero implementation of engine.Instance. Like a wazero
// module, it must not be called from two goroutines at once.
type Instance struct {
	mod api.Module
	// hosts holds this instance's host functions by hostModule.id, each
	// module's sorted by name, so the Runtime's shared host modules can
	// dispatch to them.
	hosts [][]engine.HostFunc
	// hostMem is the Memory host functions get: the guest's memory.
	hostMem memory
}

var _ engine.Instance = (*Instance)(nil)

// Call implements engine.Instance. When ctx is cancelled wazero closes the
// module to stop it, so the instance cannot be called again.
func (i *Instance) Call(ctx context.Context, name string, args ...uint64) ([]uint64, error) {
	f := i.mod.ExportedFunction(name)
	if f == nil {
		return nil, fmt.Errorf("wazero: call %s: no exported function of that name", name)
	}
	results, err := f.Call(context.WithValue(ctx, instanceKey{}, i), args...)
	if err != nil {
		return nil, callError(ctx, name, err)
	}
	return results, nil
}

// callError turns the error of a call into *engine.Exit, *engine.Trap, or
// an error wrapping ctx.Err().
func callError(ctx context.Context, name string, err error) error {
	// Host functions panic with these (see hostPanic); wazero wraps them.
	var exit *engine.Exit
	if errors.As(err, &exit) {
		return exit
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("wazero: call %s: %w", name, ctxErr)
	}
	var trap *engine.Trap
	if errors.As(err, &trap) {
		return trap
	}
	if trap := guestTrap(err); trap != nil {
		return trap
	}
	return fmt.Errorf("wazero: call %s: %w", name, err)
}

// wasmruntimePkg is the package of wazero's guest fault errors. It is
// internal, so its type can only be recognised by name.
const wasmruntimePkg = "github.com/tetratelabs/wazero/internal/wasmruntime"

// guestTrap recognises a guest fault. wazero reports one as an error of
// wasmruntime's type, whose text is the reason, mostly wrapped as
//
//	wasm error: <reason>
//	wasm stack trace:
//		<module>.<function>(<params>) <results>
//		...
//
// but bare for a stack overflow, which therefore names no function.
func guestTrap(err error) *engine.Trap {
	for cause := err; cause != nil; cause = errors.Unwrap(cause) {
		t := reflect.TypeOf(cause)
		if t.Kind() != reflect.Pointer || t.Elem().PkgPath() != wasmruntimePkg {
			continue
		}
		trap := &engine.Trap{Reason: cause.Error()}
		if _, frames, ok := strings.Cut(err.Error(), "\nwasm stack trace:\n\t"); ok {
			frame, _, _ := strings.Cut(frames, "\n")
			frame, _, _ = strings.Cut(frame, "(")
			// Instances are anonymous, so the module part is empty.
			_, trap.Function, _ = strings.Cut(frame, ".")
		}
		return trap
	}
	return nil
}

// Memory implements engine.Instance.
func (i *Instance) Memory() engine.Memory {
	m := i.mod.ExportedMemory("memory")
	if m == nil {
		return nil
	}
	return &memory{m: m}
}

// Global implements engine.Instance.
func (i *Instance) Global(name string) (uint64, bool) {
	g := i.mod.ExportedGlobal(name)
	if g == nil {
		return 0, false
	}
	return g.Get(), true
}

// SetGlobal implements engine.Instance.
func (i *Instance) SetGlobal(name string, v uint64) error {
	g := i.mod.ExportedGlobal(name)
	if g == nil {
		return fmt.Errorf("wazero: set global %s: no exported global of that name", name)
	}
	mg, ok := g.(api.MutableGlobal)
	if !ok {
		return fmt.Errorf("wazero: set global %s: global is immutable", name)
	}
	mg.Set(v)
	return nil
}

// Close implements engine.Instance.
func (i *Instance) Close(ctx context.Context) error {
	if err := i.mod.Close(ctx); err != nil {
		return fmt.Errorf("wazero: close instance: %w", err)
	}
	return nil
}

// memory is a guest's linear memory.
type memory struct{ m api.Memory }

// Bytes implements engine.Memory.
func (m *memory) Bytes() []byte {
	if m.m == nil {
		return nil
	}
	b, _ := m.m.Read(0, m.m.Size())
	return b
}
