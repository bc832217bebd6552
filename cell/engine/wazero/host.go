package wazero

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero/api"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// hostModule is a host module instantiated in one Runtime. Its functions
// hold no state: each one looks up the calling instance (instanceKey on the
// call's context) and runs that instance's HostFunc at the same position.
type hostModule struct {
	id  int // index into Instance.hosts
	mod api.Module
}

// instanceKey is the context key under which Instance.Call and Instantiate
// store the *Instance whose host functions the guest calls.
type instanceKey struct{}

// sortedFuncs returns a host module's functions sorted by name, the order
// that hostKey and the dispatching functions use.
func sortedFuncs(m engine.HostModule) ([]engine.HostFunc, error) {
	funcs := slices.Clone(m.Funcs)
	slices.SortFunc(funcs, func(a, b engine.HostFunc) int { return strings.Compare(a.Name, b.Name) })
	for i, f := range funcs {
		if i > 0 && f.Name == funcs[i-1].Name {
			return nil, fmt.Errorf("host module %s defines %s twice", m.Name, f.Name)
		}
		if f.Call == nil {
			return nil, fmt.Errorf("host function %s.%s has no Call", m.Name, f.Name)
		}
		for _, t := range slices.Concat(f.Params, f.Results) {
			if t < engine.I32 || t > engine.F64 {
				return nil, fmt.Errorf("host function %s.%s: invalid value type %v", m.Name, f.Name, t)
			}
		}
	}
	return funcs, nil
}

// hostKey identifies a host module by name and signatures: instances whose
// host modules have the same key share one instantiation in a Runtime.
func hostKey(name string, funcs []engine.HostFunc) string {
	var b strings.Builder
	b.WriteString(name)
	for _, f := range funcs {
		b.WriteByte(0)
		b.WriteString(f.Name)
		b.WriteString(engine.Signature(f.Params, f.Results))
	}
	return b.String()
}

// host returns the Runtime's instantiation of a host module, making it on
// first use. funcs is the module's functions from sortedFuncs.
func (rt *runtime) host(ctx context.Context, name string, funcs []engine.HostFunc) (*hostModule, error) {
	key := hostKey(name, funcs)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if h := rt.hosts[key]; h != nil {
		return h, nil
	}
	id := len(rt.hosts)
	b := rt.r.NewHostModuleBuilder(name)
	for j, f := range funcs {
		b.NewFunctionBuilder().
			WithGoModuleFunction(dispatch(id, j, name+"."+f.Name), apiTypes(f.Params), apiTypes(f.Results)).
			Export(f.Name)
	}
	compiled, err := b.Compile(ctx)
	if err != nil {
		return nil, fmt.Errorf("host module %s: %w", name, err)
	}
	// Anonymous, so that host modules of the same name but different
	// signatures can coexist; guests find them through an ImportResolver.
	mod, err := rt.r.InstantiateModule(ctx, compiled, wazeroModuleConfig())
	if err != nil {
		return nil, fmt.Errorf("host module %s: %w", name, err)
	}
	h := &hostModule{id: id, mod: mod}
	rt.hosts[key] = h
	return h, nil
}

// dispatch returns the Go function at position j of host module id: it
// runs the calling instance's HostFunc there.
func dispatch(id, j int, qualified string) api.GoModuleFunc {
	return func(ctx context.Context, mod api.Module, stack []uint64) {
		inst, _ := ctx.Value(instanceKey{}).(*Instance)
		if inst == nil || id >= len(inst.hosts) || inst.hosts[id] == nil {
			// Only possible if a guest ran without Instance.Call's context.
			panic(&engine.Trap{Reason: "host function " + qualified + " called outside its instance"})
		}
		if inst.hostMem.m == nil {
			// The calling module's memory, which exists before
			// instantiation finishes (start functions may call the host).
			inst.hostMem.m = mod.Memory()
		}
		defer func() {
			if r := recover(); r != nil {
				panic(hostPanic(qualified, r))
			}
		}()
		inst.hosts[id][j].Call(ctx, &inst.hostMem, stack)
	}
}

// hostPanic turns what a host function panicked with into what the guest's
// caller gets: *engine.Exit and *engine.Trap unchanged, anything else (a
// bug in the host function) a trap saying so. wazero recovers the panic and
// wraps it as an error, and Instance.Call finds it again with errors.As.
func hostPanic(qualified string, r any) error {
	switch v := r.(type) {
	case *engine.Exit:
		return v
	case *engine.Trap:
		return v
	}
	return &engine.Trap{Reason: fmt.Sprintf("host function %s panicked: %v", qualified, r)}
}

// apiTypes converts value types that sortedFuncs has checked.
func apiTypes(ts []engine.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		switch t {
		case engine.I32:
			out[i] = api.ValueTypeI32
		case engine.I64:
			out[i] = api.ValueTypeI64
		case engine.F32:
			out[i] = api.ValueTypeF32
		case engine.F64:
			out[i] = api.ValueTypeF64
		}
	}
	return out
}

// engineTypes converts wazero value types; ok is false for types host
// functions cannot have (references, vectors).
func engineTypes(ts []api.ValueType) (out []engine.ValueType, ok bool) {
	out = make([]engine.ValueType, len(ts))
	for i, t := range ts {
		switch t {
		case api.ValueTypeI32:
			out[i] = engine.I32
		case api.ValueTypeI64:
			out[i] = engine.I64
		case api.ValueTypeF32:
			out[i] = engine.F32
		case api.ValueTypeF64:
			out[i] = engine.F64
		default:
			return nil, false
		}
	}
	return out, true
}
