package cluster

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/stream"
)

func openCluster(t testing.TB, dir string, instances int, reg prometheus.Registerer) *Cluster {
	t.Helper()
	cl, err := Open(context.Background(), Options{
		Dir: dir, Containers: 8, Instances: instances, Metrics: reg,
		Store: stream.Options{MaxLogFileBytes: 1 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkNoLeak waits until the goroutines are back to before.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// movingName returns a stream name in scope whose container moves when
// the cluster goes to n instances.
func movingName(t testing.TB, cl *Cluster, scope string, n int) stream.StreamName {
	t.Helper()
	cur := cl.Assignment()
	next := Assign(cl.Containers(), instanceNames(cl.Instances(), n), cur)
	moving := map[int]bool{}
	for _, tr := range Plan(cur, next) {
		moving[tr.Container] = true
	}
	for i := range 1000 {
		name := stream.StreamName{Scope: scope, Stream: "s" + strconv.Itoa(i)}
		if moving[ContainerOf(name, cl.Containers())] {
			return name
		}
	}
	t.Fatal("no stream name lands in a moving container")
	return stream.StreamName{}
}

func mustCreate(t testing.TB, cl *Cluster, name stream.StreamName, segments int) {
	t.Helper()
	ctx := context.Background()
	if err := cl.CreateScope(ctx, name.Scope); err != nil && !errors.Is(err, stream.ErrExists) {
		t.Fatal(err)
	}
	if err := cl.CreateStream(ctx, name, stream.StreamConfig{Segments: segments}); err != nil {
		t.Fatal(err)
	}
}

// The scaling-under-load scenario is shared by TestScalingUnderLoad (the
// cluster's own Writer and ReaderGroup) and TestServiceAppendAsyncAcrossMoves
// (the same cluster through stream.Service): writers append "k<key>:<n>",
// n counting per key, group readers read on while the instances go through
// loadSchedule, and at the end every acknowledged event must have been read
// exactly once and in order per key. Only the appending, the joining and
// the moving differ, so those are what a loadRun is given.

// loadSchedule is the instance counts a load run goes through from 1: up,
// down twice (to one, so that every container moves) and up past the start.
var loadSchedule = []int{3, 2, 1, 4}

// appendFunc queues one event and returns a wait for its acknowledgement,
// so that one writer loop keeps a window in flight whatever face it
// appends through.
type appendFunc func(key string, data []byte) (wait func() error, err error)

// loadRun is what a face brings to the scenario.
type loadRun struct {
	streams, keys int
	window        int                              // appends in flight per writer
	step          int                              // acknowledgements per stream before each move and after the last
	writer        func(i int) appendFunc           // how stream i is appended to
	readers       func(i int) []stream.GroupReader // stream i's group members, joined
	scale         func(n int)                      // goes to n instances and checks the moves
}

// runLoad runs the scenario and checks what was read. It closes the
// readers; the cluster, and the goroutine count, are the caller's.
func runLoad(t *testing.T, lr loadRun) {
	t.Helper()
	b := newLoadBook(lr.streams, lr.keys)
	stop := make(chan struct{})
	var writers sync.WaitGroup
	for i := range lr.streams {
		send := lr.writer(i)
		writers.Go(func() { b.write(i, lr.window, send, stop) })
	}
	// Joined after the writers start, so the groups begin on a stream
	// that is already being written.
	rctx, cancelReaders := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	var members []stream.GroupReader
	for i := range lr.streams {
		for r, rd := range lr.readers(i) {
			members = append(members, rd)
			readers.Go(func() { b.read(rctx, i, r, rd) })
		}
	}
	for _, n := range loadSchedule {
		b.progress(t, lr.step)
		lr.scale(n)
	}
	b.progress(t, lr.step)
	close(stop)
	writers.Wait()
	b.checkErrs(t, "scaling")
	b.catchUp(t)
	cancelReaders()
	readers.Wait()
	b.checkErrs(t, "reading")
	b.checkReads(t)
	for _, r := range members {
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// writerAppends appends to name through the cluster's idempotent Writer.
func writerAppends(t testing.TB, cl *Cluster, name stream.StreamName, id string) appendFunc {
	t.Helper()
	w, err := cl.NewWriter(name, id)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	return func(key string, data []byte) (func() error, error) {
		a, err := w.WriteAsync(ctx, key, data)
		if err != nil {
			return nil, err
		}
		return func() error { _, err := a.Wait(ctx); return err }, nil
	}
}

// serviceAppends appends to name through stream.Service.AppendAsync; the
// done only hands its outcome on, so it never holds the container's lease
// while the writer waits.
func serviceAppends(svc stream.Service, name stream.StreamName) appendFunc {
	return func(key string, data []byte) (func() error, error) {
		res := make(chan error, 1)
		req := stream.AppendRequest{Stream: name, RoutingKey: key, Events: [][]byte{data}}
		if err := svc.AppendAsync(req, func(_ stream.AppendResult, err error) { res <- err }); err != nil {
			return nil, err
		}
		return func() error { return <-res }, nil
	}
}

// loadNames names n streams of scope for a load run.
func loadNames(scope string, n int) []stream.StreamName {
	names := make([]stream.StreamName, n)
	for i := range names {
		names[i] = stream.StreamName{Scope: scope, Stream: "st-" + strconv.Itoa(i)}
	}
	return names
}

// loadBook is a load run's bookkeeping per stream. The writers and readers
// report errors here rather than fail the test from their goroutines.
type loadBook struct {
	keys    int
	written [][]int // events appended per key; each writer's own until it stops
	mu      sync.Mutex
	acked   []int
	got     [][]string
	errs    []error
}

func newLoadBook(streams, keys int) *loadBook {
	b := &loadBook{keys: keys, written: make([][]int, streams), acked: make([]int, streams), got: make([][]string, streams)}
	for i := range b.written {
		b.written[i] = make([]int, keys)
	}
	return b
}

func (b *loadBook) fail(err error) {
	b.mu.Lock()
	b.errs = append(b.errs, err)
	b.mu.Unlock()
}

func (b *loadBook) ack(i int, err error) {
	if err != nil {
		b.fail(fmt.Errorf("stream %d: ack: %w", i, err))
		return
	}
	b.mu.Lock()
	b.acked[i]++
	b.mu.Unlock()
}

// write appends to stream i until stop, waiting for the oldest
// acknowledgement whenever window appends are in flight; whatever is in
// flight when it returns is waited for, so no acknowledgement goes uncounted.
func (b *loadBook) write(i, window int, send appendFunc, stop <-chan struct{}) {
	var inflight []func() error
	defer func() {
		for _, wait := range inflight {
			b.ack(i, wait())
		}
	}()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		if len(inflight) == window {
			b.ack(i, inflight[0]())
			inflight = inflight[1:]
		}
		k := n % b.keys
		wait, err := send("k"+strconv.Itoa(k), fmt.Appendf(nil, "k%d:%d", k, b.written[i][k]))
		if err != nil {
			b.fail(fmt.Errorf("stream %d: append: %w", i, err))
			return
		}
		b.written[i][k]++
		inflight = append(inflight, wait)
	}
}

// read records what reader r of stream i reads until ctx ends; an error
// before that is the test's.
func (b *loadBook) read(ctx context.Context, i, r int, rd stream.GroupReader) {
	for {
		ev, err := rd.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				b.fail(fmt.Errorf("stream %d reader %d: %w", i, r, err))
			}
			return
		}
		b.mu.Lock()
		b.got[i] = append(b.got[i], string(ev.Data))
		b.mu.Unlock()
	}
}

// progress waits until every stream has more acknowledgements than now,
// so that each move happens under load.
func (b *loadBook) progress(t *testing.T, more int) {
	t.Helper()
	b.mu.Lock()
	target := slices.Clone(b.acked)
	b.mu.Unlock()
	b.until(t, "writers to make progress", func(i int) bool { return b.acked[i] >= target[i]+more })
}

// catchUp waits until the readers have as many events as were acknowledged.
func (b *loadBook) catchUp(t *testing.T) {
	t.Helper()
	b.until(t, "readers to catch up", func(i int) bool { return len(b.got[i]) >= b.acked[i] })
}

// until waits until ok holds for every stream, or stops early on an error
// so that checkErrs, not a timeout, says what went wrong.
func (b *loadBook) until(t *testing.T, what string, ok func(i int) bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.errs) > 0 {
			return true
		}
		for i := range b.acked {
			if !ok(i) {
				return false
			}
		}
		return true
	})
}

func (b *loadBook) checkErrs(t *testing.T, during string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) > 0 {
		t.Fatalf("errors during %s: %v", during, errors.Join(b.errs...))
	}
}

// checkReads checks, once writers and readers have stopped, that each
// stream's readers got every acknowledged event once and each key's in the
// order written, up to the last one written.
func (b *loadBook) checkReads(t *testing.T) {
	t.Helper()
	for i, got := range b.got {
		if len(got) != b.acked[i] {
			t.Errorf("stream %d: read %d events, %d were acknowledged", i, len(got), b.acked[i])
		}
		next := make([]int, b.keys)
		for _, e := range got {
			var k, n int
			if _, err := fmt.Sscanf(e, "k%d:%d", &k, &n); err != nil {
				t.Fatalf("stream %d: event %q: %v", i, e, err)
			}
			if n != next[k] {
				t.Fatalf("stream %d key k%d: read event %d, want %d (lost, repeated or out of order)", i, k, n, next[k])
			}
			next[k]++
		}
		if !slices.Equal(next, b.written[i]) {
			t.Errorf("stream %d: read up to %v per key, wrote %v", i, next, b.written[i])
		}
	}
}
