package wal

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendSync measures durable appends of 150-byte records (about a
// 100-byte event with its record header) from 1 and 16 goroutines.
func BenchmarkAppendSync(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l, err := Open(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rec := Record{Type: 1, Data: make([]byte, 150)}
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						t0 := time.Now()
						if _, err := AppendSync(context.Background(), l, rec); err != nil {
							b.Error(err)
							return
						}
						lat[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			took := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			st := l.Stats()
			b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
			b.ReportMetric(float64(lat[b.N/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[b.N*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(st.Syncs)/float64(st.Records), "fsyncs/record")
		})
	}
}
