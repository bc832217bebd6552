package stream_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gedstest"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// newS3LTS starts a real MinIO and returns LTS in a bucket of it, with
// short network timeouts so that an outage is noticed fast.
func newS3LTS(t testing.TB) (*miniotest.Server, *lts.S3) {
	t.Helper()
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{
		Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), Region: "us-east-1",
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			ResponseHeaderTimeout: 20 * time.Second,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	storage, err := lts.NewS3(context.Background(), tier, "streams")
	if err != nil {
		t.Fatal(err)
	}
	return srv, storage
}

// newGEDSLTS is LTS in GEDS: a real metadata service, a GEDS client whose
// persistency tier is a real MinIO, and chunks persisted before Put returns.
func newGEDSLTS(t testing.TB) *lts.GEDS {
	t.Helper()
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	meta := gedstest.StartMetadata(t, 5*time.Second)
	client, err := geds.Open(context.Background(), geds.Options{
		NodeID: "stream-store", Dir: t.TempDir(), Limit: 2 << 30, MetadataURL: meta.URL, Persistent: tier,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	storage, err := lts.NewGEDS(context.Background(), client, lts.GEDSOptions{Bucket: "streams"})
	if err != nil {
		t.Fatal(err)
	}
	return storage
}

func TestTierToS3(t *testing.T) {
	_, storage := newS3LTS(t)
	testTierTo(t, storage)
}

func TestTierToGEDS(t *testing.T) { testTierTo(t, newGEDSLTS(t)) }

// testTierTo tiers a stream to storage, reads it back from a reopened
// store (nothing cached) and deletes it.
func testTierTo(t *testing.T, storage lts.Storage) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, tiered(storage))
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	writeEvents(t, s, cams, "w", 4, 200, 200)
	before := readStream(t, s, cams)
	if moved, err := s.TierAll(ctx); err != nil || moved < 150<<10 {
		t.Fatalf("TierAll moved %d bytes: %v", moved, err)
	}
	s.Close()
	s = openStore(t, dir, tiered(storage)) // nothing cached: reads go to LTS
	defer s.Close()
	sameEvents(t, before, readStream(t, s, cams))
	if err := s.DeleteStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tier(ctx); err != nil {
		t.Fatalf("deleting the stream's chunks from LTS: %v", err)
	}
}

