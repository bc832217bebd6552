package geds_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/gedstest"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// TestCompareGEDS writes bench/compare-geds.sh's TSV rows (benchmark,
// command, peer, median ours, median peer) to the file named by
// CLOUDSKIN_COMPARE_OUT: GEDS against a real MinIO on the same machine in
// one run, for the four comparisons issue 5 asks for (reads, shuffle,
// spill throughput, cost of automatic tiering). bench/NOTES.md says how
// each row is measured. Progress goes to stderr.
func TestCompareGEDS(t *testing.T) {
	out := os.Getenv("CLOUDSKIN_COMPARE_OUT")
	if out == "" {
		t.Skip("set CLOUDSKIN_COMPARE_OUT to run the comparison (make bench)")
	}
	e := newCompareEnv(t)
	var rows []compareRow
	rows = append(rows, e.compareReads()...)
	rows = append(rows, e.compareShuffle()...)
	rows = append(rows, e.compareSpill()...)
	rows = append(rows, e.compareTieringCost()...)
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\t%s\n", r.name, r.command, r.peer, r.ours, r.theirs)
	}
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	progress("geds compare: %d rows written to %s; stopping MinIO and removing its data", len(rows), out)
}

// compareCommand starts every row's command column; what follows in
// parentheses says what that row measured.
const compareCommand = "go test -run TestCompareGEDS ./geds"

const (
	kib = 1 << 10
	mib = 1 << 20
)

type compareRow struct{ name, command, peer, ours, theirs string }

// compareEnv is what every comparison shares: one MinIO, one metadata
// service, and a directory for the GEDS nodes' tier 0.
type compareEnv struct {
	t      *testing.T
	ctx    context.Context
	minio  *miniotest.Server
	s3     *minio.Client
	tier   *s3tier.Tier
	meta   *gedstest.Metadata
	root   string // tier 0 directories go under it
	medium string // what root is on, for the rows' command text
	nodes  int    // node ids handed out so far
}

func newCompareEnv(t *testing.T) *compareEnv {
	srv := miniotest.Start(t)
	tier, err := s3tier.New(s3tier.Config{
		Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(), Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &compareEnv{
		t: t, ctx: t.Context(), minio: srv, s3: srv.Client(), tier: tier,
		meta: gedstest.StartMetadata(t, time.Minute),
	}
	e.root, e.medium = tier0Root(t)
	progress("geds compare: MinIO at %s (data on %s), tier 0 on %s", srv.Endpoint(), os.TempDir(), e.medium)
	return e
}

// tier0Root returns a directory on tmpfs (/dev/shm), where GEDS's tier 0
// is meant to live, or the test's temporary directory if /dev/shm is not
// writable here, and says which.
func tier0Root(t *testing.T) (dir, medium string) {
	if d, err := os.MkdirTemp("/dev/shm", "geds-compare-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(d) })
		return d, "tmpfs (/dev/shm)"
	}
	return t.TempDir(), "the test's temp dir (/dev/shm not writable)"
}

// node opens a GEDS node with its own tier 0 under e.root; tweak adjusts
// its options. It is closed when the test ends, if not before.
func (e *compareEnv) node(limit int64, persistent bool, tweak ...func(*geds.Options)) *geds.Client {
	e.t.Helper()
	e.nodes++
	id := fmt.Sprintf("bench%d", e.nodes)
	opts := geds.Options{NodeID: id, Dir: filepath.Join(e.root, id), Limit: limit, MetadataURL: e.meta.URL}
	if persistent {
		opts.Persistent = e.tier
	}
	for _, f := range tweak {
		f(&opts)
	}
	c, err := geds.Open(e.ctx, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// closeNodes closes nodes before the test ends, freeing their tier 0, and
// says how long that took. They close concurrently because a node that
// peers have read from takes about a second to close (its HTTP/2 server
// waits out the GOAWAY grace period).
func (e *compareEnv) closeNodes(what string, nodes ...*geds.Client) {
	e.t.Helper()
	start := time.Now()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = n.Close() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			e.t.Errorf("%s: close node %s: %v", what, nodes[i].NodeID(), err)
		}
	}
	progress("geds compare: %s: closed %d nodes in %s", what, len(nodes), time.Since(start).Round(time.Millisecond))
}

func (e *compareEnv) makeMinioBucket(name string) {
	e.t.Helper()
	if err := e.s3.MakeBucket(e.ctx, name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		e.t.Fatalf("MinIO bucket %s: %v", name, err)
	}
}

// putGEDS writes and seals one object.
func putGEDS(ctx context.Context, c *geds.Client, bucket, key string, data []byte) error {
	w, err := c.Create(ctx, bucket, key)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write %s/%s: %w", bucket, key, err)
	}
	if err := w.Seal(ctx); err != nil {
		return fmt.Errorf("seal %s/%s: %w", bucket, key, err)
	}
	return nil
}

// putMinio PUTs data with the body options geds/s3tier uses (unsigned
// payload, CRC32C trailer), so MinIO's side of every comparison costs what
// it costs GEDS.
func putMinio(ctx context.Context, s3 *minio.Client, bucket, key string, data []byte) error {
	opts := minio.PutObjectOptions{DisableContentSha256: true, Checksum: minio.ChecksumCRC32C}
	_, err := s3.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		return fmt.Errorf("MinIO PUT %s/%s: %w", bucket, key, err)
	}
	return nil
}

