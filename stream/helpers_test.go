package stream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

var cams = stream.StreamName{Scope: "surgery", Stream: "cams"}

func openStore(t testing.TB, dir string, tweak ...func(*stream.Options)) *stream.Store {
	t.Helper()
	opts := stream.Options{Dir: dir}
	for _, f := range tweak {
		f(&opts)
	}
	s, err := stream.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func createStream(t testing.TB, s *stream.Store, name stream.StreamName, cfg stream.StreamConfig) {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateScope(ctx, name.Scope); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStream(ctx, name, cfg); err != nil {
		t.Fatal(err)
	}
}

// payload is a test event: which writer and key wrote it, and its count
// for that writer and key.
func payload(writer string, key, n int) []byte { return fmt.Appendf(nil, "%s k%d %d", writer, key, n) }

type tag struct {
	writer string
	key, n int
}

func parse(t testing.TB, b []byte) tag {
	t.Helper()
	var g tag
	if _, err := fmt.Sscanf(string(b), "%s k%d %d", &g.writer, &g.key, &g.n); err != nil {
		t.Fatalf("event %q: %v", b, err)
	}
	return g
}

// readSegment reads a segment from offset to its current end.
func readSegment(t testing.TB, s *stream.Store, name stream.StreamName, id stream.SegmentID, from int64, maxBytes int64) []stream.Event {
	t.Helper()
	var out []stream.Event
	for {
		b, err := s.ReadSegment(context.Background(), name, id, from, stream.ReadOptions{NoWait: true, MaxBytes: maxBytes})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) == 0 {
			return out
		}
		if b.Events[0].Offset != from || b.Next != b.Events[len(b.Events)-1].Next {
			t.Fatalf("batch from %d starts at %d, next %d", from, b.Events[0].Offset, b.Next)
		}
		out = append(out, b.Events...)
		from = b.Next
	}
}

// readStream reads every segment of a stream from its start.
func readStream(t testing.TB, s *stream.Store, name stream.StreamName) map[stream.SegmentID][]stream.Event {
	t.Helper()
	info, err := s.Stream(name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[stream.SegmentID][]stream.Event{}
	for _, seg := range info.Segments {
		out[seg.ID] = readSegment(t, s, name, seg.ID, seg.Start, 4096)
	}
	return out
}

// checkPerKeyOrder checks that within each segment every (writer, key)
// counts 1, 2, 3, ... with no gap or repeat, and returns the events seen
// per writer and key.
func checkPerKeyOrder(t testing.TB, bySeg map[stream.SegmentID][]stream.Event) map[string]int {
	t.Helper()
	last := map[string]int{}
	for id, evs := range bySeg {
		for _, ev := range evs {
			g := parse(t, ev.Data)
			k := fmt.Sprintf("%s/k%d", g.writer, g.key)
			if g.n != last[k]+1 {
				t.Fatalf("segment %s offset %d: %s event %d after %d", id, ev.Offset, k, g.n, last[k])
			}
			last[k] = g.n
		}
	}
	return last
}

// clock is a manual clock: tests move time, nothing sleeps.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
