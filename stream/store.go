package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream/lts"
	"github.com/cloudskin/cloudskin/stream/wal"
)

// Options configure a Store.
type Options struct {
	// Dir holds the store's files (the write-ahead log under Dir/wal).
	Dir string
	// Metrics, if set, receives the stream_* metrics. A store opened
	// without it registers them on the Host in Setup instead.
	Metrics prometheus.Registerer
	// Log receives what the store has to say; nil discards it.
	Log *slog.Logger
	// Now is the clock events are stamped with and retention is judged by;
	// nil means time.Now.
	Now func() time.Time
	// CacheBytes bounds the cache of recently written and read segment
	// data; 0 means 64 MiB.
	CacheBytes int64
	// MaxLogFileBytes is the size of one write-ahead log file; 0 means
	// 64 MiB. The log is truncated in whole files.
	MaxLogFileBytes int64
	// RetentionInterval is how often Run applies retention policies and
	// truncates the log; 0 means one minute.
	RetentionInterval time.Duration
	// WriterInFlight bounds a Writer's appends waiting to be durable;
	// 0 means 1024.
	WriterInFlight int
	// WriterExpiry is how long a segment remembers an idempotent writer
	// that stopped appending to it: retention passes forget writers idle
	// for longer, so that writer ids (one per video ingest run, say) do not
	// pile up in segments and checkpoints for ever. A writer that retries
	// an append older than that may store it twice. 0 means 24 hours, a
	// negative value never.
	WriterExpiry time.Duration

	// LTS is the long-term storage segment data is tiered to; nil keeps
	// everything in the log (bounded only by retention).
	LTS lts.Storage
	// LTSPrefix is prepended to every object key, so that several stores
	// can share one LTS. Give each store its own.
	LTSPrefix string
	// ChunkBytes is the size a chunk is filled to before it is written to
	// LTS (one record more at most); 0 means 8 MiB.
	ChunkBytes int64
	// ChunkAge is how long data may wait in the log for its chunk to fill
	// before it is tiered anyway; 0 means 10 s.
	ChunkAge time.Duration
	// TierInterval is how often Run looks for data to tier; 0 means 1 s.
	TierInterval time.Duration
	// LTSTimeout bounds one call to LTS; 0 means 30 s.
	LTSTimeout time.Duration
	// LTSMaxBackoff bounds the wait between tiering attempts while LTS is
	// unreachable; 0 means 5 s.
	LTSMaxBackoff time.Duration
	// ChunkCacheBytes bounds the cache of chunks read from LTS; 0 means
	// 64 MiB.
	ChunkCacheBytes int64
	// LocalBudgetBytes bounds the bytes the write-ahead log may hold on
	// local disk. Appends that would exceed it fail with an error wrapping
	// ErrBackPressure, which happens when LTS has been unreachable long
	// enough (or retention is too generous). Since the log is truncated in
	// whole files, and data waits up to ChunkAge to be tiered, make it
	// several MaxLogFileBytes and more than ChunkAge of ingest. 0 means no
	// bound.
	LocalBudgetBytes int64
	// MinFreeBytes is free space the store leaves on the disk holding its
	// log: appends that would eat into it fail with an error wrapping
	// ErrBackPressure and wal.ErrDiskFull, and the store stays usable
	// (tiering and retention free space; records that free space may use
	// the reserve). 0 means 64 MiB, a negative value no reserve, in which
	// case a full disk fails the store until it is reopened.
	MinFreeBytes int64

	// ScaleInterval is how often Run measures segment rates and applies
	// the streams' scaling policies (AutoScale); 0 means 10 s.
	ScaleInterval time.Duration
	// ScaleWindow is the time constant of the exponentially weighted
	// segment rates the policies judge: a rate that steps up is seen at
	// 63% after one window. 0 means 30 s.
	ScaleWindow time.Duration
	// ScaleCooldown is how old a segment must be before the auto-scaler
	// splits or merges it, so a new segment is not rescaled at once;
	// 0 means 1 minute, a negative value none.
	ScaleCooldown time.Duration
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 64 << 20
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = time.Minute
	}
	if o.WriterInFlight <= 0 {
		o.WriterInFlight = 1024
	}
	if o.WriterExpiry == 0 {
		o.WriterExpiry = 24 * time.Hour
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 8 << 20
	}
	if o.ChunkAge <= 0 {
		o.ChunkAge = 10 * time.Second
	}
	if o.TierInterval <= 0 {
		o.TierInterval = time.Second
	}
	if o.LTSTimeout <= 0 {
		o.LTSTimeout = 30 * time.Second
	}
	if o.LTSMaxBackoff <= 0 {
		o.LTSMaxBackoff = 5 * time.Second
	}
	if o.ChunkCacheBytes <= 0 {
		o.ChunkCacheBytes = 64 << 20
	}
	if o.ScaleInterval <= 0 {
		o.ScaleInterval = 10 * time.Second
	}
	if o.ScaleWindow <= 0 {
		o.ScaleWindow = 30 * time.Second
	}
	switch {
	case o.MinFreeBytes == 0:
		o.MinFreeBytes = 64 << 20
	case o.MinFreeBytes < 0:
		o.MinFreeBytes = 0
	}
	switch {
	case o.ScaleCooldown == 0:
		o.ScaleCooldown = time.Minute
	case o.ScaleCooldown < 0:
		o.ScaleCooldown = 0
	}
	return o
}

