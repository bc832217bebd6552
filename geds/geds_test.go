package geds

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCreateAppendSealReadLocal(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	if err := a.CreateBucket(bg, "bkt"); err != nil {
		t.Fatal(err)
	}
	w, err := a.Create(bg, "bkt", "dir/obj")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hello "))

	// The writer's own process reads what it has written so far.
	r, err := a.Open(bg, "bkt", "dir/obj")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Local() || r.Size() != 6 {
		t.Errorf("open object: local=%v size=%d", r.Local(), r.Size())
	}
	if _, err := r.Bytes(); !errors.Is(err, ErrNotSealed) {
		t.Errorf("Bytes of an unsealed object: %v, want ErrNotSealed", err)
	}
	w.Write([]byte("world"))
	buf := make([]byte, 64)
	if n, err := r.ReadAt(buf, 0); string(buf[:n]) != "hello world" || err != io.EOF {
		t.Errorf("read of the open object = %q %v", buf[:n], err)
	}
	r.Close()

	if err := w.Seal(bg); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("!")); !errors.Is(err, ErrSealed) {
		t.Errorf("write after seal: %v, want ErrSealed", err)
	}
	if _, err := a.Create(bg, "bkt", "dir/obj"); !errors.Is(err, ErrExists) || !errors.Is(err, fs.ErrExist) {
		t.Errorf("create over a sealed object: %v, want ErrExists", err)
	}
	info, err := a.Stat(bg, "bkt", "dir/obj")
	if err != nil || info.Size != 11 || info.State != StateSealed || info.Tier != TierLocal || info.Holder.Node != "a" {
		t.Fatalf("stat = %+v %v", info, err)
	}
	if got := readAll(t, a, "bkt", "dir/obj"); string(got) != "hello world" {
		t.Errorf("read = %q", got)
	}
	if _, err := a.Open(bg, "bkt", "missing"); !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of a missing object: %v", err)
	}
}

func TestBytesIsZeroCopy(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	data := pattern(100_000, 1)
	put(t, a, "bkt", "k", data)
	r1, _ := a.Open(bg, "bkt", "k")
	r2, _ := a.Open(bg, "bkt", "k")
	defer r1.Close()
	defer r2.Close()
	b1, err := r1.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := r2.Bytes()
	mustEqual(t, "Bytes", b1, data)
	if &b1[0] != &b2[0] {
		t.Error("two readers got two buffers; want views of one mapping")
	}
}

func TestBadNamesRefused(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	for _, c := range []struct{ bucket, key string }{
		{"bkt", ".."}, {"bkt", "a/../b"}, {"bkt", "x\x00y"}, {"bkt", ""}, {"bkt", strings.Repeat("k", 2000)},
		{"BKT", "k"}, {"..", "k"}, {"", "k"},
	} {
		if _, err := a.Create(bg, c.bucket, c.key); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Create(%q, %.20q) = %v, want ErrInvalidName", c.bucket, c.key, err)
		}
		if _, err := a.Open(bg, c.bucket, c.key); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Open(%q, %.20q) = %v, want ErrInvalidName", c.bucket, c.key, err)
		}
	}
	if err := a.CreateBucket(bg, "a_b"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("CreateBucket(a_b) = %v", err)
	}
}

func TestRemoteRead(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	regB := prometheus.NewRegistry()
	a := node(t, m, "a", 8<<20, nil)
	b := node(t, m, "b", 8<<20, nil, func(o *Options) { o.Metrics = regB })
	a.CreateBucket(bg, "bkt")
	data := pattern(3<<20, 7)
	put(t, a, "bkt", "big", data)

	r, err := b.Open(bg, "bkt", "big")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Local() || r.Size() != int64(len(data)) {
		t.Fatalf("remote reader: local=%v size=%d", r.Local(), r.Size())
	}
	if _, err := r.Bytes(); !errors.Is(err, ErrNotLocal) {
		t.Errorf("Bytes of a remote object: %v, want ErrNotLocal", err)
	}
	for _, c := range []struct{ off, n int }{{0, 4096}, {1 << 20, 1 << 20}, {len(data) - 10, 10}, {12345, 1}} {
		p := make([]byte, c.n)
		if n, err := r.ReadAt(p, int64(c.off)); n != c.n || err != nil {
			t.Fatalf("ReadAt(%d, %d) = %d %v", c.n, c.off, n, err)
		}
		mustEqual(t, fmt.Sprintf("ReadAt(%d, %d)", c.n, c.off), p, data[c.off:c.off+c.n])
	}
	// Many goroutines read one remote Reader at once (streams on one connection).
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := i * 65536
			p := make([]byte, 65536)
			if _, err := r.ReadAt(p, int64(off)); err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(p, data[off:off+65536]) {
				t.Errorf("concurrent read %d: wrong bytes", i)
			}
		}()
	}
	wg.Wait()
	rc, err := r.RangeReader(bg, 100, -1)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "RangeReader", streamed, data[100:])
	if got := metricValue(t, regB, "geds_reads_total", "source", "remote"); got != 21 {
		t.Errorf("remote reads counted %v, want 21", got)
	}
	if got := metricValue(t, regB, "geds_remote_read_seconds", "", ""); got != 20 {
		t.Errorf("remote read latencies observed %v, want 20 (one per ReadAt)", got)
	}
}

