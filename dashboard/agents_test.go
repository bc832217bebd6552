package dashboard

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/dashboard/dashboardtest"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/internal/httpserver"
)

// The agents' section: one row per agent as `cloudskin lp agents ls`
// prints it, a chart of input against prediction, and logs fetched only
// when an agent ticked.

// Markup the Learning Plane's strings could carry.
const (
	hostileDecision = `6 replicas: <b onclick="window.pwned=5">seasonal-naive</b> forecasts peak 55 over the next 5m0s (level 1.02 × forecast, + 3 % for its error)`
	hostileTickErr  = `<img src=x onerror="window.pwned=6">sensor rps: query failed`
	hostileAction   = `dry-run: would scale <i>shop/api</i> from 4 to 6`
	hostileQuery    = `sum(rate(requests{path="<i>/</i>"}[1m]))`
)

// fakeAgents is the Learning Plane's part of fakeAPI: agents whose status
// follows their log, as learning/agent's store keeps them, and a record of
// the page's requests.
type fakeAgents struct {
	mu     sync.Mutex
	agents []v1alpha1.Agent
	logs   map[string][]v1alpha1.AgentTick
	// lists counts GET /api/v1/agents; asked records each request for a
	// log as "NAME limit=N".
	lists int
	asked []string
}

// routes serves the agents and seeds them: shop-scaler (predictive
// scaling, dry run, 5 ticks 2 s apart ending 2 s before now), warmer
// (pre-warming by cron through Kubernetes, whose last tick failed), mover
// (migration-trigger, ticks without prediction) and idle (never ticked).
func (f *fakeAgents) routes(s *httpserver.Server, now time.Time) {
	interval := func(d time.Duration) v1alpha1.AgentTrigger {
		return v1alpha1.AgentTrigger{Interval: v1alpha1.Duration{Duration: d}}
	}
	scaling := v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPredictiveScaling, Scaling: &v1alpha1.ScalingPolicy{Capacity: 10}}
	f.agents = []v1alpha1.Agent{
		{Metadata: v1alpha1.ObjectMeta{Name: "shop-scaler"}, Spec: v1alpha1.AgentSpec{
			Trigger: interval(2 * time.Second), DryRun: true, Policy: scaling,
			Sensors:  []v1alpha1.Sensor{{Name: "rps", Query: hostileQuery}},
			Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorApplication, Application: "shop", Component: "api"},
		}},
		{Metadata: v1alpha1.ObjectMeta{Name: "warmer"}, Spec: v1alpha1.AgentSpec{
			Trigger: v1alpha1.AgentTrigger{Cron: "*/5 * * * *"}, Policy: v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPreWarming},
			Sensors:  []v1alpha1.Sensor{{Name: "calls", Query: "sum(increase(calls_total[1m]))"}},
			Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorKubernetes, Kubeconfig: "/k", Namespace: "shop", Deployment: "api"},
		}},
		{Metadata: v1alpha1.ObjectMeta{Name: "mover"}, Spec: v1alpha1.AgentSpec{
			Trigger: interval(30 * time.Second), Policy: v1alpha1.AgentPolicy{Type: v1alpha1.PolicyMigrationTrigger},
			Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorApplication, Application: "demo", Component: "source"},
		}},
		{Metadata: v1alpha1.ObjectMeta{Name: "idle"}, Spec: v1alpha1.AgentSpec{
			Trigger: interval(time.Minute), Policy: scaling,
			Sensors:  []v1alpha1.Sensor{{Name: "rate", Query: "sum(rate(x[1m]))"}},
			Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorStream},
		}},
	}
	f.logs = map[string][]v1alpha1.AgentTick{}
	for i := range 5 {
		f.add("shop-scaler", scalerTick(now.Add(time.Duration(i-5)*2*time.Second), i))
	}
	f.add("warmer", v1alpha1.AgentTick{Time: now.Add(-10 * time.Minute), Inputs: map[string]v1alpha1.SensorReading{"calls": {Points: 240, Last: 3}},
		Prediction: []float64{3, 42}, Model: "hybrid", Decision: "1 replicas: inside the window", Action: "shop/api stays at 1"})
	f.add("warmer", v1alpha1.AgentTick{Time: now.Add(-5 * time.Minute), Error: hostileTickErr})
	f.add("mover", v1alpha1.AgentTick{Time: now.Add(-20 * time.Second), Decision: "stay: fps 29.5 meets >= 25 over the next 5 steps", Action: "none"})

	s.HandleFunc("GET /api/v1/agents", func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.lists++
		httpapi.WriteJSON(w, http.StatusOK, v1alpha1.AgentList{Items: append([]v1alpha1.Agent(nil), f.agents...)})
	})
	s.HandleFunc("GET /api/v1/agents/{name}/ticks", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
		f.mu.Lock()
		defer f.mu.Unlock()
		f.asked = append(f.asked, fmt.Sprintf("%s limit=%s", name, r.URL.Query().Get("limit")))
		log, ok := f.logs[name]
		switch {
		case err != nil || limit < 1:
			httpapi.WriteJSON(w, http.StatusBadRequest, map[string]string{"detail": "fake: want a positive limit"})
		case !ok:
			httpapi.WriteJSON(w, http.StatusNotFound, map[string]string{"detail": "fake: no agent " + name})
		default:
			httpapi.WriteJSON(w, http.StatusOK, v1alpha1.AgentTickList{Items: append([]v1alpha1.AgentTick(nil), log[max(0, len(log)-limit):]...)})
		}
	})
}

