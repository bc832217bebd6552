// Package enginetest is the conformance suite every engine.Engine must pass.
// Host modules (WASI, MPI) are written once against package engine and run
// unchanged on each engine, so the adapters must agree on everything those
// host modules and the cell runner can observe: values, memory, per-instance
// host state, exits, traps, limits, cancellation, import errors and the
// compiled-code cache. Each adapter's tests call Run, Fuzz and the
// benchmarks here.
//
// The test modules are WAT files in testdata, compiled by testdata/build.sh
// into the .wasm files embedded here; TestTestdataCurrent checks that those
// are up to date.
package enginetest

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
)

//go:embed testdata/*.wasm
var modules embed.FS

// Module returns the compiled test module testdata/<name>.wasm.
func Module(name string) []byte {
	b, err := modules.ReadFile("testdata/" + name + ".wasm")
	if err != nil {
		panic(err) // a typo in a test
	}
	return b
}

// ModuleNames lists the test modules.
func ModuleNames() []string {
	entries, _ := modules.ReadDir("testdata")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".wasm"))
	}
	return names
}

// NewEngine makes the engine under test; cacheDir is "" for no disk cache.
// It should register the engine's Close with t.Cleanup.
type NewEngine func(t *testing.T, cacheDir string) engine.Engine

// Run runs the conformance suite against the engines newEngine makes.
func Run(t *testing.T, newEngine NewEngine) {
	tests := []struct {
		name string
		run  func(*testing.T, NewEngine)
	}{
		{"Exports", testExports},
		{"WrongCalls", testWrongCalls},
		{"HostFunctions", testHostFunctions},
		{"PerInstanceHostState", testPerInstanceHostState},
		{"StartCallsHost", testStartCallsHost},
		{"Exit", testExit},
		{"HostPanic", testHostPanic},
		{"Traps", testTraps},
		{"MemoryLimit", testMemoryLimit},
		{"Cancel", testCancel},
		{"CancelOneOfTwo", testCancelOneOfTwo},
		{"MissingImports", testMissingImports},
		{"SignatureMismatch", testSignatureMismatch},
		{"InvalidModules", testInvalidModules},
		{"Globals", testGlobals},
		{"Cache", testCache},
		{"ManyInstances", testManyInstances},
		{"ConcurrentInstantiate", testConcurrentInstantiate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newEngine) })
	}
}

