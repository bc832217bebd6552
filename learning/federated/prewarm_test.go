package federated

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/learning/prewarm"
	"github.com/cloudskin/cloudskin/store"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// clock is a settable clock for the aggregator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// prewarmServer serves an aggregator on a clock and returns a client of it.
func prewarmServer(t *testing.T, c *clock) (*Aggregator, Client) {
	t.Helper()
	agg, err := NewAggregator(2)
	if err != nil {
		t.Fatal(err)
	}
	agg.Now = c.now
	mux := http.NewServeMux()
	agg.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return agg, Client{BaseURL: srv.URL, HTTP: srv.Client()}
}

// idleAt is a histogram of rangeMinutes bins with n idle times of each
// given length (lengths of the range or more count as out of range).
func idleAt(rangeMinutes, n int, lengths ...int) prewarm.IdleHistogram {
	h := prewarm.IdleHistogram{Bins: make([]int, rangeMinutes)}
	for _, l := range lengths {
		if l >= rangeMinutes {
			h.OutOfBounds += n
		} else {
			h.Bins[l] += n
		}
	}
	return h
}

// Two sites that have each seen too few idle times to trust get, merged,
// a histogram the hybrid policy does trust: the point of pooling them.
func TestPrewarmPoolMergesSitesAndDecides(t *testing.T) {
	c := newClock()
	_, cl := prewarmServer(t, c)
	ctx := t.Context()

	a := idleAt(240, 3, 30)
	st, err := cl.PutIdleHistogram(ctx, "thumbs", "edge-b", a)
	if err != nil {
		t.Fatal(err)
	}
	if st.Decision.Mode != prewarm.ModeFewIdleTimes || !st.Decision.Fallback || st.Decision.KeepAliveUntil != 10 {
		t.Errorf("one site with 3 idle times: decision %+v, want the fixed 10-minute keep-alive (too few idle times)", st.Decision)
	}
	c.advance(time.Minute)
	b := idleAt(240, 3, 30)
	b.OutOfBounds = 1
	st, err = cl.PutIdleHistogram(ctx, "thumbs", "edge-a", b)
	if err != nil {
		t.Fatal(err)
	}
	want := idleAt(240, 6, 30)
	want.OutOfBounds = 1
	if !reflect.DeepEqual(st.Histogram, want) || st.IdleTimes != 7 {
		t.Errorf("merged histogram: %d idle times, bins equal %v, out of range %d; want 7, 6 in bin 30 and 1 out of range",
			st.IdleTimes, reflect.DeepEqual(st.Histogram.Bins, want.Bins), st.Histogram.OutOfBounds)
	}
	// 6 idle times of 30 minutes: pre-warm at 30 − 10%, keep alive to 30 + 10%.
	wantDecision := PrewarmDecision{Policy: "hybrid", Mode: prewarm.ModeHistogram, PrewarmAfter: 27, KeepAliveUntil: 33}
	if st.Decision != wantDecision {
		t.Errorf("decision on the merged histogram: %+v, want %+v", st.Decision, wantDecision)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	wantSites := []PrewarmSite{{Site: "edge-a", ReportedAt: t0.Add(time.Minute), IdleTimes: 4}, {Site: "edge-b", ReportedAt: t0, IdleTimes: 3}}
	if !reflect.DeepEqual(st.Sites, wantSites) {
		t.Errorf("sites %+v, want %+v (sorted, stamped by the aggregator's clock)", st.Sites, wantSites)
	}
	got, err := cl.PrewarmStats(ctx, "thumbs")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Errorf("GET %+v\nPUT answered %+v", got, st)
	}
}

// A site sends its whole window each time: sending the same histogram
// again changes nothing but the time it was received, and a new one
// replaces the old rather than adding to it.
func TestPrewarmReportReplacesTheSitesPrevious(t *testing.T) {
	c := newClock()
	_, cl := prewarmServer(t, c)
	ctx := t.Context()
	h := idleAt(60, 2, 5, 7)
	first, err := cl.PutIdleHistogram(ctx, "app", "edge", h)
	if err != nil {
		t.Fatal(err)
	}
	c.advance(5 * time.Minute)
	again, err := cl.PutIdleHistogram(ctx, "app", "edge", h)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Histogram, first.Histogram) || again.IdleTimes != 4 {
		t.Errorf("the same report twice: %d idle times, histogram %v; want the first's %v", again.IdleTimes, again.Histogram, first.Histogram)
	}
	if !again.Sites[0].ReportedAt.Equal(first.Sites[0].ReportedAt.Add(5 * time.Minute)) {
		t.Errorf("reported at %v, then %v: want the second 5 minutes later", first.Sites[0].ReportedAt, again.Sites[0].ReportedAt)
	}
	newer := idleAt(60, 1, 9)
	st, err := cl.PutIdleHistogram(ctx, "app", "edge", newer)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Histogram, newer) || st.IdleTimes != 1 {
		t.Errorf("after a new report: %+v, want exactly %+v", st.Histogram, newer)
	}
	// The only site may change its range; nobody else's must agree.
	if _, err := cl.PutIdleHistogram(ctx, "app", "edge", idleAt(120, 1, 9)); err != nil {
		t.Errorf("the only site changing its range: %v", err)
	}
}

