package stream_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

func TestDecideScaling(t *testing.T) {
	bytes := stream.ScalingPolicy{Kind: stream.ScaleByByteRate, TargetRate: 1000, ScaleFactor: 2, MinSegments: 1}
	events := stream.ScalingPolicy{Kind: stream.ScaleByEventRate, TargetRate: 10, ScaleFactor: 3, MinSegments: 1}
	old := time.Hour
	seg := func(n uint32, low, high, bytesPerSec, eventsPerSec float64, age time.Duration) stream.SegmentLoad {
		return stream.SegmentLoad{ID: stream.NewSegmentID(0, n), Range: stream.KeyRange{Low: low, High: high}, BytesPerSecond: bytesPerSec, EventsPerSecond: eventsPerSec, Age: age}
	}
	split := func(n uint32, ranges ...stream.KeyRange) stream.ScaleAction {
		return stream.ScaleAction{Kind: "split", Seal: []stream.SegmentID{stream.NewSegmentID(0, n)}, Ranges: ranges}
	}
	merge := func(a, b uint32, low, high float64) stream.ScaleAction {
		return stream.ScaleAction{Kind: "merge", Seal: []stream.SegmentID{stream.NewSegmentID(0, a), stream.NewSegmentID(0, b)}, Ranges: []stream.KeyRange{{Low: low, High: high}}}
	}
	withMin := func(p stream.ScalingPolicy, n int) stream.ScalingPolicy { p.MinSegments = n; return p }
	cases := []struct {
		name   string
		policy stream.ScalingPolicy
		segs   []stream.SegmentLoad
		want   []stream.ScaleAction
	}{
		{"fixed never scales", stream.ScalingPolicy{}, []stream.SegmentLoad{seg(0, 0, 1, 1e9, 1e9, old)}, nil},
		{"hot segment splits", bytes, []stream.SegmentLoad{seg(0, 0, 1, 1500, 0, old)},
			[]stream.ScaleAction{split(0, stream.KeyRange{Low: 0, High: 0.5}, stream.KeyRange{Low: 0.5, High: 1})}},
		{"at the target is not hot", bytes, []stream.SegmentLoad{seg(0, 0, 1, 1000, 0, old)}, nil},
		{"a young segment waits for the cool-down", bytes, []stream.SegmentLoad{seg(0, 0, 1, 5000, 0, time.Minute-1)}, nil},
		{"event rate, scale factor 3", events, []stream.SegmentLoad{seg(0, 0, 0.5, 1e9, 11, old), seg(1, 0.5, 1, 0, 9, old)},
			[]stream.ScaleAction{split(0, stream.KeyRange{Low: 0, High: 0.5 / 3}, stream.KeyRange{Low: 0.5 / 3, High: 2 * 0.5 / 3}, stream.KeyRange{Low: 2 * 0.5 / 3, High: 0.5})}},
		{"two cold neighbours merge", bytes, []stream.SegmentLoad{seg(0, 0, 0.5, 499, 0, old), seg(1, 0.5, 1, 0, 0, old)},
			[]stream.ScaleAction{merge(0, 1, 0, 1)}},
		{"a warm neighbour does not merge", bytes, []stream.SegmentLoad{seg(0, 0, 0.5, 499, 0, old), seg(1, 0.5, 1, 500, 0, old)}, nil},
		{"a young neighbour does not merge", bytes, []stream.SegmentLoad{seg(0, 0, 0.5, 0, 0, old), seg(1, 0.5, 1, 0, 0, time.Second)}, nil},
		{"never below the minimum", withMin(bytes, 2), []stream.SegmentLoad{seg(0, 0, 0.5, 0, 0, old), seg(1, 0.5, 1, 0, 0, old)}, nil},
		{"merges left to right down to the minimum, input in any order", withMin(bytes, 2), []stream.SegmentLoad{
			seg(3, 0.75, 1, 0, 0, old), seg(0, 0, 0.25, 0, 0, old), seg(2, 0.5, 0.75, 0, 0, old), seg(1, 0.25, 0.5, 0, 0, old)},
			[]stream.ScaleAction{merge(0, 1, 0, 0.5), merge(2, 3, 0.5, 1)}},
		{"one merge when only one fits above the minimum", withMin(bytes, 3), []stream.SegmentLoad{
			seg(0, 0, 0.25, 0, 0, old), seg(1, 0.25, 0.5, 0, 0, old), seg(2, 0.5, 0.75, 0, 0, old), seg(3, 0.75, 1, 0, 0, old)},
			[]stream.ScaleAction{merge(0, 1, 0, 0.5)}},
		{"split and merge in one round, not the split one", bytes, []stream.SegmentLoad{
			seg(0, 0, 0.25, 0, 0, old), seg(1, 0.25, 0.5, 0, 0, old), seg(2, 0.5, 0.75, 2000, 0, old), seg(3, 0.75, 1, 0, 0, old)},
			[]stream.ScaleAction{split(2, stream.KeyRange{Low: 0.5, High: 0.625}, stream.KeyRange{Low: 0.625, High: 0.75}), merge(0, 1, 0, 0.5)}},
	}
	for _, c := range cases {
		got := stream.DecideScaling(c.policy, c.segs, time.Minute)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	// Splits stop at MaxSegments.
	many := make([]stream.SegmentLoad, stream.MaxSegments-1)
	for i := range many {
		many[i] = seg(uint32(i), float64(i)/float64(len(many)), float64(i+1)/float64(len(many)), 1e6, 0, old)
	}
	if got := stream.DecideScaling(bytes, many, 0); len(got) != 1 {
		t.Errorf("%d splits of %d hot segments with room for one more segment", len(got), len(many))
	}
}

func TestScalingPolicyValidation(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 3, Scaling: stream.ScalingPolicy{Kind: stream.ScaleByByteRate, TargetRate: 1e6}})
	info, _ := s.Stream(cams)
	if p := info.Config.Scaling; p.ScaleFactor != 2 || p.MinSegments != 3 {
		t.Fatalf("defaults: %+v", p)
	}
	bad := []stream.ScalingPolicy{
		{Kind: "sometimes"},
		{Kind: stream.ScaleFixed, TargetRate: 5},
		{Kind: stream.ScaleByEventRate},
		{Kind: stream.ScaleByEventRate, TargetRate: -1},
		{Kind: stream.ScaleByByteRate, TargetRate: 1, ScaleFactor: 1},
		{Kind: stream.ScaleByByteRate, TargetRate: 1, MinSegments: stream.MaxSegments + 1},
	}
	for i, p := range bad {
		if err := s.CreateStream(context.Background(), stream.StreamName{Scope: "surgery", Stream: fmt.Sprint("bad-", i)}, stream.StreamConfig{Scaling: p}); err == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
}

