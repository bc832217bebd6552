package federated

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/learning/prewarm"
	"github.com/cloudskin/cloudskin/store"
)

// The pre-warm statistics pool: each edge site sends, per application, the
// histogram of idle times it computed from its own invocations
// (prewarm.IdleHistogram: counts per minute bin, never when invocations
// happened); the aggregator keeps each site's latest one, adds them up and
// runs the hybrid policy on the sum. It has its own prefix so as not to
// share APIPrefix's {model} segment: "prewarm" would shadow a model of that
// name, and a POST at prewarm/{app} would conflict with {model}/updates in
// the router.

// PrewarmAPIPrefix is where the pre-warm statistics pool's routes live.
const PrewarmAPIPrefix = "/api/v1/learning/prewarm/"

// MaxIdleRange is the widest histogram the pool takes, in minutes (one
// week; the hybrid policy's default is 240). It bounds what one report can
// make the aggregator hold.
const MaxIdleRange = 7 * 24 * 60

// MaxIdleTimes is the most idle times one site's histogram may count, so
// that the sum over any realistic number of sites cannot overflow. A site
// sees at most one idle time per minute: this is some four thousand years.
const MaxIdleTimes = 1<<31 - 1

// PrewarmSite is one site's part in an application's merged histogram.
type PrewarmSite struct {
	Site string `json:"site"`
	// ReportedAt is when the aggregator received the site's latest
	// histogram, by the aggregator's clock.
	ReportedAt time.Time `json:"reportedAt"`
	// IdleTimes is how many idle times the site's histogram counts, in
	// range or not.
	IdleTimes int `json:"idleTimes"`
}

// PrewarmDecision is the hybrid policy's decision on a merged histogram,
// in minutes after an invocation, as the recommendation API words it.
type PrewarmDecision struct {
	// Policy is the policy that decided: "hybrid" (prewarm.DefaultHybrid
	// with the histogram's range).
	Policy string `json:"policy"`
	// Mode is the policy's branch: "histogram", or a fallback.
	Mode prewarm.Mode `json:"mode"`
	// PrewarmAfter is when to load the instance again after unloading it
	// (Window.Start; 0 or 1: do not unload it).
	PrewarmAfter int `json:"prewarmAfter"`
	// KeepAliveUntil is when to unload it (Window.End).
	KeepAliveUntil int `json:"keepAliveUntil"`
	// Fallback says the histogram was not representative (too few idle
	// times, too flat, or mostly out of range) and the window is the
	// fixed keep-alive.
	Fallback bool `json:"fallback"`
}

// PrewarmStats is the pool's merged view of one application.
type PrewarmStats struct {
	App string `json:"app"`
	// Sites contributed to Histogram, sorted by name.
	Sites []PrewarmSite `json:"sites"`
	// Histogram is the sum of the sites' histograms.
	Histogram prewarm.IdleHistogram `json:"histogram"`
	// IdleTimes is the sum of the sites' IdleTimes.
	IdleTimes int             `json:"idleTimes"`
	Decision  PrewarmDecision `json:"decision"`
}

// PrewarmApp is an application in the pool's list: no bins.
type PrewarmApp struct {
	App       string `json:"app"`
	Sites     int    `json:"sites"`
	IdleTimes int    `json:"idleTimes"`
	// Range is the histograms' range in minutes, which a new site's must
	// match.
	Range int `json:"range"`
}

// PrewarmAppList is the answer to listing the pool.
type PrewarmAppList struct {
	Items []PrewarmApp `json:"items"`
}

// siteIdle is a site's latest report, in memory and as its store record.
type siteIdle struct {
	Histogram  prewarm.IdleHistogram `json:"histogram"`
	ReportedAt time.Time             `json:"reportedAt"`
}

// prewarmPool holds the latest histogram of each site per application. Its
// own lock keeps pre-warm reports from waiting on a round being averaged.
type prewarmPool struct {
	mu    sync.Mutex
	store store.Store                    // nil: in memory only
	apps  map[string]map[string]siteIdle // app → site → latest report
}

// prewarmStorePrefix is where the pool keeps one record per application
// and site, "/learning/prewarm/{app}/{site}", in the control plane's store.
const prewarmStorePrefix = "/learning/prewarm/"

