package recommend

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/telemetry"
)

// fleetDB is a real TSDB holding what a small continuum exported over the
// last half hour: site gauges, cell counts, CPU use, and a detector's QoS.
type fleetDB struct {
	t   *testing.T
	db  *telemetry.DB
	now time.Time
}

func newFleetDB(t *testing.T) *fleetDB {
	db, err := telemetry.OpenDB(t.TempDir(), telemetry.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &fleetDB{t: t, db: db, now: time.Now()}
}

// put appends v(i) every 15 s for the last 30 minutes (i = 0 oldest).
func (f *fleetDB) put(lbls map[string]string, v func(i int) float64) {
	const n = 120
	for i := range n {
		if err := f.db.AppendSample(context.Background(), lbls, f.now.Add(-time.Duration(n-1-i)*15*time.Second), v(i)); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fleetDB) site(name, typ string, cores, cells float64) {
	f.put(map[string]string{"__name__": seriesSiteCores, "site": name, "type": typ}, func(int) float64 { return cores })
	f.put(map[string]string{"__name__": seriesSiteReady, "site": name, "type": typ}, func(int) float64 { return 1 })
	f.put(map[string]string{"__name__": seriesCells, "site": name}, func(int) float64 { return cells })
}

// detector reports metric at a site for application "cam", component
// "detect", while the site's cells use used(i) cores.
func (f *fleetDB) detector(site, metric string, used func(i int) float64, v func(i int) float64) {
	f.put(map[string]string{"__name__": seriesQoS, "site": site, "block": "detector", "metric": metric,
		"application": "cam", "component": "detect", "replica": "0", "workload": "cam-detect-0-" + site}, v)
	f.put(map[string]string{"__name__": seriesCellCPU, "site": site, "block": "detector", "metric": metric,
		"application": "cam", "component": "detect", "replica": "0", "workload": "cam-detect-0-" + site},
		func(i int) float64 { // the counter: the CPU seconds so far
			var sum float64
			for j := range i {
				sum += used(j) * 15
			}
			return sum
		})
}

func (f *fleetDB) service() *Service {
	s := NewService(func() telemetry.Querier { return f.db })
	s.log = logging.Discard()
	return s
}

// TestPlacementPredictsAnUnobservedSite: the detector ran at three edge
// sites whose fps followed their free cores; a fourth site it never ran at
// gets a prediction from the QoS model, with less confidence, and cost
// decides between equals.
func TestPlacementPredictsAnUnobservedSite(t *testing.T) {
	f := newFleetDB(t)
	f.site("edge-a", "edge", 4, 3)
	f.site("edge-b", "edge", 8, 2)
	f.site("edge-c", "edge", 16, 1)
	f.site("edge-new", "edge", 12, 2)
	for _, s := range []struct {
		name  string
		cores float64
	}{{"edge-a", 4}, {"edge-b", 8}, {"edge-c", 16}} {
		// Load changes every five minutes; fps follows the free cores.
		used := func(i int) float64 { return 1 + float64((i/20)%3) }
		f.detector(s.name, "fps", used, func(i int) float64 { return 8 + 2*(s.cores-used(i)) })
	}
	req := v1alpha1.PlacementRecommendationRequest{
		Block:      "detector",
		Objectives: []v1alpha1.Objective{{Metric: "fps", Op: ">=", Value: 25}},
		Sites:      []string{"edge-a", "edge-b", "edge-new"},
		Window:     v1alpha1.Duration{Duration: 30 * time.Minute},
		Costs:      map[string]float64{"edge-a": 0.2, "edge-new": 0.05},
	}
	rec, err := f.service().Placement(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]v1alpha1.SiteRecommendation{}
	for _, s := range rec.Sites {
		by[s.Site] = s
	}
	nw, b := by["edge-new"], by["edge-b"]
	t.Logf("edge-new: %.4g fps, confidence %.2f: %s", nw.Predicted["fps"], nw.Confidence, nw.Reason)
	// 12 cores, nothing used: 8 + 2·12 = 32 fps by the law it learnt.
	if nw.Basis["fps"] != BasisPredicted || math.Abs(nw.Predicted["fps"]-32) > 2 || !strings.Contains(nw.Reason, "predicted") {
		t.Errorf("edge-new: %+v", nw)
	}
	if nw.Confidence <= 0 || nw.Confidence >= b.Confidence || b.Basis["fps"] != BasisObserved {
		t.Errorf("confidence predicted %.2f vs observed %.2f", nw.Confidence, b.Confidence)
	}
	if nw.Cost == nil || *nw.Cost != 0.05 || !strings.Contains(nw.Reason, "cost 0.05 per replica-hour") || !strings.Contains(b.Reason, "cost unknown") {
		t.Errorf("costs: %+v / %+v", nw, b)
	}
}

// TestMigrationRoute: the detector's latency at the edge rises towards its
// objective; the cloud served it well. Through HTTP the route says move,
// and refuses bad requests with problems.
func TestMigrationRoute(t *testing.T) {
	f := newFleetDB(t)
	f.site("edge", "edge", 4, 3)
	f.site("cloud", "cloud", 32, 2)
	nan := math.NaN()
	three := func(int) float64 { return 3 }
	f.detector("edge", "latency_ms", three, func(i int) float64 {
		if i%10 == 3 {
			return nan // a report that carried no number
		}
		return 40 + 0.5*float64(i) // 40 → 99.5 ms over 30 minutes
	})
	f.detector("cloud", "latency_ms", three, func(i int) float64 { return 30 + float64(i%3) })
	s := f.service()
	call := func(req any) *httptest.ResponseRecorder {
		body, _ := json.Marshal(req)
		w := httptest.NewRecorder()
		s.serveMigration(w, httptest.NewRequest("POST", "/api/v1/recommendations/migration", bytes.NewReader(body)))
		return w
	}
	req := v1alpha1.MigrationRecommendationRequest{
		Application: "cam", Component: "detect", Site: "edge",
		Objective: v1alpha1.Objective{Metric: "latency_ms", Op: "<=", Value: 100},
	}
	w := call(req)
	var got v1alpha1.MigrationRecommendation
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || w.Code != 200 {
		t.Fatalf("%d %v", w.Code, err)
	}
	if got.Kind != v1alpha1.KindMigrationRecommendation || !got.Migrate || got.To != "cloud" || got.From != "edge" ||
		got.PredictedViolationAt < 1 || got.PredictedViolationAt > 5 || len(got.Forecast) != 5 || got.Step.Duration != time.Minute {
		t.Errorf("answer %+v", got)
	}
	if len(got.Candidates) != 1 || got.Candidates[0].Site != "cloud" || got.Candidates[0].Basis["latency_ms"] != BasisObserved {
		t.Errorf("candidates %+v", got.Candidates)
	}
	// With a tighter horizon nothing is predicted to break yet.
	req.Horizon = v1alpha1.Duration{Duration: time.Minute}
	req.Objective.Value = 200
	var healthy v1alpha1.MigrationRecommendation
	if w := call(req); json.Unmarshal(w.Body.Bytes(), &healthy) != nil || healthy.Migrate || healthy.PredictedViolationAt != -1 || len(healthy.Forecast) != 1 {
		t.Errorf("healthy: %s", w.Body)
	}
	for name, bad := range map[string]v1alpha1.MigrationRecommendationRequest{
		"no application": {Component: "detect", Site: "edge", Objective: req.Objective},
		"bad op":         {Application: "cam", Component: "detect", Site: "edge", Objective: v1alpha1.Objective{Metric: "latency_ms", Op: "<", Value: 1}},
		"zero target":    {Application: "cam", Component: "detect", Site: "edge", Objective: v1alpha1.Objective{Metric: "latency_ms", Op: "<=", Value: 0}},
		"margin":         {Application: "cam", Component: "detect", Site: "edge", Objective: req.Objective, Margin: 1.5},
		"step > window":  {Application: "cam", Component: "detect", Site: "edge", Objective: req.Objective, Window: v1alpha1.Duration{Duration: time.Second}},
		"no series":      {Application: "cam", Component: "detect", Site: "cloud", Objective: v1alpha1.Objective{Metric: "fps", Op: ">=", Value: 25}},
	} {
		if w := call(bad); w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Header().Get("Content-Type"), "problem") {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if w := call(req); w.Code != 200 {
		t.Errorf("after bad requests: %d", w.Code)
	}
	w = call(v1alpha1.MigrationRecommendationRequest{Application: "cam", Component: "detect", Site: "cloud", Objective: v1alpha1.Objective{Metric: "fps", Op: ">=", Value: 25}})
	if !strings.Contains(w.Body.String(), "no samples of the metric") {
		t.Errorf("empty series problem: %s", w.Body)
	}
}
