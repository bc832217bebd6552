package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
)

// Target is one /metrics endpoint to scrape.
type Target struct {
	// Job groups targets of one kind ("agent", "controlplane"); required.
	Job string
	// Instance tells targets of a job apart; the URL's host:port when empty.
	Instance string
	// URL is the full address of the metrics page, e.g. http://10.0.0.5:7071/metrics.
	URL string
	// Labels are added to every series of the target (e.g. site="edge").
	// Names must be Prometheus label names not starting with "__".
	Labels map[string]string
}

// Defaults of ScraperOptions.
const (
	DefaultScrapeInterval = 5 * time.Second
	// maxBodyBytes bounds one metrics page: a target sending more is failed
	// rather than filling the control plane's memory.
	maxBodyBytes = 32 << 20
	// maxConcurrentScrapes bounds the targets fetched at once.
	maxConcurrentScrapes = 32
)

// acceptHeader asks for the text formats our parser reads, preferring
// Prometheus's own (the one client_golang serves by default).
const acceptHeader = "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1"

// ScraperOptions configure a Scraper. Zero values take the defaults.
type ScraperOptions struct {
	// Interval is the time between two rounds of scrapes.
	Interval time.Duration
	// Timeout bounds one target's scrape; Interval when zero or larger.
	Timeout time.Duration
	// Logger receives target health changes. Nil discards.
	Logger *slog.Logger
	// Registerer receives the scraper's own metrics (scrapes by result and
	// their duration). Nil registers nothing.
	Registerer prometheus.Registerer
	// Now stamps the samples of a round; time.Now when nil.
	Now func() time.Time
}

// Scraper fetches every target's metrics page each interval and appends its
// samples to a DB, Prometheus's way: each series gets the target's job,
// instance and labels; each target gets the synthetic series up (1 if the
// scrape worked, 0 if not), scrape_duration_seconds and
// scrape_samples_scraped; a series that disappears, or all of a target's
// series when it fails or leaves, get a staleness marker so that queries
// stop seeing them at once rather than five minutes later.
type Scraper struct {
	db        *DB
	targets   func(context.Context) ([]Target, error)
	interval  time.Duration
	timeout   time.Duration
	log       *slog.Logger
	now       func() time.Time
	transport *http.Transport
	client    *http.Client
	metrics   *scrapeMetrics

	// mu serialises rounds; the fields below belong to the round in progress.
	mu              sync.Mutex
	round           uint64
	states          map[targetKey]*targetState
	lastTargets     []Target
	targetsErr      string          // the targets function's last error, "" when it worked
	invalidReported map[string]bool // invalid targets already logged

	// statusMu guards what Status reads while a round runs.
	statusMu sync.Mutex
	status   map[targetKey]TargetStatus
}