// Recovery says what Open found in the log.
type Recovery struct {
	// Records is the number of log records replayed.
	Records int
	// TornBytes were cut off the end of the log: a write that was never
	// acknowledged, interrupted by a crash.
	TornBytes int64
	// Took is how long recovery took.
	Took time.Duration
}

// Store is the stream store. It is safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	// wal is used only through the wal.Log interface, so that a
	// replicated log can take its place; file is the local log behind it,
	// for its statistics and metrics.
	wal       wal.Log
	file      *wal.FileLog
	cache     *recordCache
	readahead int
	metrics   *metrics
	recovery  Recovery

	// mu guards the metadata below. Appends and reads hold it shared;
	// metadata changes hold it exclusively until their record is durable,
	// so memory never shows a change the log does not have, and a
	// checkpoint sees a state that matches its place in the log.
	mu         sync.RWMutex
	scopes     map[string]bool
	streams    map[StreamName]*streamState
	byNo       map[uint32]*streamState
	nextStream uint32
	groups     map[string]*ReaderGroup
	dirty      bool // data was truncated since the last Compact

	failMu sync.Mutex
	failed error

	done      chan struct{} // closed by Close; wakes every waiting reader
	closeOnce sync.Once
	closeErr  error

	// Tiering (tier.go). tierMu makes passes one at a time; garbage (under
	// mu) lists LTS objects to delete.
	tierMu    sync.Mutex
	garbage   []string
	chunks    *chunkCache
	loadMu    sync.Mutex
	loads     map[string]*chunkLoad
	tierKick  chan struct{}
	sinceKick atomic.Int64
	ltsDown   atomic.Bool
	queued    atomic.Int64 // log bytes of appends queued, not yet durable
	// bg is the background chunk loads; bgCtx ends them at Close.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc
}

var _ component.Component = (*Store)(nil)

// Open opens (creating if needed) the store in opts.Dir and recovers its
// state from the write-ahead log: every acknowledged event is there, in
// order, once; a torn final write is cut; damage to acknowledged data is an
// error.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("stream: Options.Dir is required")
	}
	opts = opts.withDefaults()
	start := time.Now()
	s := &Store{
		opts:      opts,
		log:       opts.Log,
		now:       opts.Now,
		cache:     newRecordCache(opts.CacheBytes),
		readahead: int(min(readaheadBytes, opts.CacheBytes/8)),
		scopes:    map[string]bool{},
		streams:   map[StreamName]*streamState{},
		byNo:      map[uint32]*streamState{},
		groups:    map[string]*ReaderGroup{},
		done:      make(chan struct{}),
		chunks:    newChunkCache(opts.ChunkCacheBytes),
		loads:     map[string]*chunkLoad{},
		tierKick:  make(chan struct{}, 1),
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(s)
	l, err := wal.Open(wal.Options{
		Dir: filepath.Join(opts.Dir, "wal"), MaxFileBytes: opts.MaxLogFileBytes, Log: opts.Log, Metrics: opts.Metrics,
		MinFreeBytes: opts.MinFreeBytes, ReserveTypes: spaceFreeingRecords,
	})
	if err != nil {
		s.bgCancel()
		return nil, fmt.Errorf("stream: open: %w", err)
	}
	s.wal, s.file = l, l
	if err := s.replay(ctx); err != nil {
		s.bgCancel()
		l.Close()
		return nil, err
	}
	if opts.Metrics != nil {
		if err := s.metrics.register(opts.Metrics); err != nil {
			s.bgCancel()
			l.Close()
			return nil, err
		}
	}
	s.recovery.TornBytes = l.Recovered().TornBytes
	s.recovery.Took = time.Since(start)
	s.log.Info("stream store open", "dir", opts.Dir, "streams", len(s.streams), "records", s.recovery.Records,
		"tornBytes", s.recovery.TornBytes, "took", s.recovery.Took.Round(time.Millisecond))
	return s, nil
}

