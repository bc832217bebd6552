//go:build cgo

package wasmtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Compiled is the wasmtime implementation of engine.Compiled.
type Compiled struct {
	e       *Engine
	imports []engine.Import
	// types holds the type of each function import, by position in
	// imports (nil for other kinds). wasmtime's C API fills caches inside
	// a function type lazily, and two goroutines doing so at once abort
	// the process ("reentrant init"), so every use of types by
	// instantiation holds typesMu.
	typesMu sync.Mutex
	types   []*wasmtime.FuncType

	// mu guards m against Close: instantiating (which may run a start
	// function for long) holds it for reading.
	mu     sync.RWMutex
	m      *wasmtime.Module
	closed bool
}

var _ engine.Compiled = (*Compiled)(nil)

func newCompiled(e *Engine, m *wasmtime.Module) *Compiled {
	c := &Compiled{e: e, m: m}
	for _, imp := range m.Imports() {
		ty := imp.Type()
		i := engine.Import{Module: imp.Module()}
		if name := imp.Name(); name != nil {
			i.Name = *name
		}
		var fn *wasmtime.FuncType
		switch {
		case ty.FuncType() != nil:
			i.Kind, fn = engine.ImportFunc, ty.FuncType()
		case ty.MemoryType() != nil:
			i.Kind = engine.ImportMemory
		case ty.GlobalType() != nil:
			i.Kind = engine.ImportGlobal
		case ty.TableType() != nil:
			i.Kind = engine.ImportTable
		}
		c.imports = append(c.imports, i)
		c.types = append(c.types, fn)
	}
	return c
}

// Imports implements engine.Compiled.
func (c *Compiled) Imports() []engine.Import { return slices.Clone(c.imports) }

// Instantiate implements engine.Compiled.
func (c *Compiled) Instantiate(ctx context.Context, cfg engine.InstanceConfig) (engine.Instance, error) {
	inst, err := c.instantiate(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("wasmtime: instantiate: %w", err)
	}
	return inst, nil
}

func (c *Compiled) instantiate(ctx context.Context, cfg engine.InstanceConfig) (*Instance, error) {
	if err := engine.CheckImports(c.imports, cfg.HostModules); err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, errors.New("compiled module is closed")
	}

	store := wasmtime.NewStore(c.e.eng)
	inst := &Instance{e: c.e, store: store, watch: &watch{}}
	inst.hostMem.i = inst
	if limit := cfg.MemoryLimitPages; limit != 0 {
		store.Limiter(int64(limit)*pageSize, -1, -1, -1, -1)
	}
	watchStore(store, inst.watch)
	externs, err := c.externs(inst, cfg.HostModules)
	if err != nil {
		store.Close()
		return nil, err
	}
	// A start function runs now, so instantiating is a call like any other.
	err = inst.enter(ctx, func() error {
		wi, err := wasmtime.NewInstance(store, c.m, externs)
		inst.inst = wi
		return err
	})
	if err != nil {
		store.Close()
		if inst.watch.interrupted {
			return nil, ctx.Err()
		}
		// An initial memory over the limit reads "memory minimum size
		// of 100 pages exceeds memory limits".
		return nil, plainError(err)
	}
	if ext := inst.inst.GetExport(store, "memory"); ext != nil {
		inst.mem = ext.Memory()
	}
	return inst, nil
}

// externs binds the host functions to inst, one per import in order.
func (c *Compiled) externs(inst *Instance, modules []engine.HostModule) ([]wasmtime.AsExtern, error) {
	c.typesMu.Lock()
	defer c.typesMu.Unlock()
	funcs, err := c.hostFuncs(modules)
	if err != nil {
		return nil, err
	}
	externs := make([]wasmtime.AsExtern, len(c.imports))
	for i, imp := range c.imports {
		externs[i] = inst.hostFunc(imp.Module+"."+imp.Name, funcs[i], c.types[i])
	}
	return externs, nil
}

// hostFuncs returns the host function for each import, by position, after
// checking that each has the signature the module imports it with.
func (c *Compiled) hostFuncs(modules []engine.HostModule) ([]engine.HostFunc, error) {
	byName := make(map[string]map[string]engine.HostFunc, len(modules))
	for _, m := range modules {
		if _, dup := byName[m.Name]; dup {
			return nil, fmt.Errorf("host module %s given twice", m.Name)
		}
		funcs := make(map[string]engine.HostFunc, len(m.Funcs))
		for _, f := range m.Funcs {
			if _, dup := funcs[f.Name]; dup {
				return nil, fmt.Errorf("host module %s defines %s twice", m.Name, f.Name)
			}
			if f.Call == nil {
				return nil, fmt.Errorf("host function %s.%s has no Call", m.Name, f.Name)
			}
			funcs[f.Name] = f
		}
		byName[m.Name] = funcs
	}
	out := make([]engine.HostFunc, len(c.imports))
	var mismatched []string
	for i, imp := range c.imports {
		f := byName[imp.Module][imp.Name] // CheckImports found it
		params, okP := engineTypes(c.types[i].Params())
		results, okR := engineTypes(c.types[i].Results())
		if !okP || !okR || !slices.Equal(params, f.Params) || !slices.Equal(results, f.Results) {
			mismatched = append(mismatched, fmt.Sprintf("%s.%s (module wants %s, host has %s)",
				imp.Module, imp.Name, wasmSignature(c.types[i]), engine.Signature(f.Params, f.Results)))
		}
		out[i] = f
	}
	if len(mismatched) > 0 {
		return nil, fmt.Errorf("import signature mismatch: %s", strings.Join(mismatched, ", "))
	}
	return out, nil
}

// Close implements engine.Compiled. Instances made from it keep running.
func (c *Compiled) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.m.Close()
	}
	return nil
}

// engineTypes converts wasmtime value types; ok is false for types host
// functions and Call cannot pass (references, vectors).
func engineTypes(ts []*wasmtime.ValType) (out []engine.ValueType, ok bool) {
	out = make([]engine.ValueType, len(ts))
	for i, t := range ts {
		if out[i] = engineType(t.Kind()); out[i] == 0 {
			return nil, false
		}
	}
	return out, true
}

// engineType converts a wasmtime value kind, or returns 0 for kinds that
// have no engine.ValueType.
func engineType(k wasmtime.ValKind) engine.ValueType {
	switch k {
	case wasmtime.KindI32:
		return engine.I32
	case wasmtime.KindI64:
		return engine.I64
	case wasmtime.KindF32:
		return engine.F32
	case wasmtime.KindF64:
		return engine.F64
	}
	return 0
}

// wasmSignature formats a wasmtime function type like engine.Signature,
// naming kinds that have no engine.ValueType by number. (ValKind's own
// String panics on kinds it does not know, such as v128.)
func wasmSignature(ty *wasmtime.FuncType) string {
	names := func(ts []*wasmtime.ValType) []string {
		out := make([]string, len(ts))
		for i, t := range ts {
			if et := engineType(t.Kind()); et != 0 {
				out[i] = et.String()
			} else {
				out[i] = fmt.Sprintf("kind%d", t.Kind())
			}
		}
		return out
	}
	return engine.FormatSignature(names(ty.Params()), names(ty.Results()))
}
