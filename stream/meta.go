package stream

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// CreateScope creates a scope, the namespace streams live in.
func (s *Store) CreateScope(ctx context.Context, scope string) error {
	if err := validateName("scope", scope); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if s.scopes[scope] {
		return fmt.Errorf("stream: scope %q: %w", scope, ErrExists)
	}
	rec, err := jsonRecord(recCreateScope, scopeRecord{Name: scope})
	if err != nil {
		return err
	}
	if _, err := s.logMeta(rec); err != nil {
		return err
	}
	s.scopes[scope] = true
	return nil
}

// DeleteScope deletes a scope that has no streams.
func (s *Store) DeleteScope(ctx context.Context, scope string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if !s.scopes[scope] {
		return fmt.Errorf("stream: scope %q: %w", scope, ErrNotFound)
	}
	for name := range s.streams {
		if name.Scope == scope {
			return fmt.Errorf("stream: scope %q still has stream %q; delete its streams first", scope, name.Stream)
		}
	}
	rec, err := jsonRecord(recDeleteScope, scopeRecord{Name: scope})
	if err != nil {
		return err
	}
	if _, err := s.logMeta(rec); err != nil {
		return err
	}
	delete(s.scopes, scope)
	return nil
}

// Scopes lists the scopes by name.
func (s *Store) Scopes() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.scopes))
}

// CreateStream creates a stream in an existing scope, its key space split
// into cfg.Segments equal segments of epoch 0.
func (s *Store) CreateStream(ctx context.Context, name StreamName, cfg StreamConfig) error {
	if err := name.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("%w (stream %s)", err, name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if !s.scopes[name.Scope] {
		return fmt.Errorf("stream: scope %q of stream %s: %w", name.Scope, name, ErrNotFound)
	}
	if _, ok := s.streams[name]; ok {
		return fmt.Errorf("stream: stream %s: %w", name, ErrExists)
	}
	sr := streamRecord{No: s.nextStream, Name: name, Config: cfg, Created: s.now().UTC()}
	for i, r := range splitKeySpace(cfg.Segments) {
		sr.Segments = append(sr.Segments, segmentRecord{ID: NewSegmentID(0, uint32(i)), Range: r})
	}
	rec, err := jsonRecord(recCreateStream, sr)
	if err != nil {
		return err
	}
	if _, err := s.logMeta(rec); err != nil {
		return err
	}
	return s.installStream(sr)
}

// DeleteStream deletes a stream and its data. A stream that a reader group
// reads cannot be deleted until the group is.
func (s *Store) DeleteStream(ctx context.Context, name StreamName) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	st, err := s.streamLocked(name)
	if err != nil {
		return err
	}
	for _, g := range s.groups {
		if g.stream == st {
			return fmt.Errorf("stream: stream %s is read by reader group %q; delete the group first", name, g.name)
		}
	}
	rec, err := jsonRecord(recDeleteStream, deleteStreamRecord{No: st.no})
	if err != nil {
		return err
	}
	if _, err := s.logMeta(rec); err != nil {
		return err
	}
	s.removeStream(st)
	s.dirty = true
	return nil
}