// compile compiles a test module and closes it when the test ends.
func compile(t testing.TB, e engine.Engine, name string) engine.Compiled {
	t.Helper()
	c, err := e.Compile(context.Background(), Module(name))
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// instantiate makes an instance and closes it when the test ends.
func instantiate(t testing.TB, c engine.Compiled, cfg engine.InstanceConfig) engine.Instance {
	t.Helper()
	inst, err := c.Instantiate(context.Background(), cfg)
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	t.Cleanup(func() { _ = inst.Close(context.Background()) })
	return inst
}

// call calls an export that must succeed.
func call(t testing.TB, inst engine.Instance, name string, args ...uint64) []uint64 {
	t.Helper()
	res, err := inst.Call(context.Background(), name, args...)
	if err != nil {
		t.Fatalf("call %s%v: %v", name, args, err)
	}
	return res
}

func i32(v int32) uint64     { return uint64(uint32(v)) }
func f32(v float32) uint64   { return uint64(math.Float32bits(v)) }
func f64(v float64) uint64   { return math.Float64bits(v) }
func asF32(v uint64) float32 { return math.Float32frombits(uint32(v)) }

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testExports(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	inst := instantiate(t, compile(t, e, "arith"), engine.InstanceConfig{})
	for _, tc := range []struct {
		name string
		args []uint64
		want []uint64
	}{
		{"empty", nil, nil},
		// i32 results are zero-extended: -1 is 0xffffffff.
		{"add_i32", []uint64{i32(-3), i32(2)}, []uint64{0xffffffff}},
		{"add_i32", []uint64{i32(math.MaxInt32), 1}, []uint64{0x80000000}},
		{"add_i64", []uint64{1 << 40, math.MaxUint64}, []uint64{1<<40 - 1}},
		{"mul_f32", []uint64{f32(1.5), f32(-4)}, []uint64{f32(-6)}},
		{"div_f64", []uint64{f64(1), f64(3)}, []uint64{f64(1.0 / 3)}},
		{"div_f64", []uint64{f64(1), f64(0)}, []uint64{f64(math.Inf(1))}},
		{"divmod", []uint64{17, 5}, []uint64{3, 2}},
		{"fib", []uint64{90}, []uint64{2880067194370816120}},
	} {
		got := call(t, inst, tc.name, tc.args...)
		if !equal(got, tc.want) {
			t.Errorf("%s%v = %#x, want %#x", tc.name, tc.args, got, tc.want)
		}
	}
	// NaN payloads and signs must survive the trip through []uint64.
	if got := call(t, inst, "mul_f32", f32(float32(math.Inf(-1))), f32(0)); !math.IsNaN(float64(asF32(got[0]))) {
		t.Errorf("mul_f32(-inf, 0) = %v, want NaN", asF32(got[0]))
	}
	mem := inst.Memory()
	if mem == nil {
		t.Fatal("Memory() = nil for a module exporting memory")
	}
	if b := mem.Bytes(); len(b) != 65536 || string(b[16:25]) != "cloudskin" {
		t.Errorf("memory: %d bytes, [16:25] = %q; want 65536 bytes with the data segment", len(b), b[16:25])
	}
	if m := instantiate(t, compile(t, e, "loop"), engine.InstanceConfig{}).Memory(); m != nil {
		t.Errorf("Memory() = %v for a module without memory, want nil", m)
	}
}

func testWrongCalls(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	inst := instantiate(t, compile(t, e, "arith"), engine.InstanceConfig{})
	if _, err := inst.Call(context.Background(), "nope"); err == nil {
		t.Error("calling a missing export succeeded")
	}
	if _, err := inst.Call(context.Background(), "add_i32", 1); err == nil {
		t.Error("calling add_i32 with one argument succeeded")
	}
	if _, err := inst.Call(context.Background(), "add_i32", 1, 2, 3); err == nil {
		t.Error("calling add_i32 with three arguments succeeded")
	}
	if got := call(t, inst, "add_i32", 1, 2); !equal(got, []uint64{3}) {
		t.Errorf("after wrong calls, add_i32(1, 2) = %v, want [3]", got)
	}
}

// hostState is the per-instance state of the env host module.
type hostState struct {
	next  int64 // what env.next returns next
	calls int   // how many host calls this instance made
}

// envModule returns the host module host.wat imports, bound to st.
func envModule(st *hostState) engine.HostModule {
	I32, I64, F32, F64 := engine.I32, engine.I64, engine.F32, engine.F64
	fn := func(name string, params, results []engine.ValueType, f func(engine.Memory, []uint64)) engine.HostFunc {
		return engine.HostFunc{Name: name, Params: params, Results: results,
			Call: func(_ context.Context, mem engine.Memory, stack []uint64) {
				st.calls++
				f(mem, stack)
			}}
	}
	return engine.HostModule{Name: "env", Funcs: []engine.HostFunc{
		fn("add", []engine.ValueType{I32, I32}, []engine.ValueType{I32}, func(_ engine.Memory, s []uint64) {
			s[0] = uint64(uint32(s[0]) + uint32(s[1]))
		}),
		// reverse reverses mem[ptr:ptr+len] in place and returns len.
		fn("reverse", []engine.ValueType{I32, I32}, []engine.ValueType{I32}, func(mem engine.Memory, s []uint64) {
			b := mem.Bytes()[uint32(s[0]) : uint32(s[0])+uint32(s[1])]
			for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
				b[i], b[j] = b[j], b[i]
			}
			s[0] = uint64(len(b))
		}),
		fn("next", nil, []engine.ValueType{I64}, func(_ engine.Memory, s []uint64) {
			s[0] = uint64(st.next)
			st.next++
		}),
		fn("exit", []engine.ValueType{I32}, nil, func(_ engine.Memory, s []uint64) {
			panic(&engine.Exit{Code: uint32(s[0])})
		}),
		fn("nop", nil, nil, func(engine.Memory, []uint64) {}),
		fn("mix", []engine.ValueType{I64, F32, F64}, []engine.ValueType{F64}, func(_ engine.Memory, s []uint64) {
			v := float64(int64(s[0])) + float64(math.Float32frombits(uint32(s[1]))) + math.Float64frombits(s[2])
			s[0] = math.Float64bits(v)
		}),
	}}
}

