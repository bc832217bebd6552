package stream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/wal"
)

func TestScopesAndStreams(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	if err := s.CreateStream(ctx, cams, stream.StreamConfig{}); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("stream in a missing scope: %v", err)
	}
	createStream(t, s, cams, stream.StreamConfig{Segments: 4})
	if err := s.CreateScope(ctx, "surgery"); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("second scope: %v", err)
	}
	if err := s.CreateStream(ctx, cams, stream.StreamConfig{}); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("second stream: %v", err)
	}
	for _, cfg := range []stream.StreamConfig{{Segments: -1}, {Segments: stream.MaxSegments + 1}, {Retention: stream.RetentionPolicy{MaxBytes: -5}}} {
		if err := s.CreateStream(ctx, stream.StreamName{Scope: "surgery", Stream: "bad"}, cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if err := s.CreateScope(ctx, "Bad_Name"); err == nil || !strings.Contains(err.Error(), "Bad_Name") {
		t.Fatalf("bad scope name: %v", err)
	}
	info, err := s.Stream(cams)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Segments) != 4 || info.Segments[0].Range.Low != 0 || info.Segments[3].Range.High != 1 {
		t.Fatalf("segments %+v", info.Segments)
	}
	for i, seg := range info.Segments {
		if seg.ID != stream.NewSegmentID(0, uint32(i)) || (i > 0 && seg.Range.Low != info.Segments[i-1].Range.High) {
			t.Fatalf("segment %d: %+v", i, seg)
		}
	}
	other := stream.StreamName{Scope: "surgery", Stream: "audio"}
	if err := s.CreateStream(ctx, other, stream.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.Streams("surgery"); fmt.Sprint(names) != "[audio cams]" {
		t.Fatalf("Streams = %v", names)
	}
	if err := s.DeleteScope(ctx, "surgery"); err == nil {
		t.Fatal("deleted a scope with streams")
	}
	if err := s.DeleteStream(ctx, other); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	if fmt.Sprint(s.Scopes()) != "[surgery]" {
		t.Fatalf("scopes after reopen: %v", s.Scopes())
	}
	if names, _ := s.Streams("surgery"); fmt.Sprint(names) != "[cams]" {
		t.Fatalf("streams after reopen: %v", names)
	}
	if again, _ := s.Stream(cams); fmt.Sprint(again.Segments) != fmt.Sprint(info.Segments) || !again.Created.Equal(info.Created) {
		t.Fatalf("stream after reopen %+v, want %+v", again, info)
	}
}

func TestBadAppendsAndReads(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	ctx := context.Background()
	bad := []stream.AppendRequest{
		{Stream: cams},
		{Stream: stream.StreamName{Scope: "surgery", Stream: "nope"}, Events: [][]byte{{1}}},
		{Stream: cams, Events: [][]byte{make([]byte, stream.MaxAppendBytes+1)}},
		{Stream: cams, Events: [][]byte{{1}}, Seq: 3},
		{Stream: cams, Events: [][]byte{{1}}, WriterID: "w", Seq: 0},
		{Stream: cams, Events: [][]byte{{1}}, WriterID: "bad id", Seq: 1},
	}
	for _, req := range bad {
		if _, err := s.Append(ctx, req); err == nil {
			t.Errorf("append %+v accepted", req)
		}
	}
	r, err := s.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{[]byte("hello")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadSegment(ctx, cams, r.Segment, 2, stream.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "not at the start of an event") {
		t.Fatalf("read from inside an event: %v", err)
	}
	if _, err := s.ReadSegment(ctx, cams, r.Segment, 1000, stream.ReadOptions{}); err == nil {
		t.Fatal("read beyond the end succeeded")
	}
	if _, err := s.ReadSegment(ctx, cams, stream.NewSegmentID(5, 5), 0, stream.ReadOptions{}); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("read of a missing segment: %v", err)
	}
}

func TestPerKeyOrderWithConcurrentWriters(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 4})
	const writers, keys, each = 8, 6, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wr, err := s.NewWriter(cams, fmt.Sprintf("w%d", w))
			if err != nil {
				t.Error(err)
				return
			}
			ctx := context.Background()
			// Half the writers pipeline (async, then flush); the others wait
			// for each event. Either way order per key must hold.
			var acks []*stream.Ack
			for n := 1; n <= each; n++ {
				for k := range keys {
					if w%2 == 0 {
						if err := wr.Write(ctx, fmt.Sprintf("key-%d", k), payload(wr.ID(), k, n)); err != nil {
							t.Error(err)
							return
						}
						continue
					}
					ack, err := wr.WriteAsync(ctx, fmt.Sprintf("key-%d", k), payload(wr.ID(), k, n))
					if err != nil {
						t.Error(err)
						return
					}
					acks = append(acks, ack)
				}
			}
			if err := wr.Flush(ctx); err != nil {
				t.Error(err)
			}
			for _, a := range acks {
				select {
				case <-a.Done():
				default:
					t.Error("an append is not acknowledged after Flush")
					return
				}
				if _, err := a.Wait(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	bySeg := readStream(t, s, cams)
	used := 0
	for _, evs := range bySeg {
		if len(evs) > 0 {
			used++
		}
	}
	if used < 3 {
		t.Fatalf("only %d of 4 segments got events", used)
	}
	last := checkPerKeyOrder(t, bySeg)
	if len(last) != writers*keys {
		t.Fatalf("%d writer/key pairs, want %d", len(last), writers*keys)
	}
	for k, n := range last {
		if n != each {
			t.Fatalf("%s: %d events, want %d", k, n, each)
		}
	}
	if st := s.LogStats(); st.Syncs >= st.Records {
		t.Errorf("no group commit: %+v", st)
	}
}

func TestTailReadWakesAndStops(t *testing.T) {
	s := openStore(t, t.TempDir())
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	ctx := context.Background()
	seg := stream.NewSegmentID(0, 0)
	before := runtime.NumGoroutine()

	got := make(chan stream.Batch, 1)
	errc := make(chan error, 3)
	go func() {
		b, err := s.ReadSegment(ctx, cams, seg, 0, stream.ReadOptions{})
		errc <- err
		got <- b
	}()
	if _, err := s.Append(ctx, stream.AppendRequest{Stream: cams, Events: [][]byte{[]byte("first")}}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if b := <-got; len(b.Events) != 1 || string(b.Events[0].Data) != "first" || b.Next != 4+5 {
		t.Fatalf("tail read got %+v", b)
	}

	// A tail read returns when its context ends...
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := s.ReadSegment(cctx, cams, seg, 9, stream.ReadOptions{})
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled tail read: %v", err)
	}
	// ...and when the store closes.
	go func() {
		_, err := s.ReadSegment(ctx, cams, seg, 9, stream.ReadOptions{})
		errc <- err
	}()
	waitFor(t, func() bool { return runtime.NumGoroutine() > before })
	s.Close()
	if err := <-errc; !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("tail read at close: %v", err)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before })
}

