package reconcile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/placement"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func block(name, version string, typ v1alpha1.BlockType, params ...v1alpha1.ParameterSpec) v1alpha1.Block {
	b := v1alpha1.Block{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindBlock},
		Metadata: v1alpha1.ObjectMeta{Name: name},
		Spec: v1alpha1.BlockSpec{Version: version, Type: typ, Parameters: params,
			Resources: v1alpha1.Resources{CPU: v1alpha1.MustParseQuantity("500m"), Memory: v1alpha1.MustParseQuantity("256Mi")}},
	}
	switch typ {
	case v1alpha1.BlockKubernetes:
		b.Spec.Kubernetes = &v1alpha1.KubernetesTemplate{Manifest: "kind: Deployment"}
	default:
		b.Spec.Cell = &v1alpha1.CellTemplate{Module: strings.Repeat("a", 64)}
	}
	return b
}

func site(name string, typ v1alpha1.SiteType, cores int, ready bool) placement.Site {
	return placement.Site{Name: name, Type: typ, Ready: ready, CPUMilli: int64(cores) * 1000, Memory: 8 << 30, Replicas: map[string]int{}}
}

func app(name string, comps ...v1alpha1.Component) v1alpha1.Application {
	return v1alpha1.Application{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindApplication},
		Metadata: v1alpha1.ObjectMeta{Name: name, Generation: 1},
		Spec:     v1alpha1.ApplicationSpec{Components: comps},
	}
}

func replicas(n int) *int { return &n }

// world is a tiny continuum the tests drive: it applies plans the way the
// orchestrator would, and lets the test move workloads through phases.
type world struct {
	t         *testing.T
	now       time.Time
	apps      []App
	sites     []placement.Site
	workloads []Workload
	moves     []Move
}

func (w *world) input() Input {
	return Input{Now: w.now, Apps: w.apps, Sites: w.sites, Workloads: w.workloads, Moves: w.moves,
		Scorer: placement.Heuristic{}, BackoffBase: time.Second, BackoffMax: time.Minute}
}

// step computes a plan, applies it and keeps the statuses.
func (w *world) step() Plan {
	w.t.Helper()
	p := Compute(w.input())
	for _, d := range p.Deletes {
		w.workloads = slices.DeleteFunc(w.workloads, func(x Workload) bool { return x.Name == d.Name })
	}
	for _, c := range p.Creates {
		for _, x := range w.workloads {
			if x.Name == c.Workload.Name {
				w.t.Fatalf("plan creates %s twice", x.Name)
			}
		}
		w.workloads = append(w.workloads, c.Workload)
	}
	for _, s := range p.Scales {
		for i := range w.workloads {
			if w.workloads[i].Name == s.Workload.Name {
				w.workloads[i].Replicas, w.workloads[i].Hash = s.Workload.Replicas, s.Workload.Hash
			}
		}
	}
	for i := range w.apps {
		w.apps[i].App.Status = p.Status[w.apps[i].App.Metadata.Name]
	}
	return p
}

// set moves every workload matching pred to phase.
func (w *world) set(phase Phase, pred func(Workload) bool) int {
	n := 0
	for i := range w.workloads {
		if pred(w.workloads[i]) {
			w.workloads[i].Phase = phase
			w.workloads[i].Started = w.workloads[i].Started || phase != Pending
			if phase.done() {
				w.workloads[i].Finished = w.now
			}
			n++
		}
	}
	return n
}

func all(Workload) bool { return true }

func resolved(b v1alpha1.Block, params map[string]string) Resolved {
	b.Status.Digest = "d-" + b.Spec.Version
	return Resolved{Block: b, Params: params}
}

func newWorld(t *testing.T, a v1alpha1.Application, res map[string]Resolved, sites ...placement.Site) *world {
	return &world{t: t, now: t0, apps: []App{{App: a, Resolved: res}}, sites: sites}
}