func hostConfig(st *hostState) engine.InstanceConfig {
	return engine.InstanceConfig{HostModules: []engine.HostModule{envModule(st)}}
}

func testHostFunctions(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	st := &hostState{}
	inst := instantiate(t, compile(t, e, "host"), hostConfig(st))
	if got := call(t, inst, "call_add", i32(-5), 7); !equal(got, []uint64{2}) {
		t.Errorf("call_add(-5, 7) = %v, want [2]", got)
	}
	if got := call(t, inst, "mix", uint64(1<<63), f32(0.5), f64(0.25)); math.Float64frombits(got[0]) != -(1<<63)+0.75 {
		t.Errorf("mix(-2^63, 0.5, 0.25) = %v", math.Float64frombits(got[0]))
	}
	if got := call(t, inst, "reverse_greeting"); !equal(got, []uint64{12}) {
		t.Errorf("reverse_greeting() = %v, want [12]", got)
	}
	if got := string(inst.Memory().Bytes()[64:76]); got != "dlrow ,olleh" {
		t.Errorf("after reverse, guest memory holds %q", got)
	}
	call(t, inst, "host_loop", 1000)
	if st.calls != 1003 {
		t.Errorf("host saw %d calls, want 1003", st.calls)
	}
}

func testPerInstanceHostState(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "host")
	a, b := &hostState{next: 100}, &hostState{next: 200}
	// b's env has one function more, and b gets a module it does not
	// import: hosts need not match one another or the module exactly.
	cfgB := hostConfig(b)
	cfgB.HostModules[0].Funcs = append(cfgB.HostModules[0].Funcs, engine.HostFunc{
		Name: "unused", Call: func(context.Context, engine.Memory, []uint64) {}})
	cfgB.HostModules = append(cfgB.HostModules, engine.HostModule{Name: "mpi"})
	ia, ib := instantiate(t, c, hostConfig(a)), instantiate(t, c, cfgB)
	for i := range int64(3) {
		if got := call(t, ia, "next"); got[0] != uint64(100+i) {
			t.Errorf("instance a: next() = %d, want %d", got[0], 100+i)
		}
		if got := call(t, ib, "next"); got[0] != uint64(200+i) {
			t.Errorf("instance b: next() = %d, want %d", got[0], 200+i)
		}
	}
	if a.next != 103 || b.next != 203 {
		t.Errorf("host states: a.next = %d, b.next = %d; want 103, 203", a.next, b.next)
	}
}

func testStartCallsHost(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	st := &hostState{next: 41}
	inst := instantiate(t, compile(t, e, "start"), hostConfig(st))
	if v, ok := inst.Global("first"); !ok || v != 41 {
		t.Errorf("global first = %d, %v; want 41 set by the start function", v, ok)
	}
}

func testExit(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	inst := instantiate(t, compile(t, e, "host"), hostConfig(&hostState{}))
	_, err := inst.Call(context.Background(), "exit", 3)
	exit, ok := err.(*engine.Exit)
	if !ok || exit.Code != 3 {
		t.Fatalf("call exit(3) = %#v, want *engine.Exit{Code: 3}", err)
	}
	// A second instance still works.
	inst2 := instantiate(t, compile(t, e, "host"), hostConfig(&hostState{}))
	if got := call(t, inst2, "call_add", 1, 2); !equal(got, []uint64{3}) {
		t.Errorf("after an exit, call_add(1, 2) = %v", got)
	}
}

func testHostPanic(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "host")
	for _, tc := range []struct {
		name  string
		panic func()
		want  string
	}{
		{"string", func() { panic("host bug") }, "host bug"},
		{"error", func() { panic(errors.New("host error")) }, "host error"},
		{"nil map", func() {
			var m map[string]int
			//lint:ignore SA5000 the point is a runtime panic in a host function
			m["x"] = 1
		}, "nil map"},
		{"trap", func() { panic(&engine.Trap{Reason: "bad fd"}) }, "bad fd"},
	} {
		st := &hostState{}
		cfg := hostConfig(st)
		for i, f := range cfg.HostModules[0].Funcs {
			if f.Name == "add" {
				cfg.HostModules[0].Funcs[i].Call = func(context.Context, engine.Memory, []uint64) { tc.panic() }
			}
		}
		inst := instantiate(t, c, cfg)
		_, err := inst.Call(context.Background(), "call_add", 1, 2)
		var trap *engine.Trap
		if !errors.As(err, &trap) || !strings.Contains(trap.Reason, tc.want) {
			t.Errorf("%s: host panic gave %v, want *engine.Trap mentioning %q", tc.name, err, tc.want)
		}
		// The instance survives a trap from its host.
		if got := call(t, inst, "next"); !equal(got, []uint64{0}) {
			t.Errorf("%s: after the host panic, next() = %v", tc.name, got)
		}
	}
}

