package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cloudskin/cloudskin/stream/lts"
	"github.com/cloudskin/cloudskin/stream/wal"
)

// Tiering moves segment data from the log to long-term storage (LTS).
//
// A pass takes, per segment, the durable records not yet tiered, coalesces
// up to ChunkBytes of them into a chunk, writes the chunk to LTS, and only
// then logs a tiered record saying the segment's bytes up to the chunk's
// end live in LTS. Once that record is durable the index forgets those
// records and Compact may truncate the log past them. A crash between the
// write and the record leaves an object that the next pass overwrites
// (same key). When LTS is unreachable nothing is lost: the data stays in
// the log, the loop retries with backoff, and appends are refused with
// ErrBackPressure only once the log outgrows LocalBudgetBytes.

// ErrBackPressure is wrapped by append errors when the local log has
// reached Options.LocalBudgetBytes (typically because long-term storage is
// unreachable and nothing can be moved out of the log). Nothing of the
// refused append was stored; retry it later.
var ErrBackPressure = errors.New("local log budget exhausted")

// chunkRef is what the store keeps in memory about a chunk in LTS.
type chunkRef struct {
	start, end int64
	records    int
	newest     int64 // append time of the last record, Unix ns
}

// tieredRecord is the log record that a chunk is in LTS (type 10), and
// the chunk's entry in a checkpoint.
type tieredRecord struct {
	No      uint32    `json:"no,omitempty"`
	Segment SegmentID `json:"segment,omitempty"`
	Start   int64     `json:"start"`
	End     int64     `json:"end"`
	Records int       `json:"records"`
	Newest  int64     `json:"newest"`
}

func (r tieredRecord) ref() chunkRef {
	return chunkRef{start: r.Start, end: r.End, records: r.Records, newest: r.Newest}
}

// addChunk records that [c.start, c.end) is in LTS. The caller holds
// seg.mu.
func (seg *segment) addChunk(c chunkRef) error {
	if c.start < seg.tiered || c.end <= c.start || c.end > seg.tailEnd {
		return fmt.Errorf("stream %s segment %s: chunk [%d, %d) does not follow the tiered end %d within the end %d",
			seg.stream.name, seg.id, c.start, c.end, seg.tiered, seg.tailEnd)
	}
	seg.chunks = append(seg.chunks, c)
	seg.tiered = c.end
	return nil
}

// chunkFor returns the chunk holding offset and the one after it (nil at
// the last). The caller holds seg.mu.
func (seg *segment) chunkFor(offset int64) (c, next *chunkRef) {
	i, _ := slices.BinarySearchFunc(seg.chunks, offset, func(c chunkRef, o int64) int {
		if c.start <= o {
			return -1
		}
		return 1
	})
	if i == 0 || offset >= seg.chunks[i-1].end {
		return nil, nil
	}
	c = &seg.chunks[i-1]
	if i < len(seg.chunks) {
		next = &seg.chunks[i]
	}
	return c, next
}

// dropChunksBefore forgets the chunks wholly before the segment's start
// and returns them, for deletion from LTS. The caller holds seg.mu.
func (seg *segment) dropChunksBefore() []chunkRef {
	n := 0
	for n < len(seg.chunks) && seg.chunks[n].end <= seg.start {
		n++
	}
	if n == 0 {
		return nil
	}
	dropped := slices.Clone(seg.chunks[:n])
	seg.chunks = slices.Clone(seg.chunks[n:])
	return dropped
}

// chunkPlan is the records one chunk will be made of.
type chunkPlan struct {
	st      *streamState
	seg     *segment
	entries []indexEntry
	end     int64
}

