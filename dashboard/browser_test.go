package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/dashboard/dashboardtest"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/internal/httpserver"
)

// The page's behaviour, in headless Chromium against a fake API that
// answers with the real API types: what each section shows, that API
// strings stay text, the charts, the token form and the note for a
// control plane without telemetry. The end-to-end tests in cmd/cloudskin
// run the page against the real control plane.

// Markup an API string could carry; the page must show it as text.
const (
	hostileLabel  = `<img src=x onerror="window.pwned=1">`
	hostileDesc   = `<script>window.pwned=2</script><b>bold</b>`
	hostileMsg    = `<i onmouseover="window.pwned=3">1 of 2 replicas run</i>`
	hostileReason = `<svg onload="window.pwned=4">edge wins</svg>`
	hostileSeries = `<b>GET /x</b>`
)

// fakeAPI serves fixed resources under /api/v1 and, with telemetry, a
// PromQL range API that checks the window the page asks for; with agents,
// the Learning Plane's agents and their logs.
type fakeAPI struct {
	telemetry bool
	agents    *fakeAgents
	// down makes every /api/v1 call end without an answer, as when the
	// control plane is stopped or the network is cut.
	down atomic.Bool

	mu     sync.Mutex
	ranges int
}

func (f *fakeAPI) routes(s *httpserver.Server) {
	now := time.Now().UTC()
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	replicas := 2
	replica := 0
	answer := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { httpapi.WriteJSON(w, http.StatusOK, v) }
	}
	s.HandleFunc("GET /api/v1/sites", answer(v1alpha1.SiteList{Items: []v1alpha1.Site{
		{
			Metadata: v1alpha1.ObjectMeta{Name: "edge", Labels: map[string]string{"tier": "edge", "note": hostileLabel}},
			Spec:     v1alpha1.SiteSpec{Type: v1alpha1.SiteEdge, Capacity: v1alpha1.Capacity{Cores: 2, Memory: v1alpha1.MustParseQuantity("2Gi")}},
			Status:   v1alpha1.SiteStatus{Phase: v1alpha1.SiteReady, LastHeartbeatTime: ago(3 * time.Second)},
		},
		{
			Metadata: v1alpha1.ObjectMeta{Name: "far"},
			Spec:     v1alpha1.SiteSpec{Type: v1alpha1.SiteCloud, Capacity: v1alpha1.Capacity{Cores: 8, Memory: v1alpha1.MustParseQuantity("16Gi")}},
			Status:   v1alpha1.SiteStatus{Phase: v1alpha1.SiteNotReady, Message: "agent silent for 1m0s", LastHeartbeatTime: ago(time.Minute)},
		},
	}}))
	s.HandleFunc("GET /api/v1/blocks", answer(v1alpha1.BlockList{Items: []v1alpha1.Block{{
		Metadata: v1alpha1.ObjectMeta{Name: "ticker"},
		Spec: v1alpha1.BlockSpec{Version: "1.0.0", Type: v1alpha1.BlockCell, Description: hostileDesc,
			Resources: v1alpha1.Resources{CPU: v1alpha1.MustParseQuantity("250m"), Memory: v1alpha1.MustParseQuantity("64Mi")}},
	}}}))
	s.HandleFunc("GET /api/v1/applications", answer(v1alpha1.ApplicationList{Items: []v1alpha1.Application{{
		Metadata: v1alpha1.ObjectMeta{Name: "demo", Generation: 2},
		Spec:     v1alpha1.ApplicationSpec{Components: []v1alpha1.Component{{Name: "source", Block: "ticker", Replicas: &replicas}}},
		Status: v1alpha1.ApplicationStatus{
			Phase: v1alpha1.AppDegraded, ObservedGeneration: 2,
			Conditions: []v1alpha1.Condition{
				{Type: "Placed", Status: "True", Reason: "AllPlaced", Message: "every replica has a site"},
				{Type: "Available", Status: "False", Reason: "ReplicasMissing", Message: hostileMsg},
			},
			Components: []v1alpha1.ComponentStatus{{Name: "source", Block: "ticker@1.0.0", Desired: 2, Ready: 1, Replicas: []v1alpha1.ReplicaStatus{
				{Name: "demo-source-0-0", Index: 0, Site: "edge", Phase: "Running"},
				{Name: "demo-source-1-0", Index: 1, Site: "far", Phase: "Failed", Restarts: 3, Message: "exit status 1"},
			}}},
		},
	}}}))
	s.HandleFunc("GET /api/v1/placements", answer(v1alpha1.PlacementList{Items: []v1alpha1.Placement{{
		Metadata: v1alpha1.ObjectMeta{Name: "demo"}, Application: "demo", Scorer: "heuristic",
		Decisions: []v1alpha1.PlacementDecision{
			// Replica 0 was placed twice, the second time at far, then
			// migrated to edge: the newest decision and the move explain it.
			{Component: "source", Replica: 0, Time: *ago(time.Hour), Site: "edge", Reason: "first placement"},
			{Component: "source", Replica: 0, Time: *ago(30 * time.Minute), Site: "far", Reason: hostileReason,
				Candidates: []v1alpha1.SiteCandidate{{Site: "edge", Feasible: true, Score: 1.5, Reasons: []string{"free 0.50"}}, {Site: "far", Reasons: []string{"NotReady"}}}},
			{Component: "source", Replica: 1, Time: *ago(time.Hour), Site: "far", Reason: "far has the best heuristic score"},
		},
	}}}))
	s.HandleFunc("GET /api/v1/migrations", answer(v1alpha1.MigrationList{Items: []v1alpha1.Migration{{
		Metadata: v1alpha1.ObjectMeta{Name: "demo-source-to-edge"},
		Spec:     v1alpha1.MigrationSpec{Application: "demo", Component: "source", Replica: &replica, To: "edge"},
		Status: v1alpha1.MigrationStatus{Phase: v1alpha1.MigrationSucceeded, Method: v1alpha1.MigrateLive, StartTime: ago(time.Minute), FinishTime: ago(59 * time.Second),
			Moves: []v1alpha1.ReplicaMove{{Replica: 0, From: "far", To: "edge", Method: v1alpha1.MigrateLive, Downtime: v1alpha1.Duration{Duration: 1500 * time.Microsecond}, Done: true}}},
	}}}))
	if f.telemetry {
		s.HandleFunc("GET /api/v1/query_range", f.queryRange)
	}
	if f.agents != nil {
		f.agents.routes(s, now)
	}
	s.Guard("/api/v1/", func(*http.Request) error {
		if f.down.Load() {
			panic(http.ErrAbortHandler) // the server drops the connection
		}
		return nil
	})
}

type promSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// queryRange answers the page's range queries with made-up series, after
// checking that the page asks for the last 15 minutes at a 5 s step.
func (f *fakeAPI) queryRange(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	f.ranges++
	f.mu.Unlock()
	start, err1 := strconv.ParseFloat(q.Get("start"), 64)
	end, err2 := strconv.ParseFloat(q.Get("end"), 64)
	if err1 != nil || err2 != nil || end-start != 900 || q.Get("step") != "5s" {
		promError(w, fmt.Sprintf("fake: want the last 900 s at step 5s, got %v", q))
		return
	}
	// series: values v from 10 minutes before end on, every 5 s, but none
	// in [gapFrom, gapTo) seconds before end.
	series := func(v float64, gapFrom, gapTo float64, labels ...string) promSeries {
		s := promSeries{Metric: map[string]string{}}
		for i := 0; i+1 < len(labels); i += 2 {
			s.Metric[labels[i]] = labels[i+1]
		}
		for t := end - 600; t <= end; t += 5 {
			if end-t < gapFrom || end-t >= gapTo {
				s.Values = append(s.Values, [2]any{t, strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
		return s
	}
	var result []promSeries
	switch query := q.Get("query"); {
	case strings.HasPrefix(query, "bad("):
		promError(w, "1:5: parse error: unexpected end of input")
		return
	case strings.Contains(query, "cloudskin_http_requests_total"):
		result = []promSeries{series(2, 0, 0, "handler", "GET /api/v1/sites"), series(0.5, 100, 200, "handler", hostileSeries)}
	case strings.Contains(query, "cloudskin_site_ready"):
		result = []promSeries{series(1, 0, 0, "site", "edge"), series(0, 0, 0, "site", "far")}
	case query == "cloudskin_cell_qos":
		result = []promSeries{
			series(30, 0, 0, "__name__", "cloudskin_cell_qos", "metric", "fps", "replica", "0"),
			series(25, 0, 0, "__name__", "cloudskin_cell_qos", "metric", "fps", "replica", "1"),
			series(12, 0, 0, "__name__", "cloudskin_cell_qos", "metric", "latency_ms", "replica", "0"),
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": append([]promSeries{}, result...)}})
}

func promError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": msg})
}

func TestPageShowsTheAPIAsTextWithCharts(t *testing.T) {
	b := dashboardtest.New(t)
	api := &fakeAPI{telemetry: true, agents: &fakeAgents{}}
	base, _ := serve(t, api.routes)
	b.Do(t, 15*time.Second, chromedp.Navigate(base+Prefix))
	b.WaitFor(t, 10*time.Second, "every section filled",
		`document.querySelector('[data-app="demo"]') && document.querySelector('#migrations-body tr[data-migration]') &&
		 document.querySelector('tr[data-chart-of="shop-scaler"] figure[data-state="ok"]') &&
		 document.querySelector('figure[data-chart="http"][data-state="ok"]') && document.querySelector('figure[data-chart="qos-fps"]') !== null`,
		`document.body.innerText`)

	// API strings are text: shown as they are, and nothing in them ran.
	text := dashboardtest.Eval[string](t, b, `document.body.innerText`)
	for _, s := range []string{hostileLabel, hostileDesc, hostileMsg, hostileReason, hostileSeries, hostileTickErr, hostileAction, hostileQuery} {
		if !strings.Contains(text, s) {
			t.Errorf("the page does not show %q as text", s)
		}
	}
	if n := dashboardtest.Eval[int](t, b, `document.querySelectorAll('main img, main script, main b, main i, main svg svg').length`); n != 0 {
		t.Errorf("%d elements from API strings made it into the page", n)
	}
	if pwned := dashboardtest.Eval[bool](t, b, `'pwned' in window`); pwned {
		t.Error("script from an API string ran")
	}

	type row map[string]string
	sites := dashboardtest.Eval[[]row](t, b, `[...document.querySelectorAll('#sites-body tr')].map((r) => ({
		site: r.dataset.site, phase: r.dataset.phase, used: r.querySelector('[data-cores-used]').dataset.coresUsed,
		color: getComputedStyle(r.querySelector('.badge')).color, text: r.innerText }))`)
	if len(sites) != 2 {
		t.Fatalf("sites rows: %v", sites)
	}
	// Ready green, NotReady red; the Running replica of 250m counts at edge, the Failed one not at far.
	if s := sites[0]; s["site"] != "edge" || s["phase"] != "Ready" || s["color"] != "rgb(26, 127, 55)" || s["used"] != "0.25" || !strings.Contains(s["text"], "3s ago") {
		t.Errorf("edge row: %v", s)
	}
	if s := sites[1]; s["site"] != "far" || s["phase"] != "NotReady" || s["color"] != "rgb(207, 34, 46)" || s["used"] != "0" || !strings.Contains(s["text"], "agent silent for 1m0s") {
		t.Errorf("far row: %v", s)
	}

	app := dashboardtest.Eval[row](t, b, `(() => {
		const a = document.querySelector('[data-app="demo"]');
		const r1 = a.querySelector('tr[data-replica="demo/source/1"]');
		return { phase: a.dataset.phase, ready: a.querySelector('header .ready').textContent,
			conditions: [...a.querySelectorAll('.conditions li')].map((li) => li.dataset.condition + '=' + li.dataset.status).join(','),
			reason0: a.querySelector('tr[data-replica="demo/source/0"] td.reason').textContent,
			title0: a.querySelector('tr[data-replica="demo/source/0"] td.reason').title,
			site1: r1.dataset.site, phase1: r1.dataset.phase, text1: r1.innerText };
	})()`)
	want := row{"phase": "Degraded", "ready": "1/2 ready", "conditions": "Available=False", "site1": "far", "phase1": "Failed",
		"reason0": hostileReason + "; since moved to edge by migration demo-source-to-edge"}
	for k, v := range want {
		if app[k] != v {
			t.Errorf("application %s = %q, want %q", k, app[k], v)
		}
	}
	if !strings.Contains(app["text1"], "exit status 1") || !strings.Contains(app["text1"], "3") || !strings.Contains(app["title0"], "far: not feasible (NotReady)") {
		t.Errorf("replica details: %v", app)
	}

	mig := dashboardtest.Eval[string](t, b, `document.querySelector('#migrations-body tr[data-migration="demo-source-to-edge"][data-phase="Succeeded"]').innerText`)
	for _, s := range []string{"demo/source #0", "edge", "live", "1.5ms", "1m ago"} {
		if !strings.Contains(mig, s) {
			t.Errorf("migration row %q lacks %q", mig, s)
		}
	}

	charts := dashboardtest.Eval[[]row](t, b, `[...document.querySelectorAll('#charts figure')].map((f) => ({
		chart: f.dataset.chart, state: f.dataset.state, series: f.dataset.series,
		paths: String(f.querySelectorAll('path.series').length),
		moves: [...f.querySelectorAll('path.series')].map((p) => p.getAttribute('d').split('M').length - 1).join(','),
		legend: [...f.querySelectorAll('.legend .label')].map((l) => l.textContent).join(' | ') }))`)
	wantCharts := []row{
		// The http chart's second series has a gap: its line is drawn in two pieces.
		{"chart": "http", "state": "ok", "series": "2", "paths": "2", "moves": "2,1", "legend": `{handler="` + hostileSeries + `"} | {handler="GET /api/v1/sites"}`},
		{"chart": "sites", "state": "ok", "series": "2", "paths": "2", "moves": "1,1", "legend": `{site="edge"} | {site="far"}`},
		{"chart": "qos-fps", "state": "ok", "series": "2", "paths": "2", "moves": "1,1", "legend": `{replica="0"} | {replica="1"}`},
		{"chart": "qos-latency_ms", "state": "ok", "series": "1", "paths": "1", "moves": "1", "legend": `cloudskin_cell_qos{metric="latency_ms", replica="0"}`},
	}
	if fmt.Sprint(charts) != fmt.Sprint(wantCharts) {
		t.Errorf("charts:\n got %v\nwant %v", charts, wantCharts)
	}

	// A query of the user's: its error is shown, and it is remembered.
	b.Do(t, 10*time.Second, chromedp.SetValue(chromedp.ID("query-input"), "bad("), chromedp.Click(chromedp.CSS("#query-form button")))
	b.WaitFor(t, 10*time.Second, "the error of a bad query",
		`document.querySelector('#query-chart figure[data-chart="user"][data-state="error"]')?.innerText.includes('parse error: unexpected end of input')`,
		`document.getElementById('query-chart').innerText`)
	if kept := dashboardtest.Eval[string](t, b, `localStorage.getItem('cloudskin.query')`); kept != "bad(" {
		t.Errorf("query kept as %q", kept)
	}
	b.Screenshot(t, t.TempDir(), "dashboard-fake-api.png")

	// When the control plane stops answering, the header says so and the
	// page keeps what it showed.
	api.down.Store(true)
	b.WaitFor(t, 10*time.Second, "the unreachable control plane in the header",
		`document.getElementById('status').dataset.state === 'error' && document.getElementById('status').innerText.includes('cannot reach the control plane')`,
		`document.getElementById('status').innerText`)
	if n := dashboardtest.Eval[int](t, b, `document.querySelectorAll('#sites-body tr[data-site], #charts path.series').length`); n != 2+7 {
		t.Errorf("%d site rows and chart lines left, want the 2 and 7 shown before", n)
	}
	if n := dashboardtest.Eval[int](t, b, `[...document.querySelectorAll('[data-error]')].filter((p) => !p.hidden).length`); n != 0 {
		t.Errorf("%d sections show an error of their own; the header alone should", n)
	}
	b.NoExceptions(t)
}

func TestPageSaysMetricsUnavailableWithoutTelemetry(t *testing.T) {
	b := dashboardtest.New(t)
	api := &fakeAPI{}
	base, _ := serve(t, api.routes)
	b.Do(t, 15*time.Second, chromedp.Navigate(base+Prefix))
	b.WaitFor(t, 10*time.Second, "the metrics note", `document.getElementById('metrics-note').dataset.state === 'unavailable'`,
		`document.getElementById('metrics').innerText`)
	note := dashboardtest.Eval[string](t, b, `document.getElementById('metrics-note').innerText`)
	if !strings.Contains(strings.ToLower(note), "metrics unavailable") {
		t.Errorf("note says %q", note)
	}
	if hidden := dashboardtest.Eval[bool](t, b, `document.getElementById('charts').hidden && document.getElementById('query-form').hidden`); !hidden {
		t.Error("charts or the query box are shown without telemetry")
	}
	// The rest of the page works all the same.
	b.WaitFor(t, 10*time.Second, "sites", `document.querySelector('#sites-body tr[data-site="edge"]') !== null`, `document.body.innerText`)

	// Nor does this control plane run the Learning Plane (GET
	// /api/v1/agents is 404): a note says so, and the page is not in error.
	b.WaitFor(t, 10*time.Second, "the agents note", `document.getElementById('agents-note').dataset.state === 'unavailable'`, agentsText)
	type state struct{ Note, Status, Error string }
	got := dashboardtest.Eval[state](t, b, `({ Note: document.getElementById('agents-note').innerText,
		Status: document.getElementById('status').dataset.state,
		Error: document.querySelector('#agents [data-error]').hidden ? '' : document.querySelector('#agents [data-error]').innerText })`)
	if !strings.Contains(got.Note, "The Learning Plane does not run in this control plane") || got.Status != "ok" || got.Error != "" {
		t.Errorf("without the Learning Plane: %+v", got)
	}
	if shown := dashboardtest.Eval[bool](t, b, `!document.getElementById('agents-table').hidden`); shown {
		t.Error("the agents table is shown without the Learning Plane")
	}
	b.NoExceptions(t)
}

func TestPageAsksForATokenOn401AndKeepsIt(t *testing.T) {
	const viewer = "cs_viewer-token-for-the-test"
	guard, err := auth.New([]auth.Token{{Name: "viewer", Role: auth.Viewer, Token: viewer}})
	if err != nil {
		t.Fatal(err)
	}
	b := dashboardtest.New(t)
	api := &fakeAPI{telemetry: true}
	base, _ := serve(t, api.routes, func(s *httpserver.Server) { s.Guard("/api/v1/", guard.Guard) })

	b.Do(t, 15*time.Second, chromedp.Navigate(base+Prefix))
	formShown := `!document.getElementById('token-form').hidden && document.body.classList.contains('needs-token')`
	b.WaitFor(t, 10*time.Second, "the token form", formShown, `document.body.innerText`)
	if refused := dashboardtest.Eval[bool](t, b, `document.getElementById('token-error').hidden`); !refused {
		t.Error("an error is shown before any token was tried")
	}

	b.Do(t, 10*time.Second, chromedp.SendKeys(chromedp.ID("token-input"), "cs_wrong-token-of-some-length"), chromedp.Click(chromedp.ID("token-submit")))
	b.WaitFor(t, 10*time.Second, "the refusal", `!document.getElementById('token-error').hidden`, `document.body.innerText`)

	b.Do(t, 10*time.Second, chromedp.SendKeys(chromedp.ID("token-input"), viewer), chromedp.Click(chromedp.ID("token-submit")))
	b.WaitFor(t, 10*time.Second, "data and charts with the token",
		`document.getElementById('token-form').hidden && document.querySelector('#sites-body tr[data-site="edge"]') !== null &&
		 document.querySelector('figure[data-chart="http"][data-state="ok"]') !== null`, `document.body.innerText`)
	if kept := dashboardtest.Eval[string](t, b, `localStorage.getItem('cloudskin.token')`); kept != viewer {
		t.Errorf("token kept as %q", kept)
	}

	// Forgetting the token asks again.
	b.Do(t, 10*time.Second, chromedp.Click(chromedp.ID("token-forget")))
	b.WaitFor(t, 10*time.Second, "the token form after forgetting", formShown+` && localStorage.getItem('cloudskin.token') === null`, `document.body.innerText`)
	b.NoExceptions(t)
}