func testTraps(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "traps")
	for _, tc := range []struct {
		export string
		args   []uint64
		reason string // what Reason must contain
		fn     string // the function that traps, from the name section
	}{
		{"unreachable", nil, "unreachable", "do_unreachable"},
		{"oob", nil, "out of bounds memory access", "oob"},
		{"div", []uint64{1, 0}, "integer divide by zero", "div"},
		{"recurse", []uint64{0}, "stack overflow", "recurse"},
	} {
		inst := instantiate(t, c, engine.InstanceConfig{})
		_, err := inst.Call(context.Background(), tc.export, tc.args...)
		var trap *engine.Trap
		if !errors.As(err, &trap) {
			t.Errorf("%s: got %v, want *engine.Trap", tc.export, err)
			continue
		}
		if !strings.Contains(trap.Reason, tc.reason) {
			t.Errorf("%s: Reason %q does not say %q", tc.export, trap.Reason, tc.reason)
		}
		// Engines may not know the function of a stack overflow (wazero
		// reports no frames for it); everything else they must name.
		if trap.Function != tc.fn && !(tc.export == "recurse" && trap.Function == "") {
			t.Errorf("%s: Function = %q, want %q", tc.export, trap.Function, tc.fn)
		}
	}
	// The engine keeps working.
	inst := instantiate(t, c, engine.InstanceConfig{})
	if got := call(t, inst, "ok"); !equal(got, []uint64{1}) {
		t.Errorf("after traps, ok() = %v", got)
	}
	if got := call(t, inst, "div", i32(-9), 3); !equal(got, []uint64{i32(-3)}) {
		t.Errorf("after traps, div(-9, 3) = %v", got)
	}
}

func testMemoryLimit(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "memory")
	limited := instantiate(t, c, engine.InstanceConfig{MemoryLimitPages: 4})
	minus1 := i32(-1)
	for _, step := range []struct {
		fn   string
		args []uint64
		want uint64
	}{
		{"grow", []uint64{2}, 1},
		{"grow", []uint64{2}, minus1}, // 5 pages > 4
		{"size", nil, 3},
		{"grow", []uint64{1}, 3},
		{"grow", []uint64{1}, minus1},
		{"size", nil, 4},
	} {
		if got := call(t, limited, step.fn, step.args...); !equal(got, []uint64{step.want}) {
			t.Errorf("limit 4 pages: %s%v = %v, want %d", step.fn, step.args, got, int32(step.want))
		}
	}
	if n := len(limited.Memory().Bytes()); n != 4*65536 {
		t.Errorf("limit 4 pages: memory is %d bytes, want %d", n, 4*65536)
	}

	// The same compiled module without a limit grows further.
	free := instantiate(t, c, engine.InstanceConfig{})
	if got := call(t, free, "grow", 99); !equal(got, []uint64{1}) {
		t.Errorf("no limit: grow(99) = %v, want [1]", got)
	}

	big := compile(t, e, "bigmem") // needs 100 pages
	_, err := big.Instantiate(context.Background(), engine.InstanceConfig{MemoryLimitPages: 10})
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("instantiating 100 pages under a 10-page limit: err = %v, want an error about the limit", err)
	}
	if got := call(t, instantiate(t, big, engine.InstanceConfig{MemoryLimitPages: 100}), "size"); !equal(got, []uint64{100}) {
		t.Errorf("limit 100 pages: size() = %v, want [100]", got)
	}
}