// PutIdleHistogram records a site's latest idle-time histogram for an
// application, replacing its previous one, and returns the application's
// merged view. Bad names, a malformed histogram and a range that differs
// from the other sites' are refused with a 422 (httpapi.Unprocessable).
func (a *Aggregator) PutIdleHistogram(app, site string, h prewarm.IdleHistogram) (PrewarmStats, error) {
	if err := checkPrewarmNames(app, site); err != nil {
		return PrewarmStats{}, err
	}
	if err := checkIdleHistogram(h); err != nil {
		return PrewarmStats{}, httpapi.Unprocessable(fmt.Errorf("federated: idle-time histogram of %q from %q: %w", app, site, err))
	}
	now := a.now().UTC() // UTC drops the monotonic reading, which JSON cannot keep
	p := &a.prewarm
	p.mu.Lock()
	defer p.mu.Unlock()
	for other, s := range p.apps[app] {
		if other != site && len(s.Histogram.Bins) != len(h.Bins) {
			return PrewarmStats{}, httpapi.Unprocessable(fmt.Errorf(
				"federated: idle-time histogram of %q from %q has %d one-minute bins, the other sites' have %d: histograms merge only over the same range",
				app, site, len(h.Bins), len(s.Histogram.Bins)))
		}
	}
	report := siteIdle{Histogram: prewarm.IdleHistogram{Bins: slices.Clone(h.Bins), OutOfBounds: h.OutOfBounds}, ReportedAt: now}
	if err := p.save(app, site, report); err != nil {
		return PrewarmStats{}, err
	}
	if p.apps[app] == nil {
		p.apps[app] = map[string]siteIdle{}
	}
	p.apps[app][site] = report
	return mergedView(app, p.apps[app])
}

// PrewarmStats returns an application's merged histogram, its sites and
// the hybrid policy's decision; a 404 for an application no site reported.
func (a *Aggregator) PrewarmStats(app string) (PrewarmStats, error) {
	p := &a.prewarm
	p.mu.Lock()
	defer p.mu.Unlock()
	sites, ok := p.apps[app]
	if !ok {
		return PrewarmStats{}, httpapi.NotFound(fmt.Errorf("federated: no idle-time histograms for application %q", app))
	}
	return mergedView(app, sites)
}

// PrewarmApps lists the applications with histograms, by name.
func (a *Aggregator) PrewarmApps() []PrewarmApp {
	p := &a.prewarm
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []PrewarmApp{}
	for _, app := range slices.Sorted(maps.Keys(p.apps)) {
		item := PrewarmApp{App: app, Sites: len(p.apps[app])}
		for _, s := range p.apps[app] {
			item.IdleTimes += idleTimes(s.Histogram)
			item.Range = len(s.Histogram.Bins)
		}
		out = append(out, item)
	}
	return out
}

// DeleteIdleHistogram forgets a site's histogram for an application (a
// site taken out of service, say); the application goes when its last
// site does. A 404 when the pool has no histogram from that site.
func (a *Aggregator) DeleteIdleHistogram(app, site string) error {
	p := &a.prewarm
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.apps[app][site]; !ok {
		return httpapi.NotFound(fmt.Errorf("federated: no idle-time histogram of application %q from site %q", app, site))
	}
	if err := p.remove(app, site); err != nil {
		return err
	}
	delete(p.apps[app], site)
	if len(p.apps[app]) == 0 {
		delete(p.apps, app)
	}
	return nil
}

