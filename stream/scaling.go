package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Auto-scaling, as Pravega's scaling policies: a stream's policy names a
// rate (events or bytes per second) each segment should stay near. The
// store measures every active segment's rates as exponentially weighted
// averages; DecideScaling, a pure function, turns rates, ranges and ages
// into splits and merges; AutoScale (run by Run every ScaleInterval)
// applies them with Scale.

// ScalingKind names what a scaling policy measures.
type ScalingKind string

// The scaling policies.
const (
	// ScaleFixed keeps the segments the stream has; only Scale changes
	// them. It is the default ("" means it too).
	ScaleFixed ScalingKind = "fixed"
	// ScaleByEventRate keeps each segment near TargetRate events per
	// second.
	ScaleByEventRate ScalingKind = "eventsPerSecond"
	// ScaleByByteRate keeps each segment near TargetRate bytes per second
	// (of segment bytes: events and their 4-byte lengths).
	ScaleByByteRate ScalingKind = "bytesPerSecond"
)

// MergeFraction is how far below the target both of two adjacent
// segments' rates must be for the auto-scaler to merge them. At one half
// the merged segment's rate is below the target, so it is not split again
// at once.
const MergeFraction = 0.5

// ScalingPolicy says when the store splits and merges a stream's segments
// by itself. The zero value is ScaleFixed.
type ScalingPolicy struct {
	Kind ScalingKind `json:"kind,omitempty"`
	// TargetRate is the events or bytes per second a segment should take.
	// A segment whose rate stays above it is split; two adjacent segments
	// whose rates both stay below MergeFraction of it are merged.
	TargetRate float64 `json:"targetRate,omitempty"`
	// ScaleFactor is how many equal parts a split makes, at least 2;
	// 0 means 2.
	ScaleFactor int `json:"scaleFactor,omitempty"`
	// MinSegments is the fewest active segments merges leave; 0 means the
	// stream's initial segment count.
	MinSegments int `json:"minSegments,omitempty"`
}

// IsFixed reports whether the policy never scales.
func (p ScalingPolicy) IsFixed() bool { return p.Kind == "" || p.Kind == ScaleFixed }

func (p ScalingPolicy) withDefaults(segments int) ScalingPolicy {
	if p.IsFixed() {
		if p == (ScalingPolicy{Kind: ScaleFixed}) {
			return ScalingPolicy{}
		}
		return p // validate complains about the other fields
	}
	if p.ScaleFactor == 0 {
		p.ScaleFactor = 2
	}
	if p.MinSegments == 0 {
		p.MinSegments = segments
	}
	return p
}

func (p ScalingPolicy) validate() error {
	switch p.Kind {
	case "", ScaleFixed:
		if p != (ScalingPolicy{Kind: p.Kind}) {
			return fmt.Errorf("stream: scaling: a fixed policy takes no target rate, scale factor or minimum (got %+v)", p)
		}
		return nil
	case ScaleByEventRate, ScaleByByteRate:
	default:
		return fmt.Errorf("stream: scaling: kind %q: want %q, %q or %q", p.Kind, ScaleFixed, ScaleByEventRate, ScaleByByteRate)
	}
	if !(p.TargetRate > 0) || math.IsInf(p.TargetRate, 0) {
		return fmt.Errorf("stream: scaling: targetRate %v: want a positive number", p.TargetRate)
	}
	if p.ScaleFactor < 2 || p.ScaleFactor > MaxSegments {
		return fmt.Errorf("stream: scaling: scaleFactor %d: want 2 to %d", p.ScaleFactor, MaxSegments)
	}
	if p.MinSegments < 1 || p.MinSegments > MaxSegments {
		return fmt.Errorf("stream: scaling: minSegments %d: want 1 to %d", p.MinSegments, MaxSegments)
	}
	return nil
}

// SegmentLoad is what the auto-scaler knows about an active segment.
type SegmentLoad struct {
	ID    SegmentID `json:"id"`
	Range KeyRange  `json:"range"`
	// EventsPerSecond and BytesPerSecond are exponentially weighted
	// averages over Options.ScaleWindow.
	EventsPerSecond float64 `json:"eventsPerSecond"`
	BytesPerSecond  float64 `json:"bytesPerSecond"`
	// Age is how long the segment has been measured: since it was created,
	// or since the store opened if that was later (rates are not kept
	// across restarts, so a segment is judged only after a cool-down of
	// fresh measurements).
	Age time.Duration `json:"age"`
}

// ScaleAction is one scale the auto-scaler decided on: seal these
// segments, create these ranges (arguments for Scale).
type ScaleAction struct {
	// Kind is "split" or "merge".
	Kind   string
	Seal   []SegmentID
	Ranges []KeyRange
}

