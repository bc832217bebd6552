package stream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// ErrReaderClosed is returned by Read on a reader that has left its group.
var ErrReaderClosed = errors.New("stream: reader has left its group")

// readBatchBytes is how much a reader fetches from one segment at a time.
const readBatchBytes = 256 << 10

// ReaderGroup shares the segments of one stream among its readers. Each
// segment is read by one reader at a time, from the group's position in it;
// when readers join or leave, segments are reassigned (Assign) and the new
// reader goes on from where the last one stopped, so every event is
// delivered once while the group's readers come and go. Positions are kept
// in memory as events are delivered and made durable by Checkpoint and by
// a reader's Close; after a crash the group resumes from its last durable
// positions, redelivering what came after (at-least-once).
//
// Across scales a group reads a successor only once it has read all of
// the successor's predecessors to their (sealed) end: its positions are the
// segments it may read now, and a finished segment makes way for those of
// its successors whose other predecessors are finished too. So each
// routing key's events are delivered in order across splits and merges.
//
// Readers belong to this process: after a restart a group has no readers
// until they join again.
type ReaderGroup struct {
	s       *Store
	name    string
	stream  *streamState
	created time.Time

	mu sync.Mutex
	// positions has the next offset to deliver in each segment the group
	// may read now (all of whose predecessors it has finished). Segments
	// after these are still to come; segments before them are finished.
	positions StreamCut
	logged    StreamCut // positions as of the group's last record in the log
	owner     map[SegmentID]string
	readers   map[string]*Reader
	changed   chan struct{} // closed and replaced when the assignment changes
	deleted   bool
	// onDeliver, if set, sees every delivery under mu, in delivery order
	// (tests check order across readers with it).
	onDeliver func(reader string, ev Event)
}

// CreateReaderGroup creates a group that reads a stream from its head (each
// segment's current start).
func (s *Store) CreateReaderGroup(ctx context.Context, name string, stream StreamName) (*ReaderGroup, error) {
	if err := validateName("reader group", name); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if _, ok := s.groups[name]; ok {
		return nil, fmt.Errorf("stream: reader group %q: %w", name, ErrExists)
	}
	st, err := s.streamLocked(stream)
	if err != nil {
		return nil, err
	}
	r := groupRecord{Name: name, Stream: stream, StreamNo: st.no, Created: s.now().UTC(), Positions: StreamCut{}}
	for _, seg := range st.segments {
		// The first segments: those whose predecessors are all gone.
		if !slices.ContainsFunc(seg.predecessors, st.has) {
			r.Positions[seg.id] = seg.info().Start
		}
	}
	rec, err := jsonRecord(recGroup, r)
	if err != nil {
		return nil, err
	}
	if _, err := s.logMeta(rec); err != nil {
		return nil, err
	}
	if err := s.installGroup(r); err != nil {
		return nil, err
	}
	return s.groups[name], nil
}

// ReaderGroup returns an existing group.
func (s *Store) ReaderGroup(name string) (*ReaderGroup, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, ok := s.groups[name]
	if !ok {
		return nil, fmt.Errorf("stream: reader group %q: %w", name, ErrNotFound)
	}
	return g, nil
}

// ReaderGroups lists the groups by name.
func (s *Store) ReaderGroups() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.groups))
}

// DeleteReaderGroup deletes a group that has no readers.
func (s *Store) DeleteReaderGroup(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	g, ok := s.groups[name]
	if !ok {
		return fmt.Errorf("stream: reader group %q: %w", name, ErrNotFound)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if n := len(g.readers); n > 0 {
		return fmt.Errorf("stream: reader group %q still has %d readers; close them first", name, n)
	}
	rec, err := jsonRecord(recDeleteGroup, deleteGroupRecord{Name: name})
	if err != nil {
		return err
	}
	if _, err := s.logMeta(rec); err != nil {
		return err
	}
	g.deleted = true
	delete(s.groups, name)
	return nil
}

// installGroup adds a group from its record. The caller holds s.mu.
func (s *Store) installGroup(r groupRecord) error {
	st, ok := s.byNo[r.StreamNo]
	if !ok || st.name != r.Stream {
		return fmt.Errorf("reader group %q reads stream %s (number %d), which does not exist", r.Name, r.Stream, r.StreamNo)
	}
	g := &ReaderGroup{
		s: s, name: r.Name, stream: st, created: r.Created,
		owner: map[SegmentID]string{}, readers: map[string]*Reader{}, changed: make(chan struct{}),
	}
	g.loadPositions(r.Positions)
	s.groups[r.Name] = g
	return nil
}

// loadPositions sets the group's positions from a record and moves past
// the segments the record names that are finished or gone since. An active
// segment that neither the record nor its predecessors account for starts
// at its start. The caller holds s.mu.
func (g *ReaderGroup) loadPositions(p StreamCut) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.positions = maps.Clone(p)
	if g.positions == nil {
		g.positions = StreamCut{}
	}
	g.logged = maps.Clone(g.positions)
	g.settleLocked()
	later := g.stream.descendants(g.positions)
	for _, seg := range g.stream.active {
		if _, ok := g.positions[seg.id]; !ok && !later[seg.id] {
			g.positions[seg.id] = seg.info().Start
		}
	}
	g.settleLocked()
}

