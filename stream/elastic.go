package stream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Elasticity: a scale seals some adjacent active segments and replaces
// them with new segments of the next epoch that cover exactly the same key
// range (Pravega's controller does the same). One log record carries the
// whole change. Appends choose their segment and queue their record under
// Store.mu held shared; Scale holds it exclusively from planning until its
// record is durable, so every append is in the log either before the scale
// record (in a sealed segment, whose end the record states) or after it (in
// a new one), and a sealed segment's end is final.

// ErrSealed is wrapped by errors about a segment that is sealed when the
// operation needs an active one (a scale that would seal it again).
var ErrSealed = errors.New("segment is sealed")

// Scale seals the active segments seal, which must together cover one
// contiguous key range, and creates one segment per range of ranges,
// which must tile that key range exactly, in order. The new segments get
// the stream's next epoch and fresh numbers; each has as predecessors the
// sealed segments whose ranges overlap its own, and starts with their
// writers' last sequence numbers, so an idempotent writer's retry of an
// append stored before the scale is still dropped. It returns the new
// segments, in key order, once the change is durable.
func (s *Store) Scale(ctx context.Context, name StreamName, seal []SegmentID, ranges []KeyRange) ([]SegmentInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	st, err := s.streamLocked(name)
	if err != nil {
		return nil, err
	}
	plan, err := planScale(st, seal, ranges, s.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("stream: scale %s: %w", name, err)
	}
	rec, err := jsonRecord(recScale, plan.record())
	if err != nil {
		return nil, err
	}
	if _, err := s.logMeta(rec); err != nil {
		return nil, err
	}
	created := s.applyScale(plan)
	st.counters.scaled(plan.kind())
	out := make([]SegmentInfo, len(created))
	for i, seg := range created {
		out[i] = seg.info()
	}
	s.log.Info("stream scaled", "stream", name.String(), "kind", plan.kind(), "epoch", plan.epoch,
		"sealed", fmt.Sprint(plan.sealedIDs()), "created", len(created))
	return out, nil
}

