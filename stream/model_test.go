package stream_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

func TestKeyPosition(t *testing.T) {
	// The hash is part of the stored format: these values must not change.
	golden := map[string]float64{}
	for _, k := range []string{"", "a", "camera-1", "camera-2"} {
		golden[k] = stream.KeyPosition(k)
	}
	for k, p := range golden {
		if p < 0 || p >= 1 {
			t.Fatalf("KeyPosition(%q) = %v, outside [0, 1)", k, p)
		}
		if again := stream.KeyPosition(k); again != p {
			t.Fatalf("KeyPosition(%q) is not stable: %v then %v", k, p, again)
		}
	}
	if got := fmt.Sprintf("%.6f %.6f", stream.KeyPosition("camera-1"), stream.KeyPosition("")); got != pinnedPositions {
		t.Fatalf("KeyPosition changed: %s, want %s", got, pinnedPositions)
	}
	// Similar keys spread evenly over four quarters.
	var quarters [4]int
	const n = 20000
	for i := range n {
		quarters[int(stream.KeyPosition(fmt.Sprintf("key-%d", i))*4)]++
	}
	for q, c := range quarters {
		if c < n/4*9/10 || c > n/4*11/10 {
			t.Fatalf("quarter %d got %d of %d keys: %v", q, c, n, quarters)
		}
	}
}

// pinnedPositions are KeyPosition("camera-1") and KeyPosition(""), checked
// against an independent implementation of the documented hash.
const pinnedPositions = "0.687327 0.936769"

func TestSegmentID(t *testing.T) {
	id := stream.NewSegmentID(3, 17)
	if id.Epoch() != 3 || id.Number() != 17 || id.String() != "17.#epoch.3" {
		t.Fatalf("id %d: epoch %d number %d %q", id, id.Epoch(), id.Number(), id)
	}
	back, err := stream.ParseSegmentID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseSegmentID(%q) = %v, %v", id, back, err)
	}
	for _, bad := range []string{"", "17", "x.#epoch.3", "17.#epoch.", "17.#epoch.99999999999"} {
		if _, err := stream.ParseSegmentID(bad); err == nil {
			t.Errorf("ParseSegmentID(%q) succeeded", bad)
		}
	}
}

func TestAssign(t *testing.T) {
	segs := []stream.SegmentID{0, 1, 2, 3, 4, 5, 6}
	if got := stream.Assign(segs, nil, nil); len(got) != 0 {
		t.Fatalf("no readers: %v", got)
	}
	one := stream.Assign(segs, []string{"a"}, nil)
	for _, s := range segs {
		if one[s] != "a" {
			t.Fatalf("one reader: %v", one)
		}
	}
	three := stream.Assign(segs, []string{"c", "a", "b"}, one)
	if loads := loadsOf(three); fmt.Sprint(loads) != "map[a:3 b:2 c:2]" {
		t.Fatalf("three readers: loads %v", loads)
	}
	if moved := moves(one, three); moved != 4 {
		t.Fatalf("going from one to three readers moved %d segments, want 4", moved)
	}
	// A reader joins: only the newcomer's share moves.
	four := stream.Assign(segs, []string{"a", "b", "c", "d"}, three)
	if moved := moves(three, four); moved != len(segs)/4 {
		t.Fatalf("a fourth reader moved %d segments, want %d: %v -> %v", moved, len(segs)/4, three, four)
	}
	// A reader leaves: only its segments move.
	left := stream.Assign(segs, []string{"a", "c", "d"}, four)
	if moved := moves(four, left); moved != loadsOf(four)["b"] {
		t.Fatalf("b leaving moved %d segments, b had %d", moved, loadsOf(four)["b"])
	}
	// Deterministic whatever the order of inputs.
	reversed := slices.Clone(segs)
	slices.Reverse(reversed)
	if again := stream.Assign(reversed, []string{"d", "c", "a"}, four); fmt.Sprint(again) != fmt.Sprint(left) {
		t.Fatalf("not deterministic: %v vs %v", again, left)
	}
}

func TestAssignInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	current := map[stream.SegmentID]string{}
	for round := range 500 {
		nseg, nread := rng.IntN(20), rng.IntN(8)
		segs := make([]stream.SegmentID, nseg)
		for i := range segs {
			segs[i] = stream.NewSegmentID(0, uint32(i))
		}
		var readers []string
		for i := range nread {
			if rng.IntN(3) > 0 {
				readers = append(readers, fmt.Sprintf("r%d", i))
			}
		}
		got := stream.Assign(segs, readers, current)
		if len(readers) == 0 {
			if len(got) != 0 {
				t.Fatalf("round %d: assigned with no readers", round)
			}
			continue
		}
		loads := loadsOf(got)
		lo, hi := nseg, 0
		for _, r := range readers {
			lo, hi = min(lo, loads[r]), max(hi, loads[r])
		}
		if len(got) != nseg || hi-lo > 1 {
			t.Fatalf("round %d: %d of %d segments assigned, loads %v", round, len(got), nseg, loads)
		}
		for s, r := range got {
			if !slices.Contains(readers, r) {
				t.Fatalf("round %d: segment %d to %q, not a reader", round, s, r)
			}
			// Sticky: a segment whose reader is still here and not over
			// its share stays.
			if old, ok := current[s]; ok && slices.Contains(readers, old) && old != r && loads[old] < hi-1 {
				t.Fatalf("round %d: segment %d moved from %q (load %d) to %q", round, s, old, loads[old], r)
			}
		}
		current = got
	}
}

func loadsOf(a map[stream.SegmentID]string) map[string]int {
	out := map[string]int{}
	for _, r := range a {
		out[r]++
	}
	return out
}

func moves(from, to map[stream.SegmentID]string) int {
	n := 0
	for s, r := range to {
		if from[s] != r {
			n++
		}
	}
	return n
}

func TestRetentionCut(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	// Segment 0: records at offsets 0, 100, 200 (ends 300) appended at
	// minutes 0, 10, 20. Segment 1: records at 0, 50 (ends 80) at minutes
	// 5, 25, but truncated at 60 (inside its second record's range is not
	// possible; 60 is an event boundary inside the record starting at 50).
	segs := []stream.SegmentExtent{
		{Segment: 0, Start: 0, End: 300, Marks: []stream.Mark{{0, at(0)}, {100, at(10)}, {200, at(20)}}},
		{Segment: 1, Start: 60, End: 80, Marks: []stream.Mark{{0, at(5)}, {50, at(25)}}},
	}
	cases := []struct {
		name   string
		policy stream.RetentionPolicy
		now    time.Time
		want   string
	}{
		{"no policy", stream.RetentionPolicy{}, at(100), "map[]"},
		{"nothing old enough", stream.RetentionPolicy{MaxAge: time.Hour}, at(30), "map[]"},
		{"age drops the first two records of segment 0", stream.RetentionPolicy{MaxAge: 15 * time.Minute}, at(30), "map[0.#epoch.0:200]"},
		{"age at the boundary keeps the record", stream.RetentionPolicy{MaxAge: 20 * time.Minute}, at(30), "map[0.#epoch.0:100]"},
		{"age drops everything", stream.RetentionPolicy{MaxAge: time.Minute}, at(100), "map[0.#epoch.0:300 1.#epoch.0:80]"},
		{"size within limit", stream.RetentionPolicy{MaxBytes: 320}, at(30), "map[]"},
		// 320 bytes held; dropping the oldest (segment 0 at minute 0, 100
		// bytes) leaves 220.
		{"size drops the oldest record", stream.RetentionPolicy{MaxBytes: 300}, at(30), "map[0.#epoch.0:100]"},
		// Next oldest are segment 0 at 10 (100) then segment 0 at 20
		// (100): 220 -> 120 -> 20, the last one segment 1's 20 bytes.
		{"size drops across segments by age", stream.RetentionPolicy{MaxBytes: 50}, at(30), "map[0.#epoch.0:300]"},
		{"size zero-ish drops all", stream.RetentionPolicy{MaxBytes: 1}, at(30), "map[0.#epoch.0:300 1.#epoch.0:80]"},
		{"both limits", stream.RetentionPolicy{MaxAge: 25 * time.Minute, MaxBytes: 150}, at(30), "map[0.#epoch.0:200]"},
	}
	for _, c := range cases {
		got := stream.RetentionCut(c.policy, c.now, segs)
		if s := fmt.Sprint(map[stream.SegmentID]int64(got)); s != c.want {
			t.Errorf("%s: %s, want %s", c.name, s, c.want)
		}
	}
}

func TestNamesAreValidated(t *testing.T) {
	for _, bad := range []stream.StreamName{
		{Scope: "", Stream: "s"}, {Scope: "Upper", Stream: "s"}, {Scope: "a", Stream: "-lead"},
		{Scope: "a", Stream: "trail-"}, {Scope: "a", Stream: "has space"}, {Scope: "a", Stream: strings.Repeat("x", 64)},
		{Scope: "a", Stream: "dot.ted"},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := (stream.StreamName{Scope: "surgery", Stream: "cam-01"}).Validate(); err != nil {
		t.Fatal(err)
	}
}
