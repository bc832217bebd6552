package stream

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"time"
)

// Mark is where one record of a segment starts and when it was appended.
// Retention cuts at marks, so it always cuts at an event boundary.
type Mark struct {
	Offset int64
	Time   time.Time
}

// SegmentExtent is what retention needs to know about a segment: its
// retained range and its records' marks in offset order (the first may
// start before Start, if truncation cut inside a record).
type SegmentExtent struct {
	Segment    SegmentID
	Start, End int64
	Marks      []Mark
}

// RetentionCut decides where to truncate a stream under a policy at time
// now. MaxAge drops, per segment, the leading records appended more than
// MaxAge before now. MaxBytes then drops the oldest records across all
// segments (by append time, then segment id) while the stream holds more
// than MaxBytes. It cuts only at record boundaries, so a stream may keep a
// little more than MaxBytes. The result names only the segments whose start
// moves; it is empty when nothing is to be dropped.
func RetentionCut(p RetentionPolicy, now time.Time, segs []SegmentExtent) StreamCut {
	cut := StreamCut{}
	if p.IsZero() {
		return cut
	}
	recs := make([][]span, len(segs))
	kept := make([]int, len(segs)) // index of each segment's first kept record
	for i, s := range segs {
		recs[i] = spans(s)
	}
	if p.MaxAge > 0 {
		limit := now.Add(-p.MaxAge)
		for i := range segs {
			for kept[i] < len(recs[i]) && recs[i][kept[i]].time.Before(limit) {
				kept[i]++
			}
		}
	}
	if p.MaxBytes > 0 {
		dropOldest(p.MaxBytes, segs, recs, kept)
	}
	for i, s := range segs {
		if kept[i] == 0 {
			continue
		}
		start := s.End
		if kept[i] < len(recs[i]) {
			start = recs[i][kept[i]].from
		}
		if start > s.Start {
			cut[s.Segment] = start
		}
	}
	return cut
}

// span is one record's retained bytes.
type span struct {
	from, to int64
	time     time.Time
}

func spans(s SegmentExtent) []span {
	var out []span
	for j, m := range s.Marks {
		to := s.End
		if j+1 < len(s.Marks) {
			to = s.Marks[j+1].Offset
		}
		from := max(m.Offset, s.Start)
		if to > from {
			out = append(out, span{from, to, m.Time})
		}
	}
	return out
}

// dropOldest advances kept until the kept bytes fit in limit.
func dropOldest(limit int64, segs []SegmentExtent, recs [][]span, kept []int) {
	total := int64(0)
	h := &oldestFirst{segs: segs, recs: recs, kept: kept}
	for i := range segs {
		for _, r := range recs[i][kept[i]:] {
			total += r.to - r.from
		}
		if kept[i] < len(recs[i]) {
			h.items = append(h.items, i)
		}
	}
	heap.Init(h)
	for total > limit && h.Len() > 0 {
		i := h.items[0]
		r := recs[i][kept[i]]
		total -= r.to - r.from
		kept[i]++
		if kept[i] < len(recs[i]) {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
}

// oldestFirst is a heap of segment indexes by the append time of each
// segment's oldest kept record.
type oldestFirst struct {
	segs  []SegmentExtent
	recs  [][]span
	kept  []int
	items []int
}

func (h *oldestFirst) Len() int { return len(h.items) }
func (h *oldestFirst) Less(a, b int) bool {
	i, j := h.items[a], h.items[b]
	ti, tj := h.recs[i][h.kept[i]].time, h.recs[j][h.kept[j]].time
	if c := ti.Compare(tj); c != 0 {
		return c < 0
	}
	return cmp.Less(h.segs[i].Segment, h.segs[j].Segment)
}
func (h *oldestFirst) Swap(a, b int) { h.items[a], h.items[b] = h.items[b], h.items[a] }
func (h *oldestFirst) Push(x any)    { h.items = append(h.items, x.(int)) }
func (h *oldestFirst) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// extents describes a stream's segments for RetentionCut.
func (st *streamState) extents() []SegmentExtent {
	out := make([]SegmentExtent, 0, len(st.segments))
	for _, seg := range st.segments {
		seg.mu.Lock()
		// A chunk in LTS is one mark, stamped with its newest record's
		// time: retention drops whole chunks, and keeps a chunk until all
		// of it is due.
		e := SegmentExtent{Segment: seg.id, Start: seg.start, End: seg.end, Marks: make([]Mark, 0, len(seg.chunks)+len(seg.index))}
		for _, c := range seg.chunks {
			e.Marks = append(e.Marks, Mark{Offset: c.start, Time: time.Unix(0, c.newest)})
		}
		for _, x := range seg.index {
			if len(e.Marks) == 0 || x.offset >= seg.tiered {
				e.Marks = append(e.Marks, Mark{Offset: x.offset, Time: time.Unix(0, x.time)})
			}
		}
		seg.mu.Unlock()
		out = append(out, e)
	}
	return out
}

// ApplyRetention truncates every stream that has a retention policy as the
// policy says, then compacts the log if anything was truncated or deleted
// since the last compaction.
func (s *Store) ApplyRetention(ctx context.Context) error {
	type job struct {
		name    StreamName
		policy  RetentionPolicy
		extents []SegmentExtent
	}
	var jobs []job
	s.mu.RLock()
	for _, st := range s.streams {
		if !st.config.Retention.IsZero() {
			jobs = append(jobs, job{st.name, st.config.Retention, st.extents()})
		}
	}
	s.mu.RUnlock()
	now := s.now()
	for _, j := range jobs {
		cut := RetentionCut(j.policy, now, j.extents)
		if len(cut) == 0 {
			continue
		}
		err := s.Truncate(ctx, j.name, cut)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		s.log.Debug("retention truncated a stream", "stream", j.name.String(), "cut", cut)
	}
	if n := s.expireWriters(now); n > 0 {
		s.log.Debug("forgot idle idempotent writers", "writers", n, "idleFor", s.opts.WriterExpiry)
	}
	s.mu.RLock()
	dirty := s.dirty
	s.mu.RUnlock()
	if !dirty {
		return nil
	}
	return s.Compact(ctx)
}
