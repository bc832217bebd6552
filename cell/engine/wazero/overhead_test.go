package wazero

import (
	"context"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/enginetest"
)

// TestCancelOverhead measures what making guests cancellable costs on a
// compute loop (wazero's WithCloseOnContextDone). It reports the numbers
// and fails only if cancellation turns out free, which would mean wazero
// changed how it works and this package's documentation is stale.
func TestCancelOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	const n = 1 << 22
	run := func(opts Options) time.Duration {
		c, err := newEngine(t, opts).Compile(context.Background(), enginetest.Module("loop"))
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
			if _, err := inst.Call(context.Background(), "count", n); err != nil {
				t.Fatal(err)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	off, on := run(Options{noCloseOnDone: true}), run(Options{})
	t.Logf("count(%d): not cancellable %v (%.1f ns/iteration), cancellable %v (%.1f ns/iteration, %.1fx)",
		n, off, float64(off)/n, on, float64(on)/n, float64(on)/float64(off))
	if on < off*11/10 {
		t.Errorf("cancellation costs nothing on a loop: has wazero's WithCloseOnContextDone changed?")
	}
}
