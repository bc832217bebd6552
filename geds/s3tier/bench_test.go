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

// timeEachSize runs a sub-benchmark per size of benchSizes: op(b, i) once
// per iteration i, timed for latencies. newOp makes a size's op inside its
// sub-benchmark, so each run (also under -count) sets up afresh.
func timeEachSize(b *testing.B, newOp func(b *testing.B, name string, size int) func(i int)) {
	for _, s := range benchSizes {
		b.Run(s.name, func(b *testing.B) {
			op := newOp(b, s.name, s.size)
			b.SetBytes(int64(s.size))
			var lat latencies
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				lat.time(func() { op(i) })
			}
			lat.report(b)
		})
	}
}

// readWhole reads the object rc opens whole, checking its size.
func readWhole(b *testing.B, rc io.ReadCloser, err error, size int) {
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != int64(size) {
		b.Fatalf("read %d bytes, %v", n, err)
	}
}

// BenchmarkPut is one Put of an object of each size at a time, to MinIO
// on loopback.
func BenchmarkPut(b *testing.B) {
	tier := benchTier(b, miniotest.Start(b))
	ctx := context.Background()
	timeEachSize(b, func(b *testing.B, name string, size int) func(int) {
		data := payload(size, 1)
		return func(i int) {
			if err := tier.Put(ctx, "bench", fmt.Sprintf("put/%s/%d", name, i%64), bytes.NewReader(data), int64(size)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetRange reads whole objects of each size, one at a time.
func BenchmarkGetRange(b *testing.B) {
	tier := benchTier(b, miniotest.Start(b))
	ctx := context.Background()
	timeEachSize(b, func(b *testing.B, name string, size int) func(int) {
		key := "get/" + name
		if err := tier.Put(ctx, "bench", key, bytes.NewReader(payload(size, 2)), int64(size)); err != nil {
			b.Fatal(err)
		}
		return func(int) {
			rc, err := tier.GetRange(ctx, "bench", key, 0, -1)
			readWhole(b, rc, err, size)
		}
	})
}

var benchRuns atomic.Int64

// BenchmarkPutIfAbsent is BenchmarkPut onto new keys, each Put refused if
// the key holds an object, as the spiller copies a life no earlier life's
// copy is left of (the common case).
func BenchmarkPutIfAbsent(b *testing.B) {
	tier := benchTier(b, miniotest.Start(b))
	ctx := context.Background()
	timeEachSize(b, func(b *testing.B, name string, size int) func(int) {
		data := payload(size, 1)
		run := benchRuns.Add(1) // keys new to every run, also under -count
		return func(i int) {
			if _, err := tier.PutIfAbsent(ctx, "bench", fmt.Sprintf("putifabsent/%s/%d/%d", name, run, i), "life", bytes.NewReader(data), int64(size)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPutIfMatch is BenchmarkPut with each Put replacing the object
// the previous one stored, by ETag, as the spiller replaces a stale copy:
// the condition costs S3 a look at the current object, no extra request.
func BenchmarkPutIfMatch(b *testing.B) {
	tier := benchTier(b, miniotest.Start(b))
	ctx := context.Background()
	timeEachSize(b, func(b *testing.B, name string, size int) func(int) {
		data := payload(size, 1)
		key := fmt.Sprintf("putifmatch/%s/%d", name, benchRuns.Add(1))
		etag, err := tier.PutIfAbsent(ctx, "bench", key, "life", bytes.NewReader(data), int64(size))
		if err != nil {
			b.Fatal(err)
		}
		return func(int) {
			if etag, err = tier.PutIfMatch(ctx, "bench", key, "life", bytes.NewReader(data), int64(size), etag); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetRangeIfMatch is BenchmarkGetRange naming the object's ETag,
// as GEDS reads a life it knows the copy of.
func BenchmarkGetRangeIfMatch(b *testing.B) {
	tier := benchTier(b, miniotest.Start(b))
	ctx := context.Background()
	timeEachSize(b, func(b *testing.B, name string, size int) func(int) {
		key := fmt.Sprintf("getifmatch/%s/%d", name, benchRuns.Add(1))
		etag, err := tier.PutIfAbsent(ctx, "bench", key, "life", bytes.NewReader(payload(size, 2)), int64(size))
		if err != nil {
			b.Fatal(err)
		}
		return func(int) {
			rc, err := tier.GetRangeIfMatch(ctx, "bench", key, 0, -1, etag)
			readWhole(b, rc, err, size)
		}
	})
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
