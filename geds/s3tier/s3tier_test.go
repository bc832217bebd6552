package s3tier_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// persistencyTier is the interface package geds declares for its S3 tier,
// copied here (s3tier does not import geds) so a drift fails to compile.
type persistencyTier interface {
	EnsureBucket(ctx context.Context, bucket string) error
	PutIfAbsent(ctx context.Context, bucket, key, life string, r io.Reader, size int64) (etag string, err error)
	PutIfMatch(ctx context.Context, bucket, key, life string, r io.Reader, size int64, match string) (etag string, err error)
	GetRange(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, error)
	GetRangeIfMatch(ctx context.Context, bucket, key string, off, n int64, etag string) (io.ReadCloser, error)
	Head(ctx context.Context, bucket, key string) (size int64, etag, life string, err error)
	List(ctx context.Context, bucket, prefix string, fn func(key string, size int64) error) error
	Delete(ctx context.Context, bucket, key string) error
}

var _ persistencyTier = (*s3tier.Tier)(nil)

// testTransport has short timeouts so that no test waits long on an S3
// that is gone: loopback answers in milliseconds when it answers at all.
func testTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		ResponseHeaderTimeout: 20 * time.Second, // a 16 MiB part under -race on 2 cores
		IdleConnTimeout:       30 * time.Second,
		MaxIdleConnsPerHost:   16,
		DisableCompression:    true,
	}
}

func newTier(t testing.TB, srv *miniotest.Server, edit ...func(*s3tier.Config)) *s3tier.Tier {
	t.Helper()
	cfg := s3tier.Config{
		Endpoint:  srv.Endpoint(),
		AccessKey: srv.AccessKey(),
		SecretKey: srv.SecretKey(),
		Region:    "us-east-1",
		Transport: testTransport(),
	}
	for _, e := range edit {
		e(&cfg)
	}
	tier, err := s3tier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tier
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// plainReader hides every method but Read, so minio-go takes the path for
// streams (one buffered part at a time) rather than the io.ReaderAt one.
type plainReader struct{ io.Reader }

func mustEnsure(t *testing.T, tier *s3tier.Tier, bucket string) {
	t.Helper()
	if err := tier.EnsureBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
}

func mustPut(t *testing.T, tier *s3tier.Tier, bucket, key string, data []byte) {
	t.Helper()
	if err := tier.Put(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

func readRange(t *testing.T, tier *s3tier.Tier, bucket, key string, off, n int64) []byte {
	t.Helper()
	rc, err := tier.GetRange(context.Background(), bucket, key, off, n)
	if err != nil {
		t.Fatalf("GetRange(%s, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GetRange(%s, %d, %d): read: %v", key, off, n, err)
	}
	return got
}

// TestTier runs the tier against one real MinIO server; each subtest has
// its own bucket.
func TestTier(t *testing.T) {
	srv := miniotest.Start(t)
	tier := newTier(t, srv)
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, tier) })
	t.Run("RoundTripSignedPayload", func(t *testing.T) {
		testRoundTrip(t, newTier(t, srv, func(c *s3tier.Config) { c.SignPayload = true }))
	})
	t.Run("CorruptedBody", func(t *testing.T) { testCorruptedBody(t, srv) })
	t.Run("Ranges", func(t *testing.T) { testRanges(t, tier) })
	t.Run("StatListDelete", func(t *testing.T) { testStatListDelete(t, tier) })
	t.Run("Missing", func(t *testing.T) { testMissing(t, tier) })
	t.Run("EnsureBucketConcurrent", func(t *testing.T) { testEnsureBucketConcurrent(t, tier) })
	t.Run("BucketPrefix", func(t *testing.T) { testBucketPrefix(t, srv) })
	t.Run("BadSource", func(t *testing.T) { testBadSource(t, tier, srv) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, tier) })
	t.Run("WrongCredentials", func(t *testing.T) { testWrongCredentials(t, srv) })
	t.Run("ConditionalPuts", func(t *testing.T) { testConditionalPuts(t, srv) })
	t.Run("ConditionCheckedAtCompletion", func(t *testing.T) { testConditionCheckedAtCompletion(t, srv) })
	t.Run("GetRangeIfMatch", func(t *testing.T) { testGetRangeIfMatch(t, tier) })
}