// NewScraper returns a scraper appending to db the metrics of the targets
// listed by targets, which is called once per round.
func NewScraper(db *DB, targets func(context.Context) ([]Target, error), opts ScraperOptions) (*Scraper, error) {
	if db == nil || targets == nil {
		return nil, errors.New("telemetry: scraper: a DB and a targets function are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultScrapeInterval
	}
	if opts.Timeout <= 0 || opts.Timeout > opts.Interval {
		opts.Timeout = opts.Interval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	metrics, err := newScrapeMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	// A transport of our own, so that Run can close its idle connections
	// (and their goroutines) when it ends.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 2
	return &Scraper{
		db: db, targets: targets,
		interval: opts.Interval, timeout: opts.Timeout,
		log: opts.Logger, now: opts.Now,
		transport: transport,
		client:    &http.Client{Transport: transport},
		metrics:   metrics,
		states:    map[targetKey]*targetState{}, invalidReported: map[string]bool{},
		status: map[targetKey]TargetStatus{},
	}, nil
}

// Run scrapes every interval, starting at once, until ctx ends.
func (s *Scraper) Run(ctx context.Context) error {
	defer s.transport.CloseIdleConnections()
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.ScrapeOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// ScrapeOnce runs one round: lists the targets, writes staleness markers
// for those that left, and scrapes the others concurrently, each within the
// scrape timeout. All samples of a round carry the round's start time
// (unless the page gives its own). Failures are recorded, not returned.
func (s *Scraper) ScrapeOnce(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.round++
	ts := s.now().UnixMilli()
	targets := s.listTargets(ctx)
	if ctx.Err() != nil {
		return
	}
	current := s.syncStates(ctx, targets, ts)
	sem := make(chan struct{}, maxConcurrentScrapes)
	var wg sync.WaitGroup
	for _, st := range current {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.scrapeTarget(ctx, st, ts)
		})
	}
	wg.Wait()
}

// listTargets calls the targets function; when it fails, the previous
// targets are scraped again and the failure is logged once until it heals.
func (s *Scraper) listTargets(ctx context.Context) []Target {
	targets, err := s.targets(ctx)
	if err != nil {
		if ctx.Err() == nil && s.targetsErr != err.Error() {
			s.log.Warn("telemetry: cannot list scrape targets; scraping the previous ones", "err", err)
		}
		s.targetsErr = err.Error()
		return s.lastTargets
	}
	if s.targetsErr != "" {
		s.log.Info("telemetry: scrape targets listed again", "targets", len(targets))
		s.targetsErr = ""
	}
	s.lastTargets = targets
	return targets
}

// syncStates validates the targets, keeps the state of those already known,
// creates state for new ones and retires those that left (staleness markers
// for all their series). It returns the states to scrape, in target order.
func (s *Scraper) syncStates(ctx context.Context, targets []Target, ts int64) []*targetState {
	var current []*targetState
	keep := map[targetKey]bool{}
	invalid := map[string]bool{}
	for _, t := range targets {
		t, tlabels, err := normalize(t)
		key := targetKey{job: t.Job, instance: t.Instance}
		if err == nil && keep[key] {
			err = errors.New("another target has the same job and instance")
		}
		if err != nil {
			msg := fmt.Sprintf("job %q instance %q url %q: %v", t.Job, t.Instance, t.URL, err)
			invalid[msg] = true
			if !s.invalidReported[msg] {
				s.log.Warn("telemetry: ignoring invalid scrape target", "target", msg)
			}
			continue
		}
		keep[key] = true
		st, ok := s.states[key]
		switch {
		case !ok:
			st = newTargetState(key, t, tlabels)
			s.states[key] = st
		case !labels.Equal(st.targetLabels, tlabels):
			// Its series change names: the old ones end here.
			s.retire(ctx, st, ts)
			st = newTargetState(key, t, tlabels)
			s.states[key] = st
		default:
			st.target = t // the URL may have moved; the series stay the same
		}
		current = append(current, st)
	}
	s.invalidReported = invalid
	for key, st := range s.states {
		if !keep[key] {
			s.retire(ctx, st, ts)
			delete(s.states, key)
		}
	}
	return current
}

// retire writes staleness markers for every series of a target that left.
func (s *Scraper) retire(ctx context.Context, st *targetState, ts int64) {
	err := s.db.transaction(ctx, func(app storage.AppenderV2) error {
		st.markAllStale(app, ts, true)
		return nil
	})
	if err != nil && !errors.Is(err, errClosed) {
		s.log.Warn("telemetry: cannot mark a removed target's series stale", "job", st.key.job, "instance", st.key.instance, "err", err)
	}
	s.statusMu.Lock()
	delete(s.status, st.key)
	s.statusMu.Unlock()
}

// normalize checks a target, fills in its instance and returns the labels
// every one of its series gets.
func normalize(t Target) (Target, labels.Labels, error) {
	if t.Job == "" {
		return t, labels.EmptyLabels(), errors.New("no job")
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return t, labels.EmptyLabels(), fmt.Errorf("bad URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return t, labels.EmptyLabels(), errors.New("URL must be http:// or https:// with a host")
	}
	if t.Instance == "" {
		t.Instance = u.Host
	}
	b := labels.NewScratchBuilder(len(t.Labels) + 2)
	b.Add(model.JobLabel, t.Job)
	b.Add(model.InstanceLabel, t.Instance)
	for name, v := range t.Labels {
		switch {
		case !model.LegacyValidation.IsValidLabelName(name) || len(name) > 1 && name[:2] == "__":
			return t, labels.EmptyLabels(), fmt.Errorf("invalid label name %q", name)
		case name == model.JobLabel || name == model.InstanceLabel:
			return t, labels.EmptyLabels(), fmt.Errorf("label %q is set by the Job and Instance fields", name)
		case v != "":
			b.Add(name, v)
		}
	}
	b.Sort()
	return t, b.Labels(), nil
}

// targetKey identifies a target, as job and instance do in Prometheus.
type targetKey struct{ job, instance string }

// targetState is what the scraper remembers about one target between rounds.
type targetState struct {
	key          targetKey
	target       Target
	targetLabels labels.Labels

	// series caches, by the raw series text of the page, the labels and
	// TSDB reference of every series of the last successful scrape.
	series map[string]*seriesEntry
	// report holds the synthetic series, by name.
	report map[string]*seriesEntry

	body    bytes.Buffer
	lbuf    labels.Labels
	symbols *labels.SymbolTable

	health          health
	sampleErrsShown bool
}

type health int

const (
	healthUnknown health = iota
	healthUp
	healthDown
)

// seriesEntry is one cached series.
type seriesEntry struct {
	ref  storage.SeriesRef
	lset labels.Labels
	// round is the last round that appended to the series.
	round uint64
	// live is set once a sample of the series is committed; only live
	// series get staleness markers. Series with timestamps of their own
	// never do, as in Prometheus.
	live     bool
	explicit bool
}

func newTargetState(key targetKey, t Target, tlabels labels.Labels) *targetState {
	st := &targetState{
		key: key, target: t, targetLabels: tlabels,
		series:  map[string]*seriesEntry{},
		report:  map[string]*seriesEntry{},
		symbols: labels.NewSymbolTable(),
	}
	for _, name := range []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"} {
		b := labels.NewBuilder(tlabels)
		b.Set(model.MetricNameLabel, name)
		st.report[name] = &seriesEntry{lset: b.Labels()}
	}
	return st
}

// scrapeTarget fetches one target and appends what it gave, or records the
// failure: up=0 and staleness markers for the series it had.
func (s *Scraper) scrapeTarget(ctx context.Context, st *targetState, ts int64) {
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	contentType, err := s.fetch(sctx, st)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the target did nothing wrong
	}
	var scraped, sampleErrs int
	if err == nil {
		err = s.db.transaction(ctx, func(app storage.AppenderV2) error {
			var err error
			scraped, sampleErrs, err = st.appendPage(app, st.body.Bytes(), contentType, ts, s.round)
			if err != nil {
				return err
			}
			st.markStale(app, ts, s.round)
			return st.appendReport(app, ts, 1, time.Since(start), scraped)
		})
	}
	if errors.Is(err, errClosed) {
		return
	}
	if err == nil {
		st.committed(s.round)
	} else {
		err = s.recordFailure(ctx, st, ts, time.Since(start), err)
	}
	s.observe(st, ts, time.Since(start), scraped, sampleErrs, err)
}

