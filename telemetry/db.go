package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"
)

// Defaults of DBOptions.
const (
	// DefaultRetention is Prometheus's own default.
	DefaultRetention = 15 * 24 * time.Hour
	// DefaultQueryTimeout is Prometheus's own default.
	DefaultQueryTimeout = 2 * time.Minute
	// DefaultMaxSamples bounds the samples one query may hold in memory:
	// a fifth of Prometheus's 50 million, as the store shares its process
	// with the control plane (10 million samples are roughly 160 MB).
	DefaultMaxSamples = 10_000_000
)

// subqueryStep is the resolution of a subquery written without one
// (`x[1h:]`): Prometheus uses its evaluation interval, one minute by default.
const subqueryStep = time.Minute

// DBOptions configure the embedded store. Zero values take the defaults.
type DBOptions struct {
	// Retention is how long samples are kept. TSDB drops data a whole
	// block (two hours) at a time, once a block ends more than Retention
	// before the newest block does.
	Retention time.Duration
	// QueryTimeout bounds every query, whatever the caller's context allows.
	QueryTimeout time.Duration
	// MaxSamples bounds the samples one query may hold in memory at once.
	MaxSamples int
	// Logger receives TSDB's messages (compactions, WAL replay). Nil discards.
	Logger *slog.Logger
}

func (o DBOptions) withDefaults() DBOptions {
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = DefaultQueryTimeout
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = DefaultMaxSamples
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// DB is the embedded time-series store: a Prometheus TSDB in a directory,
// queried with Prometheus's PromQL engine. It is safe for concurrent use.
type DB struct {
	dir    string
	engine *promql.Engine
	parser parser.Parser

	// mu keeps Close from running under a query or an append: they hold it
	// shared, Close exclusively.
	mu     sync.RWMutex
	tsdb   *tsdb.DB
	closed bool
}

// OpenDB opens (creating if needed) the store in dir. Samples written
// before a restart are found again: TSDB replays its write-ahead log.
func OpenDB(dir string, opts DBOptions) (*DB, error) {
	if dir == "" {
		return nil, errors.New("telemetry: open store: no directory given")
	}
	opts = opts.withDefaults()
	db, err := tsdb.Open(dir, slog.New(warnings{opts.Logger.Handler()}), nil, tsdbOptions(opts), nil)
	if err != nil {
		return nil, fmt.Errorf("telemetry: open store in %s: %w", dir, err)
	}
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:                   opts.Logger,
		MaxSamples:               opts.MaxSamples,
		Timeout:                  opts.QueryTimeout,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return subqueryStep.Milliseconds() },
	})
	return &DB{dir: dir, engine: engine, parser: parser.NewParser(parser.Options{}), tsdb: db}, nil
}

// tsdbOptions are TSDB's defaults with our retention and Prometheus's WAL
// compression (its server compresses the WAL by default, TSDB alone does not).
func tsdbOptions(opts DBOptions) *tsdb.Options {
	o := tsdb.DefaultOptions()
	o.RetentionDuration = opts.Retention.Milliseconds()
	o.WALCompression = compression.Snappy
	return o
}

// Close flushes and closes the store. Later calls do nothing.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if err := d.tsdb.Close(); err != nil {
		return fmt.Errorf("telemetry: close store in %s: %w", d.dir, err)
	}
	return nil
}

// errClosed is returned by every operation on a closed DB.
var errClosed = &QueryError{Type: ErrorUnavailable, Err: errors.New("telemetry: the store is closed")}

// open takes the shared lock for one operation and reports whether the DB
// is still open; the caller releases the lock with d.mu.RUnlock when it is.
func (d *DB) open() bool {
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		return false
	}
	return true
}

