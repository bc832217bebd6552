package recommend

import (
	"math"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/learning/qos"
)

// fpsModel is trained on a block whose fps grows with a site's free cores.
func fpsModel(t *testing.T) *qos.Model {
	t.Helper()
	var samples []qos.Sample
	for i, site := range []string{"a", "b", "c"} {
		for k := range 10 {
			free := float64(2*i + k%5)
			samples = append(samples, qos.Sample{
				Features: qos.Features{CPUMillicores: 500, MemoryBytes: 1 << 28, SiteCores: 8, SiteFreeCores: free, SiteCells: float64(8 - free), Edge: 1, DataLatencyMs: math.NaN()},
				Value:    10 + 3*free, Group: site,
			})
		}
	}
	m, err := qos.Fit("fps", samples)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRankWithPredictsSitesWithoutHistory(t *testing.T) {
	h := History{"fps": {"a": {Mean: 10, Count: 200}}}
	state := func(free float64) qos.Features {
		return qos.Features{CPUMillicores: 500, MemoryBytes: 1 << 28, SiteCores: 8, SiteFreeCores: free, SiteCells: 8 - free, Edge: 1, DataLatencyMs: math.NaN()}
	}
	in := Inputs{Predictors: map[string]*qos.Model{"fps": fpsModel(t)}, Features: map[string]qos.Features{"idle": state(7), "busy": state(1)}}
	r := RankWith([]string{"a", "busy", "idle", "dark"}, []Objective{{Metric: "fps", HigherIsBetter: true, Target: 25}}, h, in)
	by := map[string]Recommendation{}
	for _, x := range r {
		by[x.Site] = x
	}
	idle, busy, a, dark := by["idle"], by["busy"], by["a"], by["dark"]
	if idle.Basis["fps"] != BasisPredicted || math.Abs(idle.Predicted["fps"]-31) > 0.5 || !strings.Contains(idle.Reason, "predicted by the QoS model") {
		t.Errorf("idle: %+v", idle)
	}
	if busy.Predicted["fps"] >= idle.Predicted["fps"] || busy.Score >= idle.Score {
		t.Errorf("busy %+v not below idle %+v", busy, idle)
	}
	if a.Basis["fps"] != BasisObserved || !strings.Contains(a.Reason, "observed (n=200)") {
		t.Errorf("a: %+v", a)
	}
	// A prediction is trusted less than an observation, and a site whose
	// state is unknown gets no trust at all.
	if idle.Confidence >= a.Confidence || idle.Confidence == 0 || dark.Confidence != 0 || dark.Score != 0.5 {
		t.Errorf("confidence idle %.2f, observed %.2f, dark %.2f", idle.Confidence, a.Confidence, dark.Confidence)
	}
	if r[0].Site != "idle" {
		t.Errorf("best %s, want idle (predicted 31 fps)", r[0].Site)
	}
}

func TestRankWithCost(t *testing.T) {
	h := History{"fps": {"x": {Mean: 30, Count: 100}, "y": {Mean: 30, Count: 100}}}
	obj := []Objective{{Metric: "fps", HigherIsBetter: true, Target: 25}}
	costs := map[string]float64{"x": 0.9, "y": 0.1}
	plain := Rank([]string{"x", "y"}, obj, h)
	same := RankWith([]string{"x", "y"}, obj, h, Inputs{Costs: costs})
	if same[0].Site != "x" || same[0].Score != plain[0].Score {
		t.Errorf("weight 0 changed the ranking: %+v vs %+v", same, plain)
	}
	r := RankWith([]string{"x", "y", "z"}, obj, h, Inputs{Costs: costs, CostWeight: 0.3})
	if r[0].Site != "y" || r[0].Cost == nil || *r[0].Cost != 0.1 || !strings.Contains(r[0].Reason, "cost 0.1 per replica-hour") {
		t.Errorf("cheap site not first: %+v", r[0])
	}
	if r[2].Site != "z" || !strings.Contains(r[2].Reason, "cost unknown") {
		t.Errorf("unknown cost: %+v", r[2])
	}
	if s := costScores([]string{"p", "q"}, map[string]float64{"p": 2, "q": 2}); s["p"] != 1 || s["q"] != 1 {
		t.Errorf("equal costs: %v", s)
	}
}

func TestRankWithSaysWhyThereIsNoModel(t *testing.T) {
	_, err := qos.Fit("fps", nil)
	r := RankWith([]string{"n"}, []Objective{{Metric: "fps", HigherIsBetter: true, Target: 25}}, History{}, Inputs{NoModel: map[string]error{"fps": err}})
	if r[0].Basis["fps"] != BasisNone || !strings.Contains(r[0].Reason, "too few samples") {
		t.Errorf("%+v", r[0])
	}
}