// getMinio reads a whole object into p, which must be its size.
func getMinio(ctx context.Context, s3 *minio.Client, bucket, key string, p []byte) error {
	obj, err := s3.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("MinIO GET %s/%s: %w", bucket, key, err)
	}
	defer obj.Close()
	if _, err := io.ReadFull(obj, p); err != nil {
		return fmt.Errorf("MinIO GET %s/%s: %w", bucket, key, err)
	}
	return nil
}

// --- Reads -----------------------------------------------------------------

// readObjects is how many objects of each size the read comparison cycles
// through, so no single object's pages or connection state is favoured.
const readObjects = 16

type readCase struct {
	label      string // "4 KiB"
	size       int
	reps, warm int
}

// compareReads times single whole-object reads of 4 KiB and 1 MiB objects:
// GEDS ReadAt on an open Reader at the holder (mmap) and at a second node
// (peer over loopback), GEDS Open+ReadAt+Close for 4 KiB, and minio-go
// GetObject+ReadFull of the same sizes.
func (e *compareEnv) compareReads() []compareRow {
	holder := e.node(64*mib, false)
	other := e.node(8*mib, false)
	if err := holder.CreateBucket(e.ctx, "reads"); err != nil {
		e.t.Fatal(err)
	}
	e.makeMinioBucket("reads")
	var rows []compareRow
	for _, rc := range []readCase{{"4 KiB", 4 * kib, 2000, 200}, {"1 MiB", mib, 300, 30}} {
		rows = append(rows, e.compareReadSize(holder, other, rc)...)
	}
	e.closeNodes("reads", holder, other)
	return rows
}

func (e *compareEnv) compareReadSize(holder, other *geds.Client, rc readCase) []compareRow {
	data := make([]byte, rc.size)
	keys := make([]string, readObjects)
	for i := range keys {
		keys[i] = fmt.Sprintf("%d-%02d", rc.size, i)
		fillStamp(data, 0, i)
		if err := putGEDS(e.ctx, holder, "reads", keys[i], data); err != nil {
			e.t.Fatal(err)
		}
		if err := putMinio(e.ctx, e.s3, "reads", keys[i], data); err != nil {
			e.t.Fatal(err)
		}
	}
	p := make([]byte, rc.size)
	local := e.openAll(holder, keys, true)
	remote := e.openAll(other, keys, false)
	readAt := func(rs []*geds.Reader) func(i int) error {
		return func(i int) error { _, err := rs[i%readObjects].ReadAt(p, 0); return err }
	}
	openRead := func(c *geds.Client) func(i int) error {
		return func(i int) error {
			r, err := c.Open(e.ctx, "reads", keys[i%readObjects])
			if err != nil {
				return err
			}
			defer r.Close()
			_, err = r.ReadAt(p, 0)
			return err
		}
	}
	get := func(i int) error { return getMinio(e.ctx, e.s3, "reads", keys[i%readObjects], p) }

	peer := e.sample("MinIO GET "+rc.label, rc, get)
	how := fmt.Sprintf("%d reads of a %s object after %d warm-up, %d objects in turn; tier 0 on %s", rc.reps, rc.label, rc.warm, readObjects, e.medium)
	var rows []compareRow
	add := func(what, detail string, fn func(int) error) {
		ours := e.sample("geds "+rc.label+" "+what, rc, fn)
		cmd := fmt.Sprintf("%s (%s; %s)", compareCommand, detail, how)
		rows = append(rows,
			compareRow{"geds read " + rc.label + " " + what + " p50", cmd, "MinIO GET " + rc.label + " p50 (minio-go, loopback)", micros(ours.p50), micros(peer.p50)},
			compareRow{"geds read " + rc.label + " " + what + " p99", cmd, "MinIO GET " + rc.label + " p99 (minio-go, loopback)", micros(ours.p99), micros(peer.p99)})
	}
	add("local", "ReadAt on an open Reader at the holder, memory-mapped", readAt(local))
	add("remote", "ReadAt on an open Reader at a second node, from the holder over loopback h2c", readAt(remote))
	if rc.size <= 4*kib {
		add("local open+read", "Open (metadata lookup), ReadAt, Close at the holder", openRead(holder))
		add("remote open+read", "Open (metadata lookup), ReadAt from the holder over loopback, Close at a second node", openRead(other))
	}
	return rows
}