func TestNewApplicationIsPlacedSpreadAndBecomesRunning(t *testing.T) {
	a := app("shop", v1alpha1.Component{Name: "web", Block: "web", Replicas: replicas(4)})
	w := newWorld(t, a, map[string]Resolved{"web": resolved(block("web", "1.0.0", v1alpha1.BlockCell), nil)},
		site("edge", v1alpha1.SiteEdge, 2, true), site("cloud", v1alpha1.SiteCloud, 2, true))
	p := w.step()
	if len(p.Creates) != 4 {
		t.Fatalf("creates = %d, want 4", len(p.Creates))
	}
	per := map[string]int{}
	for _, c := range p.Creates {
		per[c.Workload.Site]++
	}
	if per["edge"] != 2 || per["cloud"] != 2 {
		t.Errorf("replicas per site = %v, want 2 and 2 (spread)", per)
	}
	if got := p.Status["shop"].Phase; got != v1alpha1.AppDeploying {
		t.Errorf("phase after placing = %s, want Deploying", got)
	}
	if n := len(p.Decisions["shop"]); n != 4 {
		t.Errorf("decisions = %d, want 4", n)
	}
	w.set(Running, all)
	p = w.step()
	if len(p.Creates)+len(p.Deletes) != 0 {
		t.Errorf("steady state plan has %d creates, %d deletes; want none", len(p.Creates), len(p.Deletes))
	}
	st := p.Status["shop"]
	if st.Phase != v1alpha1.AppRunning || st.Components[0].Ready != 4 {
		t.Errorf("status = %s with %d ready, want Running with 4", st.Phase, st.Components[0].Ready)
	}
}

func TestFullSiteIsNotUsedAndUnschedulableIsExplained(t *testing.T) {
	// Each replica needs 500m; edge has 1 core, so it takes two.
	a := app("shop", v1alpha1.Component{Name: "web", Block: "web", Replicas: replicas(3),
		Requirements: v1alpha1.Requirements{SiteType: v1alpha1.SiteEdge}})
	w := newWorld(t, a, map[string]Resolved{"web": resolved(block("web", "1.0.0", v1alpha1.BlockCell), nil)},
		site("edge", v1alpha1.SiteEdge, 1, true), site("cloud", v1alpha1.SiteCloud, 8, true))
	p := w.step()
	if len(p.Creates) != 2 {
		t.Fatalf("creates = %d, want 2 (edge fits two)", len(p.Creates))
	}
	last := p.Decisions["shop"][2]
	if last.Site != "" || !strings.Contains(last.Reason, "short of CPU") || !strings.Contains(last.Reason, "wrong site type") {
		t.Errorf("third decision = %q at %q; want no site, short of CPU and wrong site type", last.Reason, last.Site)
	}
	st := p.Status["shop"]
	if st.Conditions[0].Type != "Placed" || st.Conditions[0].Status != "False" || !strings.Contains(st.Conditions[0].Message, "web[2]") {
		t.Errorf("Placed condition = %+v", st.Conditions[0])
	}
	w.set(Running, all)
	if p = w.step(); p.Status["shop"].Phase != v1alpha1.AppDegraded {
		t.Errorf("phase with 2 of 3 running = %s, want Degraded", p.Status["shop"].Phase)
	}
}

func TestFailedReplicaRestartsAfterBackoff(t *testing.T) {
	a := app("svc", v1alpha1.Component{Name: "api", Block: "api"})
	w := newWorld(t, a, map[string]Resolved{"api": resolved(block("api", "1.0.0", v1alpha1.BlockCell), nil)},
		site("edge", v1alpha1.SiteEdge, 2, true))
	w.step()
	w.set(Running, all)
	w.step()
	w.set(Failed, all)
	p := w.step()
	if len(p.Creates) != 0 || p.RequeueAfter != time.Second {
		t.Fatalf("right after a failure: %d creates, requeue %s; want 0 and 1s", len(p.Creates), p.RequeueAfter)
	}
	for restarts := 1; restarts <= 3; restarts++ {
		delay := time.Second << (restarts - 1)
		w.now = w.now.Add(delay)
		p = w.step()
		if len(p.Creates) != 1 {
			t.Fatalf("restart %d: creates = %d after %s", restarts, len(p.Creates), delay)
		}
		c := p.Creates[0].Workload
		if c.Restarts != restarts || c.Serial != restarts || c.Name != fmt.Sprintf("svc-api-0-%d", restarts) {
			t.Errorf("restart %d made %+v", restarts, c)
		}
		w.set(Failed, func(x Workload) bool { return x.Name == c.Name })
		p = w.step()
		if want := time.Second << restarts; p.RequeueAfter != want {
			t.Errorf("back-off after restart %d = %s, want %s", restarts, p.RequeueAfter, want)
		}
		if n := len(w.workloads); n != 1 {
			t.Errorf("%d workloads kept, want only the newest finished one", n)
		}
	}
}

