// Package placement chooses a site for each replica of an application
// component: it filters the sites by the component's requirements and the
// free capacity left on them, then ranks the feasible ones with a Scorer,
// and records why each site won or lost.
//
// It is pure logic, no I/O and no clock (the caller passes the time), so
// decisions are reproducible in tests and in the scale benchmark. The
// heuristic is ours because it weighs CloudSkin's own notions (edge and
// cloud sites, data-source latency, service-chain locality); a scheduler
// library such as Kubernetes' scheduler framework would need a cluster of
// nodes and pods to run at all.
package placement

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Site is a site as the placement sees it: its declaration, health and
// what the replicas already there use.
type Site struct {
	Name       string
	Type       v1alpha1.SiteType
	Ready      bool
	Labels     map[string]string
	CPUMilli   int64 // capacity
	Memory     int64 // capacity, bytes
	UsedCPU    int64 // milli-cores requested by replicas there
	UsedMemory int64
	// Latency to each data source the site declares.
	Latency map[string]time.Duration
	// Replicas counts, by "application/component", the replicas there.
	Replicas map[string]int
}

// FromSite converts an API site.
func FromSite(s v1alpha1.Site) Site {
	lat := map[string]time.Duration{}
	for _, d := range s.Spec.DataSources {
		lat[d.Name] = d.Latency.Duration
	}
	return Site{
		Name: s.Metadata.Name, Type: s.Spec.Type, Ready: s.Status.Phase == v1alpha1.SiteReady,
		Labels: s.Metadata.Labels, CPUMilli: int64(s.Spec.Capacity.Cores) * 1000,
		Memory: s.Spec.Capacity.Memory.Value(), Latency: lat, Replicas: map[string]int{},
	}
}

// Request is one replica to place.
type Request struct {
	Application string
	Component   v1alpha1.Component
	BlockType   v1alpha1.BlockType
	CPUMilli    int64
	Memory      int64
	Replica     int
	// Upstream lists the sites where replicas of the components this one
	// links to run: being near them keeps the chain's hops short.
	Upstream []string
	// Previous is where this replica ran before (a restart): staying
	// keeps caches and avoids a move.
	Previous string
}

// Key names the request's component in Site.Replicas.
func (r Request) Key() string { return r.Application + "/" + r.Component.Name }

// Scorer ranks a feasible site for a request: higher is better. Explain
// gives the score's terms, for the decision record; it is called only
// for the sites a decision records.
type Scorer interface {
	Name() string
	Score(r Request, s Site) float64
	Explain(r Request, s Site) []string
}

// The filters, as bits of a mask: Filter names each failed one, while
// Place only counts them, so that weighing a thousand sites does not
// format a thousand sentences.
const (
	notReady uint16 = 1 << iota
	wrongSiteType
	notPinned
	missingLabels
	noRoute
	tooFar
	shortCPU
	shortMemory
)

// filterKinds names each filter bit in decision summaries.
var filterKinds = []struct {
	bit  uint16
	kind string
}{
	{notReady, "not Ready"}, {wrongSiteType, "wrong site type"}, {notPinned, "not the pinned site"},
	{missingLabels, "missing labels"}, {noRoute, "no route to data source"}, {tooFar, "too far from data source"},
	{shortCPU, "short of CPU"}, {shortMemory, "short of memory"},
}

// check returns the mask of filters s fails for r.
func check(r Request, s Site) uint16 {
	var m uint16
	if !s.Ready {
		m |= notReady
	}
	req := r.Component.Requirements
	kube := s.Type == v1alpha1.SiteKubernetes
	if (r.BlockType == v1alpha1.BlockKubernetes) != kube || (req.SiteType != "" && req.SiteType != s.Type) {
		m |= wrongSiteType
	}
	if req.Site != "" && req.Site != s.Name {
		m |= notPinned
	}
	for k, v := range req.Labels {
		if got, ok := s.Labels[k]; !ok || got != v {
			m |= missingLabels
		}
	}
	for _, b := range req.MaxLatency {
		lat, ok := s.Latency[b.DataSource]
		switch {
		case !ok:
			m |= noRoute
		case lat > b.Max.Duration:
			m |= tooFar
		}
	}
	if !kube { // a cluster schedules its own capacity
		if r.CPUMilli > s.CPUMilli-s.UsedCPU {
			m |= shortCPU
		}
		if r.Memory > s.Memory-s.UsedMemory {
			m |= shortMemory
		}
	}
	return m
}

