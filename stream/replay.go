package stream

import (
	"context"
	"fmt"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// replayer rebuilds the store's state from the log.
//
// If the log was never truncated it starts at address 0 and every record
// is applied. Otherwise it starts somewhere before a checkpoint (Compact
// truncates only before one): metadata records before the first checkpoint
// describe a history whose beginning is gone, so they are skipped, and the
// checkpoint replaces the state. Events records are indexed wherever they
// are, because the checkpoint holds segment bounds but not where their
// data lies in the log; at the end each segment keeps the entries for its
// retained range.
type replayer struct {
	s *Store
	// authoritative is set once the state is complete: from the start of
	// an untruncated log, or from the first checkpoint.
	authoritative bool
	index         map[segKey][]indexEntry
}

func (s *Store) replay(ctx context.Context) error {
	first, _ := s.wal.Bounds()
	r := &replayer{s: s, authoritative: first == 0, index: map[segKey][]indexEntry{}}
	for e, err := range s.wal.Read(first) {
		if err != nil {
			return fmt.Errorf("stream: recovery: %w", err)
		}
		if s.recovery.Records%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("stream: recovery: %w", err)
			}
		}
		s.recovery.Records++
		if err := r.apply(e); err != nil {
			return fmt.Errorf("stream: recovery: %s record at log address %d: %w", describe(e.Type), e.Addr, err)
		}
	}
	if !r.authoritative {
		return fmt.Errorf("stream: recovery: the log starts at address %d but holds no checkpoint to start from; log files are missing", first)
	}
	return r.attachIndex()
}

func (r *replayer) apply(e wal.Entry) error {
	if e.Type == recEvents {
		return r.events(e)
	}
	if e.Type == recCheckpoint {
		var cp checkpointRecord
		if err := decodeJSON(e.Data, &cp); err != nil {
			return err
		}
		r.authoritative = true
		return r.s.loadCheckpoint(cp)
	}
	if !r.authoritative {
		return nil
	}
	return r.s.applyMeta(e)
}

func (r *replayer) events(e wal.Entry) error {
	ev, err := decodeEventsRecord(e.Data)
	if err != nil {
		return err
	}
	key := segKey{ev.stream, ev.segment}
	r.index[key] = append(r.index[key], indexEntry{offset: ev.offset, addr: e.Addr, time: ev.time})
	if !r.authoritative {
		return nil
	}
	st, ok := r.s.byNo[ev.stream]
	if !ok {
		return fmt.Errorf("stream number %d does not exist", ev.stream)
	}
	seg, ok := st.byID[ev.segment]
	if !ok {
		return fmt.Errorf("stream %s has no segment %s", st.name, ev.segment)
	}
	if seg.sealed {
		return fmt.Errorf("stream %s segment %s: events after the segment was sealed", st.name, ev.segment)
	}
	if ev.offset != seg.end {
		return fmt.Errorf("stream %s segment %s: events at offset %d, but the segment ends at %d", st.name, ev.segment, ev.offset, seg.end)
	}
	seg.end = ev.offset + int64(len(ev.frames))
	seg.tailEnd = seg.end
	if ev.writer != "" {
		seg.writers[ev.writer] = writerMark{seq: ev.seq, seen: ev.time}
	}
	return nil
}

// attachIndex gives each segment the index entries of its retained range
// and checks that the log still holds all of it.
func (r *replayer) attachIndex() error {
	for _, st := range r.s.streams {
		for _, seg := range st.segments {
			entries := r.index[segKey{st.no, seg.id}]
			from := max(seg.start, seg.tiered)
			if from >= seg.end {
				continue
			}
			i := containing(entries, from)
			if i < 0 {
				return fmt.Errorf("stream: recovery: stream %s segment %s: its data from offset %d is missing from the log", st.name, seg.id, from)
			}
			seg.index = append([]indexEntry(nil), entries[i:]...)
			if last := seg.index[len(seg.index)-1]; last.offset >= seg.end {
				return fmt.Errorf("stream: recovery: stream %s segment %s: the log has events at offset %d beyond its end %d", st.name, seg.id, last.offset, seg.end)
			}
		}
	}
	return nil
}

// loadCheckpoint replaces the metadata state with a checkpoint's.
func (s *Store) loadCheckpoint(cp checkpointRecord) error {
	s.scopes = map[string]bool{}
	for name := range s.streams {
		s.metrics.dropStream(name)
	}
	s.streams = map[StreamName]*streamState{}
	s.byNo = map[uint32]*streamState{}
	s.groups = map[string]*ReaderGroup{}
	for _, sc := range cp.Scopes {
		s.scopes[sc] = true
	}
	for _, sr := range cp.Streams {
		if err := s.installStream(sr); err != nil {
			return err
		}
	}
	s.nextStream = max(s.nextStream, cp.NextStream)
	for _, g := range cp.Groups {
		if err := s.installGroup(g); err != nil {
			return err
		}
	}
	return nil
}

// applyMeta applies a metadata record during recovery. Whatever the live
// operation checked before logging it must hold again; if not, the log and
// the code disagree and guessing would be worse than stopping.
func (s *Store) applyMeta(e wal.Entry) error {
	switch e.Type {
	case recCreateScope, recDeleteScope:
		var r scopeRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		if e.Type == recCreateScope {
			s.scopes[r.Name] = true
		} else {
			delete(s.scopes, r.Name)
		}
	case recCreateStream:
		var r streamRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		return s.installStream(r)
	case recDeleteStream:
		var r deleteStreamRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		st, ok := s.byNo[r.No]
		if !ok {
			return fmt.Errorf("stream number %d does not exist", r.No)
		}
		s.removeStream(st)
	case recTruncate:
		var r truncateRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		st, ok := s.byNo[r.No]
		if !ok {
			return fmt.Errorf("stream number %d does not exist", r.No)
		}
		for id, off := range r.Cut {
			seg, ok := st.byID[id]
			if !ok {
				return fmt.Errorf("stream %s has no segment %s", st.name, id)
			}
			if off > seg.end {
				return fmt.Errorf("stream %s segment %s: truncated at %d beyond its end %d", st.name, id, off, seg.end)
			}
		}
		s.applyTruncate(st, r.Cut, false)
	case recGroup:
		var r groupRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		if g, ok := s.groups[r.Name]; ok {
			g.loadPositions(r.Positions)
			return nil
		}
		return s.installGroup(r)
	case recTiered:
		var r tieredRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		st, ok := s.byNo[r.No]
		if !ok {
			return fmt.Errorf("stream number %d does not exist", r.No)
		}
		seg, ok := st.byID[r.Segment]
		if !ok {
			return fmt.Errorf("stream %s has no segment %s", st.name, r.Segment)
		}
		if err := seg.addChunk(r.ref()); err != nil {
			return err
		}
		s.garbage = append(s.garbage, s.chunkKeys(st, seg, seg.dropChunksBefore())...)
	case recScale:
		var r scaleRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		st, ok := s.byNo[r.No]
		if !ok {
			return fmt.Errorf("stream number %d does not exist", r.No)
		}
		p, err := planFromRecord(st, r)
		if err != nil {
			return fmt.Errorf("stream %s: %w", st.name, err)
		}
		s.applyScale(p)
	case recDeleteGroup:
		var r deleteGroupRecord
		if err := decodeJSON(e.Data, &r); err != nil {
			return err
		}
		if _, ok := s.groups[r.Name]; !ok {
			return fmt.Errorf("reader group %q does not exist", r.Name)
		}
		delete(s.groups, r.Name)
	default:
		return fmt.Errorf("unknown record type %d (written by a newer version?)", e.Type)
	}
	return nil
}
