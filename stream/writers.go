package stream

import "time"

// writerMark is what a segment remembers of an idempotent writer: its last
// seq, so that retries are dropped, and when it last appended (Unix
// nanoseconds of the event time), so that an idle writer can be forgotten.
type writerMark struct{ seq, seen int64 }

// merge is the mark of a writer known to two segments (a successor
// inherits its predecessors'): the later seq, the later sighting.
func (m writerMark) merge(o writerMark) writerMark {
	return writerMark{seq: max(m.seq, o.seq), seen: max(m.seen, o.seen)}
}

// writerRecords splits marks into a checkpoint's two maps.
func writerRecords(marks map[string]writerMark) (seqs, seen map[string]int64) {
	if len(marks) == 0 {
		return nil, nil
	}
	seqs, seen = make(map[string]int64, len(marks)), make(map[string]int64, len(marks))
	for w, m := range marks {
		seqs[w], seen[w] = m.seq, m.seen
	}
	return seqs, seen
}

// writerMarks joins a checkpoint's maps; a writer with no sighting (a
// checkpoint from before sightings were kept) counts as seen now.
func writerMarks(seqs, seen map[string]int64, now time.Time) map[string]writerMark {
	marks := make(map[string]writerMark, len(seqs))
	for w, seq := range seqs {
		at, ok := seen[w]
		if !ok {
			at = now.UnixNano()
		}
		marks[w] = writerMark{seq: seq, seen: at}
	}
	return marks
}

// expireWriters forgets the writers of every segment that last appended
// before now minus Options.WriterExpiry, and reports how many it forgot.
// The next checkpoint leaves them out; until then a crash may bring them
// back from the log, which is harmless: they are forgotten again.
func (s *Store) expireWriters(now time.Time) int {
	if s.opts.WriterExpiry < 0 {
		return 0
	}
	before := now.Add(-s.opts.WriterExpiry).UnixNano()
	forgotten := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.byNo {
		for _, seg := range st.segments {
			seg.mu.Lock()
			for w, m := range seg.writers {
				if m.seen < before {
					delete(seg.writers, w)
					forgotten++
				}
			}
			seg.mu.Unlock()
		}
	}
	if forgotten > 0 {
		s.dirty = true // so that the next Compact writes a smaller checkpoint
	}
	return forgotten
}