// openAll opens every key at c and checks the reads are local or remote
// as intended; the readers close when the test ends.
func (e *compareEnv) openAll(c *geds.Client, keys []string, wantLocal bool) []*geds.Reader {
	rs := make([]*geds.Reader, len(keys))
	for i, k := range keys {
		r, err := c.Open(e.ctx, "reads", k)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Local() != wantLocal {
			e.t.Fatalf("reader of %s at %s: local=%v, want %v", k, c.NodeID(), r.Local(), wantLocal)
		}
		e.t.Cleanup(func() { r.Close() })
		rs[i] = r
	}
	return rs
}

type latencies struct{ p50, p99 time.Duration }

// sample runs fn rc.warm times untimed, then rc.reps times timed one by
// one, and returns the percentiles.
func (e *compareEnv) sample(what string, rc readCase, fn func(i int) error) latencies {
	e.t.Helper()
	for i := range rc.warm {
		if err := fn(i); err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
	}
	samples := make([]time.Duration, rc.reps)
	for i := range samples {
		start := time.Now()
		if err := fn(i); err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
		samples[i] = time.Since(start)
	}
	slices.Sort(samples)
	l := latencies{p50: samples[len(samples)/2], p99: samples[len(samples)*99/100]}
	progress("geds compare: %s: p50 %s p99 %s", what, l.p50, l.p99)
	return l
}

// --- Shuffle ---------------------------------------------------------------

const (
	shuffleNodes   = 16 // writers, readers and GEDS nodes
	shuffleObjects = 64 // per writer, 1 MiB each: 1 GiB in all
	shuffleRounds  = 5
)

// compareShuffle: 16 writers each write 64 objects of 1 MiB, then 16
// readers read every object once: reader r takes object j of every writer
// where j mod 16 = r (4 from each writer, 64 MiB per reader, 1/16 of it
// its own). In GEDS each writer and reader is its own node in this
// process, all on one metadata service; through MinIO they are goroutines
// sharing one minio-go client (PUT, then GET). Total time, median of
// rounds.
func (e *compareEnv) compareShuffle() []compareRow {
	var ours, theirs []time.Duration
	for round := range shuffleRounds {
		ours = append(ours, e.shuffleGEDS(round))
		theirs = append(theirs, e.shuffleMinio(round))
	}
	cmd := fmt.Sprintf("%s (shuffle: %d in-process GEDS nodes each write %d × 1 MiB, then each reads object j of every writer with j mod %d = its index, every object read once, 1 GiB; tier 0 on %s; median of %d rounds)",
		compareCommand, shuffleNodes, shuffleObjects, shuffleNodes, e.medium, shuffleRounds)
	peer := fmt.Sprintf("MinIO alone, same pattern: %d goroutines PUT then GET (minio-go)", shuffleNodes)
	return []compareRow{{"geds shuffle 16×64×1 MiB all-to-all total", cmd, peer, seconds(median(ours)), seconds(median(theirs))}}
}

// shuffleStore is what the shuffle needs from a store: writer w puts
// its objects, reader r gets them.
type shuffleStore struct {
	put func(ctx context.Context, w, j int, data []byte) error
	get func(ctx context.Context, r, w, j int, p []byte) error
}