// Streams lists the streams of a scope by name.
func (s *Store) Streams(scope string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.scopes[scope] {
		return nil, fmt.Errorf("stream: scope %q: %w", scope, ErrNotFound)
	}
	var out []string
	for name := range s.streams {
		if name.Scope == scope {
			out = append(out, name.Stream)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Stream describes a stream and its segments' durable bounds.
func (s *Store) Stream(name StreamName) (StreamInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, err := s.streamLocked(name)
	if err != nil {
		return StreamInfo{}, err
	}
	info := StreamInfo{Name: st.name, Config: st.config, Created: st.created, Epoch: st.epoch}
	for _, seg := range st.segments {
		info.Segments = append(info.Segments, seg.info())
	}
	return info, nil
}

// Truncate discards the data of a stream before cut. Segments missing from
// the cut, or cut at or before their start, keep what they have. Each
// offset must be an event boundary no later than the segment's durable end.
// Readers positioned before the new start move on to it.
func (s *Store) Truncate(ctx context.Context, name StreamName, cut StreamCut) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	st, err := s.streamLocked(name)
	if err != nil {
		return err
	}
	effective := StreamCut{}
	for id, off := range cut {
		seg, ok := st.byID[id]
		if !ok {
			return fmt.Errorf("stream: truncate %s: segment %s: %w", name, id, ErrNotFound)
		}
		seg.mu.Lock()
		start, end := seg.start, seg.end
		var entry indexEntry
		if i := containing(seg.index, off); i >= 0 && off > start && off < end {
			entry = seg.index[i]
		}
		var tiered *chunkRef
		if c, _ := seg.chunkFor(off); c != nil && off > start {
			ref := *c
			tiered = &ref
		}
		seg.mu.Unlock()
		switch {
		case off <= start:
			continue
		case off > end:
			return fmt.Errorf("stream: truncate %s: segment %s: offset %d is beyond the end %d", name, id, off, end)
		case tiered != nil:
			if err := s.checkChunkBoundary(ctx, st, seg, *tiered, off); err != nil {
				return fmt.Errorf("stream: truncate %s: segment %s: %w", name, id, err)
			}
		case off < end:
			if err := s.checkBoundary(seg, entry, off); err != nil {
				return fmt.Errorf("stream: truncate %s: segment %s: %w", name, id, err)
			}
		}
		effective[id] = off
	}
	if len(effective) == 0 {
		return nil
	}
	rec, err := jsonRecord(recTruncate, truncateRecord{No: st.no, Cut: effective})
	if err != nil {
		return err
	}
	if _, err := s.logMeta(rec); err != nil {
		return err
	}
	s.applyTruncate(st, effective, true)
	s.dirty = true
	return nil
}

// checkChunkBoundary checks that off is where an event of a tiered chunk
// starts. It reads the chunk, so it needs LTS.
func (s *Store) checkChunkBoundary(ctx context.Context, st *streamState, seg *segment, c chunkRef, off int64) error {
	ch, err := s.loadChunk(ctx, chunkKey(s.opts.LTSPrefix, st.no, seg.id, c.start), c)
	if err != nil {
		return fmt.Errorf("check the offset in long-term storage: %w", err)
	}
	_, err = ch.events(nil, off, 1)
	return err
}

// checkBoundary checks that off is where an event of entry's record starts.
func (s *Store) checkBoundary(seg *segment, entry indexEntry, off int64) error {
	r, err := s.record(entry.addr)
	if err != nil {
		return err
	}
	if _, err := eventsFrom(nil, seg.id, r.frames, r.offset, off, r.timeOf()); err != nil {
		return err
	}
	return nil
}

// Compact writes a metadata checkpoint and truncates the write-ahead log
// before everything that is still needed: the checkpoint itself and every
// segment's retained data. It is what makes truncated and deleted data
// leave the disk; tiering will call it after moving data to long-term
// storage.
func (s *Store) Compact(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return err
	}
	cp := s.checkpoint()
	rec, err := jsonRecord(recCheckpoint, cp)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	addr, err := s.logMeta(rec)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.dirty = false
	var segs []*segment
	for _, st := range s.streams {
		segs = append(segs, st.segments...)
	}
	s.mu.Unlock()

	// Everything appended before the checkpoint is durable and indexed by
	// now (acknowledgements come in log order); everything after it is at
	// a higher address. So the lowest address still needed is below the
	// checkpoint only if some segment's oldest retained record is.
	bound := addr
	for _, seg := range segs {
		seg.mu.Lock()
		if len(seg.index) > 0 {
			bound = min(bound, seg.index[0].addr)
		}
		seg.mu.Unlock()
	}
	if err := s.wal.Truncate(bound); err != nil {
		return fmt.Errorf("stream: compact: %w", err)
	}
	return nil
}

// checkpoint captures the metadata state in log order (the tail view). The
// caller holds s.mu exclusively, so no append is between taking the
// segments' tails and queueing the checkpoint.
func (s *Store) checkpoint() checkpointRecord {
	cp := checkpointRecord{NextStream: s.nextStream, Scopes: slices.Sorted(maps.Keys(s.scopes))}
	nos := slices.Sorted(maps.Keys(s.byNo))
	for _, no := range nos {
		st := s.byNo[no]
		sr := streamRecord{No: st.no, Name: st.name, Config: st.config, Created: st.created, Epoch: st.epoch}
		if st.epoch > 0 {
			sr.NextSegment = st.nextNumber
		}
		for _, seg := range st.segments {
			seg.mu.Lock()
			r := segmentRecord{
				ID: seg.id, Range: seg.rng, Start: seg.start, End: seg.tailEnd, Tiered: seg.tiered,
				Predecessors: slices.Clone(seg.predecessors), Sealed: seg.sealed, Successors: slices.Clone(seg.successors),
			}
			r.Writers, r.WritersSeen = writerRecords(seg.writers)
			if seg.id.Epoch() > 0 {
				r.Created = seg.created
			}
			for _, c := range seg.chunks {
				r.Chunks = append(r.Chunks, tieredRecord{Start: c.start, End: c.end, Records: c.records, Newest: c.newest})
			}
			sr.Segments = append(sr.Segments, r)
			seg.mu.Unlock()
		}
		cp.Streams = append(cp.Streams, sr)
	}
	for _, name := range slices.Sorted(maps.Keys(s.groups)) {
		cp.Groups = append(cp.Groups, s.groups[name].loggedRecord())
	}
	return cp
}

// The apply functions below change memory after a record is durable; live
// operations and recovery share them, so both end in the same state.

// installStream adds a stream from its creation or checkpoint record.
func (s *Store) installStream(sr streamRecord) error {
	if _, ok := s.byNo[sr.No]; ok {
		return fmt.Errorf("stream number %d is used twice", sr.No)
	}
	if _, ok := s.streams[sr.Name]; ok {
		return fmt.Errorf("stream %s is created twice", sr.Name)
	}
	if len(sr.Segments) == 0 {
		return fmt.Errorf("stream %s has no segments", sr.Name)
	}
	st := &streamState{no: sr.No, name: sr.Name, config: sr.Config, created: sr.Created, byID: map[SegmentID]*segment{}, epoch: sr.Epoch}
	for _, r := range sr.Segments {
		if r.Start < 0 || r.End < r.Start {
			return fmt.Errorf("stream %s segment %s: bounds [%d, %d)", sr.Name, r.ID, r.Start, r.End)
		}
		if _, dup := st.byID[r.ID]; dup {
			return fmt.Errorf("stream %s: segment %s is listed twice", sr.Name, r.ID)
		}
		if r.ID.Epoch() > sr.Epoch {
			return fmt.Errorf("stream %s segment %s: of an epoch after the stream's epoch %d", sr.Name, r.ID, sr.Epoch)
		}
		if r.Sealed != (len(r.Successors) > 0) {
			return fmt.Errorf("stream %s segment %s: sealed is %v with successors %v", sr.Name, r.ID, r.Sealed, r.Successors)
		}
		seg := &segment{
			id: r.ID, rng: r.Range, stream: st, writers: writerMarks(r.Writers, r.WritersSeen, s.now()), start: r.Start, end: r.End, tailEnd: r.End,
			created: r.Created, predecessors: r.Predecessors, sealed: r.Sealed, successors: r.Successors,
		}
		if seg.created.IsZero() {
			seg.created = sr.Created
		}
		seg.load.start(s.now())
		for _, c := range r.Chunks {
			if err := seg.addChunk(c.ref()); err != nil {
				return err
			}
		}
		if r.Tiered < seg.tiered || r.Tiered > seg.end {
			return fmt.Errorf("stream %s segment %s: tiered end %d outside [%d, %d]", sr.Name, r.ID, r.Tiered, seg.tiered, seg.end)
		}
		seg.tiered = r.Tiered
		st.segments = append(st.segments, seg)
		st.byID[r.ID] = seg
		st.nextNumber = max(st.nextNumber, r.ID.Number()+1)
	}
	if sr.NextSegment != 0 {
		if sr.NextSegment < st.nextNumber {
			return fmt.Errorf("stream %s: next segment number %d is already used", sr.Name, sr.NextSegment)
		}
		st.nextNumber = sr.NextSegment
	}
	slices.SortFunc(st.segments, func(a, b *segment) int { return cmp.Compare(a.id, b.id) })
	st.setActive()
	if err := checkTiling(st.ranges); err != nil {
		return fmt.Errorf("stream %s: active segments: %w", sr.Name, err)
	}
	st.counters = s.metrics.forStream(sr.Name)
	s.streams[sr.Name] = st
	s.byNo[sr.No] = st
	s.nextStream = max(s.nextStream, sr.No+1)
	return nil
}

// checkTiling checks that ranges cover [0, 1) in order without gaps.
func checkTiling(ranges []KeyRange) error {
	at := 0.0
	for _, r := range ranges {
		if r.Low != at || r.High <= r.Low {
			return fmt.Errorf("key ranges do not tile [0, 1): %v", ranges)
		}
		at = r.High
	}
	if at != 1 {
		return fmt.Errorf("key ranges end at %v, not 1", at)
	}
	return nil
}

// removeStream forgets a stream and wakes its readers, who then find it gone.
func (s *Store) removeStream(st *streamState) {
	delete(s.streams, st.name)
	delete(s.byNo, st.no)
	for _, seg := range st.segments {
		seg.mu.Lock()
		s.garbage = append(s.garbage, s.chunkKeys(st, seg, seg.chunks)...)
		seg.chunks = nil
		seg.deleted = true
		seg.index = nil
		seg.wakeLocked()
		seg.mu.Unlock()
	}
	st.wake()
	s.metrics.dropStream(st.name)
}

// applyTruncate moves segment starts forward. live says whether the index
// is already built (during recovery it is attached at the end).
func (s *Store) applyTruncate(st *streamState, cut StreamCut, live bool) {
	for id, off := range cut {
		seg := st.byID[id]
		seg.mu.Lock()
		if off > seg.start {
			seg.start = off
			if live {
				seg.trimIndex()
			}
			s.garbage = append(s.garbage, s.chunkKeys(st, seg, seg.dropChunksBefore())...)
		}
		seg.mu.Unlock()
	}
	s.pruneSegments(st)
	s.settleGroups(st)
	st.wake() // readers parked before the new start learn about it
}

// streamLocked finds a stream; the caller holds s.mu.
func (s *Store) streamLocked(name StreamName) (*streamState, error) {
	st, ok := s.streams[name]
	if !ok {
		return nil, fmt.Errorf("stream: stream %s: %w", name, ErrNotFound)
	}
	return st, nil
}

// describe lists record types for error messages.
func describe(t wal.Type) string {
	names := map[wal.Type]string{
		recEvents: "events", recCreateScope: "create scope", recDeleteScope: "delete scope",
		recCreateStream: "create stream", recDeleteStream: "delete stream", recTruncate: "truncate",
		recGroup: "reader group", recDeleteGroup: "delete reader group", recCheckpoint: "checkpoint",
		recTiered: "tiered", recScale: "scale",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("unknown type %d", t)
}