func TestPrewarmPoolRefusesBadReports(t *testing.T) {
	agg, cl := prewarmServer(t, newClock())
	ctx := t.Context()
	if _, err := cl.PutIdleHistogram(ctx, "app", "edge-1", idleAt(240, 1, 3)); err != nil {
		t.Fatal(err)
	}
	negative := idleAt(240, 1, 3)
	negative.Bins[17] = -2
	negOOB := idleAt(240, 1, 3)
	negOOB.OutOfBounds = -1
	huge := idleAt(240, MaxIdleTimes, 3, 4) // 2·MaxIdleTimes in all
	cases := []struct {
		name, app, site string
		h               prewarm.IdleHistogram
		mention         string
	}{
		{"bad application name", "Bad_App", "edge-2", idleAt(240, 1, 3), "application name"},
		{"bad site name", "app", "edge_2", idleAt(240, 1, 3), "site name"},
		{"negative count", "app", "edge-2", negative, "bin 17"},
		{"negative out-of-range count", "app", "edge-2", negOOB, "out-of-range"},
		{"no bins", "app", "edge-2", prewarm.IdleHistogram{}, "0 bins"},
		{"too many bins", "other", "edge-2", idleAt(MaxIdleRange+1, 1, 3), "bins"},
		{"too many idle times", "other", "edge-2", huge, "idle times"},
		{"another range", "app", "edge-2", idleAt(120, 1, 3), "120 one-minute bins, the other sites' have 240"},
	}
	for _, c := range cases {
		_, err := agg.PutIdleHistogram(c.app, c.site, c.h)
		var apiErr *httpapi.Error
		if !errors.As(err, &apiErr) || apiErr.Code != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: %v, want a 422 that mentions %q", c.name, err, c.mention)
		}
	}
	// Over HTTP: an unknown field (a site trying to send its series) is
	// malformed, not merely invalid.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, cl.BaseURL+PrewarmAPIPrefix+"app/sites/edge-2", strings.NewReader(`{"bins": [0, 1], "series": [3, 0, 2]}`))
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a body with a series field: %d, want 400", resp.StatusCode)
	}
	st, err := cl.PrewarmStats(ctx, "app")
	if err != nil || len(st.Sites) != 1 || st.IdleTimes != 1 {
		t.Errorf("after the refusals: %+v, %v; want edge-1's report alone", st, err)
	}
	if apps := agg.PrewarmApps(); len(apps) != 1 {
		t.Errorf("refused reports created applications: %+v", apps)
	}
}

