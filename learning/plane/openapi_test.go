package plane_test

// These tests hold the Learning Plane's routes to the northbound API's
// OpenAPI document (orchestrator/openapi.yaml): the plane must serve
// exactly the registry, agent, scaling and pre-warm operations the
// document describes, and every request and answer of a scenario that
// calls each of them, errors included, must match it. The machinery is
// internal/openapitest.

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/internal/openapitest"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/plane"
	"github.com/cloudskin/cloudskin/telemetry"
)

const documentPath = "../../orchestrator/openapi.yaml"

// Tokens of the contract server, which runs with authentication on as
// `cloudskin up --auth` does.
const (
	operatorToken = "operator-token-0123456789"
	viewerToken   = "viewer-token-0123456789"
)

// planeRoute reports whether a route ("METHOD /path") is the plane's.
func planeRoute(route string) bool {
	_, path, _ := strings.Cut(route, " ")
	return strings.HasPrefix(path, "/api/v1/models") || strings.HasPrefix(path, "/api/v1/agents") ||
		path == "/api/v1/recommendations/scaling" || path == "/api/v1/recommendations/prewarm"
}

func loadDocument(t testing.TB) *openapi3.T {
	t.Helper()
	return openapitest.LoadFile(t, documentPath)
}

// startContractPlane serves a plane whose sensors read q (none when nil),
// with authentication on.
func startContractPlane(t *testing.T, q telemetry.Querier) *component.Host {
	t.Helper()
	opts := plane.Options{SyncEvery: 50 * time.Millisecond}
	if q != nil {
		opts.Querier = func() telemetry.Querier { return q }
	}
	guard := openapitest.Guard(t,
		auth.Token{Name: "operator", Role: auth.Operator, Token: operatorToken},
		auth.Token{Name: "viewer", Role: auth.Viewer, Token: viewerToken},
	)
	return componenttest.Start(t, guard, plane.New(opts))
}

// TestOpenAPIPlaneRoutesMatchDocument checks that every route the plane
// registers is an operation of the document and every plane operation of
// the document is a registered route, and that the operations follow the
// document's rules: tag learning, 401 always, 403 only for changes, errors
// as problem documents.
func TestOpenAPIPlaneRoutesMatchDocument(t *testing.T) {
	doc := loadDocument(t)
	host := startContractPlane(t, nil)
	p := openapitest.RouteParity(doc, host.Server.Patterns(), planeRoute)
	for _, route := range p.Undocumented {
		t.Errorf("the plane serves %q but openapi.yaml does not describe it", route)
	}
	for _, route := range p.Unserved {
		t.Errorf("openapi.yaml describes %q but the plane does not serve it", route)
	}
	for route, op := range openapitest.Operations(doc, planeRoute) {
		if !slices.Equal(op.Tags, []string{"learning"}) {
			t.Errorf("%s: tags %v, want [learning]", route, op.Tags)
		}
		for _, problem := range append(openapitest.CheckAuth(route, op), openapitest.CheckProblems(route, op)...) {
			t.Error(problem)
		}
	}
	if len(p.Served) != 13 {
		t.Errorf("the plane registers %d routes, want the 13 of its API", len(p.Served))
	}
}

// contract drives the plane through the validating transport: with the Go
// client where it has a method, raw HTTP (Expect) where a request must be
// one the client would not send; Must and Fails check the client's calls.
type contract struct {
	openapitest.Caller
	t *testing.T
	c *client.Client // operator
}

// newContract serves a plane whose sensors read q and returns a contract
// with its validating transport.
func newContract(t *testing.T, q telemetry.Querier) (*contract, *openapitest.Transport, *openapi3.T) {
	doc := loadDocument(t)
	host := startContractPlane(t, q)
	v := openapitest.NewTransport(t, doc, nil)
	c, err := client.New(host.ControlPlaneURL)
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithTransport(v).WithToken(operatorToken)
	t.Cleanup(c.Close)
	raw := openapitest.Caller{T: t, HTTP: &http.Client{Transport: v, Timeout: 10 * time.Second}, BaseURL: host.ControlPlaneURL}
	return &contract{Caller: raw, t: t, c: c}, v, doc
}