// Recovered reports what Open found.
func (s *Store) Recovered() Recovery { return s.recovery }

// LogStats returns the write-ahead log's running totals (group commits,
// fdatasyncs, records, bytes).
func (s *Store) LogStats() wal.Stats { return s.file.Stats() }

// Close commits what is queued, wakes every waiting reader and closes the
// log. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.done)
		s.mu.Unlock()
		s.loadMu.Lock()
		s.bgCancel()
		s.loadMu.Unlock()
		s.bg.Wait()
		s.closeErr = s.wal.Close()
		s.metrics.unregister()
	})
	return s.closeErr
}

// Name implements component.Component.
func (s *Store) Name() string { return "stream" }

// Setup implements component.Component: it registers the metrics on the
// host (unless Options.Metrics already took them) and a readiness check.
func (s *Store) Setup(h *component.Host) error {
	if s.opts.Metrics == nil && h.Metrics != nil {
		if err := s.metrics.register(h.Metrics); err != nil {
			return err
		}
		if err := s.file.RegisterMetrics(h.Metrics); err != nil {
			return err
		}
	}
	if h.Server != nil {
		h.Server.AddReadinessCheck("stream", func(context.Context) error { return s.usable() })
	}
	return nil
}

// Run implements component.Component: it tiers data to long-term storage
// (if there is one), applies scaling policies every ScaleInterval and
// retention policies every RetentionInterval, until ctx ends. It does not close the store; the
// owner does, after Run returns.
func (s *Store) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	if s.opts.LTS != nil {
		wg.Go(func() { s.tierLoop(ctx) })
	}
	wg.Go(func() { s.scaleLoop(ctx) })
	t := time.NewTicker(s.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		case <-t.C:
		}
		if err := s.ApplyRetention(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("applying retention", "err", err)
		}
	}
}

// Err reports why the store cannot take requests (closed, or its log
// failed), or nil if it can.
func (s *Store) Err() error { return s.usable() }

// usable reports why the store cannot take requests, if it cannot.
func (s *Store) usable() error {
	select {
	case <-s.done:
		return ErrClosed
	default:
	}
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failed
}

// fail records that the log failed: from then on every request is refused,
// because memory may hold appends the log lost.
func (s *Store) fail(err error) error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failed == nil {
		s.failed = fmt.Errorf("stream: write-ahead log failed, reopen the store: %w", err)
	}
	return s.failed
}

// refusedOrFailed turns the error of an append the log did not take into
// the store's: a full disk refuses this append (the log stays usable),
// anything else fails the store.
func (s *Store) refusedOrFailed(err error) error {
	switch {
	case errors.Is(err, wal.ErrClosed):
		return ErrClosed
	case errors.Is(err, wal.ErrDiskFull):
		return fmt.Errorf("stream: %w: %w", ErrBackPressure, err)
	}
	return s.fail(err)
}

// logMeta appends a metadata record and waits until it is durable. The
// caller holds s.mu exclusively; the wait ignores cancellation because
// memory must not change until the log has.
func (s *Store) logMeta(rec wal.Record) (wal.Address, error) {
	type result struct {
		addr wal.Address
		err  error
	}
	ch := make(chan result, 1)
	err := s.wal.Append([]wal.Record{rec}, func(a []wal.Address, err error) {
		if err != nil {
			ch <- result{err: s.fail(err)}
			return
		}
		ch <- result{addr: a[0]}
	})
	if err != nil {
		return 0, s.refusedOrFailed(err)
	}
	r := <-ch
	return r.addr, r.err
}

