package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/internal/component"
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
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 64 << 20
	}
	if opts.RetentionInterval <= 0 {
		opts.RetentionInterval = time.Minute
	}
	if opts.WriterInFlight <= 0 {
		opts.WriterInFlight = 1024
	}
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
	}
	s.metrics = newMetrics(s)
	l, err := wal.Open(wal.Options{Dir: filepath.Join(opts.Dir, "wal"), MaxFileBytes: opts.MaxLogFileBytes, Log: opts.Log, Metrics: opts.Metrics})
	if err != nil {
		return nil, fmt.Errorf("stream: open: %w", err)
	}
	s.wal, s.file = l, l
	if err := s.replay(ctx); err != nil {
		l.Close()
		return nil, err
	}
	if opts.Metrics != nil {
		if err := s.metrics.register(opts.Metrics); err != nil {
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

// Run implements component.Component: it applies retention policies and
// truncates the log every RetentionInterval until ctx ends. It does not
// close the store; the owner does, after Run returns.
func (s *Store) Run(ctx context.Context) error {
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
		return 0, s.fail(err)
	}
	r := <-ch
	return r.addr, r.err
}

// streamState is one stream in memory.
type streamState struct {
	no       uint32
	name     StreamName
	config   StreamConfig
	created  time.Time
	segments []*segment // ordered by key range
	ranges   []KeyRange
	byID     map[SegmentID]*segment
	counters *streamCounters

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

	mu      sync.Mutex
	tailEnd int64            // where the next append goes
	writers map[string]int64 // last seq per writer, in log order
	start   int64            // first offset kept
	end     int64            // end of the durable events
	index   []indexEntry     // the records holding [start, end), by offset
	waiters chan struct{}    // made when a reader waits, closed on new data
	deleted bool
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
	return SegmentInfo{ID: seg.id, Range: seg.rng, Start: seg.start, End: seg.end}
}