// Query evaluates expr at the instant at (now when at is zero).
func (d *DB) Query(ctx context.Context, expr string, at time.Time) (Result, error) {
	if at.IsZero() {
		at = time.Now()
	}
	if !d.open() {
		return Result{}, errClosed
	}
	defer d.mu.RUnlock()
	q, err := d.engine.NewInstantQuery(ctx, d.tsdb, nil, expr, at)
	if err != nil {
		return Result{}, constructionError(expr, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return Result{}, executionError(expr, res.Err)
	}
	return resultOf(res.Value, at)
}

// QueryRange evaluates expr from start to end every step.
func (d *DB) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Series, error) {
	if err := checkRange(start, end, step); err != nil {
		return nil, &QueryError{Type: ErrorBadData, Err: fmt.Errorf("telemetry: range query %q: %w", expr, err)}
	}
	if !d.open() {
		return nil, errClosed
	}
	defer d.mu.RUnlock()
	q, err := d.engine.NewRangeQuery(ctx, d.tsdb, nil, expr, start, end, step)
	if err != nil {
		return nil, constructionError(expr, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, executionError(expr, res.Err)
	}
	m, ok := res.Value.(promql.Matrix)
	if !ok {
		// The engine turns every range query's answer into a matrix.
		return nil, &QueryError{Type: ErrorInternal, Err: fmt.Errorf("telemetry: range query %q gave a %s, not a matrix", expr, res.Value.Type())}
	}
	return seriesOf(m), nil
}

// constructionError classifies a failure to build a query as Prometheus's
// API does: a context that ended is a timeout or cancellation, anything
// else a malformed expression.
func constructionError(expr string, err error) error {
	err = fmt.Errorf("telemetry: query %q: %w", expr, err)
	var timeout promql.ErrQueryTimeout
	var canceled promql.ErrQueryCanceled
	switch {
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &QueryError{Type: ErrorTimeout, Err: err}
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &QueryError{Type: ErrorCanceled, Err: err}
	}
	return &QueryError{Type: ErrorBadData, Err: err}
}

// executionError classifies a failed evaluation as Prometheus's API does.
func executionError(expr string, err error) error {
	err = fmt.Errorf("telemetry: query %q: %w", expr, err)
	var timeout promql.ErrQueryTimeout
	var canceled promql.ErrQueryCanceled
	var storageErr promql.ErrStorage
	switch {
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &QueryError{Type: ErrorTimeout, Err: err}
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &QueryError{Type: ErrorCanceled, Err: err}
	case errors.As(err, &storageErr):
		return &QueryError{Type: ErrorInternal, Err: err}
	}
	return &QueryError{Type: ErrorExecution, Err: err}
}

// resultOf converts the engine's answer to our own types. Native histogram
// samples are left out: nothing we scrape produces them (see the package
// documentation).
func resultOf(v parser.Value, at time.Time) (Result, error) {
	switch v := v.(type) {
	case promql.Vector:
		samples := make([]Sample, 0, len(v))
		for _, s := range v {
			if s.H == nil {
				samples = append(samples, Sample{Labels: s.Metric.Map(), Value: s.F, T: timeOf(s.T)})
			}
		}
		return Result{Type: ValueVector, Samples: samples, T: at}, nil
	case promql.Matrix:
		return Result{Type: ValueMatrix, Series: seriesOf(v), T: at}, nil
	case promql.Scalar:
		return Result{Type: ValueScalar, Samples: []Sample{{Labels: map[string]string{}, Value: v.V, T: timeOf(v.T)}}, T: at}, nil
	case promql.String:
		return Result{Type: ValueString, String: v.V, T: timeOf(v.T)}, nil
	}
	return Result{}, &QueryError{Type: ErrorInternal, Err: fmt.Errorf("telemetry: unexpected result type %T", v)}
}

func seriesOf(m promql.Matrix) []Series {
	out := make([]Series, 0, len(m))
	for _, s := range m {
		if len(s.Floats) == 0 {
			continue // a series of native histograms only
		}
		points := make([]Point, len(s.Floats))
		for i, p := range s.Floats {
			points[i] = Point{T: timeOf(p.T), V: p.F}
		}
		out = append(out, Series{Labels: s.Metric.Map(), Points: points})
	}
	return out
}

// timeOf turns a TSDB timestamp (milliseconds since the epoch) into a time.
func timeOf(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// AppendSample stores one sample: for tests and for metrics the control
// plane computes itself. Samples of a series must come in time order.
func (d *DB) AppendSample(ctx context.Context, lbls map[string]string, t time.Time, v float64) error {
	return d.Append(ctx, Sample{Labels: lbls, T: t, Value: v})
}

// Append stores samples in one transaction: all of them or, on error, none.
func (d *DB) Append(ctx context.Context, samples ...Sample) error {
	return d.transaction(ctx, func(app storage.AppenderV2) error {
		for _, s := range samples {
			lset, err := labelsOf(s.Labels)
			if err != nil {
				return fmt.Errorf("telemetry: append: %w", err)
			}
			if _, err := app.Append(0, lset, 0, s.T.UnixMilli(), s.Value, nil, nil, storage.AOptions{}); err != nil {
				return fmt.Errorf("telemetry: append %s at %s: %w", lset, s.T.UTC().Format(time.RFC3339Nano), err)
			}
		}
		return nil
	})
}

// labelsOf validates a label map and turns it into a label set. Empty values
// are dropped, as in Prometheus, where an empty label is an absent one.
func labelsOf(m map[string]string) (labels.Labels, error) {
	b := labels.NewScratchBuilder(len(m))
	n := 0
	for name, value := range m {
		if !model.UTF8Validation.IsValidLabelName(name) {
			return labels.EmptyLabels(), fmt.Errorf("invalid label name %q", name)
		}
		if !utf8.ValidString(value) {
			return labels.EmptyLabels(), fmt.Errorf("label %s: value is not valid UTF-8", name)
		}
		if value != "" {
			b.Add(name, value)
			n++
		}
	}
	if n == 0 {
		return labels.EmptyLabels(), errors.New("a series needs at least one non-empty label")
	}
	b.Sort()
	return b.Labels(), nil
}

// HeadSeries is the number of series in the in-memory head block: roughly
// the series written in the last two to three hours.
func (d *DB) HeadSeries() uint64 {
	if !d.open() {
		return 0
	}
	defer d.mu.RUnlock()
	return d.tsdb.Head().NumSeries()
}

// transaction runs fill in one append transaction: committed if fill
// returns nil, rolled back otherwise. It is how the scraper writes.
func (d *DB) transaction(ctx context.Context, fill func(storage.AppenderV2) error) error {
	if !d.open() {
		return errClosed
	}
	defer d.mu.RUnlock()
	app := d.tsdb.AppenderV2(ctx)
	if err := fill(app); err != nil {
		if rerr := app.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("telemetry: roll back: %w", rerr))
		}
		return err
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("telemetry: commit: %w", err)
	}
	return nil
}