func (e *compareEnv) shuffleGEDS(round int) time.Duration {
	nodes := make([]*geds.Client, shuffleNodes)
	for i := range nodes {
		nodes[i] = e.node(shuffleObjects*mib+8*mib, false)
	}
	defer e.closeNodes(fmt.Sprintf("shuffle round %d", round), nodes...)
	bucket := fmt.Sprintf("shuffle%d", round)
	if err := nodes[0].CreateBucket(e.ctx, bucket); err != nil {
		e.t.Fatal(err)
	}
	key := func(w, j int) string { return fmt.Sprintf("w%02d/%03d", w, j) }
	s := shuffleStore{
		put: func(ctx context.Context, w, j int, data []byte) error {
			return putGEDS(ctx, nodes[w], bucket, key(w, j), data)
		},
		get: func(ctx context.Context, r, w, j int, p []byte) error {
			rd, err := nodes[r].Open(ctx, bucket, key(w, j))
			if err != nil {
				return err
			}
			defer rd.Close()
			_, err = rd.ReadAtContext(ctx, p, 0)
			return err
		},
	}
	return e.runShuffle("GEDS", round, s)
}

func (e *compareEnv) shuffleMinio(round int) time.Duration {
	bucket := fmt.Sprintf("shuffle%d", round)
	e.makeMinioBucket(bucket)
	key := func(w, j int) string { return fmt.Sprintf("w%02d/%03d", w, j) }
	s := shuffleStore{
		put: func(ctx context.Context, w, j int, data []byte) error {
			return putMinio(ctx, e.s3, bucket, key(w, j), data)
		},
		get: func(ctx context.Context, r, w, j int, p []byte) error {
			return getMinio(ctx, e.s3, bucket, key(w, j), p)
		},
	}
	return e.runShuffle("MinIO", round, s)
}