// planChunk picks the records of the segment's next chunk: durable,
// untiered records from the tiered end (or the start) on, at most
// chunkBytes of them (at least one record). Unless all, a chunk is made
// only when it would be full or its oldest record is older than oldest.
// The caller holds seg.mu.
func (seg *segment) planChunk(chunkBytes int64, oldest int64, all bool) (chunkPlan, bool) {
	from := max(seg.tiered, seg.start)
	if from >= seg.end || len(seg.index) == 0 {
		return chunkPlan{}, false
	}
	i := max(containing(seg.index, from), 0)
	j, end := i, seg.index[i].offset
	for j < len(seg.index) {
		next := seg.end
		if j+1 < len(seg.index) {
			next = seg.index[j+1].offset
		}
		if j > i && next-seg.index[i].offset > chunkBytes {
			break
		}
		end = next
		j++
	}
	full := end-seg.index[i].offset >= chunkBytes || j < len(seg.index)
	// A sealed segment never grows: tier all of it now rather than wait
	// for its last chunk to age.
	if !all && !full && !seg.sealed && seg.index[i].time > oldest {
		return chunkPlan{}, false
	}
	return chunkPlan{seg: seg, st: seg.stream, entries: slices.Clone(seg.index[i:j]), end: end}, true
}

// Tier moves to long-term storage the segment data that is due: full
// chunks, and data older than Options.ChunkAge. Run calls it every
// TierInterval; it is exported for tests and tools. It returns the segment
// bytes moved. An error wrapping lts.ErrUnavailable means LTS is down.
func (s *Store) Tier(ctx context.Context) (int64, error) { return s.tierPass(ctx, false) }

// TierAll moves every durable event to long-term storage now, however
// small the chunks.
func (s *Store) TierAll(ctx context.Context) (int64, error) { return s.tierPass(ctx, true) }