// stopsWithin calls a runaway export and cancels ctx after a while, failing
// unless the call returns within limit of the cancellation with an error
// wrapping want.
func stopsWithin(t *testing.T, inst engine.Instance, ctx context.Context, cancel func(), want error, limit time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := inst.Call(ctx, "spin")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("spin returned before cancellation: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancelled := time.Now()
	cancel()
	select {
	case err := <-done:
		if d := time.Since(cancelled); d > limit {
			t.Errorf("spin stopped %v after cancellation, want within %v", d, limit)
		}
		if !errors.Is(err, want) {
			t.Errorf("cancelled spin returned %v, want an error wrapping %v", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("spin did not stop within 10s of cancellation")
	}
}

func testCancel(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "loop")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopsWithin(t, instantiate(t, c, engine.InstanceConfig{}), ctx, cancel, context.Canceled, 100*time.Millisecond)

	// A deadline stops it too, with its own error.
	inst := instantiate(t, c, engine.InstanceConfig{})
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	_, err := inst.Call(ctx, "spin")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("spin past its deadline returned %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(deadline); d > 100*time.Millisecond {
		t.Errorf("spin stopped %v after its deadline, want within 100ms", d)
	}

	// An already cancelled context does not run the guest at all.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := instantiate(t, c, engine.InstanceConfig{}).Call(ctx, "spin"); !errors.Is(err, context.Canceled) {
		t.Errorf("spin with a cancelled context returned %v", err)
	}
}

// countChecksum is what loop.wat's count(n) returns.
func countChecksum(n int64) uint64 {
	var acc uint64
	for ; n != 0; n-- {
		acc = acc*6364136223846793005 + uint64(n)
	}
	return acc
}

func testCancelOneOfTwo(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "loop")
	// Size the long loop to run for about half a second.
	worker := instantiate(t, c, engine.InstanceConfig{})
	const probe = 1 << 22
	start := time.Now()
	call(t, worker, "count", probe)
	n := int64(probe * (500 * time.Millisecond) / max(time.Since(start), time.Millisecond))
	n = max(n, probe)

	type result struct {
		res []uint64
		err error
		end time.Time
	}
	done := make(chan result, 1)
	go func() {
		// Background: this call is never cancelled.
		res, err := worker.Call(context.Background(), "count", uint64(n))
		done <- result{res, err, time.Now()}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopsWithin(t, instantiate(t, c, engine.InstanceConfig{}), ctx, cancel, context.Canceled, 100*time.Millisecond)
	cancelled := time.Now()
	r := <-done
	if r.err != nil {
		t.Fatalf("the uncancelled count(%d) failed: %v", n, r.err)
	}
	if want := countChecksum(n); !equal(r.res, []uint64{want}) {
		t.Errorf("the uncancelled count(%d) = %v, want [%d]", n, r.res, want)
	}
	if r.end.Before(cancelled) {
		t.Logf("note: count(%d) finished before the other call was cancelled; the check is weaker", n)
	}
}

func testMissingImports(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "imports")
	want := []engine.Import{
		{Module: "wasi_snapshot_preview1", Name: "fd_write", Kind: engine.ImportFunc},
		{Module: "mpi", Name: "MPI_Type_vector", Kind: engine.ImportFunc},
		{Module: "wasi_snapshot_preview1", Name: "sock_accept", Kind: engine.ImportFunc},
		{Module: "env", Name: "table", Kind: engine.ImportTable},
	}
	if got := c.Imports(); len(got) != len(want) || !importsEqual(got, want) {
		t.Errorf("Imports() = %v, want %v", got, want)
	}
	I32 := engine.I32
	wasi := engine.HostModule{Name: "wasi_snapshot_preview1", Funcs: []engine.HostFunc{{
		Name: "fd_write", Params: []engine.ValueType{I32, I32, I32, I32}, Results: []engine.ValueType{I32},
		Call: func(context.Context, engine.Memory, []uint64) {},
	}}}
	_, err := c.Instantiate(context.Background(), engine.InstanceConfig{HostModules: []engine.HostModule{wasi}})
	const msg = "unsupported imports: mpi.MPI_Type_vector, wasi_snapshot_preview1.sock_accept, env.table (table)"
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Errorf("instantiate without hosts: err = %v, want it to contain %q", err, msg)
	}
}