// TestAutoScaleSplitsAHotRangeAndMergesWhenTheLoadStops drives the
// auto-scaler with a fake clock: one simulated second per round, 3000
// bytes/s on keys in [0, 0.5) against a target of 1000 bytes/s per
// segment.
func TestAutoScaleSplitsAHotRangeAndMergesWhenTheLoadStops(t *testing.T) {
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	s := openStore(t, t.TempDir(), func(o *stream.Options) {
		o.Now = c.now
		o.ScaleWindow = 10 * time.Second
		o.ScaleCooldown = 20 * time.Second
	})
	defer s.Close()
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2, Scaling: stream.ScalingPolicy{Kind: stream.ScaleByByteRate, TargetRate: 1000}})
	var hot []string
	for i := 0; len(hot) < 16; i++ {
		if k := fmt.Sprint("hot-", i); stream.KeyPosition(k) < 0.5 {
			hot = append(hot, k)
		}
	}
	w, _ := s.NewWriter(cams, "w")
	n := 0
	second := func(load bool) []stream.ScaleAction {
		t.Helper()
		if load {
			n++
			var acks []*stream.Ack
			for k, key := range hot { // 16 × (184 + 4) ≈ 3000 bytes
				ack, err := w.WriteAsync(ctx, key, padded("w", k, n, 184))
				if err != nil {
					t.Fatal(err)
				}
				acks = append(acks, ack)
			}
			for _, a := range acks {
				if _, err := a.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		c.advance(time.Second)
		done, err := s.AutoScale(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	var history []string
	peak := 0
	for sec := 1; sec <= 240; sec++ {
		for _, a := range second(sec <= 120) {
			history = append(history, fmt.Sprintf("t=%d %s", sec, a.Kind))
		}
		info, _ := s.Stream(cams)
		peak = max(peak, len(info.Active()))
		if sec == 120 {
			// Under load: the hot half was split until each part is below
			// the target; the cold half was left alone.
			active := info.Active()
			if len(active) < 4 || active[len(active)-1].ID != stream.NewSegmentID(0, 1) {
				t.Fatalf("under load: %+v (%v)", active, history)
			}
			loads, _ := s.Loads(cams)
			for _, l := range loads {
				if l.BytesPerSecond > 1000 {
					t.Fatalf("segment %s still at %.0f bytes/s under load (%v)", l.ID, l.BytesPerSecond, history)
				}
			}
		}
	}
	info, _ := s.Stream(cams)
	if len(info.Active()) != 2 {
		t.Fatalf("after the load: %d active segments, want the minimum 2 (%v)", len(info.Active()), history)
	}
	if history[0] != "t=20 split" {
		t.Fatalf("first scale %q, want a split once the cool-down passed", history[0])
	}
	t.Logf("scales: %v; peak %d active segments", history, peak)
	checkSequences(t, readInOrder(t, s), len(hot), 120)
}

// After a restart the rates start again from nothing: the auto-scaler
// judges a segment only after a cool-down of fresh measurements, not at
// once from zero rates.
func TestAutoScaleWaitsAfterARestart(t *testing.T) {
	c := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	opts := func(o *stream.Options) { o.Now = c.now; o.ScaleCooldown = time.Minute }
	s := openStore(t, dir, opts)
	ctx := context.Background()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2, Scaling: stream.ScalingPolicy{Kind: stream.ScaleByEventRate, TargetRate: 100, MinSegments: 1}})
	s.Close()
	c.advance(time.Hour)
	s = openStore(t, dir, opts)
	defer s.Close()
	c.advance(59 * time.Second)
	if done, err := s.AutoScale(ctx); err != nil || len(done) != 0 {
		t.Fatalf("scaled %v (%v) within the cool-down after opening", done, err)
	}
	c.advance(time.Second)
	if done, err := s.AutoScale(ctx); err != nil || len(done) != 1 || done[0].Kind != "merge" {
		t.Fatalf("after the cool-down: %v %v, want the idle segments merged", done, err)
	}
}