// telemetryWithSamples is a TSDB holding the last hour of fn_invocations
// (two every fifth minute) and of shop_load (an hourly ramp), one sample a
// minute.
func telemetryWithSamples(t *testing.T) *telemetry.DB {
	t.Helper()
	db, err := telemetry.OpenDB(t.TempDir(), telemetry.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	for m := 179; m >= 0; m-- {
		at := now.Add(-time.Duration(m) * time.Minute)
		inv := 0.0
		if m%5 == 0 {
			inv = 2
		}
		if err := db.AppendSample(t.Context(), map[string]string{"__name__": "fn_invocations"}, at, inv); err != nil {
			t.Fatal(err)
		}
		if err := db.AppendSample(t.Context(), map[string]string{"__name__": "shop_load"}, at, 50+float64(m%60)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestOpenAPIPlaneContract calls every operation of the plane, successes
// and errors, and checks every request and answer against openapi.yaml.
func TestOpenAPIPlaneContract(t *testing.T) {
	s, v, doc := newContract(t, telemetryWithSamples(t))

	s.registry()
	s.agents()
	s.recommendations()
	s.authentication()

	// Each operation answered at least these codes, each validated.
	want := map[string][]int{
		"listModels":           {200},
		"listModelVersions":    {200, 404},
		"registerModelVersion": {201, 400, 422},
		"getModelVersion":      {200, 404},
		"promoteModelVersion":  {200, 404, 409},
		"rollbackModel":        {200, 409},
		"listAgents":           {200, 401},
		"getAgent":             {200, 404},
		"applyAgent":           {200, 201, 403, 422},
		"deleteAgent":          {204, 404},
		"listAgentTicks":       {200, 404},
		"recommendScaling":     {200, 400, 422},
		"recommendPrewarm":     {200, 422},
	}
	for _, op := range openapitest.Operations(doc, planeRoute) {
		if _, ok := want[op.OperationID]; !ok {
			t.Errorf("the scenario has no expectation for %s", op.OperationID)
		}
	}
	for _, missing := range v.Unanswered(want) {
		t.Error(missing)
	}
}

func modelVersion(t *testing.T, model string, ev *v1alpha1.ModelEvaluation) v1alpha1.ModelVersion {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	start := now.Add(-3 * time.Hour)
	return v1alpha1.ModelVersion{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindModelVersion},
		Metadata: v1alpha1.ObjectMeta{Labels: map[string]string{"team": "shop"}},
		Spec: v1alpha1.ModelVersionSpec{
			Model: model, Kind: forecast.KindSeasonalNaive, Parameters: map[string]float64{"season": 1},
			Data:    v1alpha1.TrainingData{Source: "shop_load", Start: &start, End: &now, Points: 180, Step: v1alpha1.Duration{Duration: time.Minute}, Season: 1},
			Metrics: map[string]float64{"mae": 1.5, "smape": 3, "mase": 0.9}, Evaluation: ev, TrainedBy: "cli",
			Artifact: artifact(t),
		},
	}
}

func (s *contract) registry() {
	ctx := s.t.Context()
	models, err := s.c.ListModels(ctx)
	s.Must(err, "ListModels of an empty registry")
	if len(models) != 0 {
		s.t.Errorf("models of an empty registry: %+v", models)
	}
	_, err = s.c.ModelVersions(ctx, "shop")
	s.Fails(err, 404, "ModelVersions of an unknown model")
	_, err = s.c.RollbackModel(ctx, "shop")
	s.Fails(err, 409, "RollbackModel of a model without versions")

	v1, err := s.c.RegisterModelVersion(ctx, modelVersion(s.t, "shop", nil))
	s.Must(err, "RegisterModelVersion")
	if v1.Metadata.Name != "shop-v1" || v1.Status.Stage != v1alpha1.StageCandidate {
		s.t.Errorf("registered %s %s", v1.Metadata.Name, v1.Status.Stage)
	}
	other := modelVersion(s.t, "other", nil)
	s.Expect(422, "POST", "/api/v1/models/shop/versions", operatorToken, openapitest.MustJSON(s.t, other))
	_, err = s.c.GetModelVersion(ctx, "shop", 1)
	s.Must(err, "GetModelVersion")
	_, err = s.c.GetModelVersion(ctx, "shop", 9)
	s.Fails(err, 404, "GetModelVersion of a version never registered")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 9, false)
	s.Fails(err, 404, "PromoteModelVersion of a version never registered")

	_, err = s.c.PromoteModelVersion(ctx, "shop", 1, false)
	s.Must(err, "PromoteModelVersion of the first version")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 1, false)
	s.Fails(err, 409, "PromoteModelVersion of the production version")
	_, err = s.c.RollbackModel(ctx, "shop")
	s.Fails(err, 409, "RollbackModel of a first version, which replaced none")

	loser := &v1alpha1.ModelEvaluation{Against: 1, Metric: "mase", Candidate: 1.2, Current: 0.9}
	_, err = s.c.RegisterModelVersion(ctx, modelVersion(s.t, "shop", loser))
	s.Must(err, "RegisterModelVersion of a loser")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 2, false)
	s.Fails(err, 409, "PromoteModelVersion of a version that lost")
	_, err = s.c.RegisterModelVersion(ctx, modelVersion(s.t, "shop", nil))
	s.Must(err, "RegisterModelVersion without evaluation")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 3, false)
	s.Fails(err, 409, "PromoteModelVersion of a version never evaluated")
	forced, err := s.c.PromoteModelVersion(ctx, "shop", 2, true)
	s.Must(err, "PromoteModelVersion forced")
	if forced.Status.Replaced != 1 || !strings.Contains(forced.Status.Message, "force") {
		s.t.Errorf("forced promotion: %+v", forced.Status)
	}
	back, err := s.c.RollbackModel(ctx, "shop")
	s.Must(err, "RollbackModel")
	if back.Status.Version != 1 || back.Status.Stage != v1alpha1.StageProduction {
		s.t.Errorf("rollback restored %+v", back.Status)
	}

	versions, err := s.c.ModelVersions(ctx, "shop")
	s.Must(err, "ModelVersions")
	var stages []string
	for _, mv := range versions {
		stages = append(stages, mv.Status.Stage)
	}
	if want := []string{"production", "rolled-back", "candidate"}; !slices.Equal(stages, want) {
		s.t.Errorf("stages %v, want %v", stages, want)
	}
	models, err = s.c.ListModels(ctx)
	s.Must(err, "ListModels")
	if len(models) != 1 || models[0].Production != 1 || models[0].Latest != 3 {
		s.t.Errorf("models: %+v", models)
	}
	// A value that matches the document's Duration pattern but overflows
	// Go's: the document allows it, the decoder refuses it.
	s.Expect(400, "POST", "/api/v1/models/shop/versions", operatorToken,
		strings.Replace(openapitest.MustJSON(s.t, modelVersion(s.t, "shop", nil)), `"step":"1m0s"`, `"step":"9999999999h"`, 1))
}

