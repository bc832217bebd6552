package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// ReadOptions shape one ReadSegment call.
type ReadOptions struct {
	// MaxBytes bounds the segment bytes returned (events and their 4-byte
	// lengths); at least one event is returned whatever its size. 0 means
	// 1 MiB.
	MaxBytes int64
	// NoWait returns at once, with no events, at the end of the segment
	// instead of waiting for new ones.
	NoWait bool
}

// Batch is what one ReadSegment call returns.
type Batch struct {
	Events []Event
	// Next is the offset to read on from.
	Next int64
	// Sealed says that Next is the end of a sealed segment: nothing more
	// will come, and the key range goes on in Successors (read them after
	// this one and its other predecessors to keep each key's order).
	Sealed     bool
	Successors []SegmentID
}

// readahead bounds how much of the log one cache miss reads and caches:
// at most this many records and Store.readahead bytes (1 MiB, or an eighth
// of the cache if that is less, so readahead never evicts itself).
const (
	readaheadRecords = 256
	readaheadBytes   = 1 << 20
)

// ReadSegment reads events of one segment from offset on, which must be an
// event boundary between the segment's start and end. At the end of the
// segment it waits for new events until ctx ends (a tail read), unless
// opts.NoWait or the segment is sealed: then it returns at once, with
// Batch.Sealed and the successors. An offset before the start gives an
// error wrapping ErrTruncated.
func (s *Store) ReadSegment(ctx context.Context, name StreamName, id SegmentID, offset int64, opts ReadOptions) (Batch, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1 << 20
	}
	seg, err := s.segment(name, id)
	if err != nil {
		return Batch{}, err
	}
	for moved := 0; ; {
		seg.mu.Lock()
		switch {
		case seg.deleted:
			seg.mu.Unlock()
			return Batch{}, fmt.Errorf("stream: %s segment %s (deleted, or sealed and all its data truncated): %w", name, id, ErrNotFound)
		case offset < seg.start:
			start := seg.start
			seg.mu.Unlock()
			return Batch{}, fmt.Errorf("stream: %s segment %s: offset %d is before the start %d: %w", name, id, offset, start, ErrTruncated)
		case offset > seg.end:
			end := seg.end
			seg.mu.Unlock()
			return Batch{}, fmt.Errorf("stream: %s segment %s: offset %d is beyond the end %d", name, id, offset, end)
		case offset < seg.tiered:
			c, next := seg.chunkFor(offset)
			if c == nil {
				seg.mu.Unlock()
				return Batch{}, fmt.Errorf("stream: %s segment %s: no chunk in long-term storage holds offset %d", name, id, offset)
			}
			ref, nextRef := *c, chunkRef{}
			if next != nil {
				nextRef = *next
			}
			seg.mu.Unlock()
			b, err := s.readChunk(ctx, seg.stream, seg, ref, nextRef, next != nil, offset, opts.MaxBytes)
			return seg.markSealed(b), err
		case offset < seg.end:
			entries := seg.entriesFor(offset, opts.MaxBytes)
			seg.mu.Unlock()
			if len(entries) == 0 {
				return Batch{}, fmt.Errorf("stream: %s segment %s: no index entry holds offset %d", name, id, offset)
			}
			b, err := s.readEntries(name, seg.id, entries, offset, opts.MaxBytes)
			if errors.Is(err, errMoved) && moved < 3 {
				moved++ // tiered or truncated meanwhile: look again
				continue
			}
			return seg.markSealed(b), err
		case seg.sealed:
			seg.mu.Unlock()
			return seg.markSealed(Batch{Next: offset}), nil
		}
		if opts.NoWait {
			seg.mu.Unlock()
			return Batch{Next: offset}, nil
		}
		wait := seg.waitChan()
		seg.mu.Unlock()
		select {
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		case <-s.done:
			return Batch{}, ErrClosed
		case <-wait:
		}
	}
}

// markSealed says in b whether it reached the end of a sealed segment.
func (seg *segment) markSealed(b Batch) Batch {
	seg.mu.Lock()
	defer seg.mu.Unlock()
	if seg.sealed && b.Next == seg.end {
		b.Sealed, b.Successors = true, slices.Clone(seg.successors)
	}
	return b
}