func TestReadsPastTheEnd(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	b := node(t, m, "b", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "k", []byte("0123456789"))
	for name, c := range map[string]*Client{"local": a, "remote": b} {
		r, err := c.Open(bg, "bkt", "k")
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 4)
		if n, err := r.ReadAt(p, 6); n != 4 || err != nil {
			t.Errorf("%s: ReadAt to the end = %d %v", name, n, err)
		}
		if n, err := r.ReadAt(p, 8); n != 2 || err != io.EOF || string(p[:2]) != "89" {
			t.Errorf("%s: ReadAt across the end = %d %v %q, want 2 io.EOF", name, n, err, p[:n])
		}
		if n, err := r.ReadAt(p, 10); n != 0 || err != io.EOF {
			t.Errorf("%s: ReadAt at the end = %d %v", name, n, err)
		}
		if n, err := r.ReadAt(p, 1<<40); n != 0 || err != io.EOF {
			t.Errorf("%s: ReadAt far past the end = %d %v", name, n, err)
		}
		r.Close()
	}
}

func TestUnsealedObjectRefusedToOtherNodes(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	b := node(t, m, "b", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	w, _ := a.Create(bg, "bkt", "wip")
	w.Write([]byte("partial"))
	_, err := b.Open(bg, "bkt", "wip")
	if !errors.Is(err, ErrNotSealed) || !strings.Contains(err.Error(), "node a") {
		t.Errorf("remote open of an unsealed object: %v, want ErrNotSealed naming the writer", err)
	}
	w.Seal(bg)
	if got := readAll(t, b, "bkt", "wip"); string(got) != "partial" {
		t.Errorf("after seal: %q", got)
	}
}

func TestHolderDiesMidRead(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 64<<20, nil)
	b := node(t, m, "b", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "huge", make([]byte, 32<<20))
	r, err := b.Open(bg, "bkt", "huge")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rc, err := r.RangeReader(bg, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	a.crash()

	result := make(chan error, 2)
	go func() { _, err := io.Copy(io.Discard, rc); result <- err }()
	go func() { _, err := r.ReadAt(make([]byte, 4096), 0); result <- err }()
	for range 2 {
		select {
		case err := <-result:
			if !errors.Is(err, ErrPeerUnavailable) || !strings.Contains(err.Error(), "huge") {
				t.Errorf("read from a dead holder: %v, want ErrPeerUnavailable naming the object", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("read from a dead holder hangs")
		}
	}
}

func TestMetadataServerRestartMidWrite(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	b := node(t, m, "b", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	w, err := a.Create(bg, "bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("before "))
	m.stop()
	if _, err := w.Write([]byte("during ")); err != nil {
		t.Fatalf("write while the metadata server is down: %v", err)
	}
	m.start(t) // same bbolt file, same address
	w.Write([]byte("after"))
	if err := w.Seal(bg); err != nil {
		t.Fatalf("seal after the restart: %v", err)
	}
	if got := readAll(t, b, "bkt", "k"); string(got) != "before during after" {
		t.Errorf("read = %q", got)
	}
}

func TestDeadHolder(t *testing.T) {
	m := startMeta(t, 2*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1<<20, s3)
	b := node(t, m, "b", 1<<20, s3)
	a.CreateBucket(bg, "bkt")
	kept, gone := pattern(5000, 3), pattern(5000, 4)
	put(t, a, "bkt", "kept", kept)
	put(t, a, "bkt", "gone", gone)
	if err := a.Persist(bg, "bkt", "kept"); err != nil {
		t.Fatal(err)
	}
	a.crash()

	eventually(t, "the metadata server to declare a dead", func() bool {
		info, err := b.Stat(bg, "bkt", "gone")
		return err == nil && info.State == StateLost
	})
	info, _ := b.Stat(bg, "bkt", "kept")
	if info.Tier != TierS3 || info.State != StateSealed || info.Holder != nil {
		t.Errorf("persisted object of a dead holder: %+v", info)
	}
	mustEqual(t, "persisted object read from S3", readAll(t, b, "bkt", "kept"), kept)
	_, err := b.Open(bg, "bkt", "gone")
	if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "holder a") {
		t.Errorf("open of a lost object: %v, want ErrLost saying why", err)
	}
	// A lost key can be written again.
	put(t, b, "bkt", "gone", []byte("new life"))
	if got := readAll(t, b, "bkt", "gone"); string(got) != "new life" {
		t.Errorf("recreated object = %q", got)
	}
}

func TestCloseLeavesAtOnce(t *testing.T) {
	m := startMeta(t, time.Hour) // no timeout would notice
	a := node(t, m, "a", 1<<20, nil)
	b := node(t, m, "b", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "k", []byte("x"))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(bg, "bkt", "k"); !errors.Is(err, ErrLost) {
		t.Errorf("object of a node that left: %v, want ErrLost", err)
	}
	if _, err := a.Open(bg, "bkt", "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("use after Close: %v", err)
	}
}

func TestRejoinAfterBeingDeclaredDead(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "k", []byte("x"))
	_, inc := a.holder()
	// As if a's heartbeats had not arrived for too long.
	if err := a.meta.Leave(bg, "a", inc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a to rejoin with a new incarnation", func() bool { _, now := a.holder(); return now != inc })
	eventually(t, "a to drop its orphaned tier 0", func() bool { return a.t0.Used() == 0 })
	put(t, a, "bkt", "k2", []byte("fresh"))
	if got := readAll(t, a, "bkt", "k2"); string(got) != "fresh" {
		t.Errorf("after rejoin: %q", got)
	}
}

func TestPersistSpillReadThrough(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	regA := prometheus.NewRegistry()
	a := node(t, m, "a", 1<<20, s3, func(o *Options) { o.Metrics = regA })
	b := node(t, m, "b", 1<<20, s3)
	a.CreateBucket(bg, "bkt")
	data := pattern(70_000, 9)
	put(t, a, "bkt", "p", data)

	if err := a.Persist(bg, "bkt", "p"); err != nil {
		t.Fatal(err)
	}
	if info, _ := a.Stat(bg, "bkt", "p"); info.Tier != TierBoth {
		t.Errorf("after persist: tier %s", info.Tier)
	}
	if !s3.has("bkt", "p") || a.t0.Used() != int64(len(data)) {
		t.Errorf("persist: in s3 %v, tier 0 used %d", s3.has("bkt", "p"), a.t0.Used())
	}
	if r, _ := a.Open(bg, "bkt", "p"); !r.Local() {
		t.Error("persisted object no longer read locally")
	}

	if err := a.Spill(bg, "bkt", "p"); err != nil {
		t.Fatal(err)
	}
	if info, _ := a.Stat(bg, "bkt", "p"); info.Tier != TierS3 || info.Holder != nil {
		t.Errorf("after spill: %+v", info)
	}
	if a.t0.Used() != 0 {
		t.Errorf("spill left %d bytes in tier 0", a.t0.Used())
	}
	r, err := a.Open(bg, "bkt", "p")
	if err != nil {
		t.Fatal(err)
	}
	if r.Local() {
		t.Error("spilled object read locally")
	}
	mustEqual(t, "read-through", readAll(t, a, "bkt", "p"), data)
	mustEqual(t, "read-through from another node", readAll(t, b, "bkt", "p"), data)
	if got := metricValue(t, regA, "geds_reads_total", "source", "s3"); got == 0 {
		t.Error("s3 reads not counted")
	}
	if got := metricValue(t, regA, "geds_spilled_bytes_total", "", ""); got != float64(len(data)) {
		t.Errorf("spilled bytes counted %v, want %d", got, len(data))
	}

	// A spill asked on another node: the holder is told to drop its copy.
	put(t, a, "bkt", "q", []byte("queued"))
	if err := b.Spill(bg, "bkt", "q"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.t0.Stat("bkt", "q"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("holder kept its copy after a remote spill: %v", err)
	}
	if got := readAll(t, a, "bkt", "q"); string(got) != "queued" {
		t.Errorf("remotely spilled object = %q", got)
	}

	if err := b.Delete(bg, "bkt", "p"); err != nil {
		t.Fatal(err)
	}
	if s3.has("bkt", "p") {
		t.Error("delete left the persistency tier's copy")
	}
	if _, err := a.Open(bg, "bkt", "p"); !errors.Is(err, ErrNotFound) {
		t.Errorf("open after delete: %v", err)
	}
	if err := a.Spill(bg, "bkt", "none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("spill of a missing object: %v", err)
	}
	w, _ := a.Create(bg, "bkt", "wip")
	if err := a.Persist(bg, "bkt", "wip"); !errors.Is(err, ErrNotSealed) {
		t.Errorf("persist of an open object: %v, want ErrNotSealed", err)
	}
	w.Abort(bg)
}

func TestDeleteDropsTheHoldersCopy(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	b := node(t, m, "b", 1<<20, nil)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "k", []byte("bytes"))
	if err := b.Delete(bg, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	if a.t0.Used() != 0 {
		t.Errorf("holder kept %d bytes after a delete elsewhere", a.t0.Used())
	}
	if err := b.Delete(bg, "bkt", "k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// A key can be created again once deleted.
	put(t, b, "bkt", "k", []byte("again"))
	if got := readAll(t, a, "bkt", "k"); string(got) != "again" {
		t.Errorf("recreated = %q", got)
	}
}

func TestSpillAtLimitColdestFirst(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	// One worker, so that the order of the uploads is the order of choice.
	a := node(t, m, "a", 1000, s3, func(o *Options) { o.SpillAt, o.SpillTo, o.SpillConcurrency = 0.95, 0.6, 1 })
	a.CreateBucket(bg, "bkt")
	for _, k := range []string{"o1", "o2", "o3"} {
		put(t, a, "bkt", k, pattern(300, k[1]))
	}
	r, _ := a.Open(bg, "bkt", "o1") // o1 is now warmer than o2 and o3
	r.ReadAt(make([]byte, 1), 0)
	r.Close()

	// 900 of 1000 bytes used: o4 waits for room, which the spiller makes
	// by moving out the coldest object, and no more.
	put(t, a, "bkt", "o4", pattern(300, '4'))
	eventually(t, "the spiller to go idle", func() bool { return a.sp.queueLen() == 0 })
	if got := strings.Join(s3.putOrder(), ","); got != "bkt/o2" || a.t0.Used() != 900 {
		t.Errorf("spilled %s leaving %d bytes, want bkt/o2 leaving 900", got, a.t0.Used())
	}
	// Passing the threshold (950) spills coldest first down to 600.
	put(t, a, "bkt", "o5", pattern(100, '5'))
	eventually(t, "spilling down to 600 bytes", func() bool { return a.t0.Used() <= 600 && a.sp.queueLen() == 0 })
	if got := strings.Join(s3.putOrder(), ","); got != "bkt/o2,bkt/o3,bkt/o1" {
		t.Errorf("spilled %s, want bkt/o2,bkt/o3,bkt/o1 (coldest first)", got)
	}
	for _, k := range []string{"o1", "o2", "o3", "o4"} {
		mustEqual(t, k, readAll(t, a, "bkt", k), pattern(300, k[1]))
	}
	if info, _ := a.Stat(bg, "bkt", "o4"); info.Tier != TierLocal {
		t.Errorf("the warmest object was spilled: %+v", info)
	}
}

// TestSpillWorkersRunInParallel: automatic spilling keeps
// SpillConcurrency uploads in flight, no more, and spills each object once.
func TestSpillWorkersRunInParallel(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	s3.gate = make(chan struct{})
	a := node(t, m, "a", 1000, s3, func(o *Options) { o.SpillAt, o.SpillTo, o.SpillConcurrency = 0.5, 0.1, 3 })
	a.CreateBucket(bg, "bkt")
	for i := range 6 {
		put(t, a, "bkt", fmt.Sprint(i), pattern(100, byte(i)))
	}
	// 600 of 1000 bytes: past SpillAt, and five objects must go to get
	// down to 100.
	eventually(t, "three uploads in flight", func() bool { return s3.putting.Load() == 3 })
	time.Sleep(20 * time.Millisecond) // a fourth would have started by now
	if n := s3.putting.Load(); n != 3 {
		t.Fatalf("%d uploads in flight, want SpillConcurrency (3)", n)
	}
	close(s3.gate)
	eventually(t, "spilling down to 100 bytes", func() bool { return a.t0.Used() <= 100 && a.sp.queueLen() == 0 })
	if got := len(s3.putOrder()); got != 5 {
		t.Fatalf("%d uploads, want 5 (each object once)", got)
	}
	for i := range 6 {
		mustEqual(t, fmt.Sprint(i), readAll(t, a, "bkt", fmt.Sprint(i)), pattern(100, byte(i)))
	}
}

func TestTierFullWithoutPersistentTier(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1000, nil)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "fill", make([]byte, 900))
	w, _ := a.Create(bg, "bkt", "more")
	n, err := w.Write(make([]byte, 200))
	if !errors.Is(err, ErrTierFull) || n != 0 || !strings.Contains(err.Error(), "no persistency tier") {
		t.Errorf("write past the limit = %d, %v; want ErrTierFull saying why", n, err)
	}
	if _, err := w.Write(make([]byte, 5000)); !errors.Is(err, ErrTierFull) {
		t.Errorf("write larger than the tier: %v", err)
	}
	if err := a.Delete(bg, "bkt", "fill"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 200)); err != nil {
		t.Errorf("write after room was freed: %v", err)
	}
}

func TestS3OutageBackPressureAndRecovery(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	regA := prometheus.NewRegistry()
	a := node(t, m, "a", 1000, s3, func(o *Options) { o.SpillAt, o.SpillTo, o.Metrics = 0.9, 0.5, regA })
	a.CreateBucket(bg, "bkt")
	s3.down.Store(true)

	// Writes go on while tier 0 has room…
	var stored [][]byte
	for i := range 5 {
		data := pattern(200, byte(i))
		put(t, a, "bkt", fmt.Sprint("k", i), data)
		stored = append(stored, data)
	}
	// …then fail with ErrTierFull instead of blocking, and lose nothing.
	w, err := a.Create(bg, "bkt", "k5")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = w.Write(pattern(200, 5))
	if !errors.Is(err, ErrTierFull) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("write with tier 0 full and S3 down: %v, want ErrTierFull naming the S3 failure", err)
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Errorf("the refused write waited %s", waited)
	}
	for i, data := range stored {
		mustEqual(t, fmt.Sprint("k", i, " during the outage"), readAll(t, a, "bkt", fmt.Sprint("k", i)), data)
	}

	// S3 comes back: the spiller's retries drain tier 0 and writes resume.
	s3.down.Store(false)
	eventually(t, "the spill queue to drain", func() bool { return a.t0.Used() <= 500 })
	if _, err := w.Write(pattern(200, 5)); err != nil {
		t.Fatalf("write after S3 came back: %v", err)
	}
	if err := w.Seal(bg); err != nil {
		t.Fatal(err)
	}
	stored = append(stored, pattern(200, 5))
	for i, data := range stored {
		mustEqual(t, fmt.Sprint("k", i, " after recovery"), readAll(t, a, "bkt", fmt.Sprint("k", i)), data)
	}
	if got := metricValue(t, regA, "geds_spill_errors_total", "", ""); got == 0 {
		t.Error("spill failures not counted")
	}
}

func TestMount(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1<<20, s3)
	s3.EnsureBucket(bg, "legacy")
	for _, k := range []string{"b1", "d1", "f1"} {
		s3.Put(bg, "legacy", k, bytes.NewReader([]byte("s3:"+k)), int64(len("s3:"+k)))
	}
	if err := a.Mount(bg, "data", "legacy"); err != nil {
		t.Fatal(err)
	}
	put(t, a, "data", "a1", []byte("geds:a1"))
	put(t, a, "data", "c1", []byte("geds:c1"))
	put(t, a, "data", "e1", []byte("geds:e1"))

	// One namespace: pages of 2 interleave GEDS and S3 keys in order.
	var keys []string
	token := ""
	for {
		page, err := a.List(bg, "data", "", token, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Items {
			keys = append(keys, o.Key+":"+string(o.Tier))
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if got := strings.Join(keys, ","); got != "a1:local,b1:s3,c1:local,d1:s3,e1:local,f1:s3" {
		t.Errorf("mounted listing = %s", got)
	}
	if got := readAll(t, a, "data", "d1"); string(got) != "s3:d1" {
		t.Errorf("read of an S3 object through the mount = %q", got)
	}
	if info, err := a.Stat(bg, "data", "b1"); err != nil || info.Size != 5 || info.Tier != TierS3 {
		t.Errorf("stat through the mount = %+v %v", info, err)
	}
	// Spilled objects land in the mounted bucket under their own key.
	if err := a.Spill(bg, "data", "c1"); err != nil {
		t.Fatal(err)
	}
	if data, _ := s3.object("legacy", "c1"); string(data) != "geds:c1" {
		t.Errorf("spill into the mounted bucket: %q", data)
	}
	if err := a.Delete(bg, "data", "b1"); err != nil {
		t.Fatal(err)
	}
	if s3.has("legacy", "b1") {
		t.Error("delete through the mount left the S3 object")
	}
	if _, err := a.Open(bg, "data", "zz"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key in a mounted bucket: %v", err)
	}
	if err := a.Mount(bg, "data", "other"); !errors.Is(err, ErrExists) {
		t.Errorf("mounting over an existing bucket: %v", err)
	}
}

func TestBucketsAndListing(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	for _, b := range []string{"zeta", "alpha"} {
		if err := a.CreateBucket(bg, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.CreateBucket(bg, "alpha"); !errors.Is(err, ErrExists) {
		t.Errorf("second CreateBucket: %v", err)
	}
	list, err := a.ListBuckets(bg)
	if err != nil || len(list) != 2 || list[0].Name != "alpha" {
		t.Fatalf("ListBuckets = %+v %v", list, err)
	}
	for i := range 5 {
		put(t, a, "alpha", fmt.Sprintf("p/%d", i), []byte{byte(i)})
	}
	put(t, a, "alpha", "q", []byte("q"))
	page, err := a.List(bg, "alpha", "p/", "", 3)
	if err != nil || len(page.Items) != 3 || page.NextToken != "p/2" {
		t.Fatalf("first page = %+v %v", page, err)
	}
	page, err = a.List(bg, "alpha", "p/", page.NextToken, 3)
	if err != nil || len(page.Items) != 2 || page.NextToken != "" || page.Items[0].Key != "p/3" {
		t.Fatalf("second page = %+v %v", page, err)
	}
	if err := a.DeleteBucket(bg, "alpha"); err == nil {
		t.Error("deleted a bucket with objects")
	}
	if err := a.DeleteBucket(bg, "zeta"); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsErrors(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	good := Options{NodeID: "n", Dir: t.TempDir(), Limit: 1, MetadataURL: m.URL}
	for name, tweak := range map[string]func(*Options){
		"node id":      func(o *Options) { o.NodeID = "a b" },
		"dir":          func(o *Options) { o.Dir = "" },
		"limit":        func(o *Options) { o.Limit = 0 },
		"metadata":     func(o *Options) { o.MetadataURL = "" },
		"spill levels": func(o *Options) { o.SpillAt, o.SpillTo = 0.5, 0.8 },
		"wildcard":     func(o *Options) { o.PeerListen = "0.0.0.0:0" },
		"unreachable":  func(o *Options) { o.MetadataURL = "http://127.0.0.1:1" },
	} {
		o := good
		tweak(&o)
		if c, err := Open(bg, o); err == nil {
			c.Close()
			t.Errorf("%s: accepted", name)
		}
	}
}

// metricValue gathers reg and returns the value of the metric name whose
// label has value (any series if label is ""): a counter's value, a
// gauge's, or a histogram's sample count.
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no metric %s{%s=%q}", name, label, value)
	return 0
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1000, s3, func(o *Options) { o.SpillAt, o.SpillTo = 0.5, 0.1 })
	b := node(t, m, "b", 1000, s3)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "k", pattern(600, 1)) // past SpillAt: the spiller runs
	put(t, b, "bkt", "k2", pattern(100, 2))
	readAll(t, a, "bkt", "k2") // a peer connection from a to b
	eventually(t, "the spill", func() bool { return a.t0.Used() == 0 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Nothing of the clients may be left: their loops, peer servers and
	// connections (the metadata server of the test goes on running).
	leftovers := func() string {
		buf := make([]byte, 1<<20)
		var left []string
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			for _, mark := range []string{"cloudskin/geds.(*", "cloudskin/geds/peer.", "http2ClientConn", "http2serverConn", "persistConn"} {
				if strings.Contains(g, mark) && !strings.Contains(g, "TestCloseLeavesNoGoroutines") && !strings.Contains(g, "metaServer") {
					left = append(left, g)
					break
				}
			}
		}
		return strings.Join(left, "\n\n")
	}
	deadline := time.Now().Add(10 * time.Second)
	for leftovers() != "" {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", leftovers())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRenameReplacesAtOnce: a sealed object renamed over a key becomes the
// key's object in one step. A reader already open on the old object goes
// on reading the old bytes whole, new opens (here and on another node)
// read the new bytes, the old tier-0 copy goes,
// and the old life's copy in the persistency tier is deleted with the new
// object (staleS3) or overwritten when the new one is spilled.
func TestRenameReplacesAtOnce(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1<<20, s3)
	b := node(t, m, "b", 1<<20, s3)
	for _, bk := range []string{"bkt", "staging"} {
		if err := a.CreateBucket(bg, bk); err != nil {
			t.Fatal(err)
		}
	}
	oldData, newData := pattern(50_000, 1), pattern(30_000, 2)
	put(t, a, "bkt", "k", oldData)
	if err := a.Persist(bg, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	local, err := a.Open(bg, "bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	put(t, a, "staging", "tmp", newData)
	if err := a.Rename(bg, "staging", "tmp", "bkt", "k"); err != nil {
		t.Fatal(err)
	}

	mustEqual(t, "reader opened before the rename", readAllFrom(t, local), oldData)
	mustEqual(t, "open after the rename", readAll(t, a, "bkt", "k"), newData)
	mustEqual(t, "open on another node", readAll(t, b, "bkt", "k"), newData)
	if _, err := a.Stat(bg, "staging", "tmp"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the staged name is still there: %v", err)
	}
	if got := a.t0.Used(); got != int64(len(newData)) {
		t.Fatalf("tier 0 holds %d bytes after the rename, want only the new object's %d", got, len(newData))
	}
	info, err := a.Stat(bg, "bkt", "k")
	if err != nil || info.Tier != TierLocal || !info.StaleS3 {
		t.Fatalf("after the rename: %+v, %v; want local with staleS3", info, err)
	}

	// Spilling the new life overwrites the old bytes in S3 and clears the flag.
	if err := a.Spill(bg, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s3.object("bkt", "k"); !bytes.Equal(got, newData) {
		t.Fatalf("S3 holds %d bytes after the spill, want the new object", len(got))
	}
	if info, _ := a.Stat(bg, "bkt", "k"); info.StaleS3 {
		t.Fatal("staleS3 still set after the spill")
	}

	// A stale copy left in S3 goes with the object that replaced it.
	put(t, a, "staging", "tmp2", []byte("third"))
	if err := a.Rename(bg, "staging", "tmp2", "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(bg, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	if s3.has("bkt", "k") {
		t.Fatal("deleting the new object left the replaced life's bytes in S3")
	}

	// What Rename refuses.
	put(t, a, "staging", "far", []byte("far"))
	if err := b.Rename(bg, "staging", "far", "bkt", "k"); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("rename of an object another node holds: %v, want ErrNotLocal", err)
	}
	w, err := a.Create(bg, "staging", "open")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(bg)
	if err := a.Rename(bg, "staging", "open", "bkt", "k"); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("rename of an open object: %v, want ErrNotSealed", err)
	}
	if err := a.Rename(bg, "staging", "missing", "bkt", "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rename of a missing object: %v, want ErrNotFound", err)
	}
}

func readAllFrom(t *testing.T, r *Reader) []byte {
	t.Helper()
	data, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSpillAfterBucketRemadeElsewhere: a node remembers each bucket's
// persistency bucket; when the bucket is deleted and made again over
// another one, a spill still lands in the new one.
func TestSpillAfterBucketRemadeElsewhere(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1<<20, s3)
	if err := a.CreateBucket(bg, "bkt"); err != nil {
		t.Fatal(err)
	}
	put(t, a, "bkt", "first", []byte("1"))
	if err := a.Spill(bg, "bkt", "first"); err != nil || !s3.has("bkt", "first") {
		t.Fatalf("first spill: %v, in S3 bucket bkt: %t", err, s3.has("bkt", "first"))
	}
	if err := a.Delete(bg, "bkt", "first"); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteBucket(bg, "bkt"); err != nil {
		t.Fatal(err)
	}
	if err := s3.EnsureBucket(bg, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if err := a.Mount(bg, "bkt", "elsewhere"); err != nil {
		t.Fatal(err)
	}
	put(t, a, "bkt", "second", []byte("22"))
	if err := a.Spill(bg, "bkt", "second"); err != nil {
		t.Fatalf("spill after the bucket was made again: %v", err)
	}
	if !s3.has("elsewhere", "second") {
		t.Fatal("the spill did not reach the bucket's new persistency bucket")
	}
	mustEqual(t, "read back", readAll(t, a, "bkt", "second"), []byte("22"))
}

// TestOpenCached: asking for a cache copy makes reads of an object held
// elsewhere (or only in S3) local, here and for later Opens; a copy serves
// only the life it was made from; without room the read goes far instead;
// and a copy is the first thing dropped (not uploaded) when room is needed.
func TestOpenCached(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	s3 := newFakeS3()
	a := node(t, m, "a", 1<<20, s3)
	b := node(t, m, "b", 1000, s3, func(o *Options) { o.SpillAt, o.SpillTo = 1, 1 })
	a.CreateBucket(bg, "bkt")
	data := pattern(600, 3)
	put(t, a, "bkt", "k", data)

	r, err := b.OpenCached(bg, "bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	if !r.Local() || b.t0.Used() != int64(len(data)) {
		t.Fatalf("OpenCached: local %t, tier 0 of b holds %d bytes; want a local copy of %d", r.Local(), b.t0.Used(), len(data))
	}
	mustEqual(t, "cached read", readAllFrom(t, r), data)
	r.Close()
	if again, _ := b.Open(bg, "bkt", "k"); !again.Local() {
		t.Fatal("a later Open did not use the cache copy")
	} else {
		again.Close()
	}

	// The object is replaced at its holder: the copy is of the old life
	// and is not used for the new one.
	if err := a.Delete(bg, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	newer := pattern(600, 9)
	put(t, a, "bkt", "k", newer)
	if fresh, _ := b.Open(bg, "bkt", "k"); fresh.Local() {
		t.Fatal("a copy of the old life served the new one")
	} else {
		fresh.Close()
	}
	mustEqual(t, "read after the replacement", readAll(t, b, "bkt", "k"), newer)

	// No room for a second copy (600 + 600 > 1000): the read goes far.
	far, err := b.OpenCached(bg, "bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	if far.Local() {
		t.Fatal("a copy was made past the tier's limit")
	}
	mustEqual(t, "uncached read", readAllFrom(t, far), newer)
	far.Close()

	// Room needed on b: the stale copy goes first, and is not uploaded.
	if err := b.CreateBucket(bg, "own"); err != nil {
		t.Fatal(err)
	}
	put(t, b, "own", "x", pattern(700, 1))
	if b.t0.Used() != 700 {
		t.Fatalf("tier 0 of b holds %d bytes, want only its own 700", b.t0.Used())
	}
	if got := s3.putOrder(); len(got) != 0 {
		t.Fatalf("dropping a cache copy uploaded %v", got)
	}

	// An object only in S3 is cached from there.
	if err := a.Spill(bg, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(bg, "own", "x"); err != nil {
		t.Fatal(err)
	}
	fromS3, err := b.OpenCached(bg, "bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	if !fromS3.Local() {
		t.Fatal("an object in S3 was not cached")
	}
	mustEqual(t, "cached from S3", readAllFrom(t, fromS3), newer)
	fromS3.Close()
}

// TestCacheCopiesMakeRoomWithoutPersistentTier: a node with no
// persistency tier still drops cache copies when a write needs room.
func TestCacheCopiesMakeRoomWithoutPersistentTier(t *testing.T) {
	m := startMeta(t, 10*time.Second)
	a := node(t, m, "a", 1<<20, nil)
	b := node(t, m, "b", 1000, nil)
	a.CreateBucket(bg, "bkt")
	put(t, a, "bkt", "k", pattern(800, 1))
	r, err := b.OpenCached(bg, "bkt", "k")
	if err != nil || !r.Local() {
		t.Fatalf("OpenCached: %v, local %t", err, err == nil && r.Local())
	}
	r.Close()
	put(t, b, "bkt", "own", pattern(500, 2))
	if b.t0.Used() != 500 {
		t.Fatalf("tier 0 of b holds %d bytes, want 500 (the copy dropped)", b.t0.Used())
	}
	w, err := b.Create(bg, "bkt", "too-big")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort(bg)
	if _, err := w.Write(make([]byte, 600)); !errors.Is(err, ErrTierFull) || !strings.Contains(err.Error(), "no persistency tier") {
		t.Fatalf("write past the limit with nothing to drop: %v", err)
	}
}