func scalingAgent(name string) v1alpha1.Agent {
	return v1alpha1.Agent{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindAgent},
		Metadata: v1alpha1.ObjectMeta{Name: name, Labels: map[string]string{"app": "shop"}},
		Spec: v1alpha1.AgentSpec{
			Trigger: v1alpha1.AgentTrigger{Interval: v1alpha1.Duration{Duration: time.Second}},
			Sensors: []v1alpha1.Sensor{{Name: "load", Query: "shop_load", Window: v1alpha1.Duration{Duration: 3 * time.Hour}, Step: v1alpha1.Duration{Duration: time.Minute}}},
			Model:   v1alpha1.AgentModel{Kind: forecast.KindSeasonalNaive, Season: 60, RetrainEvery: 5},
			Policy: v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPredictiveScaling, Scaling: &v1alpha1.ScalingPolicy{
				Capacity: 20, StartupDelay: v1alpha1.Duration{Duration: 2 * time.Minute}, MaxReplicas: 8,
			}},
			Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorNone},
		},
	}
}

// migrationAgent has no sensor (answered as "sensors": null) and an
// actuator without a type; its cron trigger keeps it from ticking here.
func migrationAgent(name string) v1alpha1.Agent {
	return v1alpha1.Agent{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindAgent},
		Metadata: v1alpha1.ObjectMeta{Name: name},
		Spec: v1alpha1.AgentSpec{
			Trigger:  v1alpha1.AgentTrigger{Cron: "0 0 1 1 *"},
			DryRun:   true,
			Policy:   v1alpha1.AgentPolicy{Type: v1alpha1.PolicyMigrationTrigger, Objective: &v1alpha1.Objective{Metric: "fps", Op: ">=", Value: 25}, Horizon: 5},
			Actuator: v1alpha1.Actuator{Application: "video", Component: "detector"},
		},
	}
}