// DecideScaling says how a stream's active segments should change under a
// policy. It is pure and deterministic. A segment at least cooldown old
// whose rate is above the target is split into ScaleFactor equal parts
// (while the stream stays within MaxSegments); then, left to right, two
// adjacent segments at least cooldown old, neither being split, whose rates
// are both below MergeFraction of the target are merged, as long as the
// stream keeps MinSegments. A fixed policy decides nothing.
func DecideScaling(p ScalingPolicy, segments []SegmentLoad, cooldown time.Duration) []ScaleAction {
	if p.IsFixed() || len(segments) == 0 {
		return nil
	}
	segs := slices.Clone(segments)
	slices.SortFunc(segs, func(a, b SegmentLoad) int { return cmp.Compare(a.Range.Low, b.Range.Low) })
	rate := func(l SegmentLoad) float64 {
		if p.Kind == ScaleByEventRate {
			return l.EventsPerSecond
		}
		return l.BytesPerSecond
	}
	var out []ScaleAction
	count := len(segs)
	splitting := make([]bool, len(segs))
	for i, l := range segs {
		if l.Age < cooldown || !(rate(l) > p.TargetRate) || count+p.ScaleFactor-1 > MaxSegments {
			continue
		}
		ranges, err := SplitRange(l.Range, p.ScaleFactor)
		if err != nil {
			continue // too narrow to split further
		}
		out = append(out, ScaleAction{Kind: "split", Seal: []SegmentID{l.ID}, Ranges: ranges})
		count += p.ScaleFactor - 1
		splitting[i] = true
	}
	cold := func(i int) bool {
		return !splitting[i] && segs[i].Age >= cooldown && rate(segs[i]) < p.TargetRate*MergeFraction
	}
	for i := 0; i+1 < len(segs) && count-1 >= p.MinSegments; i++ {
		a, b := segs[i], segs[i+1]
		if !cold(i) || !cold(i+1) || a.Range.High != b.Range.Low {
			continue
		}
		out = append(out, ScaleAction{Kind: "merge", Seal: []SegmentID{a.ID, b.ID}, Ranges: []KeyRange{{Low: a.Range.Low, High: b.Range.High}}})
		count--
		i++ // b is taken
	}
	return out
}

// segmentLoad measures a segment's rates. Appends add to the pending
// counts as they become durable; measure folds them into the averages.
// Guarded by seg.mu.
type segmentLoad struct {
	pendingEvents, pendingBytes int64
	since                       time.Time // when measuring started
	last                        time.Time // when the averages were last updated
	events, bytes               float64   // per second, weighted averages
}

// start begins measuring at now (a new segment, or one the store just
// opened with).
func (l *segmentLoad) start(now time.Time) { l.since, l.last = now, now }

// measure folds what was appended since the last call into the averages:
// the rate over the interval, weighted by 1 - e^(-interval/window), so that
// irregular calls still give a time-based average.
func (l *segmentLoad) measure(now time.Time, window time.Duration) {
	dt := now.Sub(l.last).Seconds()
	if dt <= 0 {
		return
	}
	alpha := 1 - math.Exp(-dt/window.Seconds())
	l.events += alpha * (float64(l.pendingEvents)/dt - l.events)
	l.bytes += alpha * (float64(l.pendingBytes)/dt - l.bytes)
	l.pendingEvents, l.pendingBytes = 0, 0
	l.last = now
}

// Loads returns the active segments' rates as last measured (by
// AutoScale), in key-range order.
func (s *Store) Loads(name StreamName) ([]SegmentLoad, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.streamLocked(name)
	if err != nil {
		return nil, err
	}
	return st.loads(s.now(), 0, false), nil
}

// loads describes the active segments' rates, measuring them first (with
// window) if measure is set. The caller holds s.mu.
func (st *streamState) loads(now time.Time, window time.Duration, measure bool) []SegmentLoad {
	out := make([]SegmentLoad, 0, len(st.active))
	for _, seg := range st.active {
		seg.mu.Lock()
		if measure {
			seg.load.measure(now, window)
		}
		out = append(out, SegmentLoad{
			ID: seg.id, Range: seg.rng, EventsPerSecond: seg.load.events, BytesPerSecond: seg.load.bytes, Age: now.Sub(seg.load.since),
		})
		seg.mu.Unlock()
	}
	return out
}

// AutoScale measures every active segment's rates and applies the
// streams' scaling policies: the scales DecideScaling asks for, each one
// Scale. Run calls it every ScaleInterval; it is exported for tests and
// tools. It returns the scales it made.
func (s *Store) AutoScale(ctx context.Context) ([]ScaleAction, error) {
	type job struct {
		name   StreamName
		policy ScalingPolicy
		loads  []SegmentLoad
	}
	now := s.now()
	var jobs []job
	s.mu.RLock()
	for _, st := range s.streams {
		loads := st.loads(now, s.opts.ScaleWindow, true)
		if !st.config.Scaling.IsFixed() {
			jobs = append(jobs, job{st.name, st.config.Scaling, loads})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(jobs, func(a, b job) int { return cmp.Compare(a.name.String(), b.name.String()) })
	var done []ScaleAction
	for _, j := range jobs {
		for _, a := range DecideScaling(j.policy, j.loads, s.opts.ScaleCooldown) {
			_, err := s.Scale(ctx, j.name, a.Seal, a.Ranges)
			if errors.Is(err, ErrSealed) || errors.Is(err, ErrNotFound) {
				continue // scaled or deleted meanwhile; the next round looks again
			}
			if err != nil {
				return done, err
			}
			done = append(done, a)
		}
	}
	return done, nil
}

// scaleLoop runs AutoScale every ScaleInterval until ctx ends.
func (s *Store) scaleLoop(ctx context.Context) {
	t := time.NewTicker(s.opts.ScaleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
		}
		if _, err := s.AutoScale(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("auto-scaling", "err", err)
		}
	}
}
