package wazero

import (
	"context"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/enginetest"
)

// BenchmarkLoop measures what making guests cancellable costs on a compute
// loop (wazero's WithCloseOnContextDone): ns/op is per loop iteration.
func BenchmarkLoop(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"cancellable", Options{}},
		{"not-cancellable", Options{noCloseOnDone: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := newEngine(b, bc.opts).Compile(context.Background(), enginetest.Module("loop"))
			if err != nil {
				b.Fatal(err)
			}
			inst, err := c.Instantiate(context.Background(), engine.InstanceConfig{})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if _, err := inst.Call(context.Background(), "count", uint64(b.N)); err != nil {
				b.Fatal(err)
			}
		})
	}
}