// observe counts a scrape, logs the target's health when it changes and
// records it for Status.
func (s *Scraper) observe(st *targetState, ts int64, took time.Duration, scraped, refused int, err error) {
	s.metrics.observe(err == nil, took)
	attrs := []any{"job", st.key.job, "instance", st.key.instance, "url", st.target.URL}
	switch {
	case err != nil && st.health != healthDown:
		s.log.Warn("telemetry: scrape target is down", append(attrs, "err", err)...)
		st.health = healthDown
	case err == nil && st.health == healthDown:
		s.log.Info("telemetry: scrape target is up again", attrs...)
		st.health = healthUp
	case err == nil:
		st.health = healthUp
	}
	if (refused > 0) != st.sampleErrsShown {
		st.sampleErrsShown = refused > 0
		if refused > 0 {
			s.log.Warn("telemetry: the store refuses some samples of a target (out of order or duplicate timestamps)", append(attrs, "refused", refused)...)
		} else {
			s.log.Info("telemetry: the store accepts all samples of a target again", attrs...)
		}
	}
	status := TargetStatus{Target: st.target, Up: err == nil, LastScrape: timeOf(ts), LastDuration: took, Samples: scraped}
	if err != nil {
		status.LastError = err.Error()
	}
	s.statusMu.Lock()
	s.status[st.key] = status
	s.statusMu.Unlock()
}

