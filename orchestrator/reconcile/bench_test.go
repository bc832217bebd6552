package reconcile

import (
	"fmt"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/placement"
)

// scaleWorld is the scale case: 1,000 sites and 100 applications
// of 10 components × 10 replicas (10,000 replicas).
func scaleWorld(b *testing.B) *world {
	w := &world{now: t0}
	for i := range 1000 {
		typ := v1alpha1.SiteEdge
		if i%10 == 0 {
			typ = v1alpha1.SiteCloud
		}
		s := site(fmt.Sprintf("site-%04d", i), typ, 16, true)
		s.Labels = map[string]string{"zone": fmt.Sprintf("z%d", i%4)}
		w.sites = append(w.sites, s)
	}
	blk := resolved(block("svc", "1.0.0", v1alpha1.BlockCell), nil)
	for i := range 100 {
		var comps []v1alpha1.Component
		res := map[string]Resolved{}
		for j := range 10 {
			c := v1alpha1.Component{Name: fmt.Sprintf("c%d", j), Block: "svc", Replicas: replicas(10)}
			if j > 0 {
				c.Links = []string{fmt.Sprintf("c%d", j-1)}
			}
			comps = append(comps, c)
			res[c.Name] = blk
		}
		w.apps = append(w.apps, App{App: app(fmt.Sprintf("app-%03d", i), comps...), Resolved: res})
	}
	return w
}

// BenchmarkReconcileSteadyState is one full pass over 10,000 running
// replicas on 1,000 sites with nothing to change: the cost of the loop
// that runs after every change and periodically.
func BenchmarkReconcileSteadyState(b *testing.B) {
	w := scaleWorld(b)
	w.t = &testing.T{}
	for range 10 { // components start after their upstream runs
		w.step()
		w.set(Running, all)
	}
	if n := len(w.workloads); n != 10000 {
		b.Fatalf("%d workloads, want 10000", n)
	}
	in := w.input()
	b.ResetTimer()
	for b.Loop() {
		p := Compute(in)
		if len(p.Creates)+len(p.Deletes) != 0 {
			b.Fatalf("steady state plans %d creates", len(p.Creates))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/pass")
}

// BenchmarkPlacement places replicas one by one over 1,000 sites:
// decisions per second, each weighing every site.
func BenchmarkPlacement(b *testing.B) {
	w := scaleWorld(b)
	sites := w.sites
	r := placement.Request{Application: "a", Component: v1alpha1.Component{Name: "c"}, BlockType: v1alpha1.BlockCell, CPUMilli: 10, Memory: 1 << 20}
	var scorer placement.Heuristic
	n := 0
	for b.Loop() {
		d := placement.Place(r, sites, scorer, t0)
		placement.Reserve(r, &sites[indexOf(sites, d.Site)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "decisions/s")
}

func indexOf(sites []placement.Site, name string) int {
	for i, s := range sites {
		if s.Name == name {
			return i
		}
	}
	return -1
}