// runShuffle times the write phase then the read phase, each with
// shuffleNodes goroutines, checking every object read carries its stamp.
func (e *compareEnv) runShuffle(what string, round int, s shuffleStore) time.Duration {
	bufs := make([][]byte, shuffleNodes)
	for i := range bufs {
		bufs[i] = make([]byte, mib)
	}
	start := time.Now()
	g, ctx := errgroup.WithContext(e.ctx)
	for w := range shuffleNodes {
		g.Go(func() error {
			for j := range shuffleObjects {
				fillStamp(bufs[w], w, j)
				if err := s.put(ctx, w, j, bufs[w]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		e.t.Fatalf("%s shuffle write: %v", what, err)
	}
	written := time.Since(start)
	g, ctx = errgroup.WithContext(e.ctx)
	for r := range shuffleNodes {
		g.Go(func() error {
			for w := range shuffleNodes {
				for j := r; j < shuffleObjects; j += shuffleNodes {
					if err := s.get(ctx, r, w, j, bufs[r]); err != nil {
						return err
					}
					if err := checkStamp(bufs[r], w, j); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		e.t.Fatalf("%s shuffle read: %v", what, err)
	}
	total := time.Since(start)
	progress("geds compare: shuffle round %d %s: write %s, read %s, total %s", round, what, written.Round(time.Millisecond), (total - written).Round(time.Millisecond), total.Round(time.Millisecond))
	return total
}

// fillStamp marks an object's first bytes with who wrote it, so a read
// of the wrong object or of stale bytes is caught.
func fillStamp(p []byte, w, j int) {
	binary.LittleEndian.PutUint32(p[0:], uint32(w))
	binary.LittleEndian.PutUint32(p[4:], uint32(j))
}

func checkStamp(p []byte, w, j int) error {
	gw, gj := binary.LittleEndian.Uint32(p[0:]), binary.LittleEndian.Uint32(p[4:])
	if int(gw) != w || int(gj) != j {
		return fmt.Errorf("read object %d of writer %d, got the bytes of object %d of writer %d", j, w, gj, gw)
	}
	return nil
}

// --- Spill throughput ------------------------------------------------------

const (
	spillObjects = 256 // of 1 MiB
	spillWorkers = 8
	spillRounds  = 5
)

// compareSpill: a node's tier 0 holds 256 sealed 1 MiB objects (below
// its spill threshold, so the background spiller stays idle); 8 goroutines
// call Spill on them, 32 each. The peer is 8 minio-go writers putting 256
// × 1 MiB from memory. MiB/s, median of rounds.
func (e *compareEnv) compareSpill() []compareRow {
	var ours, theirs []float64
	for round := range spillRounds {
		ours = append(ours, e.spillGEDS(round))
		theirs = append(theirs, e.putMinioParallel(round, spillWorkers))
	}
	cmd := fmt.Sprintf("%s (Spill of %d sealed 1 MiB objects from one node's tier 0 on %s to MinIO via geds/s3tier, %d concurrent Spill calls; median of %d rounds)",
		compareCommand, spillObjects, e.medium, spillWorkers, spillRounds)
	peer := fmt.Sprintf("MinIO PUT %d × 1 MiB from memory, %d concurrent minio-go writers", spillObjects, spillWorkers)
	var auto, autoPeer []float64
	for round := range spillRounds {
		auto = append(auto, e.autoSpillGEDS(round))
		autoPeer = append(autoPeer, e.putMinioParallel(round, autoSpillWorkers))
	}
	autoCmd := fmt.Sprintf("%s (automatic spilling: a %d MiB tier 0 on %s holding %d sealed 1 MiB objects is pushed past SpillAt %.2f by one more 16 MiB object; the background spiller, %d workers, moves objects to MinIO until it is down to SpillTo %.2f; MiB moved per second, median of %d rounds)",
		compareCommand, autoSpillLimit/mib, e.medium, spillObjects, autoSpillAt, autoSpillWorkers, autoSpillTo, spillRounds)
	autoPeerText := fmt.Sprintf("MinIO PUT %d × 1 MiB from memory, %d concurrent minio-go writers", spillObjects, autoSpillWorkers)
	return []compareRow{
		{"geds spill throughput to MinIO", cmd, peer, mibPerSec(median(ours)), mibPerSec(median(theirs))},
		{"geds automatic spill throughput to MinIO", autoCmd, autoPeerText, mibPerSec(median(auto)), mibPerSec(median(autoPeer))},
	}
}

// The automatic-spilling round: see compareSpill's second row.
const (
	autoSpillLimit   = 300 * mib
	autoSpillAt      = 0.9  // 270 MiB: 256 MiB stay below it, 272 do not
	autoSpillTo      = 0.05 // 15 MiB
	autoSpillWorkers = 4    // geds.Options.SpillConcurrency's default
)

func (e *compareEnv) autoSpillGEDS(round int) float64 {
	c := e.node(autoSpillLimit, true, func(o *geds.Options) { o.SpillAt, o.SpillTo = autoSpillAt, autoSpillTo })
	defer e.closeNodes(fmt.Sprintf("automatic spill round %d", round), c)
	bucket := e.fillSpillBucket(c, "auto", round)
	before := c.Tier0Used()
	target := int64(autoSpillTo * autoSpillLimit)
	start := time.Now()
	if err := putGEDS(e.ctx, c, bucket, "trigger", make([]byte, 16*mib)); err != nil {
		e.t.Fatal(err)
	}
	for c.Tier0Used() > target {
		if time.Since(start) > time.Minute {
			e.t.Fatalf("automatic spilling: tier 0 still holds %d bytes after a minute", c.Tier0Used())
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	moved := float64(before+16*mib-c.Tier0Used()) / mib
	r := moved / took.Seconds()
	progress("geds compare: spill round %d automatic: %.0f MiB in %s, %.0f MiB/s", round, moved, took.Round(time.Millisecond), r)
	return r
}

// fillSpillBucket makes a bucket named for what and round on c and writes
// spillObjects sealed 1 MiB objects into it, named 0, 1, ...
func (e *compareEnv) fillSpillBucket(c *geds.Client, what string, round int) string {
	bucket := fmt.Sprintf("%s%d", what, round)
	if err := c.CreateBucket(e.ctx, bucket); err != nil {
		e.t.Fatal(err)
	}
	data := make([]byte, mib)
	for i := range spillObjects {
		fillStamp(data, round, i)
		if err := putGEDS(e.ctx, c, bucket, fmt.Sprint(i), data); err != nil {
			e.t.Fatal(err)
		}
	}
	return bucket
}

func (e *compareEnv) spillGEDS(round int) float64 {
	c := e.node(2*spillObjects*mib, true)
	defer e.closeNodes(fmt.Sprintf("spill round %d", round), c)
	bucket := e.fillSpillBucket(c, "spill", round)
	start := time.Now()
	err := forEachParallel(e.ctx, spillWorkers, spillObjects, func(ctx context.Context, i int) error {
		return c.Spill(ctx, bucket, fmt.Sprint(i))
	})
	if err != nil {
		e.t.Fatalf("spill: %v", err)
	}
	took := time.Since(start)
	info, err := c.Stat(e.ctx, bucket, fmt.Sprint(spillObjects-1))
	if err != nil || info.Tier != geds.TierS3 {
		e.t.Fatalf("after Spill: %+v, %v; want tier %s", info, err, geds.TierS3)
	}
	return e.rate("GEDS Spill", round, took)
}

// putMinioParallel PUTs spillObjects × 1 MiB with workers goroutines.
func (e *compareEnv) putMinioParallel(round, workers int) float64 {
	bucket := fmt.Sprintf("put%d-%d", round, workers)
	e.makeMinioBucket(bucket)
	bufs := make([][]byte, workers)
	for i := range bufs {
		bufs[i] = make([]byte, mib)
	}
	start := time.Now()
	err := forEachParallel(e.ctx, workers, spillObjects, func(ctx context.Context, i int) error {
		buf := bufs[i%workers]
		fillStamp(buf, round, i)
		return putMinio(ctx, e.s3, bucket, fmt.Sprint(i), buf)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.rate("MinIO PUT", round, time.Since(start))
}

func (e *compareEnv) rate(what string, round int, took time.Duration) float64 {
	r := float64(spillObjects) / took.Seconds()
	progress("geds compare: spill round %d %s: %d MiB in %s, %.0f MiB/s", round, what, spillObjects, took.Round(time.Millisecond), r)
	return r
}

// forEachParallel calls fn(i) for i in [0, n) from workers goroutines;
// worker k takes the i with i mod workers = k.
func forEachParallel(ctx context.Context, workers, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	for k := range workers {
		g.Go(func() error {
			for i := k; i < n; i += workers {
				if err := fn(ctx, i); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// --- Cost of automatic tiering (KPI8) --------------------------------------

const (
	hotObjects   = 64 // of 1 MiB, the read set
	hotReads     = 1_000_000
	tierRounds   = 21
	tierLimit    = 128 * mib
	tierSpillAt  = 0.6  // 76.8 MiB: the read set alone stays below
	tierSpillTo  = 0.59 // 75.5 MiB: each object written past SpillAt spills one or two, never the read set
	tierNoSpill  = 2048 * mib
	tierReadSize = 4 * kib
	fastWrites   = 10 * time.Millisecond  // 100 MiB/s of 1 MiB objects
	slowWrites   = 100 * time.Millisecond // 10 MiB/s
)

// tierPrefill is how many 1 MiB objects, written before a round, bring a
// spilling node's tier 0 to just below SpillAt (64 + 12 = 76 MiB < 76.8):
// from then on every object the background writer adds is matched by a
// spill, so the spiller moves about the bytes written.
const tierPrefill = 12

// tierVariant is one way of running the read workload.
type tierVariant struct {
	name    string
	node    *geds.Client
	hot     []*geds.Reader
	every   time.Duration // a background writer adds a 1 MiB object at this pace; 0: none
	spills  bool          // tier 0 is small enough that the writer's objects spill
	putToS3 bool          // the writer also PUTs each object to MinIO itself
}

// compareTieringCost: one goroutine does hotReads random 4 KiB ReadAt over
// 64 local 1 MiB objects (fixed seed per round) and the time is taken per
// round, the variants interleaved; medians. Four comparisons:
//
//   - spilling at 100 MiB/s against the reads alone: the whole cost on this
//     machine, MinIO's included;
//   - the same against the same writer with nothing to spill;
//   - the same against the same writer PUTting each object to MinIO itself:
//     MinIO receives the same bytes in both, so what is left is GEDS's
//     share (spiller, metadata updates, tier-0 clean-up);
//   - spilling at 10 MiB/s against the same writer with nothing to spill.
func (e *compareEnv) compareTieringCost() []compareRow {
	e.makeMinioBucket("tiering-direct")
	alone := e.tierNode(tierVariant{name: "alone"})
	spill := e.tierNode(tierVariant{name: "spilling", every: fastWrites, spills: true})
	write := e.tierNode(tierVariant{name: "writer", every: fastWrites})
	direct := e.tierNode(tierVariant{name: "writer PUTting to MinIO", every: fastWrites, putToS3: true})
	spillSlow := e.tierNode(tierVariant{name: "spilling, 10 MiB/s", every: slowWrites, spills: true})
	writeSlow := e.tierNode(tierVariant{name: "writer, 10 MiB/s", every: slowWrites})
	variants := []tierVariant{alone, spill, write, direct, spillSlow, writeSlow}
	times := map[string][]time.Duration{}
	for round := range tierRounds {
		// Each round starts with another variant, so none always runs
		// right after another's background work.
		for i := range variants {
			v := variants[(round+i)%len(variants)]
			times[v.name] = append(times[v.name], e.tierRound(v, round))
		}
	}
	var nodes []*geds.Client
	for _, v := range variants {
		if v.spills {
			e.checkHotStayed(v)
		}
		nodes = append(nodes, v.node)
	}
	e.closeNodes("tiering", nodes...)
	cmd := func(every time.Duration) string {
		return fmt.Sprintf("%s (tiering cost: %d random 4 KiB ReadAt over %d local 1 MiB objects, one goroutine, tier 0 on %s; median of %d rounds; meanwhile a writer adds a 1 MiB object every %s (%d MiB/s) to a %d MiB tier 0 filled to SpillAt %.2f, so the spiller moves as many bytes to MinIO, on the same 2 cores)",
			compareCommand, hotReads, hotObjects, e.medium, tierRounds, every, int(time.Second/every), tierLimit/mib, tierSpillAt)
	}
	ms := func(name string) string { return millis(median(times[name])) }
	return []compareRow{
		{"geds tiering cost (KPI8): reads with background spilling, 100 MiB/s", cmd(fastWrites), "the same reads alone", ms(spill.name), ms(alone.name)},
		{"geds tiering cost (KPI8): reads with background spilling, 100 MiB/s, writer in both", cmd(fastWrites), "the same reads and writer, tier 0 large enough that nothing spills", ms(spill.name), ms(write.name)},
		{"geds tiering cost (KPI8): GEDS's share, 100 MiB/s", cmd(fastWrites), "the same reads and writer, nothing spills, the writer PUTs each object to MinIO itself (MinIO gets the same bytes)", ms(spill.name), ms(direct.name)},
		{"geds tiering cost (KPI8): reads with background spilling, 10 MiB/s, writer in both", cmd(slowWrites), "the same reads and writer, tier 0 large enough that nothing spills", ms(spillSlow.name), ms(writeSlow.name)},
	}
}

// checkHotStayed fails the test if spilling took the read set out of tier
// 0: the rows would then measure reads of dropped copies (still mapped by
// the open readers) rather than the intended hot set.
func (e *compareEnv) checkHotStayed(v tierVariant) {
	e.t.Helper()
	for i := range hotObjects {
		key := fmt.Sprintf("hot/%02d", i)
		info, err := v.node.Stat(e.ctx, v.node.NodeID(), key)
		if err != nil {
			e.t.Fatal(err)
		}
		if info.Tier != geds.TierLocal {
			e.t.Fatalf("tiering %s: read-set object %s was moved to tier %s; the spill threshold must leave the read set alone", v.name, key, info.Tier)
		}
	}
}

// tierNode opens v's node, writes the read set into it and opens it for
// reading.
func (e *compareEnv) tierNode(v tierVariant) tierVariant {
	limit := int64(tierNoSpill)
	if v.spills {
		limit = tierLimit
	}
	c := e.node(limit, true, func(o *geds.Options) { o.SpillAt, o.SpillTo = tierSpillAt, tierSpillTo })
	bucket := c.NodeID()
	if err := c.CreateBucket(e.ctx, bucket); err != nil {
		e.t.Fatal(err)
	}
	data := make([]byte, mib)
	v.node = c
	for i := range hotObjects {
		fillStamp(data, 0, i)
		key := fmt.Sprintf("hot/%02d", i)
		if err := putGEDS(e.ctx, c, bucket, key, data); err != nil {
			e.t.Fatal(err)
		}
		r, err := c.Open(e.ctx, bucket, key)
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { r.Close() })
		v.hot = append(v.hot, r)
	}
	return v
}

// tierRound runs the read workload once on v and returns its time. A
// spilling node is first filled to just below SpillAt, untimed. The
// background writer, if any, starts after a warm-up pass over the read set
// (so the read set is hotter than anything it writes) and stops when the
// reads end; its objects are deleted afterwards, untimed.
func (e *compareEnv) tierRound(v tierVariant, round int) time.Duration {
	var keys []string
	if v.spills {
		keys = e.prefill(v.node, round)
	}
	p := make([]byte, tierReadSize)
	for _, r := range v.hot {
		if _, err := r.ReadAt(p, 0); err != nil {
			e.t.Fatal(err)
		}
	}
	var written []string
	ctx, stop := context.WithCancel(e.ctx)
	g, gctx := errgroup.WithContext(ctx)
	if v.every > 0 {
		g.Go(func() error {
			var err error
			written, err = e.backgroundWriter(gctx, v, round)
			return err
		})
	}
	rnd := rand.New(rand.NewPCG(uint64(round), 1))
	slots := int64(mib / tierReadSize)
	start := time.Now()
	for range hotReads {
		r := v.hot[rnd.IntN(hotObjects)]
		if _, err := r.ReadAt(p, rnd.Int64N(slots)*tierReadSize); err != nil {
			e.t.Fatal(err)
		}
	}
	took := time.Since(start)
	stop()
	if err := g.Wait(); err != nil {
		e.t.Fatalf("background writer: %v", err)
	}
	// Let spills under way end before the next round is timed (a spill of
	// 1 MiB takes about 10 ms here).
	time.Sleep(200 * time.Millisecond)
	spilled := e.dropTierObjects(v.node, append(keys, written...))
	progress("geds compare: tiering round %d %s: %s for %d reads; writer wrote %d MiB, %d MiB spilled by then",
		round, v.name, took.Round(time.Millisecond), hotReads, len(written), spilled)
	if v.spills && spilled < len(written)/2 {
		e.t.Fatalf("tiering round %d %s: %d of %d MiB written were spilled; the comparison would not measure spilling", round, v.name, spilled, len(written))
	}
	return took
}

// prefill writes tierPrefill cold objects into c, untimed, and returns
// their keys.
func (e *compareEnv) prefill(c *geds.Client, round int) []string {
	data := make([]byte, mib)
	var keys []string
	for i := range tierPrefill {
		key := fmt.Sprintf("fill/%d/%04d", round, i)
		fillStamp(data, round, i)
		if err := putGEDS(e.ctx, c, c.NodeID(), key, data); err != nil {
			e.t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys
}

// dropTierObjects deletes keys from c and returns how many of them had
// been spilled.
func (e *compareEnv) dropTierObjects(c *geds.Client, keys []string) int {
	spilled := 0
	for _, k := range keys {
		if info, err := c.Stat(e.ctx, c.NodeID(), k); err == nil && info.Tier == geds.TierS3 {
			spilled++
		}
		if err := c.Delete(e.ctx, c.NodeID(), k); err != nil {
			e.t.Fatalf("delete %s: %v", k, err)
		}
	}
	return spilled
}

// backgroundWriter writes a 1 MiB object to v's node every v.every until
// ctx ends (and to MinIO too if v.putToS3) and returns the keys it wrote.
func (e *compareEnv) backgroundWriter(ctx context.Context, v tierVariant, round int) ([]string, error) {
	c := v.node
	data := make([]byte, mib)
	tick := time.NewTicker(v.every)
	defer tick.Stop()
	var keys []string
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return keys, nil
		case <-tick.C:
		}
		key := fmt.Sprintf("cold/%d/%04d", round, i)
		fillStamp(data, round, i)
		// Not ctx: an object cut off mid-write would be left open.
		if err := putGEDS(e.ctx, c, c.NodeID(), key, data); err != nil {
			return keys, err
		}
		keys = append(keys, key)
		if v.putToS3 {
			if err := putMinio(e.ctx, e.s3, "tiering-direct", key, data); err != nil {
				return keys, err
			}
		}
	}
}

// --- Formatting ------------------------------------------------------------

func median[T time.Duration | float64](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// micros, millis and seconds format durations in one unit per kind of
// row, because bench.sh divides the numbers without looking at units.
func micros(d time.Duration) string  { return num(float64(d)/1e3) + " µs" }
func millis(d time.Duration) string  { return num(float64(d)/1e6) + " ms" }
func seconds(d time.Duration) string { return num(d.Seconds()) + " s" }
func mibPerSec(r float64) string     { return num(r) + " MiB/s" }

// num prints three significant digits without an exponent.
func num(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
