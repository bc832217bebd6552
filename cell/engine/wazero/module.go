package wazero

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Compiled is the wazero implementation of engine.Compiled. It keeps the
// module's bytes to compile it again in the Runtime of each memory limit it
// is instantiated with.
type Compiled struct {
	e       *Engine
	wasm    []byte
	imports []engine.Import
	funcs   []api.FunctionDefinition // imported functions, for signatures

	mu        sync.Mutex
	byRuntime map[*runtime]wazero.CompiledModule
	closed    bool
}

var _ engine.Compiled = (*Compiled)(nil)

// Imports implements engine.Compiled.
func (c *Compiled) Imports() []engine.Import { return slices.Clone(c.imports) }

// Instantiate implements engine.Compiled.
func (c *Compiled) Instantiate(ctx context.Context, cfg engine.InstanceConfig) (engine.Instance, error) {
	inst, err := c.instantiate(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("wazero: instantiate: %w", err)
	}
	return inst, nil
}

func (c *Compiled) instantiate(ctx context.Context, cfg engine.InstanceConfig) (*Instance, error) {
	if err := engine.CheckImports(c.imports, cfg.HostModules); err != nil {
		return nil, err
	}
	hosts, err := c.importedHosts(cfg.HostModules)
	if err != nil {
		return nil, err
	}

	limit := cfg.MemoryLimitPages
	if limit == 0 || limit > maxPages {
		limit = maxPages
	}
	rt, err := c.e.runtime(ctx, runtimeKey{limit: limit, interruptible: !cfg.Uninterruptible})
	if err != nil {
		return nil, err
	}
	cm, err := c.compiledIn(ctx, rt)
	if err != nil {
		return nil, err
	}

	inst := &Instance{}
	resolved := make(map[string]api.Module, len(hosts))
	for name, funcs := range hosts {
		h, err := rt.host(ctx, name, funcs)
		if err != nil {
			return nil, err
		}
		if h.id >= len(inst.hosts) {
			inst.hosts = append(inst.hosts, make([][]engine.HostFunc, h.id+1-len(inst.hosts))...)
		}
		inst.hosts[h.id] = funcs
		resolved[name] = h.mod
	}

	// The start function, if the module has one, runs now and may call
	// the host, so the context carries the instance already.
	ctx = experimental.WithImportResolver(ctx, func(name string) api.Module { return resolved[name] })
	ctx = context.WithValue(ctx, instanceKey{}, inst)
	if memoryAllocator != nil {
		ctx = experimental.WithMemoryAllocator(ctx, memoryAllocator)
	}
	mod, err := rt.r.InstantiateModule(ctx, cm, wazeroModuleConfig())
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr // the start function was stopped
		}
		return nil, err
	}
	inst.mod = mod
	return inst, nil
}

// wazeroModuleConfig is how every module is instantiated: anonymously, so
// that a Runtime holds any number of instances of one module, and without
// running start functions (_start), which the caller calls itself. No
// stdio, file system or clock is configured: the host modules provide them.
//
// The random source is set only because wazero otherwise seeds a math/rand
// source for every instance, a fifth of a small cell's start-up; nothing
// reads it, as our WASI serves random_get.
func wazeroModuleConfig() wazero.ModuleConfig {
	return wazero.NewModuleConfig().WithName("").WithStartFunctions().WithRandSource(rand.Reader)
}

// importedHosts returns, by module name, the functions (sorted by name) of
// the host modules the module imports from, after checking that each
// imported function has the signature the host gives it.
func (c *Compiled) importedHosts(modules []engine.HostModule) (map[string][]engine.HostFunc, error) {
	byName := make(map[string]engine.HostModule, len(modules))
	for _, m := range modules {
		if _, dup := byName[m.Name]; dup {
			return nil, fmt.Errorf("host module %s given twice", m.Name)
		}
		byName[m.Name] = m
	}
	hosts := make(map[string][]engine.HostFunc)
	var mismatched []string
	for _, def := range c.funcs {
		modName, name, _ := def.Import()
		funcs, ok := hosts[modName]
		if !ok {
			var err error
			if funcs, err = sortedFuncs(byName[modName]); err != nil {
				return nil, err
			}
			hosts[modName] = funcs
		}
		i, _ := slices.BinarySearchFunc(funcs, name, func(f engine.HostFunc, name string) int {
			return strings.Compare(f.Name, name)
		})
		f := funcs[i] // CheckImports found it
		params, okP := engineTypes(def.ParamTypes())
		results, okR := engineTypes(def.ResultTypes())
		if !okP || !okR || !slices.Equal(params, f.Params) || !slices.Equal(results, f.Results) {
			mismatched = append(mismatched, fmt.Sprintf("%s.%s (module wants %s, host has %s)",
				modName, name, wasmSignature(def), engine.Signature(f.Params, f.Results)))
		}
	}
	if len(mismatched) > 0 {
		return nil, fmt.Errorf("import signature mismatch: %s", strings.Join(mismatched, ", "))
	}
	return hosts, nil
}

// wasmSignature formats an imported function's type like engine.Signature.
func wasmSignature(def api.FunctionDefinition) string {
	names := func(ts []api.ValueType) []string {
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = api.ValueTypeName(t)
		}
		return out
	}
	return engine.FormatSignature(names(def.ParamTypes()), names(def.ResultTypes()))
}

// compiledIn returns the module compiled in rt, compiling it on first use.
// wazero checks the module's memory against rt's limit here, so a module
// whose initial memory exceeds the limit fails now.
func (c *Compiled) compiledIn(ctx context.Context, rt *runtime) (wazero.CompiledModule, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("compiled module is closed")
	}
	if cm := c.byRuntime[rt]; cm != nil {
		return cm, nil
	}
	cm, err := rt.r.CompileModule(ctx, c.wasm)
	if err != nil {
		return nil, fmt.Errorf("memory limit %d pages: %w", rt.limit, err)
	}
	c.byRuntime[rt] = cm
	return cm, nil
}

// Close implements engine.Compiled. Instances made from it keep running.
func (c *Compiled) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, cm := range c.byRuntime {
		errs = append(errs, cm.Close(ctx))
	}
	c.byRuntime = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("wazero: close compiled module: %w", err)
	}
	return nil
}
