package stream_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// BenchmarkScaleUp measures the issue's "scale-up reaction time and the
// latency spike during a split". Four writers append 4 KiB events, each
// waiting for durability, at a steady 3 MB/s in all to a stream of one
// segment whose policy targets 2 MB/s per segment (scale factor 2). Run's
// auto-scaler measures every 100 ms with a 1 s window and no cool-down, so
// the expected reaction is about window × ln(rate / (rate − target)) =
// 1.1 s plus up to one interval. It reports the seconds from the load
// starting to the first append landing in a successor (s-to-split, and
// s-expected), and the append p99 in the second around the split
// (split-p99-ms) against the rest of the run (steady-p99-ms).
func BenchmarkScaleUp(b *testing.B) {
	const (
		target    = 2e6
		rate      = 3e6
		eventSize = 4096
		writers   = 4
		window    = time.Second
		interval  = 100 * time.Millisecond
	)
	var reactions, steady, around, maxAround []float64
	for i := range b.N {
		s := openStore(b, b.TempDir(), func(o *stream.Options) {
			o.ScaleInterval = interval
			o.ScaleWindow = window
			o.ScaleCooldown = -1
		})
		name := stream.StreamName{Scope: "bench", Stream: fmt.Sprint("s", i)}
		createStream(b, s, name, stream.StreamConfig{Segments: 1, Scaling: stream.ScalingPolicy{Kind: stream.ScaleByByteRate, TargetRate: target}})
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan error, 1)
		go func() { ran <- s.Run(ctx) }()

		type sample struct {
			at, took time.Duration
			epoch    uint32
		}
		var (
			mu      sync.Mutex
			samples []sample
			wg      sync.WaitGroup
		)
		start := time.Now()
		deadline := start.Add(4 * time.Second)
		perSecond := rate / (writers * (eventSize + 4)) // appends per second, per writer
		period := time.Duration(float64(time.Second) / perSecond)
		data := make([]byte, eventSize)
		for w := range writers {
			wg.Go(func() {
				wr, _ := s.NewWriter(name, fmt.Sprint("w", w))
				next := time.Now()
				for n := 0; time.Now().Before(deadline); n++ {
					next = next.Add(period)
					t0 := time.Now()
					ack, err := wr.WriteAsync(ctx, fmt.Sprintf("w%d-k%d", w, n%16), data)
					if err == nil {
						var r stream.AppendResult
						r, err = ack.Wait(ctx)
						mu.Lock()
						samples = append(samples, sample{t0.Sub(start), time.Since(t0), r.Segment.Epoch()})
						mu.Unlock()
					}
					if err != nil {
						b.Error(err)
						return
					}
					time.Sleep(time.Until(next))
				}
			})
		}
		wg.Wait()
		cancel()
		<-ran
		s.Close()

		slices.SortFunc(samples, func(a, b sample) int { return int(a.at - b.at) })
		split := slices.IndexFunc(samples, func(s sample) bool { return s.epoch > 0 })
		if split < 0 {
			b.Fatalf("no split within %s", deadline.Sub(start))
		}
		at := samples[split].at
		var in, out []float64
		for _, s := range samples {
			ms := float64(s.took.Microseconds()) / 1000
			if s.at > at-500*time.Millisecond && s.at < at+500*time.Millisecond {
				in = append(in, ms)
			} else {
				out = append(out, ms)
			}
		}
		reactions = append(reactions, at.Seconds())
		steady = append(steady, percentile(out, 0.99))
		around = append(around, percentile(in, 0.99))
		maxAround = append(maxAround, slices.Max(in))
	}
	b.ReportMetric(mean(reactions), "s-to-split")
	b.ReportMetric(window.Seconds()*math.Log(rate/(rate-target))+interval.Seconds()/2, "s-expected")
	b.ReportMetric(mean(steady), "steady-p99-ms")
	b.ReportMetric(mean(around), "split-p99-ms")
	b.ReportMetric(mean(maxAround), "split-max-ms")
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[min(len(v)-1, int(float64(len(v))*p))]
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}
