package recommend

// TestOpenAPIRecommendContract holds the two routes of this package to the
// northbound API's OpenAPI document (orchestrator/openapi.yaml): route
// parity, and every request and answer of the Go client's calls, errors
// included, validated against it through internal/openapitest.

import (
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/internal/openapitest"
	"github.com/cloudskin/cloudskin/telemetry"
)

func TestOpenAPIRecommendContract(t *testing.T) {
	doc := openapitest.LoadFile(t, "../../orchestrator/openapi.yaml")

	f := newFleetDB(t)
	f.site("edge", "edge", 4, 3)
	f.site("cloud", "cloud", 32, 2)
	three := func(int) float64 { return 3 }
	f.detector("edge", "latency_ms", three, func(i int) float64 {
		if i%10 == 3 {
			return math.NaN()
		}
		return 40 + 0.5*float64(i)
	})
	f.detector("cloud", "latency_ms", three, func(i int) float64 { return 30 + float64(i%3) })
	host := componenttest.Start(t, nil, NewService(func() telemetry.Querier { return f.db }))

	// Route parity for this package's two routes.
	recommendRoute := openapitest.PathPrefix("/api/v1/recommendations/placement", "/api/v1/recommendations/migration")
	p := openapitest.RouteParity(doc, host.Server.Patterns(), recommendRoute)
	if len(p.Undocumented) > 0 || len(p.Unserved) > 0 || !slices.Equal(p.Served, []string{"POST /api/v1/recommendations/migration", "POST /api/v1/recommendations/placement"}) {
		t.Errorf("routes: served %v, undocumented %v, not served %v; want the two POSTs, documented", p.Served, p.Undocumented, p.Unserved)
	}

	v := openapitest.NewTransport(t, doc, nil)
	c, err := client.New(host.ControlPlaneURL)
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithTransport(v)
	t.Cleanup(c.Close)
	ctx := t.Context()

	latency := v1alpha1.Objective{Metric: "latency_ms", Op: "<=", Value: 100}
	rec, err := c.RecommendPlacement(ctx, v1alpha1.PlacementRecommendationRequest{
		Block: "detector", Objectives: []v1alpha1.Objective{latency}, Sites: []string{"edge", "cloud", "far"},
		Window: v1alpha1.Duration{Duration: time.Hour}, Costs: map[string]float64{"edge": 0.1, "cloud": 0.4}, CostWeight: 0.2,
	})
	if err != nil || len(rec.Sites) != 3 {
		t.Fatalf("placement: %+v %v", rec, err)
	}
	// Without objectives the Go client sends "objectives": null.
	if _, err := c.RecommendPlacement(ctx, v1alpha1.PlacementRecommendationRequest{Block: "detector", Sites: []string{"edge"}}); err != nil {
		t.Errorf("placement without objectives: %v", err)
	}
	if _, err := c.RecommendPlacement(ctx, v1alpha1.PlacementRecommendationRequest{Block: "Detector!", Sites: []string{"edge"}}); openapitest.StatusCode(err) != http.StatusUnprocessableEntity {
		t.Errorf("placement of a bad block name: %v, want 422", err)
	}

	move, err := c.RecommendMigration(ctx, v1alpha1.MigrationRecommendationRequest{Application: "cam", Component: "detect", Site: "edge", Objective: latency})
	if err != nil || !move.Migrate || move.To != "cloud" || len(move.Candidates) != 1 {
		t.Errorf("migration: %+v %v", move, err)
	}
	stay, err := c.RecommendMigration(ctx, v1alpha1.MigrationRecommendationRequest{
		Application: "cam", Component: "detect", Site: "cloud", Objective: latency, Sites: []string{"edge"},
		Window: v1alpha1.Duration{Duration: 10 * time.Minute}, Step: v1alpha1.Duration{Duration: 30 * time.Second}, Horizon: v1alpha1.Duration{Duration: 2 * time.Minute},
	})
	if err != nil || stay.Migrate || stay.To != "" {
		t.Errorf("migration of a healthy replica: %+v %v", stay, err)
	}
	fps := v1alpha1.Objective{Metric: "fps", Op: ">=", Value: 25}
	if _, err := c.RecommendMigration(ctx, v1alpha1.MigrationRecommendationRequest{Application: "cam", Component: "detect", Site: "edge", Objective: fps}); openapitest.StatusCode(err) != http.StatusUnprocessableEntity {
		t.Errorf("migration without a series: %v, want 422", err)
	}

	for _, missing := range v.Unanswered(map[string][]int{"recommendPlacement": {200, 422}, "recommendMigration": {200, 422}}) {
		t.Error(missing)
	}
}