// streamState is one stream in memory.
type streamState struct {
	no      uint32
	name    StreamName
	config  StreamConfig
	created time.Time
	// segments are every segment the store keeps, active and sealed, in
	// id order (so predecessors come before successors); active are the
	// ones taking appends, in key-range order, and ranges their ranges.
	// They change only under Store.mu held exclusively.
	segments   []*segment
	active     []*segment
	ranges     []KeyRange
	byID       map[SegmentID]*segment
	epoch      uint32 // the newest segments' epoch
	nextNumber uint32 // the number the next new segment gets
	counters   *streamCounters

	notifyMu sync.Mutex
	notify   chan struct{} // made when a reader waits, closed on new data
}

// changed returns a channel closed when any segment of the stream gets new
// durable data (or is deleted).
func (st *streamState) changed() <-chan struct{} {
	st.notifyMu.Lock()
	defer st.notifyMu.Unlock()
	if st.notify == nil {
		st.notify = make(chan struct{})
	}
	return st.notify
}

func (st *streamState) wake() {
	st.notifyMu.Lock()
	defer st.notifyMu.Unlock()
	if st.notify != nil {
		close(st.notify)
		st.notify = nil
	}
}

// segment is one segment in memory. It has two views: the tail view (log
// order, including appends not yet durable), which decides offsets and
// duplicates, and the durable view, which readers see.
type segment struct {
	id     SegmentID
	rng    KeyRange
	stream *streamState
	// created is when the segment was made (its stream's creation, or the
	// scale that made it); predecessors never change. sealed and
	// successors are set once, by a scale, under Store.mu held exclusively
	// and seg.mu, so either lock is enough to read them.
	created      time.Time
	predecessors []SegmentID
	sealed       bool
	successors   []SegmentID

	mu      sync.Mutex
	tailEnd int64                 // where the next append goes
	writers map[string]writerMark // per idempotent writer, in log order
	start   int64                 // first offset kept
	end     int64                 // end of the durable events
	index   []indexEntry          // the records holding [start, end), by offset
	waiters chan struct{}         // made when a reader waits, closed on new data
	deleted bool
	// tiered is where the data not yet in long-term storage starts; chunks
	// are the LTS chunks of [start, tiered), in offset order. The index
	// holds the records from max(start, tiered) on.
	tiered int64
	chunks []chunkRef
	// load is what the auto-scaler measures (scaling.go).
	load segmentLoad
}

// indexEntry locates one events record of a segment in the log.
type indexEntry struct {
	offset int64 // segment offset of the record's first event
	addr   wal.Address
	time   int64 // Unix nanoseconds
}

type segKey struct {
	stream  uint32
	segment SegmentID
}

// waitChan returns a channel closed when the segment's durable end moves
// or it is deleted. The caller holds seg.mu.
func (seg *segment) waitChan() <-chan struct{} {
	if seg.waiters == nil {
		seg.waiters = make(chan struct{})
	}
	return seg.waiters
}

// wakeLocked wakes waiting readers. The caller holds seg.mu.
func (seg *segment) wakeLocked() {
	if seg.waiters != nil {
		close(seg.waiters)
		seg.waiters = nil
	}
}

// trimIndex drops the index entries wholly before start. The caller holds
// seg.mu.
func (seg *segment) trimIndex() {
	if seg.start >= seg.end {
		seg.index = nil
		return
	}
	i := containing(seg.index, seg.start)
	if i > 0 {
		seg.index = slices.Clone(seg.index[i:])
	}
}

// containing returns the index of the entry whose record holds offset: the
// last one starting at or before it.
func containing(index []indexEntry, offset int64) int {
	i, found := slices.BinarySearchFunc(index, offset, func(e indexEntry, o int64) int {
		switch {
		case e.offset < o:
			return -1
		case e.offset > o:
			return 1
		}
		return 0
	})
	if found {
		return i
	}
	return i - 1
}

func (seg *segment) info() SegmentInfo {
	seg.mu.Lock()
	defer seg.mu.Unlock()
	return SegmentInfo{
		ID: seg.id, Range: seg.rng, Start: seg.start, End: seg.end, Epoch: seg.id.Epoch(),
		Sealed: seg.sealed, Predecessors: slices.Clone(seg.predecessors), Successors: slices.Clone(seg.successors),
	}
}
