package stream_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/stream"
)

// orderLog records a group's deliveries in the order the group made them
// (stream.SetDeliverHook), whichever reader took them.
type orderLog struct {
	mu     sync.Mutex
	cond   *sync.Cond
	byKey  map[string][]int
	seen   map[tag]int
	count  int
	reader map[string]int
}

func newOrderLog(t *testing.T, g *stream.ReaderGroup) *orderLog {
	l := &orderLog{byKey: map[string][]int{}, seen: map[tag]int{}, reader: map[string]int{}}
	l.cond = sync.NewCond(&l.mu)
	stream.SetDeliverHook(g, func(reader string, ev stream.Event) {
		tg := parse(t, ev.Data)
		l.mu.Lock()
		defer l.mu.Unlock()
		k := fmt.Sprintf("%s/k%d", tg.writer, tg.key)
		l.byKey[k] = append(l.byKey[k], tg.n)
		l.seen[tg]++
		l.count++
		l.reader[reader]++
		l.cond.Broadcast()
	})
	return l
}

func (l *orderLog) waitCount(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.count < n {
		l.cond.Wait()
	}
}

// readAll runs a reader until it leaves or ctx ends.
func readAll(t *testing.T, ctx context.Context, r *stream.Reader, wg *sync.WaitGroup) {
	wg.Go(func() {
		for {
			_, err := r.Read(ctx)
			if err != nil {
				if ctx.Err() == nil && err != stream.ErrReaderClosed {
					t.Error(err)
				}
				return
			}
		}
	})
}