// TargetStatus is the outcome of a target's last scrape.
type TargetStatus struct {
	Target       Target
	Up           bool
	LastError    string
	LastScrape   time.Time
	LastDuration time.Duration
	// Samples is the number of samples the page had.
	Samples int
}

// Status returns the last outcome of every target scraped at least once
// and still listed, ordered by job and instance.
func (s *Scraper) Status() []TargetStatus {
	s.statusMu.Lock()
	out := make([]TargetStatus, 0, len(s.status))
	for _, st := range s.status {
		out = append(out, st)
	}
	s.statusMu.Unlock()
	slices.SortFunc(out, func(a, b TargetStatus) int {
		if a.Target.Job != b.Target.Job {
			return strings.Compare(a.Target.Job, b.Target.Job)
		}
		return strings.Compare(a.Target.Instance, b.Target.Instance)
	})
	return out
}

// recordFailure writes up=0 and staleness markers for every series the
// target had, and forgets them.
func (s *Scraper) recordFailure(ctx context.Context, st *targetState, ts int64, took time.Duration, scrapeErr error) error {
	werr := s.db.transaction(ctx, func(app storage.AppenderV2) error {
		st.markAllStale(app, ts, false)
		return st.appendReport(app, ts, 0, took, 0)
	})
	if werr == nil {
		st.committed(0) // the page's series are forgotten: this marks the synthetic ones live
	}
	if werr != nil && !errors.Is(werr, errClosed) {
		return errors.Join(scrapeErr, werr)
	}
	return scrapeErr
}

// fetch reads the target's page into st.body and returns its content type.
func (s *Scraper) fetch(ctx context.Context, st *targetState) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.target.URL, nil)
	if err != nil {
		return "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("User-Agent", "cloudskin-telemetry")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(s.timeout.Seconds(), 'f', -1, 64))
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err // already names the method and URL
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP status %s", st.target.URL, resp.Status)
	}
	st.body.Reset()
	n, err := st.body.ReadFrom(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: read body: %w", st.target.URL, err)
	}
	if n > maxBodyBytes {
		return "", fmt.Errorf("GET %s: body larger than %d bytes", st.target.URL, maxBodyBytes)
	}
	return resp.Header.Get("Content-Type"), nil
}

// appendPage parses a metrics page with Prometheus's parser and appends its
// samples. It returns how many samples the page had and how many TSDB
// refused one by one (out of order, duplicate timestamps), which, as in
// Prometheus, do not fail the scrape. A page that does not parse does.
func (st *targetState) appendPage(app storage.AppenderV2, body []byte, contentType string, ts int64, round uint64) (scraped, refused int, err error) {
	p, err := textparse.New(body, contentType, st.symbols, textparse.ParserOptions{FallbackContentType: "text/plain"})
	if p == nil {
		return 0, 0, fmt.Errorf("content type %q: %w", contentType, err)
	}
	for {
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			return scraped, refused, nil
		}
		if err != nil {
			return scraped, refused, fmt.Errorf("parse metrics: %w", err)
		}
		var (
			series []byte
			t      *int64
			v      float64
			h      *histogramValue
		)
		switch entry {
		case textparse.EntrySeries:
			series, t, v = p.Series()
		case textparse.EntryHistogram:
			h = &histogramValue{}
			series, t, h.h, h.fh = p.Histogram()
		default:
			continue // type, help, unit and comment lines
		}
		scraped++
		e, err := st.entry(p, series)
		if err != nil {
			return scraped, refused, err
		}
		e.round = round // on the page, even if its sample is refused below
		at := ts
		if t != nil {
			at, e.explicit = *t, true
		}
		if err := e.append(app, at, v, h); err != nil {
			if !sampleLevel(err) {
				return scraped, refused, fmt.Errorf("append %s: %w", e.lset, err)
			}
			refused++
		}
	}
}

// histogramValue is a native histogram sample (only the protobuf format and
// OpenMetrics 2 have them; we do not ask for those, but accept them).
type histogramValue struct {
	h  *histogram.Histogram
	fh *histogram.FloatHistogram
}