// scalerTick is shop-scaler's i-th tick: the load 30 + 5i, forecast 20 ahead.
func scalerTick(at time.Time, i int) v1alpha1.AgentTick {
	return v1alpha1.AgentTick{
		Time:       at,
		Inputs:     map[string]v1alpha1.SensorReading{"rps": {Points: 181, Last: float64(30 + 5*i)}},
		Prediction: []float64{float64(50 + 5*i)}, Model: "shop-scaler v1 (seasonal-naive)",
		Decision: hostileDecision, Action: hostileAction,
	}
}

// add logs ticks of agent name and updates its status, at once.
func (f *fakeAgents) add(name string, ticks ...v1alpha1.AgentTick) {
	if f.logs == nil {
		panic("fakeAgents.add before routes")
	}
	for i := range f.agents {
		if f.agents[i].Metadata.Name != name {
			continue
		}
		for _, t := range ticks {
			f.logs[name] = append(f.logs[name], t)
			st := &f.agents[i].Status
			at := t.Time
			st.Ticks++
			st.LastTick, st.LastDecision, st.LastError = &at, t.Decision, t.Error
		}
	}
}

// addNow is add for a running test.
func (f *fakeAgents) addNow(name string, ticks ...v1alpha1.AgentTick) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.add(name, ticks...)
}

// requests answers how many agent lists were asked for and the log
// requests since the first from.
func (f *fakeAgents) requests(from int) (int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists, append([]string(nil), f.asked[min(from, len(f.asked)):]...)
}

// agentsText is the agents' section as text, for failure messages.
const agentsText = `document.getElementById('agents').innerText`