func (a *Aggregator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func checkPrewarmNames(app, site string) error {
	if err := v1alpha1.ValidateName(app); err != nil {
		return httpapi.Unprocessable(fmt.Errorf("federated: application name: %w", err))
	}
	if err := v1alpha1.ValidateName(site); err != nil {
		return httpapi.Unprocessable(fmt.Errorf("federated: site name: %w", err))
	}
	return nil
}

// checkIdleHistogram says what is wrong with a histogram a site sent.
func checkIdleHistogram(h prewarm.IdleHistogram) error {
	if len(h.Bins) == 0 || len(h.Bins) > MaxIdleRange {
		return fmt.Errorf("%d bins, want 1 to %d (one per minute of the range)", len(h.Bins), MaxIdleRange)
	}
	if err := h.Check(len(h.Bins)); err != nil {
		return err
	}
	// Each term is at most MaxIdleTimes before it is added, so the running
	// total cannot overflow before it is compared.
	total := min(h.OutOfBounds, MaxIdleTimes+1)
	for _, c := range h.Bins {
		total += min(c, MaxIdleTimes+1)
		if total > MaxIdleTimes {
			return fmt.Errorf("more than %d idle times in all", MaxIdleTimes)
		}
	}
	if total > MaxIdleTimes {
		return fmt.Errorf("more than %d idle times in all", MaxIdleTimes)
	}
	return nil
}

func idleTimes(h prewarm.IdleHistogram) int {
	n := h.OutOfBounds
	for _, c := range h.Bins {
		n += c
	}
	return n
}

// mergedView adds up an application's histograms and decides on the sum.
// Its errors would be the pool's own (the histograms were checked when
// they came in), so they are internal.
func mergedView(app string, sites map[string]siteIdle) (PrewarmStats, error) {
	out := PrewarmStats{App: app, Sites: make([]PrewarmSite, 0, len(sites))}
	hs := make([]prewarm.IdleHistogram, 0, len(sites))
	for _, site := range slices.Sorted(maps.Keys(sites)) {
		s := sites[site]
		n := idleTimes(s.Histogram)
		out.Sites = append(out.Sites, PrewarmSite{Site: site, ReportedAt: s.ReportedAt, IdleTimes: n})
		out.IdleTimes += n
		hs = append(hs, s.Histogram)
	}
	merged, err := prewarm.MergeIdleHistograms(hs...)
	if err != nil {
		return PrewarmStats{}, fmt.Errorf("federated: merging the histograms of %q: %w", app, err)
	}
	policy := prewarm.DefaultHybrid()
	policy.Range = len(merged.Bins)
	d, err := policy.Decide(merged)
	if err != nil {
		return PrewarmStats{}, fmt.Errorf("federated: deciding on the histogram of %q: %w", app, err)
	}
	out.Histogram = merged
	out.Decision = PrewarmDecision{
		Policy: policy.Name(), Mode: d.Mode, PrewarmAfter: d.Window.Start, KeepAliveUntil: d.Window.End,
		Fallback: d.Mode != prewarm.ModeHistogram,
	}
	return out, nil
}

// useStore loads the histograms kept in st and makes every later change be
// written there first.
func (p *prewarmPool) useStore(ctx context.Context, st store.Store) error {
	kvs, err := st.List(ctx, prewarmStorePrefix)
	if err != nil {
		return fmt.Errorf("federated: loading idle-time histograms: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, kv := range kvs {
		app, site, _ := strings.Cut(strings.TrimPrefix(kv.Key, prewarmStorePrefix), "/")
		var s siteIdle
		err := json.Unmarshal(kv.Value, &s)
		if err == nil {
			err = errors.Join(checkPrewarmNames(app, site), checkIdleHistogram(s.Histogram))
		}
		if err != nil {
			return fmt.Errorf("federated: idle-time histogram %s in the store: %w", kv.Key, err)
		}
		if p.apps[app] == nil {
			p.apps[app] = map[string]siteIdle{}
		}
		p.apps[app][site] = s
	}
	p.store = st
	return nil
}

// save writes a site's report to the store, if there is one; p.mu must be
// held so that records are written in the order of the changes.
func (p *prewarmPool) save(app, site string, s siteIdle) error {
	if p.store == nil {
		return nil
	}
	if err := store.PutJSON(context.Background(), p.store, prewarmStorePrefix+app+"/"+site, s); err != nil {
		return fmt.Errorf("federated: saving the idle-time histogram of %q from %q: %w", app, site, err)
	}
	return nil
}

// remove deletes a site's report from the store, if there is one; p.mu
// must be held.
func (p *prewarmPool) remove(app, site string) error {
	if p.store == nil {
		return nil
	}
	if err := p.store.Delete(context.Background(), prewarmStorePrefix+app+"/"+site); err != nil {
		return fmt.Errorf("federated: deleting the idle-time histogram of %q from %q: %w", app, site, err)
	}
	return nil
}

// mountPrewarm registers the pool's routes.
func (a *Aggregator) mountPrewarm(mux Handler) {
	handle := func(fn httpapi.HandlerFunc) http.Handler {
		return httpapi.Handle(a.log, func(err error) error { return err }, fn)
	}
	mux.Handle("GET "+strings.TrimSuffix(PrewarmAPIPrefix, "/"), handle(a.servePrewarmList))
	mux.Handle("GET "+PrewarmAPIPrefix+"{app}", handle(a.servePrewarmStats))
	mux.Handle("PUT "+PrewarmAPIPrefix+"{app}/sites/{site}", handle(a.servePutIdleHistogram))
	mux.Handle("DELETE "+PrewarmAPIPrefix+"{app}/sites/{site}", handle(a.serveDeleteIdleHistogram))
}

func (a *Aggregator) servePrewarmList(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	return http.StatusOK, PrewarmAppList{Items: a.PrewarmApps()}, nil
}

func (a *Aggregator) servePrewarmStats(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	st, err := a.PrewarmStats(r.PathValue("app"))
	return http.StatusOK, st, err
}

func (a *Aggregator) servePutIdleHistogram(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var h prewarm.IdleHistogram
	if err := httpapi.DecodeJSON(w, r, &h); err != nil {
		return 0, nil, err
	}
	st, err := a.PutIdleHistogram(r.PathValue("app"), r.PathValue("site"), h)
	return http.StatusOK, st, err
}

func (a *Aggregator) serveDeleteIdleHistogram(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, a.DeleteIdleHistogram(r.PathValue("app"), r.PathValue("site"))
}