// entry returns the cached series for the raw series text, building and
// checking its labels the first time it is seen.
func (st *targetState) entry(p textparse.Parser, series []byte) (*seriesEntry, error) {
	if e, ok := st.series[string(series)]; ok {
		return e, nil
	}
	p.Labels(&st.lbuf)
	if !st.lbuf.IsValid(model.UTF8Validation) || st.lbuf.Get(model.MetricNameLabel) == "" {
		return nil, fmt.Errorf("invalid series %s", st.lbuf)
	}
	if name, dup := st.lbuf.HasDuplicateLabelNames(); dup {
		return nil, fmt.Errorf("series %s: label %q appears twice", st.lbuf, name)
	}
	e := &seriesEntry{lset: withTargetLabels(st.lbuf, st.targetLabels)}
	st.series[string(series)] = e
	return e, nil
}

// withTargetLabels adds the target's labels to a scraped series. A label
// the page sets itself that the target also sets is kept as exported_<name>,
// as Prometheus does without honor_labels.
func withTargetLabels(scraped, target labels.Labels) labels.Labels {
	b := labels.NewBuilder(scraped)
	target.Range(func(l labels.Label) {
		if v := scraped.Get(l.Name); v != "" {
			name := "exported_" + l.Name
			for scraped.Has(name) {
				name = "exported_" + name
			}
			b.Set(name, v)
		}
		b.Set(l.Name, l.Value)
	})
	return b.Labels()
}

func (e *seriesEntry) append(app storage.AppenderV2, t int64, v float64, h *histogramValue) error {
	var ref storage.SeriesRef
	var err error
	if h != nil {
		ref, err = app.Append(e.ref, e.lset, 0, t, 0, h.h, h.fh, storage.AOptions{})
	} else {
		ref, err = app.Append(e.ref, e.lset, 0, t, v, nil, nil, storage.AOptions{})
	}
	if err == nil {
		e.ref = ref
	}
	return err
}

// sampleLevel tells errors that refuse one sample from those that break
// the whole transaction.
func sampleLevel(err error) bool {
	return errors.Is(err, storage.ErrOutOfOrderSample) ||
		errors.Is(err, storage.ErrOutOfBounds) ||
		errors.Is(err, storage.ErrDuplicateSampleForTimestamp) ||
		errors.Is(err, storage.ErrTooOldSample)
}

// markStale writes a staleness marker for every live series the page no
// longer has (not appended to in this round) and forgets them.
func (st *targetState) markStale(app storage.AppenderV2, ts int64, round uint64) {
	for raw, e := range st.series {
		if e.round != round {
			e.markStale(app, ts)
			delete(st.series, raw)
		}
	}
}

// markAllStale writes a staleness marker for every live series of the
// target, and for its synthetic series too when it is leaving, and forgets
// the page's series.
func (st *targetState) markAllStale(app storage.AppenderV2, ts int64, leaving bool) {
	for _, e := range st.series {
		e.markStale(app, ts)
	}
	clear(st.series)
	if leaving {
		for _, e := range st.report {
			e.markStale(app, ts)
		}
	}
}

// markStale appends the staleness marker to a live series.
func (e *seriesEntry) markStale(app storage.AppenderV2, ts int64) {
	if e.live && !e.explicit {
		// A refusal only means the series has a newer sample already.
		_ = e.append(app, ts, math.Float64frombits(value.StaleNaN), nil)
	}
	e.live = false
}

// committed records that the samples of this round are in the store.
func (st *targetState) committed(round uint64) {
	for _, e := range st.series {
		if e.round == round && !e.explicit {
			e.live = true
		}
	}
	for _, e := range st.report {
		e.live = true
	}
}

// appendReport writes the synthetic series of one scrape.
func (st *targetState) appendReport(app storage.AppenderV2, ts int64, up float64, took time.Duration, scraped int) error {
	values := map[string]float64{"up": up, "scrape_duration_seconds": took.Seconds(), "scrape_samples_scraped": float64(scraped)}
	for name, v := range values {
		e := st.report[name]
		if err := e.append(app, ts, v, nil); err != nil && !sampleLevel(err) {
			return fmt.Errorf("append %s: %w", name, err)
		}
	}
	return nil
}