// has reports whether the stream still keeps a segment. The caller holds
// s.mu.
func (st *streamState) has(id SegmentID) bool {
	_, ok := st.byID[id]
	return ok
}

// descendants returns the kept segments that come after the segments of
// from: their successors, and theirs, and so on. The caller holds s.mu.
func (st *streamState) descendants(from StreamCut) map[SegmentID]bool {
	out := map[SegmentID]bool{}
	for _, seg := range st.segments { // id order: predecessors first
		for _, p := range seg.predecessors {
			if _, ok := from[p]; ok || out[p] {
				out[seg.id] = true
				break
			}
		}
	}
	return out
}

// settleLocked moves the group past every segment of its positions that is
// sealed and read to its end, or gone: it drops the segment and adds each
// successor all of whose predecessors are now finished or gone, at the
// successor's start. It reports whether the positions changed. The caller
// holds s.mu (shared is enough) and g.mu.
func (g *ReaderGroup) settleLocked() bool {
	st := g.stream
	changed := false
	for {
		done, ok := SegmentID(0), false
		for _, id := range slices.Sorted(maps.Keys(g.positions)) {
			seg, kept := st.byID[id]
			if !kept {
				done, ok = id, true
				break
			}
			seg.mu.Lock()
			finished := seg.sealed && g.positions[id] >= seg.end
			seg.mu.Unlock()
			if finished {
				done, ok = id, true
				break
			}
		}
		if !ok {
			return changed
		}
		g.finishLocked(done)
		changed = true
	}
}

// finishLocked drops a finished (or gone) segment from the positions and
// adds the successors that became readable. A kept segment that is neither
// in the positions nor after them is finished. The caller holds s.mu and
// g.mu.
func (g *ReaderGroup) finishLocked(id SegmentID) {
	st := g.stream
	delete(g.positions, id)
	later := st.descendants(g.positions)
	finished := func(p SegmentID) bool {
		_, reading := g.positions[p]
		return !st.has(p) || (!reading && !later[p])
	}
	for _, seg := range st.segments {
		if _, ok := g.positions[seg.id]; ok || !slices.Contains(seg.predecessors, id) {
			continue
		}
		if !slices.ContainsFunc(seg.predecessors, func(p SegmentID) bool { return !finished(p) }) {
			g.positions[seg.id] = seg.info().Start
		}
	}
}

// loggedRecord is the group as its last record in the log says.
func (g *ReaderGroup) loggedRecord() groupRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return groupRecord{Name: g.name, Stream: g.stream.name, StreamNo: g.stream.no, Created: g.created, Positions: maps.Clone(g.logged)}
}

// Name returns the group's name.
func (g *ReaderGroup) Name() string { return g.name }

// Stream returns the stream the group reads.
func (g *ReaderGroup) Stream() StreamName { return g.stream.name }

// Positions returns the group's current position in each segment: where
// its next event will come from.
func (g *ReaderGroup) Positions() StreamCut {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.positions)
}

// Readers lists the group's readers by id.
func (g *ReaderGroup) Readers() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Sorted(maps.Keys(g.readers))
}

