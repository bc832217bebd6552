//go:build cgo

package wasmtime

import (
	"context"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/enginetest"
)

// TestEpochOverhead measures what epoch interruption costs on a compute
// loop: the checks compiled into the code (epoch on vs off, no ticking),
// and the ticks and callbacks while a cancellable call runs. It reports
// the numbers and fails only on a gross slowdown.
func TestEpochOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	const n = 200_000_000
	run := func(epoch bool, ctx context.Context) time.Duration {
		e := testEngineEpoch(t, Options{}, epoch)
		c, err := e.Compile(context.Background(), enginetest.Module("loop"))
		if err != nil {
			t.Fatal(err)
		}
		inst, err := c.Instantiate(context.Background(), engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		best := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			if _, err := inst.Call(ctx, "count", n); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	off := run(false, context.Background())
	on := run(true, context.Background())
	ticking := run(true, ctx)
	pct := func(d time.Duration) float64 { return 100 * (float64(d) - float64(off)) / float64(off) }
	t.Logf("count(%d): epoch off %v, epoch on %v (%+.1f%%), epoch on and ticking %v (%+.1f%%)",
		n, off, on, pct(on), ticking, pct(ticking))
	if ticking > 3*off {
		t.Errorf("epoch interruption makes the loop %.1fx slower", float64(ticking)/float64(off))
	}
}

// BenchmarkLoop measures epoch interruption on a compute loop: ns/op is per
// loop iteration, without epoch checks, with them, and with them while the
// epoch ticks (a cancellable context).
func BenchmarkLoop(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range []struct {
		name  string
		epoch bool
		ctx   context.Context
	}{
		{"epoch-off", false, context.Background()},
		{"epoch-on", true, context.Background()},
		{"epoch-ticking", true, ctx},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := testEngineEpoch(b, Options{}, bc.epoch).Compile(context.Background(), enginetest.Module("loop"))
			if err != nil {
				b.Fatal(err)
			}
			inst, err := c.Instantiate(context.Background(), engine.InstanceConfig{})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			if _, err := inst.Call(bc.ctx, "count", uint64(b.N)); err != nil {
				b.Fatal(err)
			}
		})
	}
}
