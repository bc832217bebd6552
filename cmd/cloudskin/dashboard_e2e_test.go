package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudskin/cloudskin/dashboard/dashboardtest"
	"github.com/cloudskin/cloudskin/internal/auth"
)

// The dashboard tests open the page `cloudskin up` serves in headless
// Chromium and watch it follow the continuum: the sites, then an
// application applied with the CLI, placed and running. They are skipped
// where Chromium is not installed (`make deps` installs it).

// siteReady is true when the page's sites table shows site as Ready.
func siteReady(site string) string {
	return `document.querySelector('#sites-body tr[data-site="` + site + `"][data-phase="Ready"]') !== null`
}

// sitesText is what the page's sites table says, for failure messages.
const sitesText = `document.getElementById('sites-body').innerText + ' | status: ' + document.getElementById('status').innerText`

func TestDashboardFollowsSitesAndAnApplication(t *testing.T) {
	t.Parallel()
	browser := dashboardtest.New(t)
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))

	// The root redirects to the page.
	browser.Do(t, 15*time.Second, chromedp.Navigate(base+"/"))
	if loc := dashboardtest.Eval[string](t, browser, `location.pathname`); loc != "/ui/" {
		t.Fatalf("GET / landed on %q, want /ui/", loc)
	}
	browser.WaitFor(t, 10*time.Second, "sites edge and cloud Ready", siteReady("edge")+" && "+siteReady("cloud"), sitesText)

	if out, err := run(t, nil, "apply", "-f", "testdata/apps/", "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// demo: a source of 2 replicas and a sink of 1, every replica Running at a site.
	const appRunning = `(() => {
		const app = document.querySelector('[data-app="demo"]');
		if (!app || app.dataset.phase !== 'Running') return false;
		const rows = [...app.querySelectorAll('tr[data-replica]')];
		return rows.length === 3 && rows.every((r) => r.dataset.phase === 'Running' && ['edge', 'cloud'].includes(r.dataset.site));
	})()`
	browser.WaitFor(t, 30*time.Second, "application demo Running with 3 replicas at sites", appRunning,
		`(document.getElementById('apps-list').innerText)`)

	type replica struct{ Component, Site, Reason string }
	replicas := dashboardtest.Eval[[]replica](t, browser, `[...document.querySelectorAll('[data-app="demo"] tr[data-replica]')].map((r) => ({
		Component: r.dataset.component, Site: r.dataset.site, Reason: r.querySelector('td.reason').textContent }))`)
	count := map[string]int{}
	for _, r := range replicas {
		count[r.Component]++
		if !strings.Contains(r.Reason, r.Site) || !strings.Contains(r.Reason, "score") || !strings.Contains(r.Reason, "Learning Plane: ") {
			t.Errorf("replica of %s at %s: placement reason %q does not explain the choice", r.Component, r.Site, r.Reason)
		}
	}
	if count["source"] != 2 || count["sink"] != 1 {
		t.Errorf("replicas by component = %v, want source 2 and sink 1", count)
	}
	if ready := dashboardtest.Eval[string](t, browser, `document.querySelector('[data-app="demo"] header .ready').textContent`); ready != "3/3 ready" {
		t.Errorf("application header says %q, want 3/3 ready", ready)
	}
	if got := dashboardtest.Eval[bool](t, browser, `document.querySelector('#catalog-body tr[data-block="ticker@1.0.0"]') !== null`); !got {
		t.Error("the catalog does not show ticker@1.0.0")
	}
	// Each Running replica of ticker asks for 100m of CPU.
	used := dashboardtest.Eval[float64](t, browser, `[...document.querySelectorAll('#sites-body tr[data-site]')].reduce((n, r) => n + Number(r.querySelector('[data-cores-used]').dataset.coresUsed), 0)`)
	if used < 0.299 || used > 0.301 {
		t.Errorf("cores used over all sites = %v, want 0.3 (3 replicas of 100m)", used)
	}

	// Metrics: charts when the control plane has telemetry, else a note.
	browser.WaitFor(t, 15*time.Second, "metrics drawn or said to be unavailable",
		`document.querySelector('figure[data-chart="sites"][data-state="ok"] path.series') !== null ||
		 document.getElementById('metrics-note').dataset.state === 'unavailable'`,
		`document.getElementById('metrics').innerText`)

	browser.Screenshot(t, dir, "dashboard.png")
	browser.NoExceptions(t)
}

// agentsText is what the page's agents section says, for failure messages.
const agentsText = `document.getElementById('agents').innerText`