// LabelNames returns the sorted label names of the series that match.
func (d *DB) LabelNames(ctx context.Context, matchers []string, start, end time.Time) ([]string, error) {
	return d.labelLookup(ctx, matchers, start, end, func(q storage.Querier, ms []*labels.Matcher) ([]string, error) {
		names, _, err := q.LabelNames(ctx, nil, ms...)
		return names, err
	})
}

// LabelValues returns the sorted values of label name in the series that match.
func (d *DB) LabelValues(ctx context.Context, name string, matchers []string, start, end time.Time) ([]string, error) {
	if !model.UTF8Validation.IsValidLabelName(name) {
		return nil, &QueryError{Type: ErrorBadData, Err: fmt.Errorf("telemetry: invalid label name %q", name)}
	}
	return d.labelLookup(ctx, matchers, start, end, func(q storage.Querier, ms []*labels.Matcher) ([]string, error) {
		values, _, err := q.LabelValues(ctx, name, nil, ms...)
		return values, err
	})
}

// labelLookup runs lookup once per matcher set (once without matchers when
// there are none) and returns the sorted union of what it found.
func (d *DB) labelLookup(ctx context.Context, matchers []string, start, end time.Time,
	lookup func(storage.Querier, []*labels.Matcher) ([]string, error)) ([]string, error) {
	sets, err := d.matcherSets(matchers)
	if err != nil {
		return nil, err
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	if !d.open() {
		return nil, errClosed
	}
	defer d.mu.RUnlock()
	mint, maxt := timeRange(start, end)
	q, err := d.tsdb.Querier(mint, maxt)
	if err != nil {
		return nil, &QueryError{Type: ErrorInternal, Err: fmt.Errorf("telemetry: label look-up: %w", err)}
	}
	defer q.Close()
	found := map[string]struct{}{}
	for _, ms := range sets {
		got, err := lookup(q, ms)
		if err != nil {
			return nil, executionError(fmt.Sprint(matchers), err)
		}
		for _, s := range got {
			found[s] = struct{}{}
		}
	}
	out := make([]string, 0, len(found))
	for s := range found {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// Series returns the label sets of the series that match any of matchers,
// which must not be empty.
func (d *DB) Series(ctx context.Context, matchers []string, start, end time.Time) ([]map[string]string, error) {
	if len(matchers) == 0 {
		return nil, &QueryError{Type: ErrorBadData, Err: errors.New("telemetry: series look-up: no match[] selector given")}
	}
	sets, err := d.matcherSets(matchers)
	if err != nil {
		return nil, err
	}
	if !d.open() {
		return nil, errClosed
	}
	defer d.mu.RUnlock()
	mint, maxt := timeRange(start, end)
	q, err := d.tsdb.Querier(mint, maxt)
	if err != nil {
		return nil, &QueryError{Type: ErrorInternal, Err: fmt.Errorf("telemetry: series look-up: %w", err)}
	}
	defer q.Close()
	hints := &storage.SelectHints{Start: mint, End: maxt, Func: "series"} // labels only, no chunks
	seen := map[uint64]struct{}{}
	var out []map[string]string
	for _, ms := range sets {
		ss := q.Select(ctx, false, hints, ms...)
		for ss.Next() {
			lset := ss.At().Labels()
			if _, dup := seen[lset.Hash()]; !dup {
				seen[lset.Hash()] = struct{}{}
				out = append(out, lset.Map())
			}
		}
		if err := ss.Err(); err != nil {
			return nil, executionError(fmt.Sprint(matchers), err)
		}
	}
	return out, nil
}

// matcherSets parses series selectors. As in Prometheus, each must have a
// matcher that does not match the empty string, so that none selects every
// series by accident.
func (d *DB) matcherSets(selectors []string) ([][]*labels.Matcher, error) {
	sets, err := d.parser.ParseMetricSelectors(selectors)
	if err != nil {
		return nil, &QueryError{Type: ErrorBadData, Err: fmt.Errorf("telemetry: match[]: %w", err)}
	}
	for i, ms := range sets {
		if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return !m.Matches("") }) {
			return nil, &QueryError{Type: ErrorBadData, Err: fmt.Errorf("telemetry: match[] %q: needs at least one matcher that does not match the empty string", selectors[i])}
		}
	}
	return sets, nil
}

// timeRange turns an optional time range into TSDB's milliseconds, a zero
// time leaving its side open.
func timeRange(start, end time.Time) (mint, maxt int64) {
	mint, maxt = math.MinInt64, math.MaxInt64
	if !start.IsZero() {
		mint = start.UnixMilli()
	}
	if !end.IsZero() {
		maxt = end.UnixMilli()
	}
	return mint, maxt
}

// warnings passes on only warnings and errors: the TSDB reports every
// WAL replay and compaction at info level, which would fill the log of
// `cloudskin up` at each start with the store's housekeeping.
type warnings struct{ slog.Handler }

func (w warnings) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}

func (w warnings) WithAttrs(as []slog.Attr) slog.Handler { return warnings{w.Handler.WithAttrs(as)} }

func (w warnings) WithGroup(name string) slog.Handler { return warnings{w.Handler.WithGroup(name)} }