func (s *contract) agents() {
	ctx := s.t.Context()
	list, err := s.c.ListAgents(ctx)
	s.Must(err, "ListAgents with none")
	if len(list) != 0 {
		s.t.Errorf("agents: %+v", list)
	}
	_, err = s.c.GetAgent(ctx, "nobody")
	s.Fails(err, 404, "GetAgent of an unknown agent")
	_, err = s.c.AgentTicks(ctx, "nobody", 0)
	s.Fails(err, 404, "AgentTicks of an unknown agent")
	s.Fails(s.c.DeleteAgent(ctx, "nobody"), 404, "DeleteAgent of an unknown agent")

	a := scalingAgent("shop-scaler")
	h, _ := s.Expect(201, "PUT", "/api/v1/agents/shop-scaler", operatorToken, openapitest.MustJSON(s.t, a))
	if got := h.Get(v1alpha1.ApplyResultHeader); got != "created" {
		s.t.Errorf("apply result %q, want created", got)
	}
	if _, result, err := s.c.ApplyAgent(ctx, a); err != nil || result != "unchanged" {
		s.t.Errorf("re-apply: %s %v", result, err)
	}
	m := migrationAgent("mover")
	if _, result, err := s.c.ApplyAgent(ctx, m); err != nil || result != "created" {
		s.t.Errorf("apply an agent without sensors: %s %v", result, err)
	}
	m.Spec.Policy.Horizon = 10
	if _, result, err := s.c.ApplyAgent(ctx, m); err != nil || result != "configured" {
		s.t.Errorf("apply a changed agent: %s %v", result, err)
	}
	s.Expect(422, "PUT", "/api/v1/agents/other", operatorToken, openapitest.MustJSON(s.t, a))
	noTrigger := scalingAgent("bad")
	noTrigger.Spec.Trigger = v1alpha1.AgentTrigger{}
	_, _, err = s.c.ApplyAgent(ctx, noTrigger)
	s.Fails(err, 422, "ApplyAgent without a trigger")
	badCron := scalingAgent("bad")
	badCron.Spec.Trigger = v1alpha1.AgentTrigger{Cron: "every day"}
	_, _, err = s.c.ApplyAgent(ctx, badCron)
	s.Fails(err, 422, "ApplyAgent with a bad cron expression")

	ticks := s.waitTicks("shop-scaler", 2)
	if tk := ticks[0]; tk.Error != "" || tk.Inputs["load"].Points < 100 || len(tk.Prediction) == 0 || !strings.HasPrefix(tk.Action, "none") {
		s.t.Errorf("tick = %+v", tk)
	}
	last, err := s.c.AgentTicks(ctx, "shop-scaler", 1)
	s.Must(err, "AgentTicks with a limit")
	if len(last) != 1 {
		s.t.Errorf("limit=1 gave %d ticks", len(last))
	}
	got, err := s.c.GetAgent(ctx, "shop-scaler")
	s.Must(err, "GetAgent")
	// The log is read without the store's lock, so the status may lag it
	// by the tick being recorded.
	if got.Status.Ticks < 1 || got.Status.LastTick == nil || got.Status.LastDecision == "" {
		s.t.Errorf("status %+v", got.Status)
	}
	list, err = s.c.ListAgents(ctx)
	s.Must(err, "ListAgents")
	if len(list) != 2 || list[0].Metadata.Name != "mover" || list[0].Spec.Sensors != nil {
		s.t.Errorf("agents: %+v", list)
	}
	s.Must(s.c.DeleteAgent(ctx, "shop-scaler"), "DeleteAgent")
	s.Must(s.c.DeleteAgent(ctx, "mover"), "DeleteAgent")
}