func importsEqual(a, b []engine.Import) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testSignatureMismatch(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	c := compile(t, e, "host")
	cfg := hostConfig(&hostState{})
	for i, f := range cfg.HostModules[0].Funcs {
		if f.Name == "add" {
			cfg.HostModules[0].Funcs[i].Params = []engine.ValueType{engine.I64, engine.I32}
		}
	}
	_, err := c.Instantiate(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "env.add") {
		t.Errorf("instantiate with env.add of the wrong type: err = %v, want an error naming env.add", err)
	}
}

func testInvalidModules(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	valid := Module("arith")
	for _, tc := range []struct {
		name string
		wasm []byte
		// The error must mention one of these (engines word it
		// differently), case-insensitively.
		says []string
	}{
		{"text", []byte("not wasm"), []string{"magic"}},
		{"empty", nil, []string{"magic", "end-of-file"}},
		{"magic only", valid[:4], []string{"version", "end-of-file"}},
		{"truncated", valid[:len(valid)/2], []string{"eof", "end-of-file"}},
		{"bad version", append([]byte("\x00asm\x02\x00\x00\x00"), valid[8:]...), []string{"version"}},
		{"trailing garbage", append(append([]byte{}, valid...), 0xff, 0xff), []string{"section"}},
	} {
		c, err := e.Compile(context.Background(), tc.wasm)
		if err == nil {
			_ = c.Close(context.Background())
			t.Errorf("%s: compiled", tc.name)
			continue
		}
		msg := strings.ToLower(err.Error())
		if !slices.ContainsFunc(tc.says, func(s string) bool { return strings.Contains(msg, s) }) {
			t.Errorf("%s: error %q mentions none of %q", tc.name, err, tc.says)
		}
	}
}

func testGlobals(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	inst := instantiate(t, compile(t, e, "arith"), engine.InstanceConfig{})
	if v, ok := inst.Global("counter"); !ok || v != 7 {
		t.Errorf("Global(counter) = %d, %v; want 7, true", v, ok)
	}
	if err := inst.SetGlobal("counter", 10); err != nil {
		t.Fatalf("SetGlobal(counter, 10): %v", err)
	}
	if got := call(t, inst, "bump", 5); !equal(got, []uint64{15}) {
		t.Errorf("after SetGlobal(counter, 10), bump(5) = %v, want [15]", got)
	}
	if v, _ := inst.Global("counter"); v != 15 {
		t.Errorf("Global(counter) = %d after bump, want 15", v)
	}
	if v, _ := inst.Global("total"); v != math.MaxUint64 {
		t.Errorf("Global(total) = %#x, want i64 -1", v)
	}
	if err := inst.SetGlobal("total", 1<<40); err != nil {
		t.Errorf("SetGlobal(total): %v", err)
	} else if v, _ := inst.Global("total"); v != 1<<40 {
		t.Errorf("Global(total) = %d after setting 1<<40", v)
	}
	if v, ok := inst.Global("answer"); !ok || v != 42 {
		t.Errorf("Global(answer) = %d, %v; want 42, true", v, ok)
	}
	if err := inst.SetGlobal("answer", 1); err == nil {
		t.Error("SetGlobal on an immutable global succeeded")
	}
	if _, ok := inst.Global("nope"); ok {
		t.Error("Global(nope) found a global")
	}
	if err := inst.SetGlobal("nope", 1); err == nil {
		t.Error("SetGlobal(nope) succeeded")
	}
}