func TestJobThatSucceededIsNotRestarted(t *testing.T) {
	b := block("ndvi", "1.0.0", v1alpha1.BlockCell)
	b.Spec.Restart = v1alpha1.RestartOnFailure
	w := newWorld(t, app("batch", v1alpha1.Component{Name: "job", Block: "ndvi"}), map[string]Resolved{"job": resolved(b, nil)},
		site("cloud", v1alpha1.SiteCloud, 2, true))
	w.step()
	w.set(Succeeded, all)
	w.now = w.now.Add(time.Hour)
	p := w.step()
	if len(p.Creates) != 0 || p.Status["batch"].Phase != v1alpha1.AppRunning {
		t.Errorf("completed job: %d creates, phase %s; want none and Running (complete)", len(p.Creates), p.Status["batch"].Phase)
	}
}

func TestRestartNeverFailsTheApplication(t *testing.T) {
	b := block("once", "1.0.0", v1alpha1.BlockCell)
	b.Spec.Restart = v1alpha1.RestartNever
	w := newWorld(t, app("a", v1alpha1.Component{Name: "c", Block: "once"}), map[string]Resolved{"c": resolved(b, nil)},
		site("cloud", v1alpha1.SiteCloud, 2, true))
	w.step()
	w.set(Failed, all)
	p := w.step()
	if p.Status["a"].Phase != v1alpha1.AppFailed || len(p.Creates) != 0 {
		t.Errorf("phase %s with %d creates, want Failed and none", p.Status["a"].Phase, len(p.Creates))
	}
}

func TestPendingReplicaOfLostSiteIsPlacedElsewhere(t *testing.T) {
	a := app("a", v1alpha1.Component{Name: "c", Block: "b", Requirements: v1alpha1.Requirements{}})
	w := newWorld(t, a, map[string]Resolved{"c": resolved(block("b", "1.0.0", v1alpha1.BlockCell), nil)},
		site("edge", v1alpha1.SiteEdge, 4, true), site("cloud", v1alpha1.SiteCloud, 2, true))
	w.step()
	first := w.workloads[0]
	for i := range w.sites {
		if w.sites[i].Name == first.Site {
			w.sites[i].Ready = false
		}
	}
	p := w.step()
	if len(p.Deletes) != 1 || p.Deletes[0].Name != first.Name || len(p.Creates) != 1 || p.Creates[0].Workload.Site == first.Site {
		t.Fatalf("plan = %+v / %+v; want %s deleted and a new replica at the other site", p.Deletes, p.Creates, first.Name)
	}
}

func TestRollingUpdateReplacesOneReplicaAtATime(t *testing.T) {
	fps := "30"
	b := block("cam", "1.0.0", v1alpha1.BlockCell, v1alpha1.ParameterSpec{Name: "fps", Type: v1alpha1.ParamInt, Default: &fps})
	a := app("video", v1alpha1.Component{Name: "cam", Block: "cam", Replicas: replicas(3)})
	w := newWorld(t, a, map[string]Resolved{"cam": resolved(b, map[string]string{"fps": "30"})},
		site("cloud", v1alpha1.SiteCloud, 8, true))
	w.step()
	w.set(Running, all)
	w.step()
	oldHash := w.workloads[0].Hash
	w.apps[0].Resolved["cam"] = resolved(b, map[string]string{"fps": "25"})
	w.apps[0].App.Metadata.Generation = 2
	for round := range 3 {
		p := w.step()
		if len(p.Creates) != 1 || len(p.Deletes) != 0 {
			t.Fatalf("round %d: %d creates, %d deletes; want one new replica, nothing deleted yet", round, len(p.Creates), len(p.Deletes))
		}
		if ready := p.Status["video"].Components[0].Ready; ready != 3 {
			t.Errorf("round %d: ready = %d during the rollout, want 3 (create before delete)", round, ready)
		}
		if p2 := Compute(w.input()); len(p2.Creates) != 0 {
			t.Fatalf("round %d: a second pass while the new replica is Pending creates %d more", round, len(p2.Creates))
		}
		newName := p.Creates[0].Workload.Name
		w.set(Running, func(x Workload) bool { return x.Name == newName })
		p = w.step()
		if len(p.Deletes) != 1 || len(p.Creates) != 0 {
			t.Fatalf("round %d: deletes = %+v, creates %d; want the replaced one deleted, the next one not started yet", round, p.Deletes, len(p.Creates))
		}
	}
	for _, x := range w.workloads {
		if x.Hash == oldHash {
			t.Errorf("%s still runs the old template", x.Name)
		}
	}
	if n := len(w.workloads); n != 3 {
		t.Errorf("%d workloads after the rollout, want 3", n)
	}
}

