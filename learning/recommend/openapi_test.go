package recommend

// TestOpenAPIRecommendContract holds the two routes of this package to the
// northbound API's OpenAPI document (orchestrator/openapi.yaml): route
// parity, and every request and answer of the Go client's calls, errors
// included, validated against it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/telemetry"
)

// validatingTransport checks every request and answer against the
// document and records the status codes each operation answered.
type validatingTransport struct {
	t      testing.TB
	router routers.Router

	mu   sync.Mutex
	seen map[string][]int // operationId: status codes
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	withBody := func() *http.Request {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		return r
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return nil, v.fail("%s %s: no operation in openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	op := route.Operation.OperationID
	in := &openapi3filter.RequestValidationInput{
		Request: withBody(), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		return nil, v.fail("%s: the request breaks openapi.yaml: %v\n%s", op, err, body)
	}
	resp, err := http.DefaultTransport.RoundTrip(withBody())
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(req.Context(), out); err != nil {
		return nil, v.fail("%s: the answer %d breaks openapi.yaml: %v\n%s", op, resp.StatusCode, err, data)
	}
	v.mu.Lock()
	v.seen[op] = append(v.seen[op], resp.StatusCode)
	v.mu.Unlock()
	return resp, nil
}

func (v *validatingTransport) fail(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	v.t.Error(err)
	return err
}

func apiStatus(err error) int {
	var st *v1alpha1.Status
	if errors.As(err, &st) {
		return st.Code
	}
	return 0
}

func TestOpenAPIRecommendContract(t *testing.T) {
	data, err := os.ReadFile("../../orchestrator/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

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
	for _, route := range []string{"POST /api/v1/recommendations/placement", "POST /api/v1/recommendations/migration"} {
		method, path, _ := strings.Cut(route, " ")
		if !slices.Contains(host.Server.Patterns(), route) {
			t.Errorf("the service does not serve %s", route)
		}
		if item := doc.Paths.Find(path); item == nil || item.GetOperation(method) == nil {
			t.Errorf("openapi.yaml does not describe %s", route)
		}
	}

	v := &validatingTransport{t: t, router: router, seen: map[string][]int{}}
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
	if _, err := c.RecommendPlacement(ctx, v1alpha1.PlacementRecommendationRequest{Block: "Detector!", Sites: []string{"edge"}}); apiStatus(err) != http.StatusUnprocessableEntity {
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
	if _, err := c.RecommendMigration(ctx, v1alpha1.MigrationRecommendationRequest{Application: "cam", Component: "detect", Site: "edge", Objective: fps}); apiStatus(err) != http.StatusUnprocessableEntity {
		t.Errorf("migration without a series: %v, want 422", err)
	}

	for op, codes := range map[string][]int{"recommendPlacement": {200, 422}, "recommendMigration": {200, 422}} {
		for _, code := range codes {
			if !slices.Contains(v.seen[op], code) {
				t.Errorf("%s never answered %d through the validator (saw %v)", op, code, v.seen[op])
			}
		}
	}
}