// waitTicks polls the agent's log, each poll validated, until it holds n
// ticks.
func (s *contract) waitTicks(name string, n int) []v1alpha1.AgentTick {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ts, err := s.c.AgentTicks(s.t.Context(), name, 0)
		s.Must(err, "AgentTicks")
		if len(ts) >= n {
			return ts
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("agent %s logged %d ticks in 15 s, want %d", name, len(ts), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *contract) recommendations() {
	ctx := s.t.Context()
	var load []float64
	for i := range 180 {
		load = append(load, 50+float64(i%60))
	}
	scaling := v1alpha1.ScalingPolicy{Capacity: 20, StartupDelay: v1alpha1.Duration{Duration: 3 * time.Minute}, MaxReplicas: 10}
	rec, err := s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{Load: v1alpha1.SeriesSource{Values: load}, Scaling: scaling})
	s.Must(err, "RecommendScaling of values")
	if rec.Replicas < 1 || len(rec.Forecast) == 0 {
		s.t.Errorf("scaling = %+v", rec)
	}
	hour := v1alpha1.Duration{Duration: 3 * time.Hour}
	rec, err = s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{
		Load: v1alpha1.SeriesSource{Query: "shop_load", Window: hour}, Scaling: scaling, Model: forecast.KindSeasonalNaive, Season: 60,
	})
	s.Must(err, "RecommendScaling of a query")
	if rec.Model != forecast.KindSeasonalNaive || rec.Season != 60 {
		s.t.Errorf("scaling of a query = %+v", rec)
	}
	// One value: no model fits, and the forecast is null.
	rec, err = s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{Load: v1alpha1.SeriesSource{Values: []float64{30}}, Scaling: scaling})
	s.Must(err, "RecommendScaling of one value")
	if rec.Forecast != nil || !strings.Contains(rec.Reason, "no model") {
		s.t.Errorf("scaling of one value = %+v", rec)
	}
	_, err = s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{Load: v1alpha1.SeriesSource{Query: "shop_load", Values: load}, Scaling: scaling})
	s.Fails(err, 422, "RecommendScaling with both a query and values")
	s.Expect(400, "POST", "/api/v1/recommendations/scaling", viewerToken,
		`{"load":{"query":"shop_load","window":"9999999999h"},"scaling":{"capacity":1}}`)

	inv := make([]float64, 120)
	for m := 0; m < 118; m += 15 {
		inv[m] = 1
	}
	pw, err := s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: inv}, Policy: "lsth"})
	s.Must(err, "RecommendPrewarm of values")
	if pw.Policy != "lsth" || pw.Reason == "" {
		s.t.Errorf("prewarm = %+v", pw)
	}
	pw, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Query: "fn_invocations", Window: hour}})
	s.Must(err, "RecommendPrewarm of a query")
	if pw.Policy != "hybrid" || pw.IdleFor < 0 {
		s.t.Errorf("prewarm of a query = %+v", pw)
	}
	// No invocation at all: no mode, idle for -1.
	pw, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: make([]float64, 30)}, Policy: "fixed-10"})
	s.Must(err, "RecommendPrewarm of silence")
	if pw.IdleFor != -1 || pw.Warm {
		s.t.Errorf("prewarm of silence = %+v", pw)
	}
	_, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: inv, Step: v1alpha1.Duration{Duration: time.Second}}})
	s.Fails(err, 422, "RecommendPrewarm per second")
}

