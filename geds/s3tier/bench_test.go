package s3tier_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

var benchSizes = []struct {
	name string
	size int
}{{"4KiB", 4 << 10}, {"1MiB", 1 << 20}}

// latencies records each operation's duration and reports the median and
// 99th percentile next to the mean that ns/op gives.
type latencies []time.Duration

func (l *latencies) time(fn func()) {
	began := time.Now()
	fn()
	*l = append(*l, time.Since(began))
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(l[len(l)*99/100].Nanoseconds()), "p99-ns")
}

func benchTier(b *testing.B, srv *miniotest.Server) *s3tier.Tier {
	// minio-go's default transport, as in production.
	tier := newTier(b, srv, func(c *s3tier.Config) { c.Transport = nil })
	if err := tier.EnsureBucket(context.Background(), "bench"); err != nil {
		b.Fatal(err)
	}
	return tier
}

// BenchmarkPut is one Put of an object of each size at a time, to MinIO
// on loopback.
func BenchmarkPut(b *testing.B) {
	srv := miniotest.Start(b)
	tier := benchTier(b, srv)
	ctx := context.Background()
	for _, s := range benchSizes {
		data := payload(s.size, 1)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.size))
			var lat latencies
			for i := 0; b.Loop(); i++ {
				lat.time(func() {
					if err := tier.Put(ctx, "bench", fmt.Sprintf("put/%s/%d", s.name, i%64), bytes.NewReader(data), int64(s.size)); err != nil {
						b.Fatal(err)
					}
				})
			}
			lat.report(b)
		})
	}
}

// BenchmarkGetRange reads whole objects of each size, one at a time.
func BenchmarkGetRange(b *testing.B) {
	srv := miniotest.Start(b)
	tier := benchTier(b, srv)
	ctx := context.Background()
	for _, s := range benchSizes {
		key := "get/" + s.name
		if err := tier.Put(ctx, "bench", key, bytes.NewReader(payload(s.size, 2)), int64(s.size)); err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.size))
			var lat latencies
			for b.Loop() {
				lat.time(func() {
					rc, err := tier.GetRange(ctx, "bench", key, 0, -1)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil || n != int64(s.size) {
						b.Fatalf("read %d bytes, %v", n, err)
					}
				})
			}
			lat.report(b)
		})
	}
}

var benchRuns atomic.Int64

// BenchmarkPutIfAbsent is BenchmarkPut onto new keys, each Put refused if
// the key holds an object, as the spiller copies a life no earlier life's
// copy is left of (the common case).
func BenchmarkPutIfAbsent(b *testing.B) {
	srv := miniotest.Start(b)
	tier := benchTier(b, srv)
	ctx := context.Background()
	for _, s := range benchSizes {
		data := payload(s.size, 1)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.size))
			run := benchRuns.Add(1) // keys new to every run, also under -count
			var lat latencies
			for i := 0; b.Loop(); i++ {
				lat.time(func() {
					if _, err := tier.PutIfAbsent(ctx, "bench", fmt.Sprintf("putifabsent/%s/%d/%d", s.name, run, i), "life", bytes.NewReader(data), int64(s.size)); err != nil {
						b.Fatal(err)
					}
				})
			}
			lat.report(b)
		})
	}
}

// BenchmarkPutIfMatch is BenchmarkPut with each Put replacing the object
// the previous one stored, by ETag, as the spiller replaces a stale copy:
// the condition costs S3 a look at the current object, no extra request.
func BenchmarkPutIfMatch(b *testing.B) {
	srv := miniotest.Start(b)
	tier := benchTier(b, srv)
	ctx := context.Background()
	for _, s := range benchSizes {
		data := payload(s.size, 1)
		key := "putifmatch/" + s.name
		etag, err := tier.PutIfAbsent(ctx, "bench", key, "life", bytes.NewReader(data), int64(s.size))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.size))
			var lat latencies
			for b.Loop() {
				lat.time(func() {
					if etag, err = tier.PutIfMatch(ctx, "bench", key, "life", bytes.NewReader(data), int64(s.size), etag); err != nil {
						b.Fatal(err)
					}
				})
			}
			lat.report(b)
		})
	}
}

// BenchmarkGetRangeIfMatch is BenchmarkGetRange naming the object's ETag,
// as GEDS reads a life it knows the copy of.
func BenchmarkGetRangeIfMatch(b *testing.B) {
	srv := miniotest.Start(b)
	tier := benchTier(b, srv)
	ctx := context.Background()
	for _, s := range benchSizes {
		key := "getifmatch/" + s.name
		etag, err := tier.PutIfAbsent(ctx, "bench", key, "life", bytes.NewReader(payload(s.size, 2)), int64(s.size))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.size))
			var lat latencies
			for b.Loop() {
				lat.time(func() {
					rc, err := tier.GetRangeIfMatch(ctx, "bench", key, 0, -1, etag)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil || n != int64(s.size) {
						b.Fatalf("read %d bytes, %v", n, err)
					}
				})
			}
			lat.report(b)
		})
	}
}

// BenchmarkPut8Writers1MiB is the aggregate throughput (MB/s) of 8
// concurrent writers of 1 MiB objects: "minio-go" is MinIO's own client
// with its defaults (over plain HTTP, a signed SHA-256 of every body);
// "minio-go-crc32c" the same with the body options s3tier uses (unsigned,
// CRC32C trailer), the peer baseline for GEDS spilling; "s3tier" is this
// package with its defaults, "s3tier-signed" with SignPayload.
func BenchmarkPut8Writers1MiB(b *testing.B) {
	const writers, size = 8, 1 << 20
	srv := miniotest.Start(b)
	tier := benchTier(b, srv)
	signed := newTier(b, srv, func(c *s3tier.Config) { c.Transport, c.SignPayload = nil, true })
	client := srv.Client()
	data := payload(size, 3)
	ctx := context.Background()
	minioPut := func(opts minio.PutObjectOptions) func(key string) error {
		return func(key string) error {
			_, err := client.PutObject(ctx, "bench", key, bytes.NewReader(data), size, opts)
			return err
		}
	}
	tierPut := func(t *s3tier.Tier) func(key string) error {
		return func(key string) error { return t.Put(ctx, "bench", key, bytes.NewReader(data), size) }
	}
	puts := map[string]func(key string) error{
		"minio-go":        minioPut(minio.PutObjectOptions{}),
		"minio-go-crc32c": minioPut(minio.PutObjectOptions{DisableContentSha256: true, Checksum: minio.ChecksumCRC32C}),
		"s3tier":          tierPut(tier),
		"s3tier-signed":   tierPut(signed),
	}
	for _, name := range []string{"minio-go", "minio-go-crc32c", "s3tier", "s3tier-signed"} {
		put := puts[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			var next atomic.Int64
			var failed atomic.Pointer[error]
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N) && failed.Load() == nil; i = next.Add(1) {
						if err := put(fmt.Sprintf("%s/w%d/%d", name, w, i%32)); err != nil {
							failed.Store(&err)
						}
					}
				})
			}
			wg.Wait()
			if err := failed.Load(); err != nil {
				b.Fatal(*err)
			}
		})
	}
}