// errMoved says the log records a read was looking for were truncated
// since it looked at the index: the data moved to LTS, or was truncated.
var errMoved = errors.New("data moved")

// segment finds a segment of a stream.
func (s *Store) segment(name StreamName, id SegmentID) (*segment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.streamLocked(name)
	if err != nil {
		return nil, err
	}
	seg, ok := st.byID[id]
	if !ok {
		return nil, fmt.Errorf("stream: %s segment %s: %w", name, id, ErrNotFound)
	}
	return seg, nil
}

// entriesFor copies the index entries whose records hold the bytes from
// offset to offset+maxBytes. The caller holds seg.mu and offset is in
// [start, end).
func (seg *segment) entriesFor(offset, maxBytes int64) []indexEntry {
	i := containing(seg.index, offset)
	if i < 0 {
		return nil
	}
	j := i + 1
	for j < len(seg.index) && seg.index[j].offset < offset+maxBytes {
		j++
	}
	return append([]indexEntry(nil), seg.index[i:j]...)
}

// readEntries returns the events of the records from offset on, up to
// maxBytes of segment bytes.
func (s *Store) readEntries(name StreamName, id SegmentID, entries []indexEntry, offset, maxBytes int64) (Batch, error) {
	b := Batch{Next: offset}
	taken := int64(0)
	for _, e := range entries {
		r, err := s.record(e.addr)
		if errors.Is(err, wal.ErrTruncated) {
			// Tiered or truncated, and compacted, since the index was
			// looked at.
			return Batch{}, fmt.Errorf("stream: %s segment %s: %w: %w: %w", name, id, errMoved, ErrTruncated, err)
		}
		if err != nil {
			return Batch{}, fmt.Errorf("stream: %s segment %s: %w", name, id, err)
		}
		if r.segment != id || r.offset != e.offset {
			return Batch{}, fmt.Errorf("stream: %s segment %s: the log record at %d holds segment %s offset %d, the index says %s offset %d",
				name, id, e.addr, r.segment, r.offset, id, e.offset)
		}
		events, err := eventsFrom(nil, id, r.frames, r.offset, max(offset, r.offset), r.timeOf())
		if err != nil {
			return Batch{}, fmt.Errorf("stream: %s segment %s: %w", name, id, err)
		}
		for _, ev := range events {
			size := ev.Next - ev.Offset
			if len(b.Events) > 0 && taken+size > maxBytes {
				return b, nil
			}
			b.Events = append(b.Events, ev)
			b.Next = ev.Next
			taken += size
		}
	}
	return b, nil
}

// record returns an events record from the cache or, on a miss, from the
// log, caching it and the records after it (readahead: catch-up readers go
// through the log in order).
func (s *Store) record(addr wal.Address) (cachedRecord, error) {
	if r, ok := s.cache.get(addr); ok {
		s.metrics.cacheHits.Add(1)
		return r, nil
	}
	s.metrics.cacheMiss.Add(1)
	var (
		found         cachedRecord
		ok            bool
		count, nbytes int
	)
	for e, err := range s.wal.Read(addr) {
		if err != nil {
			return cachedRecord{}, err
		}
		if e.Type == recEvents {
			ev, err := decodeEventsRecord(e.Data)
			if err != nil {
				return cachedRecord{}, fmt.Errorf("log record at %d: %w", e.Addr, err)
			}
			r := cachedRecord{segment: ev.segment, offset: ev.offset, time: ev.time, frames: ev.frames}
			s.cache.put(e.Addr, r)
			if e.Addr == addr {
				found, ok = r, true
			}
		}
		if e.Addr == addr && !ok {
			return cachedRecord{}, fmt.Errorf("log record at %d is a %s record, not events", addr, describe(e.Type))
		}
		count++
		nbytes += len(e.Data) + entryOverhead
		if count >= readaheadRecords || nbytes >= s.readahead {
			break
		}
	}
	if !ok {
		return cachedRecord{}, fmt.Errorf("log record at %d not found", addr)
	}
	return found, nil
}

func (r cachedRecord) timeOf() time.Time { return time.Unix(0, r.time) }
