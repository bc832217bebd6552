package federated

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/cloudskin/cloudskin/learning/prewarm"
)

// PutIdleHistogram sends a site's latest idle-time histogram for an
// application and returns the application's merged view.
func (c Client) PutIdleHistogram(ctx context.Context, app, site string, h prewarm.IdleHistogram) (PrewarmStats, error) {
	var st PrewarmStats
	return st, c.do(ctx, http.MethodPut, prewarmSitePath(app, site), h, &st)
}

// PrewarmStats returns an application's merged histogram, its sites and
// the hybrid policy's decision.
func (c Client) PrewarmStats(ctx context.Context, app string) (PrewarmStats, error) {
	var st PrewarmStats
	return st, c.do(ctx, http.MethodGet, PrewarmAPIPrefix+url.PathEscape(app), nil, &st)
}

// PrewarmApps lists the applications the pool holds histograms for.
func (c Client) PrewarmApps(ctx context.Context) ([]PrewarmApp, error) {
	var l PrewarmAppList
	err := c.do(ctx, http.MethodGet, strings.TrimSuffix(PrewarmAPIPrefix, "/"), nil, &l)
	return l.Items, err
}

// DeleteIdleHistogram makes the pool forget a site's histogram for an
// application.
func (c Client) DeleteIdleHistogram(ctx context.Context, app, site string) error {
	return c.do(ctx, http.MethodDelete, prewarmSitePath(app, site), nil, nil)
}

// prewarmSitePath escapes the names, so that a bad one reaches the
// aggregator's check rather than another route.
func prewarmSitePath(app, site string) string {
	return PrewarmAPIPrefix + url.PathEscape(app) + "/sites/" + url.PathEscape(site)
}

// CountSource returns a site's invocations of an application per minute,
// oldest first, as prewarm.IdleHistogramOf takes them. It is read at the
// site only.
type CountSource func(ctx context.Context) ([]int, error)

// HistogramReporter is the site side of the pre-warm statistics pool:
// each Report reads the site's invocation counts, turns them into the
// histogram of idle times and sends that, and only that, to the
// aggregator. The counts, and so when the application was invoked, never
// leave the site.
type HistogramReporter struct {
	Site string
	App  string
	// Aggregator is where the pool lives.
	Aggregator Client
	Source     CountSource
	// Range is the histogram's range in minutes; 240 (the hybrid policy's
	// four hours) when 0. Every site of an application must use the same.
	Range int
}

// Report sends the histogram of the source's whole window, which replaces
// the one the site sent before, and returns it with the aggregator's
// merged view.
func (r *HistogramReporter) Report(ctx context.Context) (prewarm.IdleHistogram, PrewarmStats, error) {
	if r.Site == "" || r.App == "" || r.Source == nil || r.Aggregator.HTTP == nil {
		return prewarm.IdleHistogram{}, PrewarmStats{}, errors.New("federated: histogram reporter needs a site, an application, a source and an aggregator")
	}
	rangeMinutes := r.Range
	if rangeMinutes == 0 {
		rangeMinutes = prewarm.DefaultHybrid().Range
	}
	if rangeMinutes < 1 || rangeMinutes > MaxIdleRange {
		return prewarm.IdleHistogram{}, PrewarmStats{}, fmt.Errorf("federated: %s: histogram range %d minutes, want 1 to %d", r.Site, rangeMinutes, MaxIdleRange)
	}
	counts, err := r.Source(ctx)
	if err != nil {
		return prewarm.IdleHistogram{}, PrewarmStats{}, fmt.Errorf("federated: %s: read invocation counts of %q: %w", r.Site, r.App, err)
	}
	h := prewarm.IdleHistogramOf(counts, rangeMinutes)
	st, err := r.Aggregator.PutIdleHistogram(ctx, r.App, r.Site, h)
	if err != nil {
		return h, PrewarmStats{}, fmt.Errorf("federated: %s: %w", r.Site, err)
	}
	return h, st, nil
}