func TestScaleDownDeletesHighestIndexes(t *testing.T) {
	a := app("a", v1alpha1.Component{Name: "c", Block: "b", Replicas: replicas(3)})
	w := newWorld(t, a, map[string]Resolved{"c": resolved(block("b", "1.0.0", v1alpha1.BlockCell), nil)}, site("cloud", v1alpha1.SiteCloud, 8, true))
	w.step()
	w.set(Running, all)
	w.apps[0].App.Spec.Components[0].Replicas = replicas(1)
	p := w.step()
	var deleted []string
	for _, d := range p.Deletes {
		deleted = append(deleted, d.Name)
	}
	slices.Sort(deleted)
	if want := []string{"a-c-1-0", "a-c-2-0"}; !slices.Equal(deleted, want) {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
}

func TestDownstreamWaitsForUpstreamAndJoinsItsSite(t *testing.T) {
	a := app("chain",
		v1alpha1.Component{Name: "detector", Block: "det", Links: []string{"source"}},
		v1alpha1.Component{Name: "source", Block: "src"})
	w := newWorld(t, a, map[string]Resolved{
		"source":   resolved(block("src", "1.0.0", v1alpha1.BlockCell), nil),
		"detector": resolved(block("det", "1.0.0", v1alpha1.BlockCell), nil),
	}, site("edge", v1alpha1.SiteEdge, 4, true), site("cloud", v1alpha1.SiteCloud, 4, true))
	p := w.step()
	if len(p.Creates) != 1 || p.Creates[0].Workload.Component != "source" {
		t.Fatalf("first pass creates %+v, want only the source", p.Creates)
	}
	if msg := p.Status["chain"].Conditions[1].Message; !strings.Contains(msg, "detector waits for source") {
		t.Errorf("Available message = %q, want the wait explained", msg)
	}
	src := p.Creates[0].Workload.Site
	w.set(Running, all)
	p = w.step()
	if len(p.Creates) != 1 || p.Creates[0].Workload.Site != src {
		t.Fatalf("detector created %+v, want it at the source's site %s", p.Creates, src)
	}
}

func TestOrphansOfDeletedApplicationsAreDeleted(t *testing.T) {
	w := newWorld(t, app("a", v1alpha1.Component{Name: "c", Block: "b"}), map[string]Resolved{"c": resolved(block("b", "1.0.0", v1alpha1.BlockCell), nil)},
		site("cloud", v1alpha1.SiteCloud, 2, true))
	w.step()
	w.apps = nil
	p := w.step()
	if len(p.Deletes) != 1 || len(w.workloads) != 0 {
		t.Errorf("deletes = %+v, want the orphan", p.Deletes)
	}
}

func TestMoveStartsNewReplicaThenStopsOld(t *testing.T) {
	w := newWorld(t, app("a", v1alpha1.Component{Name: "c", Block: "b"}), map[string]Resolved{"c": resolved(block("b", "1.0.0", v1alpha1.BlockCell), nil)},
		site("edge", v1alpha1.SiteEdge, 2, true), site("cloud", v1alpha1.SiteCloud, 2, true))
	w.step()
	w.set(Running, all)
	from := w.workloads[0].Site
	to := "cloud"
	if from == "cloud" {
		to = "edge"
	}
	w.moves = []Move{{Application: "a", Component: "c", Index: 0, To: to}}
	p := w.step()
	if len(p.Creates) != 1 || p.Creates[0].Workload.Site != to || len(p.Deletes) != 0 {
		t.Fatalf("move plan: creates %+v deletes %+v; want a new replica at %s and nothing deleted", p.Creates, p.Deletes, to)
	}
	w.set(Running, func(x Workload) bool { return x.Site == to })
	p = w.step()
	if len(p.Deletes) != 1 || len(w.workloads) != 1 || w.workloads[0].Site != to {
		t.Errorf("after the new replica runs: deletes %+v, workloads %+v", p.Deletes, w.workloads)
	}
	if p = w.step(); len(p.Creates)+len(p.Deletes) != 0 {
		t.Errorf("a done move still plans %d creates %d deletes", len(p.Creates), len(p.Deletes))
	}
}

func TestUnresolvedBlockFailsTheApplication(t *testing.T) {
	w := newWorld(t, app("a", v1alpha1.Component{Name: "c", Block: "missing"}),
		map[string]Resolved{"c": {Err: errors.New("block missing: not found")}}, site("cloud", v1alpha1.SiteCloud, 2, true))
	p := w.step()
	st := p.Status["a"]
	if st.Phase != v1alpha1.AppFailed || !strings.Contains(st.Conditions[1].Message, "block missing") || st.Conditions[1].Reason != "BlockUnavailable" {
		t.Errorf("status = %+v", st)
	}
}

func TestMissedObjectiveDegrades(t *testing.T) {
	a := app("video", v1alpha1.Component{Name: "det", Block: "b"})
	a.Spec.Objectives = []v1alpha1.Objective{{Metric: "fps", Component: "det", Op: ">=", Value: 25}}
	w := newWorld(t, a, map[string]Resolved{"det": resolved(block("b", "1.0.0", v1alpha1.BlockCell), nil)}, site("cloud", v1alpha1.SiteCloud, 2, true))
	w.step()
	w.set(Running, all)
	p := w.step()
	if st := p.Status["video"]; st.Phase != v1alpha1.AppRunning || st.Conditions[2].Status != "Unknown" {
		t.Errorf("unmeasured objective: %s %+v", st.Phase, st.Conditions[2])
	}
	w.apps[0].Observed = map[string]float64{"fps/det": 12}
	p = w.step()
	if st := p.Status["video"]; st.Phase != v1alpha1.AppDegraded || !strings.Contains(st.Conditions[2].Message, "MISSED") {
		t.Errorf("missed objective: %s %+v", st.Phase, st.Conditions[2])
	}
	w.apps[0].Observed["fps/det"] = 30
	if p = w.step(); p.Status["video"].Phase != v1alpha1.AppRunning {
		t.Errorf("met objective: phase %s", p.Status["video"].Phase)
	}
}

func TestKubernetesComponentIsOneScaledWorkload(t *testing.T) {
	a := app("web", v1alpha1.Component{Name: "front", Block: "nginx", Replicas: replicas(3)})
	w := newWorld(t, a, map[string]Resolved{"front": resolved(block("nginx", "1.0.0", v1alpha1.BlockKubernetes), nil)},
		site("edge", v1alpha1.SiteEdge, 8, true), site("k8s", v1alpha1.SiteKubernetes, 0, true))
	p := w.step()
	if len(p.Creates) != 1 || p.Creates[0].Workload.Site != "k8s" || p.Creates[0].Workload.Replicas != 3 {
		t.Fatalf("creates = %+v, want one workload of 3 replicas at k8s", p.Creates)
	}
	w.apps[0].App.Spec.Components[0].Replicas = replicas(5)
	p = w.step()
	if len(p.Scales) != 1 || p.Scales[0].Workload.Replicas != 5 || len(p.Creates) != 0 {
		t.Errorf("scales = %+v creates = %d, want a scale to 5", p.Scales, len(p.Creates))
	}
}

func TestWorkloadNameFitsADNSLabel(t *testing.T) {
	n := WorkloadName(strings.Repeat("a", 60), strings.Repeat("b", 60), 12, 3)
	if len(n) > 63 || !strings.HasSuffix(n, "-12-3") {
		t.Errorf("name %q (%d chars)", n, len(n))
	}
	if err := v1alpha1.ValidateName(n); err != nil {
		t.Error(err)
	}
}