func TestPrewarmSitesAreListedAndForgotten(t *testing.T) {
	_, cl := prewarmServer(t, newClock())
	ctx := t.Context()
	if apps, err := cl.PrewarmApps(ctx); err != nil || apps == nil || len(apps) != 0 {
		t.Fatalf("apps of a new pool: %#v, %v; want an empty list", apps, err)
	}
	for _, r := range []struct {
		app, site string
		h         prewarm.IdleHistogram
	}{
		{"video", "edge-2", idleAt(240, 2, 8)},
		{"video", "edge-1", idleAt(240, 1, 8, 300)},
		{"audio", "edge-1", idleAt(60, 5, 2)},
	} {
		if _, err := cl.PutIdleHistogram(ctx, r.app, r.site, r.h); err != nil {
			t.Fatal(err)
		}
	}
	apps, err := cl.PrewarmApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []PrewarmApp{{App: "audio", Sites: 1, IdleTimes: 5, Range: 60}, {App: "video", Sites: 2, IdleTimes: 4, Range: 240}}
	if !reflect.DeepEqual(apps, want) {
		t.Errorf("apps %+v, want %+v", apps, want)
	}

	if err := cl.DeleteIdleHistogram(ctx, "video", "edge-2"); err != nil {
		t.Fatal(err)
	}
	st, err := cl.PrewarmStats(ctx, "video")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sites) != 1 || st.Sites[0].Site != "edge-1" || !reflect.DeepEqual(st.Histogram, idleAt(240, 1, 8, 300)) {
		t.Errorf("video after forgetting edge-2: %+v", st)
	}
	if err := cl.DeleteIdleHistogram(ctx, "video", "edge-2"); statusOf(err) != http.StatusNotFound {
		t.Errorf("forgetting edge-2 twice: %v, want a 404", err)
	}
	if err := cl.DeleteIdleHistogram(ctx, "ghost", "edge-1"); statusOf(err) != http.StatusNotFound {
		t.Errorf("forgetting a site of an unknown application: %v, want a 404", err)
	}
	// The last site gone, the application is gone.
	if err := cl.DeleteIdleHistogram(ctx, "video", "edge-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PrewarmStats(ctx, "video"); statusOf(err) != http.StatusNotFound {
		t.Errorf("video without sites: %v, want a 404", err)
	}
	if apps, _ := cl.PrewarmApps(ctx); len(apps) != 1 || apps[0].App != "audio" {
		t.Errorf("apps after video's last site went: %+v", apps)
	}
	// With no histogram held, a new site sets the range afresh.
	if _, err := cl.PutIdleHistogram(ctx, "video", "edge-3", idleAt(30, 1, 2)); err != nil {
		t.Errorf("a new range once every site is forgotten: %v", err)
	}
}

// statusOf is the API status code of a Client error, 0 for another.
func statusOf(err error) int {
	var st *v1alpha1.Status
	if errors.As(err, &st) {
		return st.Code
	}
	return 0
}

// An aggregator restarted on the same store file serves the same merged
// view, and what was forgotten stays forgotten.
func TestPrewarmPoolSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	c := newClock()
	start := func() (*Aggregator, func()) {
		st, err := bolt.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewAggregator(2)
		if err != nil {
			t.Fatal(err)
		}
		a.Now = c.now
		if err := a.useStore(context.Background(), st); err != nil {
			t.Fatal(err)
		}
		return a, func() { st.Close() }
	}
	a, stop := start()
	// A federated model next to the histograms: neither store prefix
	// swallows the other's records.
	if err := a.Register("load", netConfig); err != nil {
		t.Fatal(err)
	}
	reports := []struct {
		app, site string
		h         prewarm.IdleHistogram
	}{
		{"thumbs", "edge-1", idleAt(240, 4, 12, 13)},
		{"thumbs", "edge-2", idleAt(240, 2, 12, 400)},
		{"thumbs", "edge-3", idleAt(240, 9, 1)},
		{"resize", "edge-1", idleAt(30, 1, 3)},
	}
	for _, r := range reports {
		if _, err := a.PutIdleHistogram(r.app, r.site, r.h); err != nil {
			t.Fatal(err)
		}
		c.advance(time.Minute)
	}
	if err := a.DeleteIdleHistogram("thumbs", "edge-3"); err != nil {
		t.Fatal(err)
	}
	before, err := a.PrewarmStats("thumbs")
	if err != nil {
		t.Fatal(err)
	}
	beforeApps := a.PrewarmApps()
	stop()

	a, stop = start()
	defer stop()
	after, err := a.PrewarmStats("thumbs")
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if !samePrewarmStats(after, before) {
		t.Errorf("after the restart: %+v\nbefore: %+v", after, before)
	}
	if got := a.PrewarmApps(); !reflect.DeepEqual(got, beforeApps) {
		t.Errorf("apps after the restart %+v, before %+v", got, beforeApps)
	}
	if _, err := a.Global("load"); err != nil {
		t.Errorf("the federated model after the restart: %v", err)
	}
	// The restored range still binds a new site.
	if _, err := a.PutIdleHistogram("thumbs", "edge-4", idleAt(60, 1, 2)); statusOfAPI(err) != http.StatusUnprocessableEntity {
		t.Errorf("another range after the restart: %v, want a 422", err)
	}
}

// samePrewarmStats compares views with times compared as instants.
func samePrewarmStats(a, b PrewarmStats) bool {
	if len(a.Sites) != len(b.Sites) {
		return false
	}
	for i := range a.Sites {
		if !a.Sites[i].ReportedAt.Equal(b.Sites[i].ReportedAt) {
			return false
		}
		a.Sites[i].ReportedAt = b.Sites[i].ReportedAt
	}
	return reflect.DeepEqual(a, b)
}

