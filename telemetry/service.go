package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Service. Zero values take the defaults.
type Options struct {
	// Dir holds the embedded store; required unless RemoteURL is set.
	Dir string
	// Retention is how long the embedded store keeps samples
	// (DefaultRetention when zero).
	Retention time.Duration
	// ScrapeInterval is the time between two scrapes of every target
	// (DefaultScrapeInterval when zero); ScrapeTimeout bounds one target's
	// scrape (the interval when zero).
	ScrapeInterval time.Duration
	ScrapeTimeout  time.Duration
	// Targets lists what to scrape; called once per interval. Nil scrapes
	// nothing (the store then holds only what AppendSample writes).
	Targets func(context.Context) ([]Target, error)
	// QueryTimeout and MaxSamples bound the embedded store's queries
	// (DefaultQueryTimeout, DefaultMaxSamples when zero).
	QueryTimeout time.Duration
	MaxSamples   int
	// Logger receives target health changes and store messages. Nil discards.
	Logger *slog.Logger
	// Registerer receives the service's own metrics (telemetry_*; the host
	// registry adds the cloudskin_ prefix). Nil registers nothing.
	Registerer prometheus.Registerer
	// RemoteURL, when set, is an external Prometheus or Thanos to query
	// instead: no store is opened and nothing is scraped.
	RemoteURL string
	// RemoteClient makes the requests to RemoteURL; nil uses a default.
	RemoteClient *http.Client
}

// Service is the control plane's observer: it scrapes the targets into the
// embedded store and answers PromQL over it, or forwards queries to a
// remote Prometheus.
type Service struct {
	log     *slog.Logger
	querier Querier
	api     *API

	// Set only with the embedded store.
	db      *DB
	scraper *Scraper

	closeOnce sync.Once
	closeErr  error
}

// NewService opens the store (or connects the remote) and prepares the
// scraper; nothing runs until Run.
func NewService(opts Options) (*Service, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{log: opts.Logger}
	if opts.RemoteURL != "" {
		remote, err := NewRemote(opts.RemoteURL, opts.RemoteClient)
		if err != nil {
			return nil, err
		}
		s.querier = remote
		s.api = NewAPI(remote, opts.Logger)
		return s, nil
	}
	if opts.Dir == "" {
		return nil, errors.New("telemetry: Options.Dir or Options.RemoteURL is required")
	}
	db, err := OpenDB(opts.Dir, DBOptions{
		Retention: opts.Retention, QueryTimeout: opts.QueryTimeout, MaxSamples: opts.MaxSamples,
		Logger: opts.Logger.With("component", "tsdb"),
	})
	if err != nil {
		return nil, err
	}
	targets := opts.Targets
	if targets == nil {
		targets = func(context.Context) ([]Target, error) { return nil, nil }
	}
	scraper, err := NewScraper(db, targets, ScraperOptions{
		Interval: opts.ScrapeInterval, Timeout: opts.ScrapeTimeout,
		Logger: opts.Logger, Registerer: opts.Registerer,
	})
	if err == nil {
		err = register(opts.Registerer, headSeriesMetric(db))
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s.db, s.scraper, s.querier = db, scraper, db
	s.api = NewAPI(db, opts.Logger)
	return s, nil
}

// Run scrapes until ctx ends, then closes the store. With a remote it only
// waits for ctx.
func (s *Service) Run(ctx context.Context) error {
	if s.scraper != nil {
		if err := s.scraper.Run(ctx); err != nil {
			return errors.Join(err, s.Close())
		}
	} else {
		<-ctx.Done()
	}
	return s.Close()
}

// Close closes the store. It is safe to call more than once and after Run.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		if s.db != nil {
			s.closeErr = s.db.Close()
		}
	})
	return s.closeErr
}

// Querier is what the Learning Plane and the control plane query: the
// embedded store, or the remote server.
func (s *Service) Querier() Querier { return s.querier }

// Routes registers Prometheus's query API (see API) on mux.
func (s *Service) Routes(mux Mux) { s.api.Routes(mux) }

// Targets reports the last scrape of every target; nil with a remote.
func (s *Service) Targets() []TargetStatus {
	if s.scraper == nil {
		return nil
	}
	return s.scraper.Status()
}

// AppendSample stores one sample in the embedded store: for tests and for
// metrics the control plane computes itself. With a remote it fails.
func (s *Service) AppendSample(ctx context.Context, lbls map[string]string, t time.Time, v float64) error {
	if s.db == nil {
		return fmt.Errorf("telemetry: AppendSample: the service reads a remote Prometheus (%s) and stores nothing itself", s.querier.(*Remote).URL())
	}
	return s.db.AppendSample(ctx, lbls, t, v)
}