// Filter returns why s cannot take r; none means it can.
func Filter(r Request, s Site) []string {
	m := check(r, s)
	if m == 0 {
		return nil
	}
	var why []string
	if m&notReady != 0 {
		why = append(why, "site is not Ready")
	}
	req := r.Component.Requirements
	switch {
	case r.BlockType == v1alpha1.BlockKubernetes && s.Type != v1alpha1.SiteKubernetes:
		why = append(why, fmt.Sprintf("a kubernetes block needs a kubernetes site, this one is %s", s.Type))
	case r.BlockType != v1alpha1.BlockKubernetes && s.Type == v1alpha1.SiteKubernetes:
		why = append(why, fmt.Sprintf("a %s block needs a site with an agent, this one is kubernetes", r.BlockType))
	}
	if m&notPinned != 0 {
		why = append(why, fmt.Sprintf("pinned to site %s", req.Site))
	}
	if req.SiteType != "" && req.SiteType != s.Type {
		why = append(why, fmt.Sprintf("needs a %s site, this one is %s", req.SiteType, s.Type))
	}
	for _, k := range sortedKeys(req.Labels) {
		if got, ok := s.Labels[k]; !ok || got != req.Labels[k] {
			why = append(why, fmt.Sprintf("lacks label %s=%s", k, req.Labels[k]))
		}
	}
	for _, b := range req.MaxLatency {
		lat, ok := s.Latency[b.DataSource]
		switch {
		case !ok:
			why = append(why, fmt.Sprintf("no route to data source %s", b.DataSource))
		case lat > b.Max.Duration:
			why = append(why, fmt.Sprintf("latency to %s is %s, over %s", b.DataSource, lat, b.Max.Duration))
		}
	}
	if m&shortCPU != 0 {
		why = append(why, fmt.Sprintf("free CPU %dm < %dm", s.CPUMilli-s.UsedCPU, r.CPUMilli))
	}
	if m&shortMemory != 0 {
		why = append(why, fmt.Sprintf("free memory %s < %s", bytes(s.Memory-s.UsedMemory), bytes(r.Memory)))
	}
	return why
}

// Explained bounds the candidates a decision records: the best feasible
// sites and the first infeasible ones, each with its reasons; the rest
// are only counted in the decision's reason. A decision over a thousand
// sites stays a few hundred bytes.
const Explained = 5

// Place decides the site of one replica: every site is filtered, the
// feasible ones scored, and the best wins, ties going to the name that
// sorts first so that the same inputs always give the same answer.
func Place(r Request, sites []Site, scorer Scorer, now time.Time) v1alpha1.PlacementDecision {
	d := v1alpha1.PlacementDecision{Component: r.Component.Name, Replica: r.Replica, Time: now}
	type scored struct {
		i     int
		score float64
	}
	var top []scored // best first, at most Explained
	var infeasible []int
	failed := map[uint16]int{}
	feasible := 0
	for i, s := range sites {
		if m := check(r, s); m != 0 {
			for _, f := range filterKinds {
				if m&f.bit != 0 {
					failed[f.bit]++
				}
			}
			if len(infeasible) < Explained {
				infeasible = append(infeasible, i)
			}
			continue
		}
		feasible++
		sc := scored{i, scorer.Score(r, s)}
		at := len(top)
		for at > 0 && better(sc.score, s.Name, top[at-1].score, sites[top[at-1].i].Name) {
			at--
		}
		if at < Explained {
			top = slices.Insert(top, at, sc)
			if len(top) > Explained {
				top = top[:Explained]
			}
		}
	}
	for _, t := range top {
		d.Candidates = append(d.Candidates, v1alpha1.SiteCandidate{Site: sites[t.i].Name, Feasible: true, Score: t.score, Reasons: scorer.Explain(r, sites[t.i])})
	}
	for _, i := range infeasible {
		d.Candidates = append(d.Candidates, v1alpha1.SiteCandidate{Site: sites[i].Name, Reasons: Filter(r, sites[i])})
	}
	if len(top) == 0 {
		d.Reason = "no site fits: " + summarise(len(sites), failed)
		return d
	}
	d.Site = sites[top[0].i].Name
	d.Reason = fmt.Sprintf("%s has the best %s score (%.3f) of %d feasible site(s)", d.Site, scorer.Name(), top[0].score, feasible)
	if n := len(sites) - feasible; n > 0 {
		d.Reason += fmt.Sprintf("; %d excluded: %s", n, summarise(len(sites), failed))
	}
	return d
}

// better orders scores high first, then names.
func better(score float64, name string, than float64, thanName string) bool {
	return score > than || score == than && name < thanName
}

