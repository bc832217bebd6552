package recommend

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/telemetry"
)

// TestPlacementFromRealTelemetry writes what two sites' detectors reported
// into a real TSDB and asks for a recommendation through PromQL.
func TestPlacementFromRealTelemetry(t *testing.T) {
	db, err := telemetry.OpenDB(t.TempDir(), telemetry.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	now := time.Now()
	report := func(block, site, metric string, v float64, n int) {
		for i := range n {
			lbls := map[string]string{"__name__": "cloudskin_cell_qos", "site": site, "block": block, "metric": metric, "workload": "w-" + site}
			if err := db.AppendSample(ctx, lbls, now.Add(-time.Duration(n-i)*5*time.Second), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	report("detector", "edge", "fps", 30, 60)
	report("detector", "edge", "latency_ms", 8, 60)
	report("detector", "cloud", "fps", 11, 30)
	report("detector", "cloud", "latency_ms", 300, 30)
	report("camera", "cloud", "fps", 90, 60) // another block's samples must not count
	s := NewService(func() telemetry.Querier { return db })
	s.log = logging.Discard()
	req := v1alpha1.PlacementRecommendationRequest{
		Block:      "detector",
		Objectives: []v1alpha1.Objective{{Metric: "fps", Op: ">=", Value: 25}, {Metric: "latency_ms", Op: "<=", Value: 100}},
		Sites:      []string{"cloud", "edge", "spare"},
	}
	rec, err := s.Placement(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Sites) != 3 || rec.Sites[0].Site != "edge" || rec.Sites[1].Site != "spare" || rec.Sites[2].Site != "cloud" {
		t.Fatalf("ranking %+v", rec.Sites)
	}
	if fps := rec.Sites[0].Predicted["fps"]; fps != 30 || rec.Sites[2].Predicted["fps"] != 11 {
		t.Errorf("fps predicted %v at edge, %v at cloud; want 30 and 11", fps, rec.Sites[2].Predicted["fps"])
	}
	if c := rec.Sites[0].Confidence; c < 0.8 {
		t.Errorf("edge confidence %.2f with 60 samples", c)
	}
	// Through HTTP: an invalid request is refused with a problem.
	body, _ := json.Marshal(v1alpha1.PlacementRecommendationRequest{Block: "detector"})
	w := httptest.NewRecorder()
	s.servePlacement(w, httptest.NewRequest("POST", "/api/v1/recommendations/placement", bytes.NewReader(body)))
	if w.Code != http.StatusUnprocessableEntity {
		t.Errorf("no sites: %d %s", w.Code, w.Body)
	}
	body, _ = json.Marshal(req)
	w = httptest.NewRecorder()
	s.servePlacement(w, httptest.NewRequest("POST", "/api/v1/recommendations/placement", bytes.NewReader(body)))
	var got v1alpha1.PlacementRecommendation
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || w.Code != 200 || got.Kind != v1alpha1.KindPlacementRecommendation || got.Sites[0].Site != "edge" {
		t.Errorf("HTTP answer %d %+v %v", w.Code, got, err)
	}
}