// SplitSegment replaces an active segment by parts segments of equal key
// ranges (see Scale).
func (s *Store) SplitSegment(ctx context.Context, name StreamName, id SegmentID, parts int) ([]SegmentInfo, error) {
	info, err := s.Stream(name)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(info.Segments, func(si SegmentInfo) bool { return si.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("stream: split %s segment %s: %w", name, id, ErrNotFound)
	}
	ranges, err := SplitRange(info.Segments[i].Range, parts)
	if err != nil {
		return nil, fmt.Errorf("stream: split %s segment %s: %w", name, id, err)
	}
	return s.Scale(ctx, name, []SegmentID{id}, ranges)
}

// MergeSegments replaces adjacent active segments by one segment covering
// their key ranges (see Scale).
func (s *Store) MergeSegments(ctx context.Context, name StreamName, ids []SegmentID) ([]SegmentInfo, error) {
	if len(ids) < 2 {
		return nil, fmt.Errorf("stream: merge %s: %d segments given, want at least 2", name, len(ids))
	}
	info, err := s.Stream(name)
	if err != nil {
		return nil, err
	}
	merged := KeyRange{Low: math.Inf(1), High: math.Inf(-1)}
	for _, id := range ids {
		i := slices.IndexFunc(info.Segments, func(si SegmentInfo) bool { return si.ID == id })
		if i < 0 {
			return nil, fmt.Errorf("stream: merge %s segment %s: %w", name, id, ErrNotFound)
		}
		merged.Low = min(merged.Low, info.Segments[i].Range.Low)
		merged.High = max(merged.High, info.Segments[i].Range.High)
	}
	return s.Scale(ctx, name, ids, []KeyRange{merged})
}

// SplitRange divides r into n ranges of equal width, in order; the last
// ends exactly at r.High.
func SplitRange(r KeyRange, n int) ([]KeyRange, error) {
	if n < 2 || n > MaxSegments {
		return nil, fmt.Errorf("split into %d parts: want 2 to %d", n, MaxSegments)
	}
	if !(r.High > r.Low) {
		return nil, fmt.Errorf("range [%v, %v) is empty", r.Low, r.High)
	}
	out := make([]KeyRange, n)
	width := r.High - r.Low
	for i := range out {
		out[i] = KeyRange{Low: r.Low + width*float64(i)/float64(n), High: r.Low + width*float64(i+1)/float64(n)}
		if i > 0 {
			out[i].Low = out[i-1].High
		}
	}
	out[n-1].High = r.High
	for _, p := range out {
		if !(p.High > p.Low) {
			return nil, fmt.Errorf("range [%v, %v) is too narrow to split into %d parts", r.Low, r.High, n)
		}
	}
	return out, nil
}

// ReadOrder returns segments in an order in which every predecessor comes
// before its successors, so that reading them one after another, each to
// its end, keeps every routing key's events in order: id order, since a
// successor is always of a later epoch than its predecessors.
func ReadOrder(segments []SegmentInfo) []SegmentInfo {
	out := slices.Clone(segments)
	slices.SortFunc(out, func(a, b SegmentInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// scalePlan is a checked scale: what it seals and what it creates.
type scalePlan struct {
	st      *streamState
	epoch   uint32
	time    time.Time
	sealed  []*segment // in key order
	ends    StreamCut  // the sealed segments' final ends
	created []scaledSegment
}

func (p scalePlan) record() scaleRecord {
	return scaleRecord{No: p.st.no, Epoch: p.epoch, Time: p.time, Sealed: p.ends, Segments: p.created}
}

func (p scalePlan) sealedIDs() []SegmentID {
	ids := make([]SegmentID, len(p.sealed))
	for i, seg := range p.sealed {
		ids[i] = seg.id
	}
	return ids
}

// planScale checks a scale against the stream's state. The caller holds
// s.mu exclusively (or is replaying), so no append is between taking the
// sealed segments' ends and logging them.
func planScale(st *streamState, seal []SegmentID, ranges []KeyRange, now time.Time) (scalePlan, error) {
	p := scalePlan{st: st, epoch: st.epoch + 1, time: now, ends: StreamCut{}}
	switch {
	case len(seal) == 0:
		return p, errors.New("no segments to seal")
	case len(ranges) == 0:
		return p, errors.New("no key ranges for the new segments")
	case st.epoch == math.MaxUint32:
		return p, errors.New("the stream is at its last epoch")
	case uint64(st.nextNumber)+uint64(len(ranges)) > math.MaxUint32:
		return p, errors.New("the stream has used up its segment numbers")
	}
	if n := len(st.active) - len(seal) + len(ranges); n > MaxSegments {
		return p, fmt.Errorf("the stream would have %d active segments, at most %d are allowed", n, MaxSegments)
	}
	for _, id := range seal {
		seg, ok := st.byID[id]
		if !ok {
			return p, fmt.Errorf("segment %s: %w", id, ErrNotFound)
		}
		if seg.sealed {
			return p, fmt.Errorf("segment %s: %w", id, ErrSealed)
		}
		if _, dup := p.ends[id]; dup {
			return p, fmt.Errorf("segment %s is named twice", id)
		}
		seg.mu.Lock()
		p.ends[id] = seg.tailEnd
		seg.mu.Unlock()
		p.sealed = append(p.sealed, seg)
	}
	slices.SortFunc(p.sealed, func(a, b *segment) int { return cmp.Compare(a.rng.Low, b.rng.Low) })
	for i := 1; i < len(p.sealed); i++ {
		a, b := p.sealed[i-1], p.sealed[i]
		if a.rng.High != b.rng.Low {
			return p, fmt.Errorf("segments %s [%v, %v) and %s [%v, %v) are not adjacent", a.id, a.rng.Low, a.rng.High, b.id, b.rng.Low, b.rng.High)
		}
	}
	low, high := p.sealed[0].rng.Low, p.sealed[len(p.sealed)-1].rng.High
	at := low
	for i, r := range ranges {
		if !(r.High > r.Low) {
			return p, fmt.Errorf("range %d [%v, %v) is empty", i, r.Low, r.High)
		}
		if r.Low != at {
			return p, fmt.Errorf("range %d starts at %v, want %v: the new ranges must tile [%v, %v), the sealed segments' range, in order", i, r.Low, at, low, high)
		}
		at = r.High
	}
	if at != high {
		return p, fmt.Errorf("the new ranges end at %v, want %v: they must tile [%v, %v), the sealed segments' range", at, high, low, high)
	}
	for i, r := range ranges {
		c := scaledSegment{ID: NewSegmentID(p.epoch, st.nextNumber+uint32(i)), Range: r}
		for _, seg := range p.sealed {
			if overlaps(seg.rng, r) {
				c.Predecessors = append(c.Predecessors, seg.id)
			}
		}
		p.created = append(p.created, c)
	}
	return p, nil
}

func overlaps(a, b KeyRange) bool { return a.Low < b.High && b.Low < a.High }

// planFromRecord checks a logged scale against the state replay reached:
// the same checks as the live scale, and the same outcome.
func planFromRecord(st *streamState, r scaleRecord) (scalePlan, error) {
	ranges := make([]KeyRange, len(r.Segments))
	for i, c := range r.Segments {
		ranges[i] = c.Range
	}
	p, err := planScale(st, slices.Sorted(maps.Keys(r.Sealed)), ranges, r.Time)
	if err != nil {
		return p, err
	}
	if r.Epoch != p.epoch {
		return p, fmt.Errorf("scale to epoch %d, but the stream is at epoch %d", r.Epoch, st.epoch)
	}
	for id, end := range r.Sealed {
		if p.ends[id] != end {
			return p, fmt.Errorf("segment %s sealed at %d, but it ends at %d", id, end, p.ends[id])
		}
	}
	for i, c := range r.Segments {
		want := p.created[i]
		if c.ID != want.ID || !slices.Equal(c.Predecessors, want.Predecessors) {
			return p, fmt.Errorf("new segment %s with predecessors %v, want %s with %v", c.ID, c.Predecessors, want.ID, want.Predecessors)
		}
	}
	return p, nil
}

// applyScale seals the plan's segments and installs the new ones. The
// caller holds s.mu exclusively, after the record is durable (or while
// replaying it).
func (s *Store) applyScale(p scalePlan) []*segment {
	now := s.now()
	st := p.st
	created := make([]*segment, len(p.created))
	for i, c := range p.created {
		seg := &segment{
			id: c.ID, rng: c.Range, stream: st, created: p.time, predecessors: c.Predecessors,
			writers: map[string]writerMark{},
		}
		seg.load.start(now) // at replay: measured from the store's opening
		for _, pred := range p.sealed {
			if !overlaps(pred.rng, c.Range) {
				continue
			}
			pred.mu.Lock()
			for w, m := range pred.writers {
				seg.writers[w] = seg.writers[w].merge(m)
			}
			// Start from the predecessors' share of the load, so that the
			// auto-scaler neither sees a split's parts as cold nor a
			// merge's result as idle.
			share := (min(pred.rng.High, c.Range.High) - max(pred.rng.Low, c.Range.Low)) / (pred.rng.High - pred.rng.Low)
			seg.load.events += pred.load.events * share
			seg.load.bytes += pred.load.bytes * share
			pred.mu.Unlock()
		}
		created[i] = seg
	}
	for _, seg := range p.sealed {
		seg.mu.Lock()
		seg.sealed = true
		for _, c := range created {
			if overlaps(seg.rng, c.rng) {
				seg.successors = append(seg.successors, c.id)
			}
		}
		seg.wakeLocked() // tail readers learn that the end is final
		seg.mu.Unlock()
	}
	for _, seg := range created {
		st.segments = append(st.segments, seg)
		st.byID[seg.id] = seg
	}
	st.epoch = p.epoch
	st.nextNumber += uint32(len(created))
	st.setActive()
	s.pruneSegments(st)
	s.settleGroups(st)
	st.wake()
	return created
}

// kind names a scale for metrics and logs: "split" if it makes more
// segments than it seals, "merge" if fewer, else "rebalance".
func (p scalePlan) kind() string {
	switch {
	case len(p.created) > len(p.sealed):
		return "split"
	case len(p.created) < len(p.sealed):
		return "merge"
	}
	return "rebalance"
}

// setActive recomputes the active segments and their ranges from
// st.segments.
func (st *streamState) setActive() {
	st.active = st.active[:0]
	for _, seg := range st.segments {
		if !seg.sealed {
			st.active = append(st.active, seg)
		}
	}
	slices.SortFunc(st.active, func(a, b *segment) int { return cmp.Compare(a.rng.Low, b.rng.Low) })
	st.ranges = st.ranges[:0]
	for _, seg := range st.active {
		st.ranges = append(st.ranges, seg.rng)
	}
}

// pruneSegments forgets the sealed segments that hold no data (all of it
// truncated, or none ever written) and whose predecessors are all gone:
// nothing is left to read there, and no reader needs them to order what
// comes after. A segment with a predecessor still kept stays, so that
// readers finish the predecessor before its successors. st.segments is in
// id order, so one pass also removes the chains this uncovers. The caller
// holds s.mu exclusively (or is replaying).
func (s *Store) pruneSegments(st *streamState) {
	kept := st.segments[:0]
	for _, seg := range st.segments {
		seg.mu.Lock()
		gone := seg.sealed && seg.start >= seg.end && !slices.ContainsFunc(seg.predecessors, func(id SegmentID) bool {
			_, ok := st.byID[id]
			return ok
		})
		if gone {
			s.garbage = append(s.garbage, s.chunkKeys(st, seg, seg.chunks)...)
			seg.chunks = nil
			seg.index = nil
			seg.deleted = true
			seg.wakeLocked()
			delete(st.byID, seg.id)
		}
		seg.mu.Unlock()
		if !gone {
			kept = append(kept, seg)
		}
	}
	clear(st.segments[len(kept):])
	st.segments = kept
}

// settleGroups lets the stream's reader groups move past sealed segments
// they have finished or that are gone. The caller holds s.mu exclusively.
func (s *Store) settleGroups(st *streamState) {
	for _, g := range s.groups {
		if g.stream != st {
			continue
		}
		g.mu.Lock()
		if g.settleLocked() {
			g.rebalanceLocked()
		}
		g.mu.Unlock()
	}
}