// cacheFiles lists the regular files under dir with their FileInfo.
func cacheFiles(t *testing.T, dir string) map[string]os.FileInfo {
	t.Helper()
	files := make(map[string]os.FileInfo)
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		files[path] = info
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// CacheHitter is implemented by engines that count compilations served from
// their disk cache.
type CacheHitter interface{ CacheHits() uint64 }

func testCache(t *testing.T, newEngine NewEngine) {
	dir := t.TempDir()
	first := newEngine(t, dir)
	inst := instantiate(t, compile(t, first, "arith"), engine.InstanceConfig{})
	call(t, inst, "empty")
	written := cacheFiles(t, dir)
	if len(written) == 0 {
		t.Fatal("compiling with a cache dir wrote nothing into it")
	}

	// A second engine (as in a later process) finds the module in the
	// cache: it neither adds nor rewrites a file. Writers replace files by
	// renaming, so a rewrite would be a different file.
	second := newEngine(t, dir)
	inst = instantiate(t, compile(t, second, "arith"), engine.InstanceConfig{})
	if got := call(t, inst, "add_i32", 2, 3); !equal(got, []uint64{5}) {
		t.Errorf("cached module: add_i32(2, 3) = %v", got)
	}
	now := cacheFiles(t, dir)
	if len(now) != len(written) {
		t.Errorf("second compile changed the cache from %d to %d files", len(written), len(now))
	}
	for path, info := range written {
		if !os.SameFile(info, now[path]) {
			t.Errorf("second compile rewrote %s", path)
		}
	}
	if h, ok := second.(CacheHitter); ok && h.CacheHits() != 1 {
		t.Errorf("second engine: CacheHits() = %d, want 1", h.CacheHits())
	}

	// A different module is a different entry.
	compile(t, second, "traps")
	if n := len(cacheFiles(t, dir)); n <= len(written) {
		t.Errorf("compiling another module left %d cache files, want more than %d", n, len(written))
	}
}

func testManyInstances(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	host, arith := compile(t, e, "host"), compile(t, e, "arith")
	const n = 200
	fib := make([]uint64, 94)
	fib[1] = 1
	for i := 2; i < len(fib); i++ {
		fib[i] = fib[i-1] + fib[i-2]
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for id := range n {
		wg.Go(func() {
			errs <- runOne(id, host, arith, fib[id%len(fib)])
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// runOne is one of many concurrent tenants: its own host state, its own
// memory, its own computation.
func runOne(id int, host, arith engine.Compiled, wantFib uint64) (err error) {
	ctx := context.Background()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("instance %d: "+format, append([]any{id}, args...)...)
	}
	st := &hostState{next: int64(id) * 1000}
	hi, err := host.Instantiate(ctx, hostConfig(st))
	if err != nil {
		return fail("instantiate host: %v", err)
	}
	defer func() { _ = hi.Close(ctx) }()
	ai, err := arith.Instantiate(ctx, engine.InstanceConfig{})
	if err != nil {
		return fail("instantiate arith: %v", err)
	}
	defer func() { _ = ai.Close(ctx) }()

	for k := range int64(3) {
		res, err := hi.Call(ctx, "next")
		if err != nil || res[0] != uint64(int64(id)*1000+k) {
			return fail("next() = %v, %v; want %d", res, err, int64(id)*1000+k)
		}
	}
	if res, err := hi.Call(ctx, "call_add", uint64(id), uint64(id)); err != nil || res[0] != uint64(2*id) {
		return fail("call_add = %v, %v; want %d", res, err, 2*id)
	}
	mem := hi.Memory().Bytes()
	mem[100] = byte(id) // private to this instance
	if _, err := hi.Call(ctx, "reverse_greeting"); err != nil {
		return fail("reverse_greeting: %v", err)
	}
	mem = hi.Memory().Bytes()
	if string(mem[64:76]) != "dlrow ,olleh" || mem[100] != byte(id) {
		return fail("memory = %q, [100] = %d", mem[64:76], mem[100])
	}
	if res, err := ai.Call(ctx, "fib", uint64(id%94)); err != nil || res[0] != wantFib {
		return fail("fib(%d) = %v, %v; want %d", id%94, res, err, wantFib)
	}
	if err := ai.SetGlobal("counter", uint64(id)); err != nil {
		return fail("SetGlobal: %v", err)
	}
	if res, err := ai.Call(ctx, "bump", 1); err != nil || res[0] != uint64(id+1) {
		return fail("bump(1) = %v, %v; want %d", res, err, id+1)
	}
	return nil
}

// testConcurrentInstantiate instantiates one compiled module from many
// goroutines released at once, so that anything the adapter shares between
// instantiations (types, caches) is used concurrently. wasmtime aborts the
// process when two threads first use one function type at once.
func testConcurrentInstantiate(t *testing.T, newEngine NewEngine) {
	e := newEngine(t, "")
	const goroutines, rounds = 8, 25
	for range rounds {
		c := compile(t, e, "host") // fresh types each round
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Go(func() {
				<-start
				inst, err := c.Instantiate(context.Background(), hostConfig(&hostState{}))
				if err != nil {
					errs <- err
					return
				}
				errs <- inst.Close(context.Background())
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}
