package placement

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func testSite(name string, typ v1alpha1.SiteType, cores int) Site {
	return Site{Name: name, Type: typ, Ready: true, CPUMilli: int64(cores) * 1000, Memory: 4 << 30,
		Labels: map[string]string{}, Latency: map[string]time.Duration{}, Replicas: map[string]int{}}
}

func TestFilterNamesEveryFailedRequirement(t *testing.T) {
	s := testSite("edge", v1alpha1.SiteEdge, 1)
	s.Ready = false
	s.Labels["arch"] = "arm64"
	s.Latency["camera-1"] = 30 * time.Millisecond
	s.UsedCPU = 800
	r := Request{
		Application: "a", BlockType: v1alpha1.BlockCell, CPUMilli: 500, Memory: 8 << 30,
		Component: v1alpha1.Component{Name: "c", Requirements: v1alpha1.Requirements{
			Site: "cloud", SiteType: v1alpha1.SiteCloud, Labels: map[string]string{"gpu": "true", "arch": "amd64"},
			MaxLatency: []v1alpha1.LatencyBound{
				{DataSource: "camera-1", Max: v1alpha1.Duration{Duration: 10 * time.Millisecond}},
				{DataSource: "camera-2", Max: v1alpha1.Duration{Duration: 10 * time.Millisecond}},
			},
		}},
	}
	got := strings.Join(Filter(r, s), "\n")
	for _, want := range []string{
		"site is not Ready", "pinned to site cloud", "needs a cloud site, this one is edge",
		"lacks label arch=amd64", "lacks label gpu=true", "latency to camera-1 is 30ms, over 10ms",
		"no route to data source camera-2", "free CPU 200m < 500m", "free memory 4096Mi < 8192Mi",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("reasons lack %q:\n%s", want, got)
		}
	}
}

func TestBlockTypeMustMatchSiteType(t *testing.T) {
	k := testSite("k8s", v1alpha1.SiteKubernetes, 0)
	cell := Request{BlockType: v1alpha1.BlockCell}
	if why := Filter(cell, k); len(why) != 1 || !strings.Contains(why[0], "needs a site with an agent") {
		t.Errorf("cell on kubernetes: %v", why)
	}
	kube := Request{BlockType: v1alpha1.BlockKubernetes, CPUMilli: 4000}
	if why := Filter(kube, k); len(why) != 0 {
		t.Errorf("kubernetes block on kubernetes site (capacity is the cluster's): %v", why)
	}
	if why := Filter(kube, testSite("edge", v1alpha1.SiteEdge, 8)); len(why) != 1 {
		t.Errorf("kubernetes block on edge: %v", why)
	}
}

func TestPlacePrefersFreeSpreadAndChainAndExplains(t *testing.T) {
	busy := testSite("busy", v1alpha1.SiteCloud, 4)
	busy.UsedCPU = 3000
	idle := testSite("idle", v1alpha1.SiteCloud, 4)
	r := Request{Application: "a", Component: v1alpha1.Component{Name: "c"}, BlockType: v1alpha1.BlockCell, CPUMilli: 500}
	d := Place(r, []Site{busy, idle}, Heuristic{}, now)
	if d.Site != "idle" || !strings.Contains(d.Reason, "idle has the best heuristic score") || len(d.Candidates) != 2 {
		t.Fatalf("decision = %+v", d)
	}
	// A replica of the same component already at idle pushes the next one away
	// only if the free-capacity difference is smaller than the spread term.
	idle.Replicas[r.Key()] = 3
	busy.UsedCPU = 0
	if d = Place(r, []Site{busy, idle}, Heuristic{}, now); d.Site != "busy" {
		t.Errorf("with 3 replicas at idle, chose %s", d.Site)
	}
	// Upstream at busy pulls the replica there even when idle is freer.
	busy.UsedCPU, idle.Replicas = 2000, map[string]int{}
	r.Upstream = []string{"busy"}
	if d = Place(r, []Site{busy, idle}, Heuristic{}, now); d.Site != "busy" {
		t.Errorf("with the upstream at busy, chose %s (%+v)", d.Site, d.Candidates)
	}
}