// waitFor polls a condition that another goroutine will make true.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCatchUpAfterManyWrites(t *testing.T) {
	dir := t.TempDir()
	small := func(o *stream.Options) { o.CacheBytes = 32 << 10; o.MaxLogFileBytes = 256 << 10 }
	s := openStore(t, dir, small)
	createStream(t, s, cams, stream.StreamConfig{Segments: 3})
	const keys, each = 10, 600
	var wg sync.WaitGroup
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, _ := s.NewWriter(cams, fmt.Sprintf("k%d", k))
			for n := 1; n <= each; n++ {
				ack, err := w.WriteAsync(context.Background(), fmt.Sprint(k), payload(w.ID(), k, n))
				if err != nil {
					t.Error(err)
					return
				}
				_ = ack
			}
			if err := w.Flush(context.Background()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	want := readStream(t, s, cams)
	s.Close()

	// Cold: nothing cached, the small cache forces reads from the log.
	s = openStore(t, dir, small)
	defer s.Close()
	got := readStream(t, s, cams)
	total := 0
	for id, evs := range got {
		if len(evs) != len(want[id]) {
			t.Fatalf("segment %s: %d events after reopen, %d before", id, len(evs), len(want[id]))
		}
		for i := range evs {
			if !bytes.Equal(evs[i].Data, want[id][i].Data) || evs[i].Offset != want[id][i].Offset {
				t.Fatalf("segment %s event %d differs after reopen", id, i)
			}
		}
		total += len(evs)
	}
	if total != keys*each {
		t.Fatalf("%d events, want %d", total, keys*each)
	}
	checkPerKeyOrder(t, got)
	// Catch up from the middle of a segment.
	for id, evs := range got {
		mid := evs[len(evs)/2]
		rest := readSegment(t, s, cams, id, mid.Offset, 1<<20)
		if len(rest) != len(evs)-len(evs)/2 || !bytes.Equal(rest[0].Data, mid.Data) {
			t.Fatalf("segment %s from %d: %d events", id, mid.Offset, len(rest))
		}
	}
}

func TestIdempotentWriterAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	ctx := context.Background()
	app := func(s *stream.Store, seq int64) stream.AppendResult {
		t.Helper()
		r, err := s.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{payload("w", 0, int(seq))}, WriterID: "w", Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for seq := int64(1); seq <= 3; seq++ {
		if r := app(s, seq); r.Duplicate {
			t.Fatalf("seq %d dropped", seq)
		}
	}
	if r := app(s, 2); !r.Duplicate || r.Offset != -1 {
		t.Fatalf("retry of seq 2: %+v", r)
	}
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	if r := app(s, 3); !r.Duplicate {
		t.Fatal("retry of seq 3 after a restart was stored again")
	}
	if r := app(s, 4); r.Duplicate {
		t.Fatal("seq 4 dropped")
	}
	w, err := s.NewWriter(cams, "w")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, "k", payload("w", 0, 5)); err != nil {
		t.Fatal(err)
	}
	last := checkPerKeyOrder(t, readStream(t, s, cams))
	if last["w/k0"] != 5 {
		t.Fatalf("events per key: %v", last)
	}
}

func TestTruncateAndCompact(t *testing.T) {
	dir := t.TempDir()
	small := func(o *stream.Options) { o.MaxLogFileBytes = 4 << 10 }
	s := openStore(t, dir, small)
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	ctx := context.Background()
	w, _ := s.NewWriter(cams, "w")
	for n := 1; n <= 300; n++ {
		if err := w.Write(ctx, "k", payload("w", 0, n)); err != nil {
			t.Fatal(err)
		}
	}
	seg := stream.NewSegmentID(0, 0)
	evs := readSegment(t, s, cams, seg, 0, 1<<20)
	cut := stream.StreamCut{seg: evs[250].Offset}

	if err := s.Truncate(ctx, cams, stream.StreamCut{seg: evs[250].Offset + 1}); err == nil {
		t.Fatal("truncation inside an event accepted")
	}
	if err := s.Truncate(ctx, cams, stream.StreamCut{seg: 1 << 40}); err == nil {
		t.Fatal("truncation beyond the end accepted")
	}
	if err := s.Truncate(ctx, cams, stream.StreamCut{stream.NewSegmentID(0, 9): 0}); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("truncation of a missing segment: %v", err)
	}
	filesBefore := logFiles(t, dir)
	if err := s.Truncate(ctx, cams, cut); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadSegment(ctx, cams, seg, 0, stream.ReadOptions{}); !errors.Is(err, stream.ErrTruncated) {
		t.Fatalf("read before the start: %v", err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if after := logFiles(t, dir); after >= filesBefore {
		t.Fatalf("compaction left %d log files of %d", after, filesBefore)
	}
	// More events after the compaction, then a restart from the
	// checkpoint.
	for n := 301; n <= 310; n++ {
		if err := w.Write(ctx, "k", payload("w", 0, n)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	s = openStore(t, dir, small)
	defer s.Close()
	info, _ := s.Stream(cams)
	if info.Segments[0].Start != cut[seg] {
		t.Fatalf("start after reopen %d, want %d", info.Segments[0].Start, cut[seg])
	}
	rest := readSegment(t, s, cams, seg, cut[seg], 1<<20)
	if len(rest) != 60 || parse(t, rest[0].Data).n != 251 || parse(t, rest[59].Data).n != 310 {
		t.Fatalf("after truncation and reopen: %d events from %d", len(rest), parse(t, rest[0].Data).n)
	}
	// The writer's sequence survived the compaction: a retry is dropped.
	r, err := s.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{[]byte("again")}, WriterID: "w", Seq: 310})
	if err != nil || !r.Duplicate {
		t.Fatalf("retry after compaction: %+v %v", r, err)
	}
}

func logFiles(t *testing.T, dir string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

func TestRetentionApplied(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	tweak := func(o *stream.Options) { o.Now = c.now; o.MaxLogFileBytes = 4 << 10 }
	s := openStore(t, dir, tweak)
	ctx := context.Background()
	byAge := stream.StreamName{Scope: "surgery", Stream: "by-age"}
	bySize := stream.StreamName{Scope: "surgery", Stream: "by-size"}
	createStream(t, s, byAge, stream.StreamConfig{Segments: 2, Retention: stream.RetentionPolicy{MaxAge: time.Hour}})
	if err := s.CreateStream(ctx, bySize, stream.StreamConfig{Segments: 2, Retention: stream.RetentionPolicy{MaxBytes: 2000}}); err != nil {
		t.Fatal(err)
	}
	write := func(name stream.StreamName, from, to int) {
		t.Helper()
		for n := from; n <= to; n++ {
			if _, err := s.Append(ctx, stream.AppendRequest{Stream: name, RoutingKey: fmt.Sprint(n % 4), Events: [][]byte{payload("w", n%4, n)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(byAge, 1, 100)
	write(bySize, 1, 200)
	c.advance(90 * time.Minute)
	write(byAge, 101, 120)
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	for _, evs := range readStream(t, s, byAge) {
		for _, ev := range evs {
			if n := parse(t, ev.Data).n; n <= 100 {
				t.Fatalf("event %d, older than an hour, kept", n)
			}
		}
	}
	total, kept := int64(0), 0
	info, _ := s.Stream(bySize)
	for _, seg := range info.Segments {
		total += seg.End - seg.Start
	}
	for _, evs := range readStream(t, s, bySize) {
		kept += len(evs)
	}
	if total > 2000 || total < 1800 || kept == 0 {
		t.Fatalf("size-limited stream holds %d bytes in %d events, want at most 2000 and nearly that", total, kept)
	}
	s.Close()

	s = openStore(t, dir, tweak)
	defer s.Close()
	got := 0
	for _, evs := range readStream(t, s, byAge) {
		got += len(evs)
	}
	if got != 20 {
		t.Fatalf("after reopen the age-limited stream has %d events, want 20", got)
	}
}

func TestDeleteStreamAndCompactFreeTheLog(t *testing.T) {
	dir := t.TempDir()
	small := func(o *stream.Options) { o.MaxLogFileBytes = 4 << 10 }
	s := openStore(t, dir, small)
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	for n := range 300 {
		if _, err := s.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: fmt.Sprint(n), Events: [][]byte{payload("w", 0, n)}}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := s.CreateReaderGroup(ctx, "viewers", cams)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStream(ctx, cams); err == nil {
		t.Fatal("deleted a stream a reader group reads")
	}
	r, _ := g.Join("r1")
	if err := s.DeleteReaderGroup(ctx, "viewers"); err == nil {
		t.Fatal("deleted a group with a reader")
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteReaderGroup(ctx, "viewers"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	before := logFiles(t, dir)
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if after := logFiles(t, dir); after != 1 {
		t.Fatalf("%d log files after deleting everything and compacting (had %d)", after, before)
	}
	s.Close()
	s = openStore(t, dir, small)
	defer s.Close()
	if _, err := s.Stream(cams); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("deleted stream after reopen: %v", err)
	}
	if len(s.ReaderGroups()) != 0 {
		t.Fatalf("groups after reopen: %v", s.ReaderGroups())
	}
}

func TestCorruptLogIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	for n := range 50 {
		if _, err := s.Append(context.Background(), stream.AppendRequest{Stream: cams, Events: [][]byte{payload("w", 0, n)}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("w k0 20"))
	b[i+2] ^= 0x20
	if err := os.WriteFile(files[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Open(context.Background(), stream.Options{Dir: dir})
	if !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), "payload checksum") {
		t.Fatalf("Open of a log damaged in the middle: %v, want a corrupt-record error", err)
	}
	t.Logf("error: %v", err)
}

func TestMetricsAndComponent(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := openStore(t, t.TempDir(), func(o *stream.Options) { o.RetentionInterval = time.Millisecond })
	defer s.Close()
	if err := s.Setup(&component.Host{Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2, Retention: stream.RetentionPolicy{MaxBytes: 1}})
	g, err := s.CreateReaderGroup(ctx, "viewers", cams)
	if err != nil {
		t.Fatal(err)
	}
	for n := range 10 {
		if _, err := s.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: fmt.Sprint(n), Events: [][]byte{[]byte("12345")}}); err != nil {
			t.Fatal(err)
		}
	}
	values := gather(t, reg)
	if v := values[`stream_events_appended_total{scope="surgery",stream="cams"}`]; v != 10 {
		t.Fatalf("events appended = %v", v)
	}
	if v := values[`stream_bytes_appended_total{scope="surgery",stream="cams"}`]; v != 90 {
		t.Fatalf("bytes appended = %v", v)
	}
	if v := values[`stream_reader_group_lag_bytes{group="viewers",scope="surgery",stream="cams"}`]; v != 90 {
		t.Fatalf("reader lag = %v", v)
	}
	if values["stream_wal_fsyncs_total"] < 1 || values["stream_append_seconds_count"] != 10 || values["stream_wal_batch_records_count"] < 1 {
		t.Fatalf("log metrics %v", values)
	}
	_ = g

	// Run applies the retention policy (1 byte: drop everything) until
	// its context ends.
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	waitFor(t, func() bool {
		info, _ := s.Stream(cams)
		return info.Segments[0].Start == info.Segments[0].End && info.Segments[1].Start == info.Segments[1].End
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := gather(t, reg)[`stream_reader_group_lag_bytes{group="viewers",scope="surgery",stream="cams"}`]; v != 0 {
		t.Fatalf("lag after retention dropped everything = %v", v)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if len(labels) > 0 {
				name += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[name] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[name] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