func (s *contract) authentication() {
	s.Expect(401, "GET", "/api/v1/agents", "", "")
	s.Expect(403, "PUT", "/api/v1/agents/shop-scaler", viewerToken, openapitest.MustJSON(s.t, scalingAgent("shop-scaler")))
	// Recommendations change nothing: a viewer may ask for them.
	s.Expect(200, "POST", "/api/v1/recommendations/prewarm", viewerToken, `{"invocations":{"values":[1,0,0,1]}}`)
}

// TestOpenAPIPlaneRefusesWhatDocumentForbids sends requests the document
// forbids (unknown fields, bodies that are not JSON, path and query
// parameters of the wrong type): the plane must refuse them too, with a
// documented 400.
func TestOpenAPIPlaneRefusesWhatDocumentForbids(t *testing.T) {
	doc := loadDocument(t)
	host := startContractPlane(t, nil)
	v := openapitest.NewTransport(t, doc, nil)
	agent := openapitest.MustJSON(t, scalingAgent("shop-scaler"))
	cases := []struct{ method, path, body string }{
		{"PUT", "/api/v1/agents/shop-scaler", strings.Replace(agent, `"spec"`, `"spce"`, 1)},
		{"PUT", "/api/v1/agents/shop-scaler", strings.Replace(agent, `"capacity"`, `"gpus":1,"capacity"`, 1)},
		{"PUT", "/api/v1/agents/shop-scaler", `{"apiVersion":`},
		{"POST", "/api/v1/models/shop/versions", `{"spec":{"model":"shop","kind":"seasonal-naive","artifact":{},"weights":[1]}}`},
		{"POST", "/api/v1/recommendations/scaling", `{"load":{"values":[1]},"scaling":{"capacity":1},"target":"p99"}`},
		{"POST", "/api/v1/recommendations/prewarm", `{"invocations":{"values":[1]},"policy":"hybrid","now":true}`},
		{"POST", "/api/v1/recommendations/prewarm", `not json`},
		{"GET", "/api/v1/models/shop/versions/latest", ""},
		{"GET", "/api/v1/models/shop/versions/0", ""},
		{"POST", "/api/v1/models/shop/versions/1/promote?force=maybe", ""},
		{"GET", "/api/v1/agents/shop-scaler/ticks?limit=0", ""},
		{"GET", "/api/v1/agents/shop-scaler/ticks?limit=ten", ""},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, host.ControlPlaneURL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		v.Refuses(t, req, http.StatusBadRequest)
	}
}

// TestOpenAPIPlaneUnavailablePrometheus checks the 503 of a recommendation
// whose query cannot be read, through the validating transport: the
// Prometheus behind the plane answers every query with its timeout error.
// (TestAnUnreachablePrometheusIsA503 covers one that does not listen.)
func TestOpenAPIPlaneUnavailablePrometheus(t *testing.T) {
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`)
	}))
	t.Cleanup(prom.Close)
	remote, err := telemetry.NewRemote(prom.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, v, _ := newContract(t, remote)
	ctx := t.Context()
	_, err = s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{
		Load: v1alpha1.SeriesSource{Query: "shop_load"}, Scaling: v1alpha1.ScalingPolicy{Capacity: 5},
	})
	s.Fails(err, http.StatusServiceUnavailable, "RecommendScaling of a query that timed out")
	_, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Query: "fn_invocations"}})
	s.Fails(err, http.StatusServiceUnavailable, "RecommendPrewarm of a query that timed out")
	// The values themselves need no Prometheus.
	_, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: []float64{1, 0, 0, 1}}})
	s.Must(err, "RecommendPrewarm of values")
	for _, missing := range v.Unanswered(map[string][]int{"recommendScaling": {503}, "recommendPrewarm": {200, 503}}) {
		t.Error(missing)
	}
}