func TestPlaceIsDeterministicOnTies(t *testing.T) {
	r := Request{Application: "a", Component: v1alpha1.Component{Name: "c"}, BlockType: v1alpha1.BlockCell}
	for range 10 {
		if d := Place(r, []Site{testSite("b", v1alpha1.SiteEdge, 2), testSite("a", v1alpha1.SiteEdge, 2)}, Heuristic{}, now); d.Site != "a" {
			t.Fatalf("tie went to %s, want a (first by name)", d.Site)
		}
	}
}

func TestNoFeasibleSiteSummarises(t *testing.T) {
	a, b := testSite("a", v1alpha1.SiteEdge, 1), testSite("b", v1alpha1.SiteEdge, 1)
	b.Ready = false
	r := Request{Application: "x", Component: v1alpha1.Component{Name: "c"}, BlockType: v1alpha1.BlockCell, CPUMilli: 2000}
	d := Place(r, []Site{a, b}, Heuristic{}, now)
	if d.Site != "" || d.Reason != "no site fits: 1 not Ready, 2 short of CPU" || len(d.Candidates) != 2 {
		t.Errorf("decision = %q at %q", d.Reason, d.Site)
	}
}

func ExamplePlace() {
	edge := Site{Name: "edge", Type: v1alpha1.SiteEdge, Ready: true, CPUMilli: 2000, Memory: 2 << 30,
		Latency: map[string]time.Duration{"camera": 2 * time.Millisecond}}
	cloud := Site{Name: "cloud", Type: v1alpha1.SiteCloud, Ready: true, CPUMilli: 16000, Memory: 64 << 30,
		Latency: map[string]time.Duration{"camera": 40 * time.Millisecond}}
	r := Request{
		Application: "mobility", BlockType: v1alpha1.BlockCell, CPUMilli: 500, Memory: 256 << 20,
		Component: v1alpha1.Component{Name: "detector", Requirements: v1alpha1.Requirements{
			MaxLatency: []v1alpha1.LatencyBound{{DataSource: "camera", Max: v1alpha1.Duration{Duration: 10 * time.Millisecond}}},
		}},
	}
	d := Place(r, []Site{edge, cloud}, Heuristic{}, now)
	fmt.Println(d.Reason)
	for _, c := range d.Candidates {
		fmt.Println(c.Site, c.Feasible, c.Reasons)
	}
	// Output:
	// edge has the best heuristic score (1.812) of 1 feasible site(s); 1 excluded: 1 too far from data source
	// edge true [free 0.81 spread 1.00]
	// cloud false [latency to camera is 40ms, over 10ms]
}

func TestLearnedScorerFollowsHistory(t *testing.T) {
	a, b := testSite("a", v1alpha1.SiteEdge, 4), testSite("b", v1alpha1.SiteEdge, 4)
	a.UsedCPU = 1000 // the heuristic alone prefers b
	r := Request{Application: "app", Component: v1alpha1.Component{Name: "det"}, BlockType: v1alpha1.BlockCell}
	if d := Place(r, []Site{a, b}, Heuristic{}, now); d.Site != "b" {
		t.Fatalf("heuristic chose %s", d.Site)
	}
	l := Learned{Base: Heuristic{}, Weight: 2, Scores: map[string]map[string]SiteScore{
		"app/det": {"a": {Score: 0.95, Reason: "fps 30 (n=100)"}, "b": {Score: 0.3, Reason: "fps 9 (n=100)"}},
	}}
	d := Place(r, []Site{a, b}, l, now)
	if d.Site != "a" || !strings.Contains(d.Reason, "best learning score") {
		t.Fatalf("learning chose %s: %s", d.Site, d.Reason)
	}
	if got := strings.Join(d.Candidates[0].Reasons, " "); !strings.Contains(got, "learned 2.00×0.95 (fps 30 (n=100))") {
		t.Errorf("explanation %q", got)
	}
	// Without history for the component, it is the heuristic plus a constant.
	r.Component.Name = "other"
	if d := Place(r, []Site{a, b}, l, now); d.Site != "b" {
		t.Errorf("no history: chose %s", d.Site)
	}
}