func testRoundTrip(t *testing.T, tier *s3tier.Tier) {
	mustEnsure(t, tier, "roundtrip")
	sizes := map[string]int{"0B": 0, "4KiB": 4 << 10, "20MiB": 20 << 20}
	for name, size := range sizes {
		data := payload(size, byte(size))
		sources := map[string]func() io.Reader{
			"ReaderAt": func() io.Reader { return bytes.NewReader(data) },
			"Stream":   func() io.Reader { return plainReader{bytes.NewReader(data)} },
		}
		for kind, src := range sources {
			t.Run(name+"/"+kind, func(t *testing.T) {
				key := "obj-" + name + "-" + kind
				if err := tier.Put(context.Background(), "roundtrip", key, src(), int64(size)); err != nil {
					t.Fatal(err)
				}
				got, err := tier.Stat(context.Background(), "roundtrip", key)
				if err != nil || got != int64(size) {
					t.Fatalf("Stat = %d, %v; want %d", got, err, size)
				}
				if back := readRange(t, tier, "roundtrip", key, 0, -1); !bytes.Equal(back, data) {
					t.Fatalf("read back %d bytes, differing from the %d put", len(back), size)
				}
			})
		}
	}
}

// corruptingTransport flips one bit in the body of every PUT on its way
// to S3, after the client has computed the body's checksum or signature.
type corruptingTransport struct{ next http.RoundTripper }

func (c corruptingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.Body != nil {
		req.Body = &flipReader{ReadCloser: req.Body, at: 1000}
	}
	return c.next.RoundTrip(req)
}

type flipReader struct {
	io.ReadCloser
	at, seen int
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if i := f.at - f.seen; i >= 0 && i < n {
		p[i] ^= 0x01
	}
	f.seen += n
	return n, err
}

// testCorruptedBody: a body damaged on the wire is refused by S3 whether it
// is signed (SHA-256) or not (CRC32C trailer), and nothing is stored.
func testCorruptedBody(t *testing.T, srv *miniotest.Server) {
	mustEnsure(t, newTier(t, srv), "corrupted")
	data := payload(64<<10, 7)
	for _, signed := range []bool{false, true} {
		tier := newTier(t, srv, func(c *s3tier.Config) {
			c.SignPayload = signed
			c.Transport = corruptingTransport{testTransport()}
		})
		key := fmt.Sprintf("signed-%t", signed)
		err := tier.Put(context.Background(), "corrupted", key, bytes.NewReader(data), int64(len(data)))
		if err == nil {
			t.Fatalf("signed=%t: a body corrupted on the wire was accepted", signed)
		}
		if _, serr := newTier(t, srv).Stat(context.Background(), "corrupted", key); !errors.Is(serr, fs.ErrNotExist) {
			t.Fatalf("signed=%t: after the refused put, Stat = %v; want not found", signed, serr)
		}
	}
}

func testRanges(t *testing.T, tier *s3tier.Tier) {
	mustEnsure(t, tier, "ranges")
	small := payload(100<<10, 1)
	mustPut(t, tier, "ranges", "small", small)
	mustPut(t, tier, "ranges", "empty", nil)
	large := payload(20<<20, 2) // two multipart parts of 16 MiB and 4 MiB
	mustPut(t, tier, "ranges", "large", large)
	objects := map[string][]byte{"small": small, "empty": nil, "large": large}
	end := int64(len(small))
	cases := []struct {
		key        string
		off, n     int64
		start, len int64 // expected slice of the object
	}{
		{"small", 0, 10, 0, 10},
		{"small", 10, -1, 10, end - 10},
		{"small", 0, -1, 0, end},
		{"small", 1000, 1, 1000, 1},
		{"small", end - 5, 100, end - 5, 5}, // cut at the end
		{"small", end, 10, end, 0},          // at the end: empty
		{"small", end, -1, end, 0},
		{"small", 5, 0, 5, 0},
		{"empty", 0, -1, 0, 0},
		{"empty", 0, 10, 0, 0},
		{"large", 16<<20 - 10, 20, 16<<20 - 10, 20}, // across the part boundary
		{"large", 20<<20 - 1, -1, 20<<20 - 1, 1},
	}
	for _, c := range cases {
		got := readRange(t, tier, "ranges", c.key, c.off, c.n)
		want := objects[c.key][c.start : c.start+c.len]
		if !bytes.Equal(got, want) {
			t.Errorf("GetRange(%s, %d, %d) = %d bytes, want bytes %d+%d", c.key, c.off, c.n, len(got), c.start, c.len)
		}
	}
	for _, off := range []int64{end + 1, end + 1000} {
		for _, n := range []int64{-1, 0, 1} {
			_, err := tier.GetRange(context.Background(), "ranges", "small", off, n)
			if !errors.Is(err, s3tier.ErrRange) {
				t.Errorf("GetRange(small, %d, %d): err = %v, want ErrRange", off, n, err)
			}
		}
	}
	if _, err := tier.GetRange(context.Background(), "ranges", "small", -1, 5); err == nil || !strings.Contains(err.Error(), "negative offset") {
		t.Errorf("GetRange at -1: err = %v, want a negative offset error", err)
	}
	if _, err := tier.GetRange(context.Background(), "ranges", "small", 1<<62, 1<<62); err == nil || !strings.Contains(err.Error(), "overflows") {
		t.Errorf("GetRange overflowing: err = %v, want an overflow error", err)
	}
}

