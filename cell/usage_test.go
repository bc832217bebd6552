package cell_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell"
)

// TestUsageMeasuresCPUAndMemory runs a cell that holds 32 MiB and keeps
// a core busy for 400 ms, and reads its usage from another goroutine as
// an agent's metrics would.
func TestUsageMeasuresCPUAndMemory(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := newPrograms(t).load("usage", e)
			for _, stoppable := range []bool{false, true} {
				var u cell.Usage
				var out bytes.Buffer
				spec := cell.Spec{Args: []string{"32", "400"}, Stdout: &out, Usage: &u}
				done := make(chan error, 1)
				begin := time.Now()
				go func() {
					var err error
					if stoppable {
						_, _, err = p.RunStoppable(context.Background(), spec, nil, nil)
					} else {
						_, err = p.Run(context.Background(), spec)
					}
					done <- err
				}()
				var peak int64
				var during time.Duration
			wait:
				for {
					select {
					case err := <-done:
						if err != nil {
							t.Fatal(err)
						}
						break wait
					case <-time.After(20 * time.Millisecond):
						peak = max(peak, u.Memory())
						during = max(during, u.CPU())
					}
				}
				elapsed := time.Since(begin)
				cpu := u.CPU()
				if peak < 32<<20 || peak > 64<<20 {
					t.Errorf("stoppable %v: memory seen while running %d bytes, want 32–64 MiB", stoppable, peak)
				}
				if during <= 0 || cpu < during-time.Millisecond {
					t.Errorf("stoppable %v: CPU read while running %s, at the end %s", stoppable, during, cpu)
				}
				// Busy 400 ms on one thread: its CPU is most of that (the
				// machine may be loaded) and never more than the wall time.
				if cpu < 100*time.Millisecond || cpu > elapsed+50*time.Millisecond {
					t.Errorf("stoppable %v: CPU %s for a 400 ms busy loop that took %s", stoppable, cpu, elapsed)
				}
				if m := u.Memory(); m != 0 {
					t.Errorf("stoppable %v: memory %d after the end, want 0", stoppable, m)
				}
			}
		})
	}
}