// Reserve records a placed replica on its site so the next decision of
// the same pass sees the capacity it takes.
func Reserve(r Request, s *Site) {
	s.UsedCPU += r.CPUMilli
	s.UsedMemory += r.Memory
	if s.Replicas == nil {
		s.Replicas = map[string]int{}
	}
	s.Replicas[r.Key()]++
}

// Heuristic is the default scorer. Its terms, each in [0, 1]:
//   - free: the fraction of the site's CPU and memory left after the
//     replica, so load spreads (weight 1);
//   - spread: 1 / (1 + replicas of the same component already there), so
//     replicas survive the loss of one site (weight 1);
//   - chain: the share of upstream components' sites equal to this one,
//     so a service chain's hops stay local (weight 1);
//   - stay: 1 if the replica ran here before (weight 0.5).
type Heuristic struct{}

// Name implements Scorer.
func (Heuristic) Name() string { return "heuristic" }

// Score implements Scorer.
func (Heuristic) Score(r Request, s Site) float64 {
	t := heuristicTerms(r, s)
	return t.free + t.spread + t.chain + t.stay
}

// Explain implements Scorer.
func (Heuristic) Explain(r Request, s Site) []string {
	t := heuristicTerms(r, s)
	reasons := []string{fmt.Sprintf("free %.2f", t.free), fmt.Sprintf("spread %.2f", t.spread)}
	if len(r.Upstream) > 0 {
		reasons = append(reasons, fmt.Sprintf("chain %.2f", t.chain))
	}
	if t.stay > 0 {
		reasons = append(reasons, fmt.Sprintf("stay %.2f", t.stay))
	}
	return reasons
}

type terms struct{ free, spread, chain, stay float64 }

func heuristicTerms(r Request, s Site) terms {
	var t terms
	t.free = 1
	if s.Type != v1alpha1.SiteKubernetes {
		t.free = (fraction(s.CPUMilli-s.UsedCPU-r.CPUMilli, s.CPUMilli) + fraction(s.Memory-s.UsedMemory-r.Memory, s.Memory)) / 2
	}
	t.spread = 1 / float64(1+s.Replicas[r.Key()])
	if len(r.Upstream) > 0 {
		n := 0
		for _, u := range r.Upstream {
			if u == s.Name {
				n++
			}
		}
		t.chain = float64(n) / float64(len(r.Upstream))
	}
	if r.Previous == s.Name {
		t.stay = 0.5
	}
	return t
}

func fraction(x, of int64) float64 {
	if of <= 0 {
		return 0
	}
	return max(0, min(1, float64(x)/float64(of)))
}

// summarise counts, by filter, the sites that failed it.
func summarise(sites int, failed map[uint16]int) string {
	if sites == 0 {
		return "there are no sites"
	}
	var parts []string
	for _, f := range filterKinds {
		if n := failed[f.bit]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, f.kind))
		}
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func bytes(n int64) string {
	const mi = 1 << 20
	if n%mi == 0 || n >= 100*mi {
		return fmt.Sprintf("%dMi", n/mi)
	}
	return fmt.Sprintf("%d", n)
}

// Learned is the learning scorer: Base's score plus Weight times the
// Learning Plane's score of the site for the request's component (in
// [0, 1], 0.5 when it has no opinion), so history of where the component's
// block met its objectives steers placement, and Base still spreads load
// where history says nothing.
type Learned struct {
	Base   Scorer
	Weight float64
	// Scores holds, by Request.Key() and then by site, the Learning
	// Plane's score and its reason.
	Scores map[string]map[string]SiteScore
}

// SiteScore is the Learning Plane's view of one site.
type SiteScore struct {
	Score  float64
	Reason string
}

// Name implements Scorer.
func (l Learned) Name() string { return "learning" }

func (l Learned) learned(r Request, s Site) (SiteScore, bool) {
	sc, ok := l.Scores[r.Key()][s.Name]
	if !ok {
		return SiteScore{Score: 0.5}, false
	}
	return sc, true
}

// Score implements Scorer.
func (l Learned) Score(r Request, s Site) float64 {
	sc, _ := l.learned(r, s)
	return l.Base.Score(r, s) + l.Weight*sc.Score
}

// Explain implements Scorer.
func (l Learned) Explain(r Request, s Site) []string {
	sc, ok := l.learned(r, s)
	why := "no history"
	if ok {
		why = sc.Reason
	}
	return append(l.Base.Explain(r, s), fmt.Sprintf("learned %.2f×%.2f (%s)", l.Weight, sc.Score, why))
}
