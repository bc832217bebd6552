package enginetest

import (
	"context"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// BenchmarkInstantiate measures making an instance of a compiled module,
// calling an empty export and closing the instance: the fixed cost of a
// cell.
func BenchmarkInstantiate(b *testing.B, e engine.Engine) {
	ctx := context.Background()
	c := compile(b, e, "arith")
	b.ReportAllocs()
	for b.Loop() {
		inst, err := c.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inst.Call(ctx, "empty"); err != nil {
			b.Fatal(err)
		}
		if err := inst.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHostCall measures one guest-to-host call of a function that does
// nothing: the overhead every WASI and MPI call pays. ns/op is per host
// call.
func BenchmarkHostCall(b *testing.B, e engine.Engine) {
	ctx := context.Background()
	inst := instantiate(b, compile(b, e, "host"), hostConfig(&hostState{}))
	const perCall = 10000
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += perCall {
		if _, err := inst.Call(ctx, "host_loop", uint64(min(perCall, b.N-done))); err != nil {
			b.Fatal(err)
		}
	}
}