func testStatListDelete(t *testing.T, tier *s3tier.Tier) {
	ctx := context.Background()
	mustEnsure(t, tier, "listing")
	// More than one listing page (S3 returns at most 1000 keys a page).
	const many = 1100
	var want []string
	for i := range many {
		want = append(want, fmt.Sprintf("many/%05d", i))
	}
	putAll(t, tier, "listing", want)
	putAll(t, tier, "listing", []string{"other/1", "man", "manz"})

	got := map[string]int64{}
	var order []string
	err := tier.List(ctx, "listing", "many/", func(key string, size int64) error {
		got[key] = size
		order = append(order, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != many || !slices.Equal(order, want) {
		t.Fatalf("List(many/) gave %d keys (first %q), want %d in order", len(got), order[:min(3, len(order))], many)
	}
	for k, size := range got {
		if size != int64(len(k)) {
			t.Fatalf("List: %s has size %d, want %d", k, size, len(k))
		}
	}

	stop := errors.New("enough")
	calls := 0
	err = tier.List(ctx, "listing", "", func(string, int64) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("List with fn failing: err = %v after %d calls; want the fn's error after 1", err, calls)
	}

	if err := tier.Delete(ctx, "listing", "many/00007"); err != nil {
		t.Fatal(err)
	}
	if _, err := tier.Stat(ctx, "listing", "many/00007"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat after Delete: err = %v, want fs.ErrNotExist", err)
	}
	count := 0
	if err := tier.List(ctx, "listing", "many/", func(string, int64) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != many-1 {
		t.Fatalf("List after Delete: %d keys, want %d", count, many-1)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := tier.List(canceled, "listing", "", func(string, int64) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("List with a canceled context: err = %v, want context.Canceled", err)
	}
}

// putAll puts each key with its own name as content, 8 at a time.
func putAll(t *testing.T, tier *s3tier.Tier, bucket string, keys []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	work := make(chan string)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for k := range work {
				if err := tier.Put(ctx, bucket, k, strings.NewReader(k), int64(len(k))); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
feed:
	for _, k := range keys {
		select {
		case work <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testMissing(t *testing.T, tier *s3tier.Tier) {
	ctx := context.Background()
	mustEnsure(t, tier, "missing")
	checks := map[string]error{}
	_, checks["Stat missing key"] = tier.Stat(ctx, "missing", "nope")
	_, checks["GetRange missing key"] = tier.GetRange(ctx, "missing", "nope", 0, -1)
	_, checks["GetRange missing key, range"] = tier.GetRange(ctx, "missing", "nope", 10, 5)
	_, checks["GetRange missing key, empty range"] = tier.GetRange(ctx, "missing", "nope", 0, 0)
	_, checks["Stat missing bucket"] = tier.Stat(ctx, "no-such-bucket", "k")
	_, checks["GetRange missing bucket"] = tier.GetRange(ctx, "no-such-bucket", "k", 0, -1)
	checks["List missing bucket"] = tier.List(ctx, "no-such-bucket", "", func(string, int64) error { return nil })
	checks["Put missing bucket"] = tier.Put(ctx, "no-such-bucket", "k", strings.NewReader("x"), 1)
	checks["Delete missing bucket"] = tier.Delete(ctx, "no-such-bucket", "k")
	for what, err := range checks {
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, s3tier.ErrUnavailable) {
			t.Errorf("%s: err = %v, want fs.ErrNotExist only", what, err)
		}
	}
	if err := tier.Delete(ctx, "missing", "nope"); err != nil {
		t.Errorf("Delete missing key: %v, want success (S3 deletes are idempotent)", err)
	}
	if err := tier.List(ctx, "missing", "", func(k string, _ int64) error { return fmt.Errorf("unexpected key %q", k) }); err != nil {
		t.Errorf("List of an empty bucket: %v", err)
	}
}

func testEnsureBucketConcurrent(t *testing.T, tier *s3tier.Tier) {
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = tier.EnsureBucket(context.Background(), "racing") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("EnsureBucket caller %d: %v", i, err)
		}
	}
	mustEnsure(t, tier, "racing") // and again, once it exists
}

func testBucketPrefix(t *testing.T, srv *miniotest.Server) {
	tier := newTier(t, srv, func(c *s3tier.Config) { c.BucketPrefix = "geds-" })
	mustEnsure(t, tier, "prefixed")
	mustPut(t, tier, "prefixed", "k", []byte("v"))
	info, err := srv.Client().StatObject(context.Background(), "geds-prefixed", "k", minio.StatObjectOptions{})
	if err != nil || info.Size != 1 {
		t.Fatalf("S3 object geds-prefixed/k: size %d, err %v; want the object put through GEDS bucket \"prefixed\"", info.Size, err)
	}
}

// failingReader yields some bytes, then fails.
type failingReader struct {
	left int
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, r.err
	}
	n := min(len(p), r.left)
	clear(p[:n])
	r.left -= n
	return n, nil
}

func testBadSource(t *testing.T, tier *s3tier.Tier, srv *miniotest.Server) {
	ctx := context.Background()
	mustEnsure(t, tier, "badsource")
	broken := errors.New("disk on fire")
	cases := []struct {
		name string
		r    io.Reader
		size int64
		want error
	}{
		{"short stream", plainReader{strings.NewReader("fifty bytes.......................................")}, 100, io.ErrUnexpectedEOF},
		{"short ReaderAt", bytes.NewReader(make([]byte, 50)), 100, io.ErrUnexpectedEOF},
		{"short multipart stream", plainReader{bytes.NewReader(make([]byte, 17<<20))}, 20 << 20, io.ErrUnexpectedEOF},
		{"short multipart ReaderAt", bytes.NewReader(make([]byte, 17<<20)), 20 << 20, io.ErrUnexpectedEOF},
		{"failing stream", &failingReader{left: 10, err: broken}, 100, broken},
		{"failing multipart stream", &failingReader{left: 17 << 20, err: broken}, 20 << 20, broken},
	}
	for _, c := range cases {
		key := strings.ReplaceAll(c.name, " ", "-")
		err := tier.Put(ctx, "badsource", key, c.r, c.size)
		if !errors.Is(err, c.want) || errors.Is(err, s3tier.ErrUnavailable) || !strings.Contains(err.Error(), "read source") {
			t.Errorf("Put from a %s: err = %v; want a read source error wrapping %v, not ErrUnavailable", c.name, err, c.want)
		}
		if _, err := tier.Stat(ctx, "badsource", key); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after a failed Put from a %s: Stat err = %v, want fs.ErrNotExist", c.name, err)
		}
	}
	// Failed multipart uploads were aborted, not left holding parts.
	for upload := range srv.Client().ListIncompleteUploads(ctx, "badsource", "", true) {
		t.Errorf("multipart upload of %s left behind (err %v)", upload.Key, upload.Err)
	}
	// A reader longer than size is cut at size.
	if err := tier.Put(ctx, "badsource", "long", strings.NewReader("0123456789"), 4); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, tier, "badsource", "long", 0, -1); string(got) != "0123" {
		t.Errorf("Put of 4 bytes from a longer reader stored %q, want \"0123\"", got)
	}
}

func testBadInput(t *testing.T, tier *s3tier.Tier) {
	ctx := context.Background()
	mustEnsure(t, tier, "badinput")
	type check struct {
		err  error
		want string
	}
	cases := map[string]check{}
	add := func(name string, err error, want string) { cases[name] = check{err, want} }
	add("Put empty bucket", tier.Put(ctx, "", "k", strings.NewReader(""), 0), "empty bucket")
	add("Put empty key", tier.Put(ctx, "badinput", "", strings.NewReader(""), 0), "empty object key")
	add("Put unknown size", tier.Put(ctx, "badinput", "k", strings.NewReader(""), -1), "size must be known")
	add("EnsureBucket invalid name", tier.EnsureBucket(ctx, "Bad_Name"), "Bad_Name")
	add("Stat empty key", func() error { _, err := tier.Stat(ctx, "badinput", ""); return err }(), "empty object key")
	add("Delete empty bucket", tier.Delete(ctx, "", "k"), "empty bucket")
	add("List empty bucket", tier.List(ctx, "", "", nil), "empty bucket")
	for name, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) || errors.Is(c.err, s3tier.ErrUnavailable) {
			t.Errorf("%s: err = %v; want an error mentioning %q, not ErrUnavailable", name, c.err, c.want)
		}
	}
}

func testWrongCredentials(t *testing.T, srv *miniotest.Server) {
	tier := newTier(t, srv, func(c *s3tier.Config) { c.SecretKey = "not-the-secret" })
	_, err := tier.Stat(context.Background(), "roundtrip", "obj-4KiB-Stream")
	if !errors.Is(err, fs.ErrPermission) || errors.Is(err, s3tier.ErrUnavailable) {
		t.Fatalf("Stat with a wrong secret: err = %v, want fs.ErrPermission", err)
	}
}

// TestOutage takes MinIO away and brings it back: calls fail fast with
// ErrUnavailable, and Retry carries a call across the outage.
func TestOutage(t *testing.T) {
	srv := miniotest.Start(t)
	tier := newTier(t, srv)
	ctx := context.Background()
	mustEnsure(t, tier, "outage")
	data := payload(64<<10, 3)
	mustPut(t, tier, "outage", "k", data)

	srv.Stop()
	began := time.Now()
	_, err := tier.Stat(ctx, "outage", "k")
	if !errors.Is(err, s3tier.ErrUnavailable) {
		t.Fatalf("Stat with MinIO stopped: err = %v, want ErrUnavailable", err)
	}
	t.Logf("Stat failed after %s: %v", time.Since(began).Round(time.Microsecond), err)
	if err := tier.Put(ctx, "outage", "k2", bytes.NewReader(data), int64(len(data))); !errors.Is(err, s3tier.ErrUnavailable) {
		t.Fatalf("Put with MinIO stopped: err = %v, want ErrUnavailable", err)
	}
	if _, err := tier.GetRange(ctx, "outage", "k", 0, -1); !errors.Is(err, s3tier.ErrUnavailable) {
		t.Fatalf("GetRange with MinIO stopped: err = %v, want ErrUnavailable", err)
	}
	if err := tier.List(ctx, "outage", "", func(string, int64) error { return nil }); !errors.Is(err, s3tier.ErrUnavailable) {
		t.Fatalf("List with MinIO stopped: err = %v, want ErrUnavailable", err)
	}
	if elapsed := time.Since(began); elapsed > 10*time.Second {
		t.Fatalf("four calls against a stopped MinIO took %s; the outage should be reported at once", elapsed)
	}

	t.Run("CancelStopsRetry", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		var attempts atomic.Int32
		done := make(chan error, 1)
		go func() {
			done <- s3tier.Retry(ctx, s3tier.Policy{Initial: time.Millisecond, Max: 5 * time.Millisecond}, func() error {
				attempts.Add(1)
				_, err := tier.Stat(ctx, "outage", "k")
				return err
			})
		}()
		waitFor(t, "three failed attempts", func() bool { return attempts.Load() >= 3 })
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Retry after cancel: err = %v; want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Retry still running 10 s after its context was canceled")
		}
	})

	// Retry keeps trying while MinIO is down and succeeds once it is back.
	var attempts atomic.Int32
	var size int64
	done := make(chan error, 1)
	go func() {
		done <- s3tier.Retry(ctx, s3tier.Policy{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, Multiplier: 2}, func() error {
			attempts.Add(1)
			var err error
			size, err = tier.Stat(ctx, "outage", "k")
			return err
		})
	}()
	waitFor(t, "two failed attempts", func() bool { return attempts.Load() >= 2 })
	srv.Restart()
	select {
	case err := <-done:
		if err != nil || size != int64(len(data)) {
			t.Fatalf("Retry across the restart: size %d, err %v; want %d", size, err, len(data))
		}
		t.Logf("Retry succeeded after %d attempts", attempts.Load())
	case <-time.After(30 * time.Second):
		t.Fatal("Retry did not succeed within 30 s of MinIO restarting")
	}
	if got := readRange(t, tier, "outage", "k", 0, -1); !bytes.Equal(got, data) {
		t.Fatal("object changed across the restart")
	}
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