func TestReaderGroupAcrossScalesKeepsPerKeyOrder(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := s.CreateReaderGroup(ctx, "viewers", cams)
	if err != nil {
		t.Fatal(err)
	}
	log := newOrderLog(t, g)

	const writers, keys, each = 3, 8, 120
	const total = writers * keys * each
	var writing sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			wr, _ := s.NewWriter(cams, fmt.Sprintf("w%d", w))
			for n := 1; n <= each; n++ {
				for k := range keys {
					if err := wr.Write(ctx, fmt.Sprintf("w%d-%d", w, k), payload(wr.ID(), k, n)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	stop := make(chan struct{})
	scales := make(chan int, 1)
	go func() { scales <- scaleRandomly(t, s, rand.New(rand.NewPCG(3, 4)), 25, stop) }()

	// Readers join and leave while the writers write and the scaler
	// scales.
	var reading sync.WaitGroup
	readers := map[string]*stream.Reader{}
	join := func(id string) {
		r, err := g.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		readers[id] = r
		readAll(t, ctx, r, &reading)
	}
	join("r1")
	join("r2")
	log.waitCount(total / 4)
	join("r3")
	log.waitCount(total / 2)
	if err := readers["r1"].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	writing.Wait()
	close(stop)
	made := <-scales
	log.waitCount(total)

	log.mu.Lock()
	defer log.mu.Unlock()
	if log.count != total {
		t.Fatalf("%d events delivered, want %d", log.count, total)
	}
	for tg, n := range log.seen {
		if n != 1 {
			t.Fatalf("%+v delivered %d times", tg, n)
		}
	}
	for k, ns := range log.byKey {
		for i, n := range ns {
			if n != i+1 {
				t.Fatalf("key %s: delivery %d is event %d (%v), after %d scales", k, i, n, ns[max(0, i-3):i+1], made)
			}
		}
	}
	info, _ := s.Stream(cams)
	t.Logf("%d scales, %d segments; deliveries per reader %v", made, len(info.Segments), log.reader)
	if made < 2 {
		t.Fatalf("only %d scales happened", made)
	}
	// Everything is read: the group reads exactly the active segments, at
	// their ends.
	pos := g.Positions()
	active := info.Active()
	if len(pos) != len(active) {
		t.Fatalf("positions %v, active segments %+v", pos, active)
	}
	for _, seg := range active {
		if pos[seg.ID] != seg.End {
			t.Fatalf("position in %s is %d, its end %d", seg.ID, pos[seg.ID], seg.End)
		}
	}
	cancel()
	reading.Wait()
}

func TestReaderGroupReadsSuccessorOnlyAfterAllPredecessors(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	k0 := keyIn(t, stream.KeyRange{Low: 0, High: 0.5})
	k1 := keyIn(t, stream.KeyRange{Low: 0.5, High: 1})
	for n := 1; n <= 3; n++ {
		appendOne(t, s, k0, string(payload("a", 0, n)))
		appendOne(t, s, k1, string(payload("b", 1, n)))
	}
	g, err := s.CreateReaderGroup(ctx, "viewers", cams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MergeSegments(ctx, cams, []stream.SegmentID{0, 1}); err != nil {
		t.Fatal(err)
	}
	merged := stream.NewSegmentID(1, 2)
	appendOne(t, s, k0, string(payload("a", 0, 4)))
	appendOne(t, s, k1, string(payload("b", 1, 4)))

	// Two readers, one segment each. The one on segment 0 reads it to the
	// end; the merged segment must wait for segment 1.
	r0, _ := g.Join("r0")
	r1, _ := g.Join("r1")
	reader := map[stream.SegmentID]*stream.Reader{}
	for _, r := range []*stream.Reader{r0, r1} {
		for _, id := range r.Segments() {
			reader[id] = r
		}
	}
	first := reader[0]
	for n := 1; n <= 3; n++ {
		ev, err := first.Read(ctx)
		if err != nil || ev.Segment != 0 || parse(t, ev.Data).n != n {
			t.Fatalf("read %d of segment 0: %+v %v", n, ev, err)
		}
	}
	// Reading on finds the end of segment 0; the group drops it but does
	// not hand out the merged segment while segment 1 is unfinished.
	tctx, cancel := context.WithTimeout(ctx, 50e6)
	_, err = first.Read(tctx)
	cancel()
	if err == nil {
		t.Fatal("read an event beyond segment 0 while segment 1 was unread")
	}
	if pos := g.Positions(); !maps.Equal(pos, stream.StreamCut{1: 0}) {
		t.Fatalf("positions after finishing segment 0: %v, want only segment 1", pos)
	}
	// From here both readers read on, as readers do; the group's delivery
	// order shows the merged segment's events only after segment 1's.
	log := newOrderLog(t, g)
	rctx, stop := context.WithCancel(ctx)
	var reading sync.WaitGroup
	readAll(t, rctx, r0, &reading)
	readAll(t, rctx, r1, &reading)
	log.waitCount(5)
	stop()
	reading.Wait()
	log.mu.Lock()
	defer log.mu.Unlock()
	if fmt.Sprint(log.byKey["b/k1"]) != "[1 2 3 4]" || fmt.Sprint(log.byKey["a/k0"]) != "[4]" || log.count != 5 {
		t.Fatalf("deliveries after segment 0: %v", log.byKey)
	}
	if !maps.Equal(g.Positions(), stream.StreamCut{merged: 20}) {
		t.Fatalf("positions at the end %v", g.Positions())
	}
}

func TestReaderGroupCheckpointAcrossScaleSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	for n := 1; n <= 10; n++ {
		appendOne(t, s, "k", string(payload("w", 0, n)))
	}
	g, _ := s.CreateReaderGroup(ctx, "viewers", cams)
	r, _ := g.Join("r")
	for range 4 {
		if _, err := r.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := g.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SplitSegment(ctx, cams, 0, 2); err != nil {
		t.Fatal(err)
	}
	for n := 11; n <= 15; n++ {
		appendOne(t, s, "k", string(payload("w", 0, n)))
	}
	for range 8 { // past the seal, unsaved
		if _, err := r.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close() // a crash: the reader never left

	s = openStore(t, dir)
	defer s.Close()
	g, _ = s.ReaderGroup("viewers")
	if !maps.Equal(g.Positions(), cp) {
		t.Fatalf("positions after restart %v, want the checkpoint %v in the sealed segment", g.Positions(), cp)
	}
	r, _ = g.Join("r")
	var got []int
	for range 11 {
		ev, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, parse(t, ev.Data).n)
	}
	if fmt.Sprint(got) != "[5 6 7 8 9 10 11 12 13 14 15]" {
		t.Fatalf("after restart read %v", got)
	}
	// Checkpointed past the seal, the group holds only the successors.
	cp, err = g.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cp[0]; ok || len(cp) != 2 {
		t.Fatalf("checkpoint after finishing the sealed segment: %v", cp)
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	g, _ = s.ReaderGroup("viewers")
	if !maps.Equal(g.Positions(), cp) {
		t.Fatalf("positions after the second restart %v, want %v", g.Positions(), cp)
	}
}
