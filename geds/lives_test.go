package geds

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// These tests run the lives of a key (write, replace, spill, read) against
// a real MinIO: what they check is what S3 does with conditional requests.

// realS3 starts MinIO and returns a persistency tier over it whose objects
// above 5 MiB go up as multipart uploads.
func realS3(t *testing.T) *s3tier.Tier {
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{
		Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
		Region: "us-east-1", PartSize: 5 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tier
}

// hookedTier lets a test act while a node's upload is in flight: the next
// conditional put runs through around, which calls put to do it.
type hookedTier struct {
	*s3tier.Tier
	mu     sync.Mutex
	around func(put func() (string, error)) (string, error)
}

func (h *hookedTier) setAround(f func(put func() (string, error)) (string, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.around = f
}

func (h *hookedTier) PutIfAbsent(ctx context.Context, bucket, key, life string, r io.Reader, size int64) (string, error) {
	return h.run(func() (string, error) { return h.Tier.PutIfAbsent(ctx, bucket, key, life, r, size) })
}

func (h *hookedTier) PutIfMatch(ctx context.Context, bucket, key, life string, r io.Reader, size int64, match string) (string, error) {
	return h.run(func() (string, error) { return h.Tier.PutIfMatch(ctx, bucket, key, life, r, size, match) })
}

func (h *hookedTier) run(put func() (string, error)) (string, error) {
	h.mu.Lock()
	around := h.around
	h.around = nil
	h.mu.Unlock()
	if around == nil {
		return put()
	}
	return around(put)
}

func TestLivesOnRealS3(t *testing.T) {
	tier := realS3(t)
	t.Run("RoundTrip", func(t *testing.T) { testLivesRoundTrip(t, tier) })
	t.Run("ReaderOfAReplacedLife", func(t *testing.T) { testReaderOfAReplacedLife(t, tier) })
	t.Run("OldLifeUploadLandsLast", func(t *testing.T) { testOldLifeUploadLandsLast(t, tier) })
	t.Run("OldLifeUploadLandsFirst", func(t *testing.T) { testOldLifeUploadLandsFirst(t, tier) })
	t.Run("RecordWithoutETag", func(t *testing.T) { testRecordWithoutETag(t, tier) })
	t.Run("MountedObjectOverwritten", func(t *testing.T) { testMountedObjectOverwritten(t, tier) })
}

// s3Object is what S3 holds under a GEDS key: bytes, ETag and life tag.
func s3Object(t *testing.T, p Persistent, bucket, key string) (data []byte, etag, life string) {
	t.Helper()
	_, etag, life, err := p.Head(bg, bucket, key)
	if err != nil {
		t.Fatalf("S3 %s/%s: %v", bucket, key, err)
	}
	rc, err := p.GetRangeIfMatch(bg, bucket, key, 0, -1, etag)
	if err != nil {
		t.Fatalf("S3 %s/%s: %v", bucket, key, err)
	}
	defer rc.Close()
	if data, err = io.ReadAll(rc); err != nil {
		t.Fatalf("S3 %s/%s: %v", bucket, key, err)
	}
	return data, etag, life
}

// checkS3Holds fails unless S3 holds the key's current life, bytes want,
// under the ETag its record names.
func checkS3Holds(t *testing.T, c *Client, p Persistent, bucket, key string, want []byte) {
	t.Helper()
	checkS3HoldsIn(t, c, p, bucket, bucket, key, want)
}

// checkS3HoldsIn is checkS3Holds for a bucket whose persistency bucket is
// persistent.
func checkS3HoldsIn(t *testing.T, c *Client, p Persistent, bucket, persistent, key string, want []byte) {
	t.Helper()
	info, err := c.Stat(bg, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	data, etag, life := s3Object(t, p, persistent, key)
	if !bytes.Equal(data, want) {
		t.Fatalf("S3 holds %d bytes under %s/%s (life %s), not the current life's %d", len(data), bucket, key, life, len(want))
	}
	if life != info.ID || etag != info.S3ETag || etag == "" {
		t.Fatalf("S3 object of %s/%s: life %s ETag %s; record: life %s ETag %s", bucket, key, life, etag, info.ID, info.S3ETag)
	}
}

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// testLivesRoundTrip: persist, spill and read through S3 work as before,
// single-part and multipart, with each copy's ETag recorded; a new life
// renamed over a spilled one replaces its copy.
func testLivesRoundTrip(t *testing.T, tier *s3tier.Tier) {
	a, b := twoNodes(t, tier, tier, 32<<20, "roundtrip", "roundtrip-staging")
	small, large := pattern(100_000, 1), pattern(6<<20+123, 2) // large: two parts
	put(t, a, "roundtrip", "small", small)
	put(t, a, "roundtrip", "large", large)

	mustDo(t, "persist", a.Persist(bg, "roundtrip", "small"))
	if info, _ := a.Stat(bg, "roundtrip", "small"); info.Tier != TierBoth {
		t.Fatalf("after persist: tier %s", info.Tier)
	}
	checkS3Holds(t, a, tier, "roundtrip", "small", small)
	persisted, _ := a.Stat(bg, "roundtrip", "small")
	mustDo(t, "spill", a.Spill(bg, "roundtrip", "small"))
	mustDo(t, "spill", a.Spill(bg, "roundtrip", "large"))
	spilled, _ := a.Stat(bg, "roundtrip", "small")
	if spilled.Tier != TierS3 || spilled.S3ETag != persisted.S3ETag {
		t.Fatalf("spill after persist: tier %s ETag %s; want s3 with the persisted copy's ETag %s", spilled.Tier, spilled.S3ETag, persisted.S3ETag)
	}
	checkS3Holds(t, a, tier, "roundtrip", "large", large)
	for _, c := range []*Client{a, b} {
		mustEqual(t, "small read through", readAll(t, c, "roundtrip", "small"), small)
		mustEqual(t, "large read through", readAll(t, c, "roundtrip", "large"), large)
	}
	r, err := b.Open(bg, "roundtrip", "large")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rc, err := r.RangeReader(bg, 5<<20-10, 20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	mustDo(t, "range read", err)
	mustEqual(t, "range across the part boundary", got, large[5<<20-10:5<<20+10])

	// A new life renamed over the spilled one replaces its copy, by ETag.
	next := pattern(50_000, 3)
	put(t, a, "roundtrip-staging", "tmp", next)
	mustDo(t, "rename", a.Rename(bg, "roundtrip-staging", "tmp", "roundtrip", "small"))
	if info, _ := a.Stat(bg, "roundtrip", "small"); !info.StaleS3 || info.S3ETag != spilled.S3ETag {
		t.Fatalf("after rename: staleS3 %t, S3ETag %s; want the replaced life's %s", info.StaleS3, info.S3ETag, spilled.S3ETag)
	}
	mustDo(t, "spill the new life", a.Spill(bg, "roundtrip", "small"))
	checkS3Holds(t, a, tier, "roundtrip", "small", next)
	mustEqual(t, "new life read through", readAll(t, b, "roundtrip", "small"), next)
}

// testReaderOfAReplacedLife: readers of a life whose bytes are in S3 (opened
// on them, or sent there when the life was spilled mid-read) fail with
// ErrReplaced once another life of the key is spilled over them; they never
// return the new life's bytes.
func testReaderOfAReplacedLife(t *testing.T, tier *s3tier.Tier) {
	a, b := twoNodes(t, tier, tier, 8<<20, "replaced", "replaced-staging")
	lifeA, lifeB := pattern(300_000, 4), pattern(300_000, 5)
	put(t, a, "replaced", "k", lifeA)
	following, err := b.Open(bg, "replaced", "k") // reads from holder a, then follows the spill
	if err != nil {
		t.Fatal(err)
	}
	defer following.Close()
	mustDo(t, "spill life A", a.Spill(bg, "replaced", "k"))
	fromS3, err := b.Open(bg, "replaced", "k") // reads from S3
	if err != nil {
		t.Fatal(err)
	}
	defer fromS3.Close()
	readers := map[string]*Reader{"opened on S3": fromS3, "sent to S3 by the spill": following}
	p := make([]byte, 1000)
	for name, r := range readers {
		if n, err := r.ReadAt(p, 0); err != nil || !bytes.Equal(p[:n], lifeA[:1000]) {
			t.Fatalf("reader %s, before the replace: %d bytes, %v", name, n, err)
		}
	}

	put(t, a, "replaced-staging", "tmp", lifeB)
	mustDo(t, "rename life B over A", a.Rename(bg, "replaced-staging", "tmp", "replaced", "k"))
	mustDo(t, "spill life B", a.Spill(bg, "replaced", "k"))
	checkS3Holds(t, a, tier, "replaced", "k", lifeB)

	for name, r := range readers {
		clear(p)
		n, err := r.ReadAt(p, 1000)
		if !errors.Is(err, ErrReplaced) || n != 0 {
			t.Errorf("reader %s, after life B was spilled over A: %d bytes (life B's: %t), err %v; want ErrReplaced",
				name, n, n > 0 && bytes.Equal(p[:n], lifeB[1000:1000+n]), err)
		}
		if _, err := r.RangeReader(bg, 0, 100); !errors.Is(err, ErrReplaced) {
			t.Errorf("reader %s: RangeReader after the replace: %v; want ErrReplaced", name, err)
		}
	}
	mustEqual(t, "reopened", readAll(t, b, "replaced", "k"), lifeB)
}

// testOldLifeUploadLandsLast: node a uploads the old life of a key while the
// key is deleted and created again on node b, whose new life is spilled
// first. a's late upload is refused and dropped: S3 keeps the new life.
func testOldLifeUploadLandsLast(t *testing.T, tier *s3tier.Tier) {
	hooked := &hookedTier{Tier: tier}
	a, b := twoNodes(t, hooked, tier, 8<<20, "race-last")
	old, current := pattern(200_000, 6), pattern(100_000, 7)
	put(t, a, "race-last", "k", old)
	hooked.setAround(func(upload func() (string, error)) (string, error) {
		mustDo(t, "delete on b", b.Delete(bg, "race-last", "k"))
		put(t, b, "race-last", "k", current)
		mustDo(t, "spill on b", b.Spill(bg, "race-last", "k"))
		etag, err := upload()
		if !errors.Is(err, s3tier.ErrPrecondition) {
			t.Errorf("the old life's upload after the new life's: err %v; want it refused", err)
		}
		return etag, err
	})
	err := a.Spill(bg, "race-last", "k")
	if !errors.Is(err, errLifeGone) || !permanent(err) {
		t.Fatalf("spill of the old life: %v; want it dropped (errLifeGone)", err)
	}
	checkS3Holds(t, b, tier, "race-last", "k", current)
	mustEqual(t, "read on a", readAll(t, a, "race-last", "k"), current)
	eventually(t, "the old life's tier-0 copy dropped", func() bool { return a.t0.Used() == 0 })
}

// testOldLifeUploadLandsFirst: the other order. a's upload of the old life
// lands after the key was deleted, before the new life is spilled; it is
// orphaned (its tier change is refused), and the new life's spill, refused
// by S3, replaces it rather than fail or keep the old bytes.
func testOldLifeUploadLandsFirst(t *testing.T, tier *s3tier.Tier) {
	hooked := &hookedTier{Tier: tier}
	a, b := twoNodes(t, hooked, tier, 8<<20, "race-first")
	old, current := pattern(200_000, 8), pattern(100_000, 9)
	put(t, a, "race-first", "k", old)
	oldInfo, _ := a.Stat(bg, "race-first", "k")
	hooked.setAround(func(upload func() (string, error)) (string, error) {
		mustDo(t, "delete on b", b.Delete(bg, "race-first", "k"))
		return upload()
	})
	if err := a.Spill(bg, "race-first", "k"); !permanent(err) {
		t.Fatalf("spill of a life deleted during its upload: %v; want a permanent failure", err)
	}
	if _, _, life := s3Object(t, tier, "race-first", "k"); life != oldInfo.ID {
		t.Fatalf("S3 holds life %s; the test wants the old life's orphaned upload (%s) there", life, oldInfo.ID)
	}

	put(t, b, "race-first", "k", current)
	mustDo(t, "spill of the new life", b.Spill(bg, "race-first", "k"))
	checkS3Holds(t, b, tier, "race-first", "k", current)
	mustEqual(t, "read on a", readAll(t, a, "race-first", "k"), current)
}

// testRecordWithoutETag: a life spilled by a client that did not record
// ETags (its record has none) still reads, unconditionally, and a new life
// renamed over it replaces its copy.
func testRecordWithoutETag(t *testing.T, tier *s3tier.Tier) {
	a, b := twoNodes(t, tier, tier, 8<<20, "legacy-records", "legacy-staging")
	data := pattern(80_000, 10)
	put(t, a, "legacy-records", "k", data)
	info, _ := a.Stat(bg, "legacy-records", "k")
	// As such a client spilled: an unconditional put, untagged, and a tier
	// change without an ETag.
	mustDo(t, "ensure bucket", tier.EnsureBucket(bg, "legacy-records"))
	mustDo(t, "put", tier.Put(bg, "legacy-records", "k", bytes.NewReader(data), int64(len(data))))
	_, err := a.meta.SetTier(bg, "legacy-records", "k", metadata.TierRequest{ID: info.ID, Tier: TierS3, Persistent: "legacy-records"})
	mustDo(t, "tier change", err)
	mustDo(t, "drop the tier-0 copy", a.t0.Remove("legacy-records", "k", info.ID))
	if info, _ := b.Stat(bg, "legacy-records", "k"); info.Tier != TierS3 || info.S3ETag != "" {
		t.Fatalf("legacy record: tier %s, S3ETag %q; want s3 without an ETag", info.Tier, info.S3ETag)
	}
	mustEqual(t, "read of a life recorded without an ETag", readAll(t, b, "legacy-records", "k"), data)

	next := pattern(40_000, 11)
	put(t, a, "legacy-staging", "tmp", next)
	mustDo(t, "rename", a.Rename(bg, "legacy-staging", "tmp", "legacy-records", "k"))
	mustDo(t, "spill over a copy of unknown ETag", a.Spill(bg, "legacy-records", "k"))
	checkS3Holds(t, a, tier, "legacy-records", "k", next)
	mustEqual(t, "new life", readAll(t, b, "legacy-records", "k"), next)
}

// testMountedObjectOverwritten: a reader of an object that only a mounted
// S3 bucket has fails with ErrReplaced if another S3 client overwrites it,
// and a GEDS life created over such an object replaces it when spilled.
func testMountedObjectOverwritten(t *testing.T, tier *s3tier.Tier) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 8<<20, tier)
	mustDo(t, "ensure bucket", tier.EnsureBucket(bg, "mounted-s3"))
	mustDo(t, "mount", a.Mount(bg, "mounted", "mounted-s3"))
	first := pattern(10_000, 12)
	mustDo(t, "put", tier.Put(bg, "mounted-s3", "s3only", bytes.NewReader(first), int64(len(first))))
	r, err := a.Open(bg, "mounted", "s3only")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 100)
	if _, err := r.ReadAt(p, 0); err != nil {
		t.Fatal(err)
	}
	second := pattern(10_000, 13)
	mustDo(t, "overwrite", tier.Put(bg, "mounted-s3", "s3only", bytes.NewReader(second), int64(len(second))))
	if _, err := r.ReadAt(p, 100); !errors.Is(err, ErrReplaced) {
		t.Fatalf("read after another S3 client overwrote the object: %v; want ErrReplaced", err)
	}

	mine := pattern(20_000, 14)
	put(t, a, "mounted", "s3only", mine)
	mustDo(t, "spill over an object of another S3 client", a.Spill(bg, "mounted", "s3only"))
	checkS3HoldsIn(t, a, tier, "mounted", "mounted-s3", "s3only", mine)
}

// TestSpillOfAContestedKeyGivesUp: when S3's object under the key changes
// before every conditional put (another S3 client writing it in a loop),
// a spill tries twice, then fails with an error the spiller retries with
// backoff; the object stays in tier 0, whole, and spills once the key is
// left alone.
func TestSpillOfAContestedKeyGivesUp(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1<<20, s3)
	mustDo(t, "create bucket", a.CreateBucket(bg, "bkt"))
	data := pattern(1000, 1)
	put(t, a, "bkt", "k", data)
	var intrusions atomic.Int32
	s3.setIntrude(func(bucket, key string) {
		intrusions.Add(1)
		mustDo(t, "other client's put", s3.Put(bg, bucket, key, bytes.NewReader([]byte("other")), 5))
	})
	err := a.Spill(bg, "bkt", "k")
	if !errors.Is(err, errS3Contested) || permanent(err) {
		t.Fatalf("spill of a contested key: %v; want errS3Contested, not permanent", err)
	}
	if n := intrusions.Load(); n != 2 {
		t.Fatalf("%d conditional puts; want 2 (the first, and one more after looking)", n)
	}
	if info, _ := a.Stat(bg, "bkt", "k"); info.Tier != TierLocal {
		t.Fatalf("after the failed spill: tier %s; want local", info.Tier)
	}
	mustEqual(t, "read after the failed spill", readAll(t, a, "bkt", "k"), data)

	s3.setIntrude(nil)
	mustDo(t, "spill once the key is left alone", a.Spill(bg, "bkt", "k"))
	checkS3Holds(t, a, s3, "bkt", "k", data)
}