func statusOfAPI(err error) int {
	var apiErr *httpapi.Error
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}

// failingStore refuses every write after fail is set.
type failingStore struct {
	store.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) failing() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *failingStore) Put(ctx context.Context, key string, value []byte) error {
	if f.failing() {
		return errors.New("disk full")
	}
	return f.Store.Put(ctx, key, value)
}

func (f *failingStore) Delete(ctx context.Context, key string) error {
	if f.failing() {
		return errors.New("disk full")
	}
	return f.Store.Delete(ctx, key)
}

// A change the store refuses is not made: the answer is an error and the
// merged view stays what it was.
func TestPrewarmChangeNotSavedIsNotMade(t *testing.T) {
	bs, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	fs := &failingStore{Store: bs}
	a, err := NewAggregator(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.useStore(context.Background(), fs); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutIdleHistogram("app", "edge", idleAt(10, 1, 2)); err != nil {
		t.Fatal(err)
	}
	before, _ := a.PrewarmStats("app")
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	if _, err := a.PutIdleHistogram("app", "edge", idleAt(10, 5, 3)); err == nil || statusOfAPI(err) != 0 {
		t.Errorf("a report the store refused: %v, want an internal error", err)
	}
	if _, err := a.PutIdleHistogram("app", "edge-2", idleAt(10, 5, 3)); err == nil {
		t.Error("a new site's report the store refused was accepted")
	}
	if err := a.DeleteIdleHistogram("app", "edge"); err == nil {
		t.Error("a deletion the store refused was accepted")
	}
	after, err := a.PrewarmStats("app")
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("after refused changes: %+v, %v; want %+v", after, err, before)
	}
}

// A corrupt record stops the aggregator from starting rather than being
// served.
func TestPrewarmCorruptRecordIsAnError(t *testing.T) {
	for name, value := range map[string]string{
		"not json":       `{`,
		"negative count": `{"histogram": {"bins": [1, -1]}, "reportedAt": "2026-03-01T12:00:00Z"}`,
	} {
		bs, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		if err := bs.Put(context.Background(), prewarmStorePrefix+"app/edge", []byte(value)); err != nil {
			t.Fatal(err)
		}
		a, _ := NewAggregator(1)
		if err := a.useStore(context.Background(), bs); err == nil || !strings.Contains(err.Error(), prewarmStorePrefix+"app/edge") {
			t.Errorf("%s: %v, want an error naming the record", name, err)
		}
		bs.Close()
	}
}

// sentRequest is one request a site sent, in parts.
type sentRequest struct {
	method, url string
	header      http.Header
	body        []byte
}

// all is every byte of the request, to search.
func (r sentRequest) all() []byte {
	var buf bytes.Buffer
	buf.WriteString(r.method + " " + r.url + "\n")
	_ = r.header.Write(&buf)
	buf.Write(r.body)
	return buf.Bytes()
}