// TestLTSOutageIngestsUpToTheBudget stops MinIO under a steady writer:
// appends go on until the log reaches its budget, then fail with
// ErrBackPressure; once MinIO is back the store catches up, truncates the
// log, takes appends again, and every acknowledged event is readable, in
// order, once.
func TestLTSOutageIngestsUpToTheBudget(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, storage := newS3LTS(t)
	const budget = 1 << 20
	dir := t.TempDir()
	opts := func(o *stream.Options) {
		o.LocalBudgetBytes = budget
		o.LTSMaxBackoff = 50 * time.Millisecond
		o.LTSTimeout = 5 * time.Second
	}
	s := openStore(t, dir, tiered(storage), opts)
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	defer func() { s.Close() }() // the store open at the end

	w, err := s.NewWriter(cams, "steady")
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	// write appends the next event; it reports the back-pressure error.
	write := func() error {
		err := w.Write(ctx, "k", padded("steady", 0, acked+1, 4<<10))
		if err == nil {
			acked++
		}
		return err
	}
	for range 100 {
		if err := write(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return s.LocalBytes() < 128<<10 })

	srv.Stop()
	ackedBefore := acked
	var bp error
	for i := 0; bp == nil; i++ {
		if i > 2*budget/(4<<10) {
			t.Fatalf("%d bytes written during the outage without back-pressure; the budget is %d", i*(4<<10), budget)
		}
		bp = write()
	}
	if !errors.Is(bp, stream.ErrBackPressure) {
		t.Fatalf("during the outage the writer got %v, want ErrBackPressure", bp)
	}
	during := (acked - ackedBefore) * (4<<10 + 4)
	t.Logf("ingested %d bytes during the outage with a %d-byte budget; then: %v", during, budget, bp)
	if during < budget*3/4 {
		t.Fatalf("only %d bytes were ingested during the outage, the budget is %d", during, budget)
	}
	if n := s.LocalBytes(); n > budget {
		t.Fatalf("the log holds %d bytes, beyond its budget %d", n, budget)
	}
	// The store learns that LTS is gone by trying to tier to it.
	waitFor(t, func() bool { return !s.LTSAvailable() })
	if err := write(); !errors.Is(err, stream.ErrBackPressure) {
		t.Fatalf("a second write during the outage: %v, want ErrBackPressure", err)
	}

	srv.Restart()
	waitFor(t, func() bool { return s.LTSAvailable() && s.LocalBytes() < budget/2 })
	for range 100 {
		if err := write(); err != nil {
			t.Fatalf("after LTS came back: %v", err)
		}
	}
	got := checkPerKeyOrder(t, readStream(t, s, cams))
	if got["steady/k0"] != acked {
		t.Fatalf("read %d events, %d were acknowledged", got["steady/k0"], acked)
	}
	// And again from a fresh store, whose caches are empty: the tiered
	// part comes from MinIO.
	if _, err := s.TierAll(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	s.Close()
	s = openStore(t, dir, tiered(storage), opts)
	got = checkPerKeyOrder(t, readStream(t, s, cams))
	if got["steady/k0"] != acked {
		t.Fatalf("after reopening, read %d events, %d were acknowledged", got["steady/k0"], acked)
	}
}

// BenchmarkLTSOutage is the seed's Benchmark 2 at small scale: a writer at
// a fixed 15 MB/s, LTS stopped, a 32 MiB local budget; it reports how long
// ingestion went on, scaled to seconds per GB of budget (the rate sets
// this: about 67 s/GB at 15 MB/s, however large the budget, since the
// budget is disk, not memory), and how much the Go heap grew meanwhile
// (bounded by the 8 MiB cache of recent records, not by the budget). LTS
// is either always down, or a real MinIO stopped once the store runs.
func BenchmarkLTSOutage(b *testing.B) {
	b.Run("lts=down", func(b *testing.B) {
		for b.Loop() {
			benchOutage(b, failingLTS{}, func() {})
		}
	})
	b.Run("lts=minio-stopped", func(b *testing.B) {
		for b.Loop() {
			srv, storage := newS3LTS(b)
			benchOutage(b, storage, srv.Stop)
		}
	})
}

func benchOutage(b *testing.B, storage lts.Storage, stopLTS func()) {
	const (
		rate   = 15e6 // bytes per second
		event  = 16 << 10
		budget = 32 << 20
		tick   = 10 * time.Millisecond
	)
	ctx, cancel := context.WithCancel(context.Background())
	s := openStore(b, b.TempDir(), tiered(storage), func(o *stream.Options) {
		o.LocalBudgetBytes = budget
		o.MaxLogFileBytes = 4 << 20
		o.CacheBytes = 8 << 20
		o.LTSMaxBackoff = 100 * time.Millisecond
	})
	createStream(b, s, cams, stream.StreamConfig{Segments: 4})
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; s.Close() }()
	stopLTS()
	w, err := s.NewWriter(cams, "cam")
	if err != nil {
		b.Fatal(err)
	}
	heapBefore := heapInUse()
	peakHeap := heapBefore
	start := time.Now()
	sent := 0.0
	data := make([]byte, event)
	var bp error
	for i := 0; bp == nil; i++ {
		// Stay on the 15 MB/s schedule: send what is due, then wait.
		due := rate * time.Since(start).Seconds()
		for sent < due && bp == nil {
			_, bp = w.WriteAsync(ctx, fmt.Sprint(i%16), data)
			if bp == nil {
				sent += event
			}
		}
		peakHeap = max(peakHeap, heapInUse())
		time.Sleep(tick)
	}
	took := time.Since(start)
	if !errors.Is(bp, stream.ErrBackPressure) {
		b.Fatal(bp)
	}
	w.Flush(ctx)
	b.ReportMetric(took.Seconds()/(budget/1e9), "s/GB-budget")
	b.ReportMetric(sent/took.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(peakHeap-heapBefore)/1e6, "heap-growth-MB")
}

// failingLTS is long-term storage that is always down.
type failingLTS struct{}

func (failingLTS) Put(context.Context, string, []byte) error { return lts.ErrUnavailable }
func (failingLTS) Get(context.Context, string, int64, int64) ([]byte, error) {
	return nil, lts.ErrUnavailable
}
func (failingLTS) Delete(context.Context, string) error { return lts.ErrUnavailable }