func (s *Store) tierPass(ctx context.Context, all bool) (int64, error) {
	if s.opts.LTS == nil {
		return 0, nil
	}
	s.tierMu.Lock()
	defer s.tierMu.Unlock()
	if err := s.deleteGarbage(ctx); err != nil {
		return 0, err
	}
	s.mu.RLock()
	var segs []*segment
	for _, st := range s.streams {
		segs = append(segs, st.segments...)
	}
	s.mu.RUnlock()
	oldest := s.now().Add(-s.opts.ChunkAge).UnixNano()
	var moved atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(tierParallel)
	for _, seg := range segs {
		g.Go(func() error {
			n, err := s.tierSegment(gctx, seg, oldest, all)
			moved.Add(n)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return moved.Load(), err
	}
	return s.compactAfterTiering(ctx, moved.Load(), all)
}

// tierParallel is how many segments a pass tiers at once: LTS writes wait
// on the network or on fsync, and overlapping them is what lets the store
// catch up after an outage much faster than it ingests.
const tierParallel = 4

// tierSegment writes a segment's due chunks, in order.
func (s *Store) tierSegment(ctx context.Context, seg *segment, oldest int64, all bool) (int64, error) {
	moved := int64(0)
	for {
		seg.mu.Lock()
		plan, ok := seg.planChunk(s.opts.ChunkBytes, oldest, all)
		seg.mu.Unlock()
		if !ok {
			return moved, nil
		}
		n, err := s.tierChunk(ctx, plan)
		if errors.Is(err, errSkip) {
			return moved, nil
		}
		if err != nil {
			return moved, err
		}
		moved += n
	}
}

// compactAfterTiering truncates the log after a pass that moved data.
func (s *Store) compactAfterTiering(ctx context.Context, moved int64, all bool) (int64, error) {
	if moved == 0 || (!all && s.LocalBytes() < s.logFileBytes()) {
		// The log is truncated in whole files and never its last one:
		// with less than a file's worth there is nothing to free, and a
		// checkpoint (all metadata, chunk lists included) would be waste.
		return moved, nil
	}
	if err := s.Compact(ctx); err != nil {
		return moved, err
	}
	return moved, nil
}

// logFileBytes is the size at which the log starts a new file.
func (s *Store) logFileBytes() int64 {
	if s.opts.MaxLogFileBytes > 0 {
		return s.opts.MaxLogFileBytes
	}
	return 64 << 20
}

// errSkip says a segment changed under a tiering pass (truncated,
// compacted, deleted); the next pass will look again.
var errSkip = errors.New("segment changed while tiering")

// tierChunk builds a chunk from the plan's records, writes it to LTS and
// logs that it is there.
func (s *Store) tierChunk(ctx context.Context, p chunkPlan) (int64, error) {
	c := &chunk{stream: p.st.no, segment: p.seg.id, start: p.entries[0].offset, end: p.end}
	c.frames = make([]byte, 0, c.end-c.start)
	c.marks = make([]chunkMark, 0, len(p.entries))
	for _, e := range p.entries {
		r, err := s.record(e.addr)
		if errors.Is(err, wal.ErrTruncated) {
			return 0, errSkip // truncated and compacted meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("stream: tier %s segment %s: %w", p.st.name, p.seg.id, err)
		}
		if r.segment != c.segment || r.offset != e.offset {
			return 0, fmt.Errorf("stream: tier %s segment %s: the log record at %d holds segment %s offset %d, the index says offset %d",
				p.st.name, p.seg.id, e.addr, r.segment, r.offset, e.offset)
		}
		c.marks = append(c.marks, chunkMark{offset: e.offset, time: e.time})
		c.frames = append(c.frames, r.frames...)
	}
	if int64(len(c.frames)) != c.end-c.start {
		return 0, fmt.Errorf("stream: tier %s segment %s: records hold %d bytes for [%d, %d)", p.st.name, p.seg.id, len(c.frames), c.start, c.end)
	}
	key := chunkKey(s.opts.LTSPrefix, c.stream, c.segment, c.start)
	putCtx, cancel := context.WithTimeout(ctx, s.opts.LTSTimeout)
	err := s.opts.LTS.Put(putCtx, key, encodeChunk(c))
	cancel()
	if err != nil {
		return 0, fmt.Errorf("stream: tier %s segment %s: %w", p.st.name, p.seg.id, err)
	}
	s.chunks.put(key, c)
	ref := chunkRef{start: c.start, end: c.end, records: len(c.marks), newest: c.marks[len(c.marks)-1].time}
	if err := s.installChunk(p, ref); err != nil {
		return 0, err
	}
	s.metrics.tieredBytes.Add(uint64(c.end - c.start))
	s.metrics.tieredChunks.Add(1)
	return c.end - c.start, nil
}

// installChunk logs that a chunk is in LTS and drops its records from the
// segment's index.
func (s *Store) installChunk(p chunkPlan, ref chunkRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if s.byNo[p.st.no] != p.st || p.st.byID[p.seg.id] != p.seg {
		// The stream was deleted, or the sealed segment truncated to its
		// end and dropped, while the chunk was written.
		s.garbage = append(s.garbage, chunkKey(s.opts.LTSPrefix, p.st.no, p.seg.id, ref.start))
		return errSkip
	}
	rec, err := jsonRecord(recTiered, tieredRecord{No: p.st.no, Segment: p.seg.id, Start: ref.start, End: ref.end, Records: ref.records, Newest: ref.newest})
	if err != nil {
		return err
	}
	if _, err := s.logMeta(rec); err != nil {
		return err
	}
	seg := p.seg
	seg.mu.Lock()
	defer seg.mu.Unlock()
	if err := seg.addChunk(ref); err != nil {
		return s.fail(err) // memory no longer matches the log
	}
	n := 0
	for n < len(seg.index) && seg.index[n].offset < ref.end {
		n++
	}
	seg.index = slices.Clone(seg.index[n:])
	s.garbage = append(s.garbage, s.chunkKeys(p.st, seg, seg.dropChunksBefore())...)
	s.dirty = true
	return nil
}

func (s *Store) chunkKeys(st *streamState, seg *segment, refs []chunkRef) []string {
	keys := make([]string, len(refs))
	for i, c := range refs {
		keys[i] = chunkKey(s.opts.LTSPrefix, st.no, seg.id, c.start)
	}
	return keys
}

// deleteGarbage deletes from LTS the chunks of deleted streams and
// truncated data. A crash forgets the list; those objects stay behind
// (see docs/rationale/stream-2.md).
func (s *Store) deleteGarbage(ctx context.Context) error {
	s.mu.Lock()
	keys := s.garbage
	s.garbage = nil
	s.mu.Unlock()
	for i, key := range keys {
		dctx, cancel := context.WithTimeout(ctx, s.opts.LTSTimeout)
		err := s.opts.LTS.Delete(dctx, key)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, lts.ErrUnavailable) || ctx.Err() != nil:
			s.mu.Lock()
			s.garbage = append(s.garbage, keys[i:]...)
			s.mu.Unlock()
			return fmt.Errorf("stream: delete tiered data: %w", err)
		default:
			// Retrying will not help (say, permission denied), and
			// blocking tiering for it would make the log grow: leave the
			// object behind and say so.
			s.log.Warn("could not delete tiered data from long-term storage; leaving it", "key", key, "err", err)
		}
	}
	return nil
}

