package stream_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Idempotent writers idle for longer than WriterExpiry are forgotten by a
// retention pass (a retry of their old append is then stored again); the
// others are kept, and when each writer last appended survives a restart.
func TestIdleWritersAreForgotten(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	open := func() *stream.Store {
		return openStore(t, dir, func(o *stream.Options) { o.Now = clock.Now })
	}
	s := open()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	appendAs := func(s *stream.Store, writer string) stream.AppendResult {
		t.Helper()
		res, err := s.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{[]byte(writer)}, WriterID: writer, Seq: 1})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	appendAs(s, "ingest-run-1")
	clock.Add(23 * time.Hour)
	appendAs(s, "ingest-run-2")
	clock.Add(2 * time.Hour) // run 1 idle for 25 h, run 2 for 2 h

	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if res := appendAs(s, "ingest-run-2"); !res.Duplicate {
		t.Fatal("a writer idle for 2 h was forgotten: its retry was stored again")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	defer s.Close()
	clock.Add(23 * time.Hour) // run 2 idle for 25 h, counted from its append, not the restart
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ingest-run-1", "ingest-run-2"} {
		if res := appendAs(s, w); res.Duplicate {
			t.Fatalf("%s, idle for more than a day, is still remembered: its retry was dropped", w)
		}
	}
}