func TestPageShowsAgentsWithTheirLastTicks(t *testing.T) {
	b := dashboardtest.New(t)
	api := &fakeAPI{agents: &fakeAgents{}}
	base, _ := serve(t, api.routes)
	b.Do(t, 15*time.Second, chromedp.Navigate(base+Prefix))
	b.WaitFor(t, 10*time.Second, "four agents, shop-scaler's chart drawn",
		`document.querySelectorAll('#agents-body tr[data-agent]').length === 4 &&
		 document.querySelector('tr[data-chart-of="shop-scaler"] figure[data-state="ok"]') !== null`, agentsText)

	type row map[string]string
	rows := dashboardtest.Eval[[]row](t, b, `[...document.querySelectorAll('#agents-body tr[data-agent]')].map((r) => ({
		agent: r.dataset.agent, policy: r.dataset.policy, state: r.dataset.state, ticks: r.dataset.ticks,
		// Seconds ago depend on the machine's speed: "Ns ago".
		cells: [...r.cells].map((c) => c.innerText.trim().replace(/\s+/g, ' ').replace(/^\d+s ago$/, 'Ns ago')).join(' | '),
		dryRun: String(r.querySelector('[data-dry-run]') !== null),
		title: r.querySelector('[data-decision]').title,
		error: r.querySelector('[data-last-error]')?.textContent ?? '',
		errorColor: r.querySelector('[data-last-error]') ? getComputedStyle(r.querySelector('[data-last-error]')).color : '',
		chart: String(r.nextElementSibling?.dataset.chartOf === r.dataset.agent) }))`)
	short := []rune(hostileDecision)[:79]
	want := []row{
		{"agent": "shop-scaler", "policy": "predictive-scaling", "state": "ok", "ticks": "5", "dryRun": "true", "title": hostileDecision, "error": "", "errorColor": "", "chart": "true",
			"cells": "shop-scaler | predictive-scaling shop-scaler v1 (seasonal-naive) | every 2s | application:shop/api dry run | 5 | Ns ago | " + string(short) + "… | " + hostileAction},
		{"agent": "warmer", "policy": "pre-warming", "state": "failed", "ticks": "2", "dryRun": "false", "title": "", "error": hostileTickErr, "errorColor": "rgb(207, 34, 46)", "chart": "false",
			"cells": "warmer | pre-warming hybrid | */5 * * * * | kubernetes:shop/api | 2 | 5m ago | — " + hostileTickErr + " | —"},
		{"agent": "mover", "policy": "migration-trigger", "state": "ok", "ticks": "1", "dryRun": "false", "title": "stay: fps 29.5 meets >= 25 over the next 5 steps", "error": "", "errorColor": "", "chart": "false",
			"cells": "mover | migration-trigger | every 30s | application:demo/source | 1 | Ns ago | stay: fps 29.5 meets >= 25 over the next 5 steps | none"},
		{"agent": "idle", "policy": "predictive-scaling", "state": "waiting", "ticks": "0", "dryRun": "false", "title": "", "error": "", "errorColor": "", "chart": "true",
			"cells": "idle | predictive-scaling | every 1m0s | stream | 0 | — | — | —"},
	}
	if len(rows) != len(want) {
		t.Fatalf("agent rows:\n%v", rows)
	}
	for i := range want {
		for k, v := range want[i] {
			if got := rows[i][k]; got != v {
				t.Errorf("agent %s: %s = %q, want %q", want[i]["agent"], k, got, v)
			}
		}
	}

	// shop-scaler: its load and its forecast, 5 ticks each, in that order.
	type chart struct {
		State, Caption string
		Moves, Points  []int
		Legend         []string
	}
	charts := dashboardtest.Eval[map[string]chart](t, b, `Object.fromEntries([...document.querySelectorAll('#agents-body tr[data-chart-of]')].map((r) => {
		const f = r.querySelector('figure');
		const paths = [...f.querySelectorAll('path.series')].map((p) => p.getAttribute('d'));
		return [r.dataset.chartOf, { State: f.dataset.state, Caption: f.querySelector('figcaption').innerText,
			Moves: paths.map((d) => d.split('M').length - 1), Points: paths.map((d) => d.split(/[ML]/).length - 1),
			Legend: [...f.querySelectorAll('.legend li')].map((l) => l.innerText.replace(/\s+/g, ' ').trim()) }];
	}))`)
	wantCharts := map[string]chart{
		"shop-scaler": {State: "ok", Caption: "rps and the prediction, last 5 ticks " + hostileQuery, Moves: []int{1, 1}, Points: []int{5, 5},
			Legend: []string{"rps (input) 50", "prediction: shop-scaler v1 (seasonal-naive) 70"}},
		// warmer predicts minutes until a pre-warm, not calls: no chart.
		"idle": {State: "empty", Caption: "rate and the prediction, last 0 ticks sum(rate(x[1m]))", Moves: []int{}, Points: []int{}, Legend: []string{}},
	}
	if fmt.Sprint(charts) != fmt.Sprint(wantCharts) {
		t.Errorf("agent charts:\n got %+v\nwant %+v", charts, wantCharts)
	}

	if n := dashboardtest.Eval[int](t, b, `document.querySelectorAll('#agents img, #agents b, #agents i').length`); n != 0 {
		t.Errorf("%d elements from agents' strings made it into the page", n)
	}
	if pwned := dashboardtest.Eval[bool](t, b, `'pwned' in window`); pwned {
		t.Error("script from an agent's string ran")
	}
	b.Screenshot(t, t.TempDir(), "dashboard-fake-agents.png")
	b.NoExceptions(t)
}

