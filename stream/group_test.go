package stream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/stream"
)

// collector gathers what a group's readers deliver.
type collector struct {
	mu     sync.Mutex
	byTag  map[tag]int
	events []delivered
	cond   *sync.Cond
}

type delivered struct {
	reader string
	ev     stream.Event
}

func newCollector() *collector {
	c := &collector{byTag: map[tag]int{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *collector) add(t *testing.T, reader string, ev stream.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byTag[parse(t, ev.Data)]++
	c.events = append(c.events, delivered{reader, ev})
	c.cond.Broadcast()
}

// waitCount waits until n events were delivered.
func (c *collector) waitCount(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.events) < n {
		c.cond.Wait()
	}
}

// runReader reads until the reader leaves or ctx ends.
func runReader(t *testing.T, ctx context.Context, r *stream.Reader, c *collector, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			ev, err := r.Read(ctx)
			if errors.Is(err, stream.ErrReaderClosed) || ctx.Err() != nil {
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			c.add(t, r.ID(), ev)
		}
	}()
}

func TestReaderGroupDeliversOnceWhileReadersComeAndGo(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	createStream(t, s, cams, stream.StreamConfig{Segments: 6})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := s.CreateReaderGroup(ctx, "viewers", cams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateReaderGroup(ctx, "viewers", cams); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("second group of the same name: %v", err)
	}

	// Writers append in two phases while readers read, so readers both
	// catch up and wait at the tail, and a reader that joins between the
	// phases has new data to read.
	const writers, keys, each = 4, 8, 250
	const total = writers * each
	var writing sync.WaitGroup
	ws := make([]*stream.Writer, writers)
	for w := range ws {
		ws[w], _ = s.NewWriter(cams, fmt.Sprintf("w%d", w))
	}
	write := func(from, to int) {
		for _, wr := range ws {
			writing.Add(1)
			go func() {
				defer writing.Done()
				for n := from; n < to; n++ {
					k := n % keys
					if err := wr.Write(ctx, wr.ID()+"-"+fmt.Sprint(k), payload(wr.ID(), k, n/keys+1)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	write(0, each/2)

	c := newCollector()
	var reading sync.WaitGroup
	readers := map[string]*stream.Reader{}
	join := func(id string) {
		r, err := g.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		readers[id] = r
		runReader(t, ctx, r, c, &reading)
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		join(id)
	}
	if _, err := g.Join("r1"); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("joining twice: %v", err)
	}
	c.waitCount(total / 2)
	writing.Wait()
	join("r4")
	if n := len(readers["r4"].Segments()); n != 1 {
		t.Fatalf("the fourth reader of six segments got %d", n)
	}
	write(each/2, each)
	c.waitCount(total * 3 / 4)
	if _, err := g.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := readers["r2"].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := g.Readers(); fmt.Sprint(got) != "[r1 r3 r4]" {
		t.Fatalf("readers after r2 left: %v", got)
	}
	for _, id := range []string{"r1", "r3", "r4"} {
		if n := len(readers[id].Segments()); n != 2 {
			t.Fatalf("%s has %d segments after r2 left, want 2", id, n)
		}
	}
	c.waitCount(total)
	writing.Wait()

	// Exactly once, and in order per segment for each reader.
	c.mu.Lock()
	if len(c.events) != total {
		t.Fatalf("%d events delivered, want %d", len(c.events), total)
	}
	for tg, n := range c.byTag {
		if n != 1 {
			t.Fatalf("%+v delivered %d times", tg, n)
		}
	}
	lastOff := map[string]int64{}
	bySeg := map[stream.SegmentID][]stream.Event{}
	for _, d := range c.events {
		k := fmt.Sprintf("%s/%s", d.reader, d.ev.Segment)
		if off, ok := lastOff[k]; ok && d.ev.Offset <= off {
			t.Fatalf("%s delivered offset %d after %d", k, d.ev.Offset, off)
		}
		lastOff[k] = d.ev.Offset
		bySeg[d.ev.Segment] = append(bySeg[d.ev.Segment], d.ev)
	}
	perReader := map[string]int{}
	for _, d := range c.events {
		perReader[d.reader]++
	}
	c.mu.Unlock()
	for id := range readers {
		if perReader[id] == 0 {
			t.Errorf("reader %s delivered nothing: %v", id, perReader)
		}
	}
	if len(bySeg) != 6 {
		t.Fatalf("only %d of 6 segments got events", len(bySeg))
	}
	for _, evs := range bySeg {
		slices.SortFunc(evs, func(a, b stream.Event) int { return int(a.Offset - b.Offset) })
	}
	checkPerKeyOrder(t, bySeg)

	// Everything is delivered: the checkpoint is the stream's tail, and it
	// survives a restart.
	cp, err := g.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Stream(cams)
	if !maps.Equal(cp, info.Tail()) {
		t.Fatalf("checkpoint %v, tail %v", cp, info.Tail())
	}
	cancel()
	reading.Wait()
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	g, err = s.ReaderGroup("viewers")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(g.Positions(), cp) || len(g.Readers()) != 0 {
		t.Fatalf("after reopen: positions %v readers %v, want %v and none", g.Positions(), g.Readers(), cp)
	}
	r, err := g.Join("again")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), stream.AppendRequest{Stream: cams, RoutingKey: "new", Events: [][]byte{[]byte("z k0 1")}}); err != nil {
		t.Fatal(err)
	}
	ev, err := r.Read(context.Background())
	if err != nil || string(ev.Data) != "z k0 1" {
		t.Fatalf("first event after restart: %q %v", ev.Data, err)
	}
}

func TestReaderGroupResumesFromCheckpointAfterCrash(t *testing.T) {
	dir := t.TempDir()
	small := func(o *stream.Options) { o.MaxLogFileBytes = 2 << 10 }
	s := openStore(t, dir, small)
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	ctx := context.Background()
	const total = 100
	for n := 1; n <= total; n++ {
		if _, err := s.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: fmt.Sprint(n % 5), Events: [][]byte{payload("w", n%5, n)}}); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := s.CreateReaderGroup(ctx, "viewers", cams)
	r, _ := g.Join("r1")
	seen := map[int]bool{}
	read := func(r *stream.Reader, n int) {
		t.Helper()
		for range n {
			ev, err := r.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seen[parse(t, ev.Data).n] = true
		}
	}
	read(r, 30)
	cp, err := g.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read(r, 20) // delivered but never checkpointed
	// A compaction in between: the group's positions must survive the
	// log being truncated under them.
	if err := s.Truncate(ctx, cams, cp); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close() // the reader never left: as if the process died

	s = openStore(t, dir, small)
	defer s.Close()
	g, _ = s.ReaderGroup("viewers")
	if !maps.Equal(g.Positions(), cp) {
		t.Fatalf("positions after restart %v, want the checkpoint %v", g.Positions(), cp)
	}
	r, _ = g.Join("r1")
	again := map[int]bool{}
	for range total - 30 {
		ev, err := r.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := parse(t, ev.Data).n
		if again[n] {
			t.Fatalf("event %d delivered twice after the restart", n)
		}
		again[n] = true
	}
	redelivered := 0
	for n := range again {
		if seen[n] {
			redelivered++
		}
	}
	if redelivered != 20 || len(seen)+len(again)-redelivered != total {
		t.Fatalf("after restart %d events redelivered (want the 20 after the checkpoint), %d seen in all", redelivered, len(seen)+len(again)-redelivered)
	}
}

func TestReaderGroupSkipsTruncatedData(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	ctx := context.Background()
	for n := 1; n <= 10; n++ {
		if _, err := s.Append(ctx, stream.AppendRequest{Stream: cams, Events: [][]byte{payload("w", 0, n)}}); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := s.CreateReaderGroup(ctx, "late", cams)
	seg := stream.NewSegmentID(0, 0)
	evs := readSegment(t, s, cams, seg, 0, 1<<20)
	if err := s.Truncate(ctx, cams, stream.StreamCut{seg: evs[6].Offset}); err != nil {
		t.Fatal(err)
	}
	r, _ := g.Join("r")
	ev, err := r.Read(ctx)
	if err != nil || parse(t, ev.Data).n != 7 {
		t.Fatalf("first event after truncation: %q %v, want event 7", ev.Data, err)
	}
}