// TestDashboardShowsALearningPlaneAgent applies a dry-run predictive
// scaling agent whose sensor needs no application (a PromQL expression of
// the time with an hourly cycle) and watches its row and chart fill in.
func TestDashboardShowsALearningPlaneAgent(t *testing.T) {
	t.Parallel()
	browser := dashboardtest.New(t)
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	browser.Do(t, 15*time.Second, chromedp.Navigate(base+"/ui/"))
	browser.WaitFor(t, 10*time.Second, "the row saying how to create an agent",
		`document.querySelector('#agents-body tr.empty')?.innerText.includes('cloudskin apply -f examples/learning/scaler.yaml') === true`, agentsText)

	f := filepath.Join(dir, "wave.yaml")
	if err := os.WriteFile(f, []byte(`apiVersion: cloudskin.io/v1alpha1
kind: Agent
metadata: {name: wave-scaler}
spec:
  trigger: {interval: 1s}
  dryRun: true
  sensors:
    - name: rps
      query: 60 + 40 * sin(vector(2 * pi() * time() / 3600))
      window: 3h
      step: 1m
  model: {season: 60}
  policy:
    type: predictive-scaling
    scaling: {capacity: 10, startupDelay: 5m, minReplicas: 1, maxReplicas: 20}
  actuator: {type: none}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, "apply", "-f", f, "--server", base); err != nil || !strings.Contains(out, "agent/wave-scaler created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}

	// Two ticks make each of the chart's two lines a line, not a dot.
	browser.WaitFor(t, 20*time.Second, "wave-scaler with ticks and a chart of two lines",
		`(() => {
			const row = document.querySelector('#agents-body tr[data-agent="wave-scaler"]');
			const paths = [...document.querySelectorAll('#agents-body tr[data-chart-of="wave-scaler"] path.series')];
			return row !== null && Number(row.dataset.ticks) > 0 && paths.length === 2 && paths.every((p) => p.getAttribute('d').includes('L'));
		})()`, agentsText)

	type agentRow struct {
		Policy, Ticks, Actuator, DryRun, Decision, Action string
		Legend                                            []string
	}
	got := dashboardtest.Eval[agentRow](t, browser, `(() => {
		const row = document.querySelector('#agents-body tr[data-agent="wave-scaler"]');
		return { Policy: row.dataset.policy, Ticks: row.dataset.ticks, Actuator: row.cells[3].innerText.replace(/\s+/g, ' ').trim(),
			DryRun: String(row.querySelector('[data-dry-run]') !== null),
			Decision: row.querySelector('[data-decision]').title, Action: row.querySelector('[data-action]').innerText,
			Legend: [...document.querySelectorAll('#agents-body tr[data-chart-of="wave-scaler"] .legend .label')].map((l) => l.textContent) };
	})()`)
	if got.Policy != "predictive-scaling" || got.Actuator != "none dry run" || got.DryRun != "true" {
		t.Errorf("wave-scaler row: %+v", got)
	}
	// The decision is the policy's ("N replicas: seasonal-naive forecasts
	// peak ..."); without an actuator the action says none was taken.
	if !regexp.MustCompile(`^\d+ replicas: `).MatchString(got.Decision) || got.Action == "" || got.Action == "—" {
		t.Errorf("wave-scaler decision %q, action %q", got.Decision, got.Action)
	}
	if len(got.Legend) != 2 || got.Legend[0] != "rps (input)" || !strings.HasPrefix(got.Legend[1], "prediction: wave-scaler v") {
		t.Errorf("wave-scaler chart legend %q, want the input rps and the model's prediction", got.Legend)
	}
	if failed := dashboardtest.Eval[string](t, browser, `document.querySelector('#agents-body tr[data-agent="wave-scaler"]').dataset.state`); failed != "ok" {
		t.Errorf("wave-scaler's last tick: state %q, want ok:\n%s", failed, dashboardtest.Eval[string](t, browser, agentsText))
	}

	browser.Screenshot(t, dir, "dashboard-agents.png")
	browser.NoExceptions(t)
}

func TestDashboardAsksForATokenWithAuth(t *testing.T) {
	t.Parallel()
	browser := dashboardtest.New(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", data, "--auth")

	browser.Do(t, 15*time.Second, chromedp.Navigate(base+"/ui/"))
	browser.WaitFor(t, 10*time.Second, "the token form", `!document.getElementById('token-form').hidden`, sitesText)
	if shown := dashboardtest.Eval[bool](t, browser, `document.querySelector('#sites-body tr[data-site]') !== null`); shown {
		t.Fatal("sites are shown before a token was given")
	}

	tokens, err := auth.ReadFile(filepath.Join(data, "tokens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var viewer string
	for _, tok := range tokens.Tokens {
		if tok.Role == auth.Viewer {
			viewer = tok.Token
		}
	}
	if viewer == "" {
		t.Fatalf("no viewer token in %+v", tokens)
	}

	// A wrong token is refused, and the page says so.
	browser.Do(t, 10*time.Second,
		chromedp.SendKeys(chromedp.ID("token-input"), "cs_not-a-token-at-all"),
		chromedp.Click(chromedp.ID("token-submit")))
	browser.WaitFor(t, 10*time.Second, "the refusal of a wrong token", `!document.getElementById('token-error').hidden`, `document.body.innerText`)

	browser.Do(t, 10*time.Second,
		chromedp.SendKeys(chromedp.ID("token-input"), viewer),
		chromedp.Click(chromedp.ID("token-submit")))
	browser.WaitFor(t, 10*time.Second, "sites shown with the viewer token", siteReady("edge")+" && "+siteReady("cloud"), sitesText)
	if hidden := dashboardtest.Eval[bool](t, browser, `document.getElementById('token-form').hidden`); !hidden {
		t.Error("the token form is still shown after a good token")
	}

	// The token is kept: a reload shows the sites without asking again.
	browser.Do(t, 15*time.Second, chromedp.Reload())
	browser.WaitFor(t, 10*time.Second, "sites shown after a reload", siteReady("edge"), sitesText)
	if asked := dashboardtest.Eval[bool](t, browser, `!document.getElementById('token-form').hidden`); asked {
		t.Error("the page asked for the token again after a reload")
	}
	browser.Screenshot(t, dir, "dashboard-auth.png")
	browser.NoExceptions(t)
}
