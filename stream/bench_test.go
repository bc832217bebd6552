package stream_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// BenchmarkAppend measures durable appends (each Write returns after its
// event is fsynced) of 100 B and 1 KiB events from 1 and 16 concurrent
// writers on 4 segments. fsyncs/event below 1 is group commit at work.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{100, 1024} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("size=%d/writers=%d", size, writers), func(b *testing.B) {
				benchAppend(b, size, writers)
			})
		}
	}
}

func benchAppend(b *testing.B, size, writers int) {
	s := openStore(b, b.TempDir())
	defer s.Close()
	createStream(b, s, cams, stream.StreamConfig{Segments: 4})
	data := make([]byte, size)
	ws := make([]*stream.Writer, writers)
	for i := range ws {
		ws[i], _ = s.NewWriter(cams, fmt.Sprintf("bench-%d", i))
	}
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	before := s.LogStats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("key-%d", i)
			ctx := context.Background()
			for {
				n := next.Add(1) - 1
				if n >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if err := w.Write(ctx, key, data); err != nil {
					b.Error(err)
					return
				}
				latencies[n] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	after := s.LogStats()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
	b.ReportMetric(float64(b.N*size)/took.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(after.Syncs-before.Syncs)/float64(b.N), "fsyncs/event")
}

// BenchmarkTailLatency measures how long an event takes from Write to a
// tail reader that is waiting for it (the end-to-end latency of the video
// use case), with 1 KiB events.
func BenchmarkTailLatency(b *testing.B) {
	s := openStore(b, b.TempDir())
	defer s.Close()
	createStream(b, s, cams, stream.StreamConfig{Segments: 1})
	w, _ := s.NewWriter(cams, "bench")
	ctx := context.Background()
	seg := stream.NewSegmentID(0, 0)
	data := make([]byte, 1024)
	latencies := make([]time.Duration, 0, b.N)
	offset := int64(0)
	b.ResetTimer()
	for range b.N {
		got := make(chan time.Time, 1)
		go func() {
			batch, err := s.ReadSegment(ctx, cams, seg, offset, stream.ReadOptions{})
			if err != nil {
				b.Error(err)
			}
			offset = batch.Next
			got <- time.Now()
		}()
		t0 := time.Now()
		if err := w.Write(ctx, "k", data); err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, (<-got).Sub(t0))
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
}
