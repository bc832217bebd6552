package cluster

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// BenchmarkAddInstance measures the latency spike of adding a segment-store
// instance: eight writers (one stream per container) append 1 KiB events
// synchronously to a one-instance cluster for a second, a second instance
// is added (half the containers move), and they go on for another second.
// It reports the append latency p50/p99 in the steady second before and in
// the second from the start of the change, the worst append of that
// second, and how long one container move took (its unavailability).
// Run it with -benchtime=1x: one iteration is one such scenario.
func BenchmarkAddInstance(b *testing.B) {
	var steady, around []time.Duration
	var moveTook []time.Duration
	for range b.N {
		s, a, m := addInstanceScenario(b)
		steady, around, moveTook = append(steady, s...), append(around, a...), append(moveTook, m...)
	}
	slices.Sort(steady)
	slices.Sort(around)
	slices.Sort(moveTook)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(pct(steady, 0.50)), "steady-p50-ms")
	b.ReportMetric(ms(pct(steady, 0.99)), "steady-p99-ms")
	b.ReportMetric(ms(pct(around, 0.50)), "add-p50-ms")
	b.ReportMetric(ms(pct(around, 0.99)), "add-p99-ms")
	b.ReportMetric(ms(pct(around, 1)), "add-max-ms")
	b.ReportMetric(ms(pct(moveTook, 0.50)), "move-p50-ms")
	b.ReportMetric(ms(pct(moveTook, 1)), "move-max-ms")
	b.ReportMetric(0, "ns/op")
}

func pct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func addInstanceScenario(b *testing.B) (steady, around, moves []time.Duration) {
	ctx := context.Background()
	cl, err := Open(ctx, Options{Dir: b.TempDir(), Instances: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.CreateScope(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	// One stream in each container.
	names := make([]stream.StreamName, cl.Containers())
	for i, found := 0, 0; found < len(names); i++ {
		n := stream.StreamName{Scope: "bench", Stream: "s" + strconv.Itoa(i)}
		if c := ContainerOf(n, len(names)); names[c].Stream == "" {
			names[c] = n
			found++
			if err := cl.CreateStream(ctx, n, stream.StreamConfig{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	type sample struct {
		at   time.Time
		took time.Duration
	}
	var (
		mu      sync.Mutex
		samples []sample
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	payload := make([]byte, 1024)
	for _, n := range names {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if _, err := cl.Append(ctx, stream.AppendRequest{Stream: n, RoutingKey: "k", Events: [][]byte{payload}}); err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				samples = append(samples, sample{start, time.Since(start)})
				mu.Unlock()
			}
		})
	}
	begin := time.Now()
	time.Sleep(1200 * time.Millisecond)
	change := time.Now()
	ms, err := cl.AddInstance(ctx, "ss-new")
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	for _, s := range samples {
		switch {
		case s.at.After(begin.Add(200*time.Millisecond)) && s.at.Before(change):
			steady = append(steady, s.took)
		case !s.at.Before(change) && s.at.Before(change.Add(time.Second)):
			around = append(around, s.took)
		}
	}
	for _, m := range ms {
		moves = append(moves, m.Took)
	}
	return steady, around, moves
}