func TestPageFetchesOnlyTheTicksItHasNotSeen(t *testing.T) {
	b := dashboardtest.New(t)
	agents := &fakeAgents{}
	base, _ := serve(t, (&fakeAPI{agents: agents}).routes)
	b.Do(t, 15*time.Second, chromedp.Navigate(base+Prefix))
	b.WaitFor(t, 10*time.Second, "the agents", `document.querySelectorAll('#agents-body tr[data-agent]').length === 4`, agentsText)

	// The first refresh asks for the last 120 ticks of each agent that
	// ticked, and not for idle's, which never did.
	lists, asked := agents.requests(0)
	if want := []string{"mover limit=120", "shop-scaler limit=120", "warmer limit=120"}; fmt.Sprint(sorted(asked)) != fmt.Sprint(want) {
		t.Fatalf("log requests of the first refresh: %v, want %v", asked, want)
	}
	// A refresh ends before the next begins: once two more lists were
	// asked for, one whole refresh ran with nothing new.
	waitFor(t, 10*time.Second, "two more refreshes", func() bool { n, _ := agents.requests(0); return n >= lists+2 })
	if _, again := agents.requests(len(asked)); len(again) != 0 {
		t.Fatalf("refreshes without new ticks asked for logs: %v", again)
	}

	// One new tick: one request, for it and the tick before it.
	from := len(asked)
	agents.addNow("shop-scaler", scalerTick(time.Now(), 5))
	b.WaitFor(t, 10*time.Second, "shop-scaler's sixth tick", `document.querySelector('tr[data-agent="shop-scaler"]').dataset.ticks === '6'`, agentsText)
	_, asked = agents.requests(from)
	if want := []string{"shop-scaler limit=2"}; fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Fatalf("log requests after one tick: %v, want %v", asked, want)
	}

	// Three at once: the three and the one before.
	from += len(asked)
	agents.addNow("shop-scaler", scalerTick(time.Now(), 6), scalerTick(time.Now().Add(time.Millisecond), 7), scalerTick(time.Now().Add(2*time.Millisecond), 8))
	b.WaitFor(t, 10*time.Second, "shop-scaler's chart of 9 ticks",
		`document.querySelector('tr[data-agent="shop-scaler"]').dataset.ticks === '9' &&
		 [...document.querySelectorAll('tr[data-chart-of="shop-scaler"] path.series')].every((p) => p.getAttribute('d').split(/[ML]/).length - 1 === 9)`,
		`document.querySelector('tr[data-chart-of="shop-scaler"]').innerText`)
	_, asked = agents.requests(from)
	if want := []string{"shop-scaler limit=4"}; fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Fatalf("log requests after three ticks: %v, want %v", asked, want)
	}
	legend := dashboardtest.Eval[string](t, b, `document.querySelector('tr[data-chart-of="shop-scaler"] .legend').innerText.replace(/\s+/g, ' ').trim()`)
	if want := "rps (input) 70 prediction: shop-scaler v1 (seasonal-naive) 90"; legend != want {
		t.Errorf("legend after 9 ticks: %q, want %q", legend, want)
	}
	b.NoExceptions(t)
}

// TestTickLogsAsksAgainWhenTicksWereMissed runs ticks.js in the browser
// against a log the script holds, step by step: only new ticks are asked
// for, with one held tick to check that they meet; when more ticks came
// than were asked for they do not meet, and it asks for the whole window
// rather than draw a line over a hole.
func TestTickLogsAsksAgainWhenTicksWereMissed(t *testing.T) {
	b := dashboardtest.New(t)
	base, _ := serve(t, (&fakeAPI{}).routes)
	b.Do(t, 15*time.Second, chromedp.Navigate(base+Prefix))
	ctx, cancel := b.Within(10 * time.Second)
	defer cancel()
	// Each step says the requests it made and the ticks held after it (by
	// their second), or the error.
	steps, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(async () => {
		const { TickLogs, TICKS_KEPT } = await import('./ticks.js');
		let log = [];
		let asked = [];
		const tickAt = (s) => ({ time: new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString(), decision: 'd', action: 'a' });
		const logs = new TickLogs(async (name, limit) => {
			asked.push(name + ' ' + limit);
			if (log === null) throw new Error('down');
			return log.slice(-limit);
		});
		const agent = (ticks) => ({ metadata: { name: 'a' }, status: { ticks, lastTick: log[log.length - 1].time } });
		const steps = [];
		const step = async (what, agents) => {
			await logs.update(agents);
			const got = logs.get('a');
			const secs = got.ticks.map((t) => (Date.parse(t.time) - Date.UTC(2026, 0, 1)) / 1000);
			const held = secs.length > 5 ? secs.length + ' from ' + secs[0] + ' to ' + secs[secs.length - 1] : secs.join(',');
			steps.push(what + ': asked [' + asked.join('; ') + '] held ' + held + (got.error ? ' error ' + got.error.message : ''));
			asked = [];
		};
		for (let s = 0; s < 3; s++) log.push(tickAt(s));
		await step('first', [agent(3)]);
		log.push(tickAt(3), tickAt(4));
		await step('two new', [agent(5)]);
		log.push(tickAt(5), tickAt(6));
		const seven = agent(7);
		log.push(tickAt(7), tickAt(8)); // logged after the status was read
		await step('missed two', [seven]);
		await step('nothing new', [seven]);
		for (let s = 9; s < 9 + TICKS_KEPT + 10; s++) log.push(tickAt(s));
		await step('many new', [agent(log.length)]);
		const kept = log;
		log = null;
		await step('down', [{ metadata: { name: 'a' }, status: { ticks: 999, lastTick: 'x' } }]);
		log = kept;
		log.push(tickAt(200));
		await step('back', [agent(log.length)]);
		await step('deleted', []);
		return steps;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"first: asked [a 120] held 0,1,2",
		"two new: asked [a 3] held 0,1,2,3,4",
		"missed two: asked [a 3; a 120] held 9 from 0 to 8",
		"nothing new: asked [] held 9 from 0 to 8",
		"many new: asked [a 120] held 120 from 19 to 138",
		"down: asked [a 120] held 120 from 19 to 138 error down",
		"back: asked [a 2] held 120 from 20 to 200",
		"deleted: asked [] held ",
	}
	if strings.Join(steps, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
	}
}