// requestLog is an http.RoundTripper that keeps every request a site sends.
type requestLog struct {
	mu   sync.Mutex
	sent []sentRequest
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	r := sentRequest{method: req.Method, url: req.URL.String(), header: req.Header.Clone()}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		r.body = body
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	l.mu.Lock()
	l.sent = append(l.sent, r)
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// invocations is a site's per-minute counts of an application: a burst
// every period minutes (with a jitter of its own), idle otherwise, and
// one distinctive count that cannot appear by chance in anything else.
func invocations(minutes, period, offset, marker int) []int {
	counts := make([]int, minutes)
	for m := offset; m < minutes; m += period {
		counts[m] = 3 + m%5
		if m+1 < minutes && m%3 == 0 {
			counts[m+1] = 1
		}
	}
	counts[offset] = marker
	return counts
}

// TestIdleCountsNeverLeaveTheSite runs three sites' reporters against an
// aggregator over loopback and checks every byte they send: each request
// is a PUT of exactly a histogram (bins and an out-of-range count) and
// nothing of the series.
func TestIdleCountsNeverLeaveTheSite(t *testing.T) {
	c := newClock()
	_, cl := prewarmServer(t, c)
	series := map[string][]int{
		"edge-a": invocations(8*60, 17, 2, 7919313),
		"edge-b": invocations(8*60, 23, 5, 104729),
		"edge-c": invocations(8*60, 9, 0, 8675309),
	}
	sites := slices.Sorted(maps.Keys(series))
	logs := map[string]*requestLog{}
	ctx := t.Context()
	var last PrewarmStats
	const reports = 2
	for _, s := range sites {
		log := &requestLog{}
		logs[s] = log
		counts := series[s]
		r := &HistogramReporter{
			Site: s, App: "thumbs", Aggregator: Client{BaseURL: cl.BaseURL, HTTP: &http.Client{Transport: log}},
			Source: func(context.Context) ([]int, error) { return counts, nil },
		}
		for range reports {
			h, st, err := r.Report(ctx)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			if want := prewarm.IdleHistogramOf(counts, 240); !reflect.DeepEqual(h, want) {
				t.Fatalf("%s computed %+v, want %+v", s, h, want)
			}
			last = st
		}
	}

	for _, s := range sites {
		sent := logs[s].sent
		if len(sent) != reports {
			t.Errorf("%s sent %d requests, want %d (one PUT per report)", s, len(sent), reports)
		}
		want := prewarm.IdleHistogramOf(series[s], 240)
		for _, req := range sent {
			if line, want := req.method+" "+req.url, "PUT "+cl.BaseURL+PrewarmAPIPrefix+"thumbs/sites/"+s; line != want {
				t.Errorf("%s sent %q, want %q", s, line, want)
			}
			body := req.body
			// The body decodes into a histogram and nothing else, and is
			// the site's histogram.
			var keys map[string]json.RawMessage
			if err := json.Unmarshal(body, &keys); err != nil {
				t.Fatalf("%s: body %q: %v", s, body, err)
			}
			if got := slices.Sorted(maps.Keys(keys)); !slices.Equal(got, []string{"bins", "outOfBounds"}) {
				t.Errorf("%s sent the fields %v, want only bins and outOfBounds", s, got)
			}
			var h prewarm.IdleHistogram
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&h); err != nil || !reflect.DeepEqual(h, want) {
				t.Errorf("%s sent %+v (%v), want its histogram %+v", s, h, err, want)
			}
		}
		// No count of any site's series, marker or not, in a form longer
		// than a histogram's numbers could take by chance.
		for other, counts := range series {
			for _, v := range counts {
				if v < 100000 {
					continue
				}
				for _, req := range sent {
					if bytes.Contains(req.all(), []byte(strconv.Itoa(v))) {
						t.Errorf("a request of %s contains %d, a count of %s's series", s, v, other)
					}
				}
			}
		}
	}
	// The pooled view is the sum of what the sites computed.
	sum, err := prewarm.MergeIdleHistograms(prewarm.IdleHistogramOf(series["edge-a"], 240),
		prewarm.IdleHistogramOf(series["edge-b"], 240), prewarm.IdleHistogramOf(series["edge-c"], 240))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(last.Histogram, sum) || len(last.Sites) != 3 {
		t.Errorf("pooled %+v from %d sites, want %+v from 3", last.Histogram, len(last.Sites), sum)
	}
}

// Invocation times do not travel: two sites whose invocations happen at
// different minutes but with the same gaps send byte-identical bodies, and
// a site with ten times the history sends a body of the same size.
func TestHistogramReportCarriesNoTimes(t *testing.T) {
	_, cl := prewarmServer(t, newClock())
	body := func(site string, counts []int) []byte {
		log := &requestLog{}
		r := &HistogramReporter{Site: site, App: "app", Aggregator: Client{BaseURL: cl.BaseURL, HTTP: &http.Client{Transport: log}},
			Source: func(context.Context) ([]int, error) { return counts, nil }}
		if _, _, err := r.Report(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(log.sent) != 1 || len(log.sent[0].body) == 0 {
			t.Fatalf("%s sent %d requests, want one with a body", site, len(log.sent))
		}
		return log.sent[0].body
	}
	early := make([]int, 600)
	late := make([]int, 600)
	for i, m := range []int{3, 10, 40, 41, 100} {
		early[m] = i + 1
		late[m+200] = 7 * (i + 1) // other minutes, other counts, same gaps
	}
	if a, b := body("edge-a", early), body("edge-b", late); !bytes.Equal(a, b) {
		t.Errorf("same gaps at other times sent different bodies:\n%s\n%s", a, b)
	}
	short, long := invocations(600, 13, 1, 999999), invocations(6000, 13, 1, 999999)
	small, large := len(body("edge-c", short)), len(body("edge-d", long))
	t.Logf("report body: %d bytes for 600 minutes, %d for 6,000", small, large)
	if float64(large) > 1.2*float64(small) {
		t.Errorf("report body of %d bytes for 6,000 minutes vs %d for 600: it grows with the series", large, small)
	}
}

func TestHistogramReporterErrors(t *testing.T) {
	_, cl := prewarmServer(t, newClock())
	source := func(context.Context) ([]int, error) { return []int{1, 0, 1}, nil }
	cases := []struct {
		name    string
		r       HistogramReporter
		mention string
	}{
		{"no site", HistogramReporter{App: "app", Aggregator: cl, Source: source}, "needs a site"},
		{"no source", HistogramReporter{Site: "edge", App: "app", Aggregator: cl}, "needs a site"},
		{"negative range", HistogramReporter{Site: "edge", App: "app", Aggregator: cl, Source: source, Range: -1}, "range -1"},
		{"source fails", HistogramReporter{Site: "edge", App: "app", Aggregator: cl,
			Source: func(context.Context) ([]int, error) { return nil, errors.New("prometheus down") }}, "prometheus down"},
		{"bad site name", HistogramReporter{Site: "Edge_1", App: "app", Aggregator: cl, Source: source}, "422"},
	}
	for _, c := range cases {
		if _, _, err := c.r.Report(t.Context()); err == nil || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: %v, want an error that mentions %q", c.name, err, c.mention)
		}
	}
	if _, st, err := (&HistogramReporter{Site: "edge", App: "app", Aggregator: cl, Source: source, Range: 5}).Report(t.Context()); err != nil || len(st.Histogram.Bins) != 5 {
		t.Errorf("range 5: %+v, %v", st, err)
	}
}