// TestTwoCopiesOfOneLife: two nodes copy the same life at once (a spill on
// its holder, a persist asked on another node). The second finds the first's
// copy in S3, tagged with the life, and takes it rather than upload again or
// record another ETag.
func TestTwoCopiesOfOneLife(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1<<20, s3)
	b := node(t, m, "b", 1<<20, s3)
	mustDo(t, "create bucket", a.CreateBucket(bg, "bkt"))
	data := pattern(1000, 2)
	put(t, a, "bkt", "k", data)
	var intruded atomic.Bool
	s3.setIntrude(func(string, string) {
		if !intruded.Swap(true) { // b's own put comes here too
			mustDo(t, "persist on b", b.Persist(bg, "bkt", "k"))
		}
	})
	mustDo(t, "spill on a", a.Spill(bg, "bkt", "k"))
	if got := len(s3.putOrder()); got != 1 {
		t.Fatalf("%d uploads of one life; want 1", got)
	}
	if info, _ := a.Stat(bg, "bkt", "k"); info.Tier != TierS3 {
		t.Fatalf("after the spill: tier %s", info.Tier)
	}
	checkS3Holds(t, a, s3, "bkt", "k", data)
	mustEqual(t, "read through", readAll(t, b, "bkt", "k"), data)
}

// twoNodes starts a metadata service and nodes a and b with limit bytes of
// tier 0 each, persisting to sa and sb, and creates buckets through a.
func twoNodes(t *testing.T, sa, sb Persistent, limit int64, buckets ...string) (a, b *Client) {
	t.Helper()
	m := startMeta(t, 10*time.Second)
	a, b = node(t, m, "a", limit, sa), node(t, m, "b", limit, sb)
	for _, bk := range buckets {
		mustDo(t, "create bucket", a.CreateBucket(bg, bk))
	}
	return a, b
}