// readChunk reads events from the chunk holding offset, loading it from
// LTS if it is not cached, and starts loading the next chunk in the
// background so that a catch-up reader finds it ready.
func (s *Store) readChunk(ctx context.Context, st *streamState, seg *segment, c, next chunkRef, hasNext bool, offset, maxBytes int64) (Batch, error) {
	ch, err := s.loadChunk(ctx, chunkKey(s.opts.LTSPrefix, st.no, seg.id, c.start), c)
	if err != nil {
		return Batch{}, fmt.Errorf("stream: %s segment %s: read from long-term storage: %w", st.name, seg.id, err)
	}
	if hasNext {
		s.prefetch(chunkKey(s.opts.LTSPrefix, st.no, seg.id, next.start), next)
	}
	evs, err := ch.events(nil, offset, maxBytes)
	if err != nil {
		return Batch{}, fmt.Errorf("stream: %s segment %s: %w", st.name, seg.id, err)
	}
	b := Batch{Events: evs, Next: offset}
	if len(evs) > 0 {
		b.Next = evs[len(evs)-1].Next
	}
	return b, nil
}

// loadChunk returns a chunk from the cache or LTS. Concurrent loads of one
// chunk share one read.
func (s *Store) loadChunk(ctx context.Context, key string, ref chunkRef) (*chunk, error) {
	if c, ok := s.chunks.get(key); ok {
		s.metrics.chunkHits.Add(1)
		return c, nil
	}
	s.loadMu.Lock()
	if s.bgCtx.Err() != nil {
		s.loadMu.Unlock()
		return nil, ErrClosed
	}
	l, ok := s.loads[key]
	if !ok {
		l = &chunkLoad{done: make(chan struct{})}
		s.loads[key] = l
		s.bg.Add(1)
		go s.runLoad(key, ref, l)
	}
	s.loadMu.Unlock()
	select {
	case <-l.done:
		return l.c, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// chunkLoad is one read of a chunk from LTS that readers wait on.
type chunkLoad struct {
	done chan struct{}
	c    *chunk
	err  error
}

// runLoad reads a chunk on the store's background context, so that a
// reader giving up does not waste a read others (or the prefetch) wait on.
func (s *Store) runLoad(key string, ref chunkRef, l *chunkLoad) {
	defer s.bg.Done()
	s.metrics.chunkMisses.Add(1)
	ctx, cancel := context.WithTimeout(s.bgCtx, s.opts.LTSTimeout)
	defer cancel()
	l.c, l.err = s.fetchChunk(ctx, key, ref)
	if l.err == nil {
		s.chunks.put(key, l.c)
	}
	s.loadMu.Lock()
	delete(s.loads, key)
	s.loadMu.Unlock()
	close(l.done)
}

func (s *Store) fetchChunk(ctx context.Context, key string, ref chunkRef) (*chunk, error) {
	b, err := s.opts.LTS.Get(ctx, key, 0, -1)
	if err != nil {
		return nil, err
	}
	c, err := decodeChunk(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if c.start != ref.start || c.end != ref.end || len(c.marks) != ref.records {
		return nil, fmt.Errorf("%s: holds [%d, %d) in %d records, the store expects [%d, %d) in %d", key, c.start, c.end, len(c.marks), ref.start, ref.end, ref.records)
	}
	return c, nil
}

// prefetch starts loading a chunk unless it is cached or being loaded.
// Loads start under loadMu only while bgCtx is live, and Close cancels
// bgCtx under loadMu before waiting, so no load starts after that wait.
func (s *Store) prefetch(key string, ref chunkRef) {
	if s.chunks.has(key) {
		return
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if _, ok := s.loads[key]; ok || s.bgCtx.Err() != nil {
		return
	}
	l := &chunkLoad{done: make(chan struct{})}
	s.loads[key] = l
	s.bg.Add(1)
	go s.runLoad(key, ref, l)
}

// tierLoop runs tiering passes every TierInterval, and at once when
// appends have filled a chunk, until ctx ends. While LTS is unreachable it
// backs off, up to LTSMaxBackoff between attempts.
func (s *Store) tierLoop(ctx context.Context) {
	wait := s.opts.TierInterval
	for {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.done:
			timer.Stop()
			return
		case <-s.tierKick:
			timer.Stop()
		case <-timer.C:
		}
		_, err := s.Tier(ctx)
		switch {
		case err == nil:
			s.setLTSUp(true)
			wait = s.opts.TierInterval
		case errors.Is(err, lts.ErrUnavailable):
			if s.setLTSUp(false) {
				s.log.Warn("long-term storage is unreachable; keeping data in the local log", "err", err, "budget", s.opts.LocalBudgetBytes)
			}
			wait = min(2*wait, s.opts.LTSMaxBackoff)
		case ctx.Err() != nil:
			return
		default:
			s.log.Warn("tiering to long-term storage", "err", err)
			wait = min(2*wait, s.opts.LTSMaxBackoff)
		}
	}
}

// setLTSUp records whether LTS answered and reports whether that changed
// it from up to down.
func (s *Store) setLTSUp(up bool) (wentDown bool) {
	was := s.ltsDown.Swap(!up)
	if up && was {
		s.log.Info("long-term storage is reachable again; catching up")
	}
	return !up && !was
}

// LTSAvailable reports whether the last tiering pass reached long-term
// storage (true when there is none).
func (s *Store) LTSAvailable() bool { return !s.ltsDown.Load() }

// kickTiering wakes the tiering loop once appends have added a chunk's
// worth of data since the last kick.
func (s *Store) kickTiering(n int64) {
	if s.opts.LTS == nil || s.sinceKick.Add(n) < s.opts.ChunkBytes {
		return
	}
	s.sinceKick.Store(0)
	select {
	case s.tierKick <- struct{}{}:
	default:
	}
}

// LocalBytes returns how many bytes the write-ahead log holds on disk
// (from its first retained record to its end), what LocalBudgetBytes
// bounds.
func (s *Store) LocalBytes() int64 {
	first, end := s.wal.Bounds()
	return int64(end - first)
}

// checkBudget refuses an append of n log bytes that would take the log
// beyond its budget.
func (s *Store) checkBudget(name StreamName, n int64) error {
	budget := s.opts.LocalBudgetBytes
	if budget <= 0 {
		return nil
	}
	used := s.LocalBytes() + s.queued.Load()
	if used+n <= budget {
		return nil
	}
	s.metrics.backPressure.Add(1)
	why := "data is waiting to be tiered"
	if s.ltsDown.Load() {
		why = "long-term storage is unreachable"
	}
	return fmt.Errorf("stream: append to %s: the local log holds %d bytes of its %d-byte budget and %s: %w", name, used, budget, why, ErrBackPressure)
}

// untieredBytes is the durable segment data not yet in LTS.
func (s *Store) untieredBytes() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := int64(0)
	for _, st := range s.streams {
		for _, seg := range st.segments {
			seg.mu.Lock()
			n += max(0, seg.end-max(seg.tiered, seg.start))
			seg.mu.Unlock()
		}
	}
	return n
}