// Checkpoint makes the group's current positions durable and returns them.
// After a crash the group resumes from the last checkpoint.
func (g *ReaderGroup) Checkpoint(ctx context.Context) (StreamCut, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := g.s
	done := make(chan error, 1)
	pos, err := func() (StreamCut, error) {
		// Holding s.mu shared keeps a store checkpoint from falling between
		// queueing the record and noting what it said.
		s.mu.RLock()
		defer s.mu.RUnlock()
		if err := s.usable(); err != nil {
			return nil, err
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.deleted {
			return nil, fmt.Errorf("stream: reader group %q: %w", g.name, ErrNotFound)
		}
		pos := maps.Clone(g.positions)
		rec, err := jsonRecord(recGroup, groupRecord{Name: g.name, Stream: g.stream.name, StreamNo: g.stream.no, Created: g.created, Positions: pos})
		if err != nil {
			return nil, err
		}
		if err := s.appendToLog([]wal.Record{rec}, func([]wal.Address) { done <- nil }, func(_ AppendResult, err error) { done <- err }); err != nil {
			return nil, err
		}
		g.logged = pos
		return maps.Clone(pos), nil
	}()
	if err != nil {
		return nil, err
	}
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
		return pos, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Join adds a reader to the group and rebalances its segments.
func (g *ReaderGroup) Join(id string) (*Reader, error) {
	if err := validateID("reader", id); err != nil {
		return nil, err
	}
	if err := g.s.usable(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.deleted {
		return nil, fmt.Errorf("stream: reader group %q: %w", g.name, ErrNotFound)
	}
	if _, ok := g.readers[id]; ok {
		return nil, fmt.Errorf("stream: reader %q in group %q: %w", id, g.name, ErrExists)
	}
	r := &Reader{g: g, id: id, buffered: map[SegmentID][]Event{}}
	g.readers[id] = r
	g.rebalanceLocked()
	return r, nil
}

// rebalanceLocked reassigns segments to the current readers. A segment that
// moves keeps its position; what its old reader had fetched but not
// delivered is dropped, so nothing is delivered twice. The caller holds g.mu.
func (g *ReaderGroup) rebalanceLocked() {
	ids := slices.Collect(maps.Keys(g.positions))
	next := Assign(ids, slices.Collect(maps.Keys(g.readers)), g.owner)
	for seg, old := range g.owner {
		if next[seg] != old {
			if r := g.readers[old]; r != nil {
				delete(r.buffered, seg)
			}
		}
	}
	g.owner = next
	close(g.changed)
	g.changed = make(chan struct{})
}

// lag is how many segment bytes the group has yet to deliver: the rest of
// the segments it reads now and all of those after them.
func (g *ReaderGroup) lag() int64 {
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	g.mu.Lock()
	pos := maps.Clone(g.positions)
	g.mu.Unlock()
	later := g.stream.descendants(pos)
	total := int64(0)
	for _, seg := range g.stream.segments {
		info := seg.info()
		if off, ok := pos[seg.id]; ok {
			total += max(0, info.End-max(off, info.Start))
		} else if later[seg.id] {
			total += info.End - info.Start
		}
	}
	return total
}

// Reader is one member of a reader group. Read and Close may be called from
// different goroutines.
type Reader struct {
	g  *ReaderGroup
	id string

	// Guarded by g.mu.
	buffered map[SegmentID][]Event // fetched, not delivered; starts at the group's position
	next     int                   // round-robin cursor over the reader's segments
	closed   bool
}

// ID returns the reader's id.
func (r *Reader) ID() string { return r.id }

// Segments returns the segments currently assigned to the reader.
func (r *Reader) Segments() []SegmentID {
	r.g.mu.Lock()
	defer r.g.mu.Unlock()
	return r.ownedLocked()
}

func (r *Reader) ownedLocked() []SegmentID {
	var out []SegmentID
	for seg, owner := range r.g.owner {
		if owner == r.id {
			out = append(out, seg)
		}
	}
	slices.Sort(out)
	return out
}

// Read returns the next event from one of the reader's segments, taking
// them in turn, and waits for one if there is none, until ctx ends.
func (r *Reader) Read(ctx context.Context) (Event, error) {
	g := r.g
	for {
		g.mu.Lock()
		if r.closed {
			g.mu.Unlock()
			return Event{}, ErrReaderClosed
		}
		owned := r.ownedLocked()
		if ev, ok := r.deliverLocked(owned); ok {
			g.mu.Unlock()
			return ev, nil
		}
		want := make([]segPos, len(owned))
		for i, id := range owned {
			want[i] = segPos{id, g.positions[id]}
		}
		assignment := g.changed
		g.mu.Unlock()

		// Take the data signal before looking, so data that arrives
		// after the look still wakes the wait below.
		data := g.stream.changed()
		fetched, err := r.fetch(ctx, want)
		if err != nil {
			return Event{}, err
		}
		if fetched {
			continue
		}
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-g.s.done:
			return Event{}, ErrClosed
		case <-assignment:
		case <-data:
		}
	}
}

type segPos struct {
	id  SegmentID
	pos int64
}

// deliverLocked hands out the next buffered event, taking the reader's
// segments in turn. The caller holds g.mu.
func (r *Reader) deliverLocked(owned []SegmentID) (Event, bool) {
	g := r.g
	for k := range owned {
		i := (r.next + k) % len(owned)
		id := owned[i]
		buf := r.buffered[id]
		if len(buf) == 0 {
			continue
		}
		if buf[0].Offset != g.positions[id] {
			delete(r.buffered, id) // fetched before a position change; stale
			continue
		}
		ev := buf[0]
		r.buffered[id] = buf[1:]
		g.positions[id] = ev.Next
		r.next = (i + 1) % len(owned)
		if g.onDeliver != nil {
			g.onDeliver(r.id, ev)
		}
		return ev, true
	}
	return Event{}, false
}

// fetch reads, without waiting, from each segment at the group's position
// and buffers what it got if the segment is still this reader's and the
// position has not moved. It reports whether anything changed.
func (r *Reader) fetch(ctx context.Context, want []segPos) (bool, error) {
	g := r.g
	changed := false
	for _, w := range want {
		b, err := g.s.ReadSegment(ctx, g.stream.name, w.id, w.pos, ReadOptions{MaxBytes: readBatchBytes, NoWait: true})
		if errors.Is(err, ErrNotFound) && r.stale(w) {
			changed = true // the segment is gone and the group moved past it
			continue
		}
		if errors.Is(err, ErrTruncated) {
			// The data was truncated under the group: go on from the start.
			seg, serr := g.s.segment(g.stream.name, w.id)
			if errors.Is(serr, ErrNotFound) && r.stale(w) {
				changed = true
				continue
			}
			if serr != nil {
				return false, serr
			}
			start := seg.info().Start
			g.mu.Lock()
			if g.owner[w.id] == r.id && g.positions[w.id] == w.pos {
				g.positions[w.id] = start
			}
			g.mu.Unlock()
			changed = true
			continue
		}
		if err != nil {
			return false, fmt.Errorf("stream: reader %q of group %q: %w", r.id, g.name, err)
		}
		if len(b.Events) == 0 {
			if b.Sealed && r.finish(w) {
				changed = true
			}
			continue
		}
		g.mu.Lock()
		if g.owner[w.id] == r.id && g.positions[w.id] == w.pos {
			r.buffered[w.id] = b.Events
			changed = true
		}
		g.mu.Unlock()
	}
	return changed, nil
}

// stale reports whether the group no longer reads w's segment at w's
// position through this reader (it moved on, or another reader has it).
func (r *Reader) stale(w segPos) bool {
	g := r.g
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	pos, ok := g.positions[w.id]
	return !ok || pos != w.pos || g.owner[w.id] != r.id
}

// finish moves the group past a sealed segment the reader has read to its
// end, handing out the successors that became readable. It reports whether
// anything changed.
func (r *Reader) finish(w segPos) bool {
	g := r.g
	g.s.mu.RLock()
	defer g.s.mu.RUnlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.owner[w.id] != r.id || g.positions[w.id] != w.pos {
		return true // changed meanwhile: look again
	}
	if g.settleLocked() {
		g.rebalanceLocked()
		return true
	}
	return false
}

// Close takes the reader out of its group, hands its segments to the
// others at the positions it reached, and checkpoints the group so those
// positions are durable.
func (r *Reader) Close(ctx context.Context) error {
	g := r.g
	g.mu.Lock()
	if r.closed {
		g.mu.Unlock()
		return nil
	}
	r.closed = true
	delete(g.readers, r.id)
	r.buffered = nil
	g.rebalanceLocked()
	g.mu.Unlock()
	if _, err := g.Checkpoint(ctx); err != nil {
		return fmt.Errorf("stream: reader %q leaving group %q: %w", r.id, g.name, err)
	}
	return nil
}
