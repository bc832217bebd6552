package geds

import (
	"slices"
	"testing"
	"time"
)

// Read benchmarks: ReadAt of 4 KiB and 1 MiB on an open Reader, from this
// node's tier 0 (memory-mapped) and from a peer over loopback h2c. Besides
// ns/op they report the median and 99th percentile of single reads.

func BenchmarkReadLocal4KiB(b *testing.B)  { benchmarkRead(b, 4<<10, false) }
func BenchmarkReadLocal1MiB(b *testing.B)  { benchmarkRead(b, 1<<20, false) }
func BenchmarkReadRemote4KiB(b *testing.B) { benchmarkRead(b, 4<<10, true) }
func BenchmarkReadRemote1MiB(b *testing.B) { benchmarkRead(b, 1<<20, true) }

func benchmarkRead(b *testing.B, size int, remote bool) {
	const objectSize = 16 << 20
	m := startMeta(b, time.Minute)
	a := node(b, m, "a", 64<<20, nil, func(o *Options) { o.Now = time.Now })
	reader := a
	if remote {
		reader = node(b, m, "b", 1<<20, nil)
	}
	a.CreateBucket(bg, "bench")
	put(b, a, "bench", "obj", pattern(objectSize, 1))
	r, err := reader.Open(bg, "bench", "obj")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if r.Local() == remote {
		b.Fatalf("reader local=%v, want %v", r.Local(), !remote)
	}
	p := make([]byte, size)
	slots := int64(objectSize / size)
	r.ReadAt(p, 0) // connect, fault the first pages in
	var samples []time.Duration
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := int64(0); b.Loop(); i++ {
		start := time.Now()
		if _, err := r.ReadAt(p, (i%slots)*int64(size)); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(samples[len(samples)*99/100].Nanoseconds()), "p99-ns")
}
