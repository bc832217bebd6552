package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// keyIn returns a routing key whose position falls in r.
func keyIn(t testing.TB, r stream.KeyRange) string {
	t.Helper()
	for i := range 100000 {
		k := fmt.Sprintf("key-%d", i)
		if r.Contains(stream.KeyPosition(k)) {
			return k
		}
	}
	t.Fatalf("no key in %+v", r)
	return ""
}

func appendOne(t testing.TB, s *stream.Store, key, data string) stream.AppendResult {
	t.Helper()
	r, err := s.Append(context.Background(), stream.AppendRequest{Stream: cams, RoutingKey: key, Events: [][]byte{[]byte(data)}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func segmentByID(t testing.TB, info stream.StreamInfo, id stream.SegmentID) stream.SegmentInfo {
	t.Helper()
	for _, seg := range info.Segments {
		if seg.ID == id {
			return seg
		}
	}
	t.Fatalf("segment %s not in %+v", id, info.Segments)
	return stream.SegmentInfo{}
}

func TestScaleSplitsAndMerges(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	s0, s1 := stream.NewSegmentID(0, 0), stream.NewSegmentID(0, 1)
	low := keyIn(t, stream.KeyRange{Low: 0, High: 0.25})
	mid := keyIn(t, stream.KeyRange{Low: 0.25, High: 0.5})
	if r := appendOne(t, s, low, "before"); r.Segment != s0 {
		t.Fatalf("appended to %s, want %s", r.Segment, s0)
	}

	// A tail read of segment 0 waits; the split wakes it and says sealed.
	tail := make(chan stream.Batch, 1)
	go func() {
		b, err := s.ReadSegment(ctx, cams, s0, 10, stream.ReadOptions{})
		if err != nil {
			t.Error(err)
		}
		tail <- b
	}()
	created, err := s.SplitSegment(ctx, cams, s0, 2)
	if err != nil {
		t.Fatal(err)
	}
	s2, s3 := stream.NewSegmentID(1, 2), stream.NewSegmentID(1, 3)
	if len(created) != 2 || created[0].ID != s2 || created[1].ID != s3 || created[0].Range != (stream.KeyRange{Low: 0, High: 0.25}) ||
		created[1].Range != (stream.KeyRange{Low: 0.25, High: 0.5}) || !slices.Equal(created[0].Predecessors, []stream.SegmentID{s0}) || created[0].Epoch != 1 {
		t.Fatalf("split made %+v", created)
	}
	select {
	case b := <-tail:
		if !b.Sealed || len(b.Events) != 0 || b.Next != 10 || !slices.Equal(b.Successors, []stream.SegmentID{s2, s3}) {
			t.Fatalf("tail read of the sealed segment returned %+v", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the tail read was not woken by the seal")
	}
	// At its end a sealed segment answers at once, also without NoWait;
	// a read that reaches the end says sealed too.
	b, err := s.ReadSegment(ctx, cams, s0, 0, stream.ReadOptions{})
	if err != nil || len(b.Events) != 1 || !b.Sealed || b.Next != 10 {
		t.Fatalf("read of the sealed segment: %+v %v", b, err)
	}
	if r := appendOne(t, s, low, "after"); r.Segment != s2 {
		t.Fatalf("appended to %s after the split, want %s", r.Segment, s2)
	}
	if r := appendOne(t, s, mid, "after"); r.Segment != s3 {
		t.Fatalf("appended to %s after the split, want %s", r.Segment, s3)
	}

	// Merge 3 and 1: epoch 2, number 4.
	merged, err := s.MergeSegments(ctx, cams, []stream.SegmentID{s1, s3})
	if err != nil {
		t.Fatal(err)
	}
	s4 := stream.NewSegmentID(2, 4)
	if len(merged) != 1 || merged[0].ID != s4 || merged[0].Range != (stream.KeyRange{Low: 0.25, High: 1}) || !slices.Equal(merged[0].Predecessors, []stream.SegmentID{s3, s1}) {
		t.Fatalf("merge made %+v", merged)
	}
	info, err := s.Stream(cams)
	if err != nil {
		t.Fatal(err)
	}
	// Segment 1 never held data and has no predecessors: sealed, it is
	// gone at once.
	if info.Epoch != 2 || len(info.Segments) != 4 || len(info.Active()) != 2 || info.Active()[0].ID != s2 || info.Active()[1].ID != s4 {
		t.Fatalf("stream after split and merge: %+v", info)
	}
	if sealed := segmentByID(t, info, s3); !sealed.Sealed || !slices.Equal(sealed.Successors, []stream.SegmentID{s4}) || sealed.End != 9 {
		t.Fatalf("segment 3 after the merge: %+v", sealed)
	}

	// Bad scales, each with an error saying what is wrong.
	bad := []struct {
		seal   []stream.SegmentID
		ranges []stream.KeyRange
		want   string
		is     error
	}{
		{[]stream.SegmentID{s0}, []stream.KeyRange{{Low: 0, High: 0.5}}, "sealed", stream.ErrSealed},
		{[]stream.SegmentID{stream.NewSegmentID(7, 7)}, []stream.KeyRange{{Low: 0, High: 1}}, "7.#epoch.7", stream.ErrNotFound},
		{nil, []stream.KeyRange{{Low: 0, High: 1}}, "no segments", nil},
		{[]stream.SegmentID{s2}, nil, "no key ranges", nil},
		{[]stream.SegmentID{s2, s2}, []stream.KeyRange{{Low: 0, High: 0.25}}, "twice", nil},
		{[]stream.SegmentID{s2}, []stream.KeyRange{{Low: 0, High: 0.1}, {Low: 0.2, High: 0.25}}, "range 1 starts at 0.2", nil},
		{[]stream.SegmentID{s2}, []stream.KeyRange{{Low: 0, High: 0.3}}, "end at 0.3", nil},
		{[]stream.SegmentID{s2}, []stream.KeyRange{{Low: 0, High: 0}, {Low: 0, High: 0.25}}, "range 0 [0, 0) is empty", nil},
	}
	for _, c := range bad {
		_, err := s.Scale(ctx, cams, c.seal, c.ranges)
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("Scale(%v, %v) = %v, want an error with %q", c.seal, c.ranges, err, c.want)
		}
	}
	if _, err := s.SplitSegment(ctx, cams, s2, 1); err == nil {
		t.Error("split into 1 part accepted")
	}
	other := stream.StreamName{Scope: "surgery", Stream: "three"}
	if err := s.CreateStream(ctx, other, stream.StreamConfig{Segments: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MergeSegments(ctx, other, []stream.SegmentID{0, 2}); err == nil || !strings.Contains(err.Error(), "not adjacent") {
		t.Errorf("merging segments 0 and 2 of 3: %v", err)
	}

	// The state survives a restart from the log, and from a checkpoint;
	// numbers are not reused after either.
	s.Close()
	s = openStore(t, dir)
	again, err := s.Stream(cams)
	if err != nil || !reflect.DeepEqual(again, info) {
		t.Fatalf("after replay:\n%+v\nwant\n%+v (%v)", again, info, err)
	}
	if err := s.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	again, err = s.Stream(cams)
	if err != nil || !reflect.DeepEqual(again, info) {
		t.Fatalf("after a checkpoint:\n%+v\nwant\n%+v (%v)", again, info, err)
	}
	if r := appendOne(t, s, mid, "after restart"); r.Segment != s4 {
		t.Fatalf("appended to %s after the restart, want %s", r.Segment, s4)
	}
	next, err := s.SplitSegment(ctx, cams, s4, 3)
	if err != nil || next[0].ID != stream.NewSegmentID(3, 5) || next[2].ID != stream.NewSegmentID(3, 7) || next[2].Range.High != 1 {
		t.Fatalf("split after restart: %+v %v", next, err)
	}
	evs := readSegment(t, s, cams, s0, 0, 1024)
	if len(evs) != 1 || string(evs[0].Data) != "before" {
		t.Fatalf("sealed segment holds %v", evs)
	}
}

func TestSplitRangeAndReadOrder(t *testing.T) {
	parts, err := stream.SplitRange(stream.KeyRange{Low: 0.1, High: 0.7}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || parts[0].Low != 0.1 || parts[2].High != 0.7 || parts[0].High != parts[1].Low || parts[1].High != parts[2].Low {
		t.Fatalf("parts %+v", parts)
	}
	for _, n := range []int{0, 1, stream.MaxSegments + 1} {
		if _, err := stream.SplitRange(stream.KeyRange{Low: 0, High: 1}, n); err == nil {
			t.Errorf("split into %d accepted", n)
		}
	}
	if _, err := stream.SplitRange(stream.KeyRange{Low: 0.5, High: 0.5}, 2); err == nil {
		t.Error("split of an empty range accepted")
	}
	// Successors come after all their predecessors whatever the input
	// order.
	segs := []stream.SegmentInfo{
		{ID: stream.NewSegmentID(2, 4), Predecessors: []stream.SegmentID{stream.NewSegmentID(1, 3), 1}},
		{ID: 1, Successors: []stream.SegmentID{stream.NewSegmentID(2, 4)}},
		{ID: stream.NewSegmentID(1, 3), Predecessors: []stream.SegmentID{0}},
		{ID: stream.NewSegmentID(1, 2), Predecessors: []stream.SegmentID{0}},
		{ID: 0},
	}
	ordered := stream.ReadOrder(segs)
	at := map[stream.SegmentID]int{}
	for i, s := range ordered {
		at[s.ID] = i
	}
	for _, s := range ordered {
		for _, p := range s.Predecessors {
			if at[p] > at[s.ID] {
				t.Fatalf("predecessor %s after %s in %v", p, s.ID, ordered)
			}
		}
	}
	if len(ordered) != len(segs) || segs[0].ID != stream.NewSegmentID(2, 4) {
		t.Fatal("ReadOrder changed its input or lost segments")
	}
}

// readInOrder reads every segment of the stream, in ReadOrder, and returns
// the events of each (writer, key) in the order read.
func readInOrder(t testing.TB, s *stream.Store) map[string][]int {
	t.Helper()
	info, err := s.Stream(cams)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for _, seg := range stream.ReadOrder(info.Segments) {
		for _, ev := range readSegment(t, s, cams, seg.ID, seg.Start, 64<<10) {
			g := parse(t, ev.Data)
			k := fmt.Sprintf("%s/k%d", g.writer, g.key)
			out[k] = append(out[k], g.n)
		}
	}
	return out
}

// checkSequences checks that every key counts 1..each once, in order.
func checkSequences(t testing.TB, got map[string][]int, keys, each int) {
	t.Helper()
	if len(got) != keys {
		t.Fatalf("%d keys read, want %d", len(got), keys)
	}
	for k, ns := range got {
		for i, n := range ns {
			if n != i+1 {
				t.Fatalf("key %s: event %d is %d (%v...)", k, i, n, ns[max(0, i-3):i+1])
			}
		}
		if len(ns) != each {
			t.Fatalf("key %s: %d events, want %d", k, len(ns), each)
		}
	}
}

// scaleRandomly splits and merges random active segments until stop is
// closed or n scales were made, and returns how many it made.
func scaleRandomly(t testing.TB, s *stream.Store, rng *rand.Rand, n int, stop <-chan struct{}) int {
	ctx := context.Background()
	made := 0
	for made < n {
		select {
		case <-stop:
			return made
		default:
		}
		info, err := s.Stream(cams)
		if err != nil {
			t.Error(err)
			return made
		}
		active := info.Active()
		if len(active) < 2 || (len(active) < 6 && rng.IntN(2) == 0) {
			seg := active[rng.IntN(len(active))]
			_, err = s.SplitSegment(ctx, cams, seg.ID, 2+rng.IntN(2))
		} else {
			i := rng.IntN(len(active) - 1)
			_, err = s.MergeSegments(ctx, cams, []stream.SegmentID{active[i].ID, active[i+1].ID})
		}
		if err != nil {
			t.Error(err)
			return made
		}
		made++
	}
	return made
}

func TestScaleDuringWritesKeepsPerKeyOrderExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, func(o *stream.Options) { o.WriterInFlight = 16 })
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	ctx := context.Background()
	const writers, keys, each = 4, 8, 150
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			wr, err := s.NewWriter(cams, fmt.Sprintf("w%d", w))
			if err != nil {
				t.Error(err)
				return
			}
			var acks []*stream.Ack
			for n := 1; n <= each; n++ {
				for k := range keys {
					ack, err := wr.WriteAsync(ctx, fmt.Sprintf("w%d-key-%d", w, k), payload(wr.ID(), k, n))
					if err != nil {
						t.Error(err)
						return
					}
					acks = append(acks, ack)
				}
			}
			for _, a := range acks {
				if _, err := a.Wait(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	stop := make(chan struct{})
	scales := make(chan int, 1)
	go func() { scales <- scaleRandomly(t, s, rand.New(rand.NewPCG(1, 2)), 40, stop) }()
	wg.Wait()
	close(stop)
	made := <-scales
	if made < 2 {
		t.Fatalf("only %d scales happened during the writes", made)
	}
	checkSequences(t, readInOrder(t, s), writers*keys, each)
	info, _ := s.Stream(cams)
	t.Logf("%d scales during the writes, epoch %d, %d segments", made, info.Epoch, len(info.Segments))

	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	checkSequences(t, readInOrder(t, s), writers*keys, each)
}

func TestIdempotentWriterSurvivesASplit(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	ctx := context.Background()
	req := func(seq int64, data string) stream.AppendRequest {
		return stream.AppendRequest{Stream: cams, RoutingKey: "camera-1", Events: [][]byte{[]byte(data)}, WriterID: "cam1", Seq: seq}
	}
	for seq := int64(1); seq <= 5; seq++ {
		if _, err := s.Append(ctx, req(seq, fmt.Sprint(seq))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SplitSegment(ctx, cams, 0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MergeSegments(ctx, cams, []stream.SegmentID{stream.NewSegmentID(1, 1), stream.NewSegmentID(1, 2)}); err != nil {
		t.Fatal(err)
	}
	// Retries of appends stored before the scales are dropped in the
	// successor; the next one is stored.
	for _, seq := range []int64{5, 3} {
		r, err := s.Append(ctx, req(seq, "retry"))
		if err != nil || !r.Duplicate || r.Segment.Epoch() != 2 {
			t.Fatalf("retry of seq %d after the split: %+v %v", seq, r, err)
		}
	}
	r, err := s.Append(ctx, req(6, "6"))
	if err != nil || r.Duplicate || r.Segment != stream.NewSegmentID(2, 3) {
		t.Fatalf("seq 6: %+v %v", r, err)
	}
	w, err := s.NewWriter(cams, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, "camera-1", []byte("7")); err != nil {
		t.Fatal(err)
	}
	var got []string
	info, _ := s.Stream(cams)
	for _, seg := range stream.ReadOrder(info.Segments) {
		for _, ev := range readSegment(t, s, cams, seg.ID, seg.Start, 1024) {
			got = append(got, string(ev.Data))
		}
	}
	if strings.Join(got, ",") != "1,2,3,4,5,6,7" {
		t.Fatalf("stream holds %v", got)
	}
}

func TestTruncationAcrossEpochsRemovesFinishedSegments(t *testing.T) {
	dir := t.TempDir()
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := openStore(t, dir, func(o *stream.Options) { o.Now = c.now })
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1, Retention: stream.RetentionPolicy{MaxAge: time.Hour}})
	low := keyIn(t, stream.KeyRange{Low: 0, High: 0.25})
	appendOne(t, s, low, "epoch 0")
	if _, err := s.SplitSegment(ctx, cams, 0, 2); err != nil {
		t.Fatal(err)
	}
	s1, s2 := stream.NewSegmentID(1, 1), stream.NewSegmentID(1, 2)
	appendOne(t, s, low, "epoch 1")
	if _, err := s.SplitSegment(ctx, cams, s1, 2); err != nil {
		t.Fatal(err)
	}
	s3 := stream.NewSegmentID(2, 3)
	appendOne(t, s, low, "epoch 2")

	// Segment 1, wholly truncated, stays while its predecessor 0 holds
	// data: readers must still finish 0 before 1's successors.
	if err := s.Truncate(ctx, cams, stream.StreamCut{s1: 11}); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Stream(cams)
	if len(info.Segments) != 5 || segmentByID(t, info, s1).Start != 11 {
		t.Fatalf("after truncating segment 1: %+v", info.Segments)
	}
	// Retention drops segment 0's old data: 0 goes, and with it 1.
	c.advance(2 * time.Hour)
	appendOne(t, s, low, "new")
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	info, _ = s.Stream(cams)
	var ids []stream.SegmentID
	for _, seg := range info.Segments {
		ids = append(ids, seg.ID)
	}
	if !slices.Equal(ids, []stream.SegmentID{s2, s3, stream.NewSegmentID(2, 4)}) || segmentByID(t, info, s3).Start != segmentByID(t, info, s3).End-7 {
		t.Fatalf("after retention: %+v", info.Segments)
	}
	if _, err := s.ReadSegment(ctx, cams, 0, 0, stream.ReadOptions{NoWait: true}); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("read of a removed segment: %v", err)
	}
	s.Close()
	s = openStore(t, dir, func(o *stream.Options) { o.Now = c.now })
	defer s.Close()
	again, _ := s.Stream(cams)
	if !reflect.DeepEqual(again, info) {
		t.Fatalf("after replay %+v, want %+v", again, info)
	}
}

func TestTierMovesSealedSegmentsCompletely(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	storage, err := lts.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, t.TempDir(), tiered(storage), func(o *stream.Options) { o.ChunkAge = time.Hour })
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	writeEvents(t, s, cams, "w", 8, 20, 100)
	before := readStream(t, s, cams)
	if len(before[0]) == 0 {
		t.Fatal("no data in segment 0")
	}
	if _, err := s.Tier(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countObjects(t, root); n != 0 {
		t.Fatalf("%d chunks tiered before the seal, with a chunk age of an hour", n)
	}
	if _, err := s.SplitSegment(ctx, cams, 0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tier(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countObjects(t, root); n != 1 {
		t.Fatalf("%d chunks after sealing segment 0, want its one", n)
	}
	after := readStream(t, s, cams)
	delete(after, stream.NewSegmentID(1, 2))
	delete(after, stream.NewSegmentID(1, 3))
	sameEvents(t, before, after)
	b, err := s.ReadSegment(ctx, cams, 0, before[0][len(before[0])-1].Offset, stream.ReadOptions{})
	if err != nil || !b.Sealed || len(b.Events) != 1 {
		t.Fatalf("last event of the tiered sealed segment: %+v %v", b, err)
	}
}

func TestScalingMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := openStore(t, t.TempDir(), func(o *stream.Options) { o.Metrics = reg })
	defer s.Close()
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	appendOne(t, s, keyIn(t, stream.KeyRange{Low: 0, High: 0.5}), "12345")
	if _, err := s.SplitSegment(ctx, cams, 0, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MergeSegments(ctx, cams, []stream.SegmentID{stream.NewSegmentID(1, 4), 1}); err != nil {
		t.Fatal(err)
	}
	v := gather(t, reg)
	want := map[string]float64{
		`stream_scaling_events_total{kind="split",scope="surgery",stream="cams"}`: 1,
		`stream_scaling_events_total{kind="merge",scope="surgery",stream="cams"}`: 1,
		`stream_segments{scope="surgery",state="active",stream="cams"}`:           3,
		`stream_segments{scope="surgery",state="sealed",stream="cams"}`:           2, // 0 holds data; 1 (empty) is gone, 4 waits for 0
		`stream_segment_bytes{tier="log"}`:                                        9,
		`stream_segment_bytes{tier="lts"}`:                                        0,
		`stream_lts_lag_bytes`:                                                    9,
		`stream_append_seconds_count`:                                             1,
	}
	for k, w := range want {
		if got, ok := v[k]; !ok || got != w {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, w)
		}
	}
}