// BenchmarkPrewarmReport measures one site's report through the pool over
// loopback: a 240-bin histogram merged with 50 other sites' and decided.
func BenchmarkPrewarmReport(b *testing.B) {
	agg, err := NewAggregator(1)
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	agg.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for i := range 50 {
		if _, err := agg.PutIdleHistogram("app", fmt.Sprintf("edge-%d", i), idleAt(240, i+1, 5, 60)); err != nil {
			b.Fatal(err)
		}
	}
	counts := invocations(4*60, 11, 0, 1)
	r := &HistogramReporter{Site: "bench", App: "app", Aggregator: Client{BaseURL: srv.URL, HTTP: srv.Client()},
		Source: func(context.Context) ([]int, error) { return counts, nil }}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := r.Report(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzPrewarmReport sends arbitrary reports to the pool: every answer is
// a 200, 400 or 422 (never a 500 or a panic), a refused report changes
// nothing, and an accepted one leaves a merged view whose totals add up.
func FuzzPrewarmReport(f *testing.F) {
	f.Add("app", "edge-2", []byte(`{"bins": [0, 3, 1], "outOfBounds": 2}`))
	f.Add("app", "edge-1", []byte(`{"bins": [0, -3, 1]}`))
	f.Add("app", "edge-2", []byte(`{"bins": [9223372036854775807, 9223372036854775807, 1]}`))
	f.Add("App", "edge-2", []byte(`{"bins": [1, 1, 1]}`))
	f.Add("other", "edge", []byte(`{"bins": [], "outOfBounds": 1}`))
	f.Add("app", "edge-2", []byte(`{"bins": [1, 2]} {}`))
	f.Fuzz(func(t *testing.T, app, site string, body []byte) {
		if app == "" || site == "" || strings.ContainsAny(app+site, "/?#%") || app == "." || app == ".." || site == "." || site == ".." {
			t.Skip("not one path segment each")
		}
		agg, err := NewAggregator(1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := agg.PutIdleHistogram("app", "edge-1", prewarm.IdleHistogram{Bins: []int{0, 2, 1}}); err != nil {
			t.Fatal(err)
		}
		before := agg.PrewarmApps()
		mux := http.NewServeMux()
		agg.Mount(mux)
		req := httptest.NewRequest(http.MethodPut, PrewarmAPIPrefix+url.PathEscape(app)+"/sites/"+url.PathEscape(site), bytes.NewReader(body))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			st, err := agg.PrewarmStats(app)
			if err != nil {
				t.Fatalf("accepted, then: %v", err)
			}
			if st.IdleTimes != idleTimes(st.Histogram) || st.IdleTimes < 0 || st.Decision.KeepAliveUntil < 0 {
				t.Fatalf("merged view does not add up: %+v", st)
			}
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			if after := agg.PrewarmApps(); !reflect.DeepEqual(after, before) {
				t.Fatalf("refused with %d, yet the pool changed: %+v, was %+v", rec.Code, after, before)
			}
		default:
			t.Fatalf("PUT %s with %q: %d %s", req.URL.Path, body, rec.Code, rec.Body)
		}
	})
}
