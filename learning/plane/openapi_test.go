package plane_test

// These tests hold the Learning Plane's routes to the northbound API's
// OpenAPI document (orchestrator/openapi.yaml): the plane must serve
// exactly the registry, agent, scaling and pre-warm operations the
// document describes, and every request and answer of a scenario that
// calls each of them, errors included, must match it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
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
	data, err := os.ReadFile(documentPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("load %s: %v", documentPath, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", documentPath, err)
	}
	return doc
}

// planeOperations returns the document's operations of the plane, by
// "METHOD /path".
func planeOperations(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if route := method + " " + path; planeRoute(route) {
				ops[route] = op
			}
		}
	}
	return ops
}

// startContractPlane serves a plane whose sensors read db, with
// authentication on.
func startContractPlane(t *testing.T, db *telemetry.DB) *component.Host {
	t.Helper()
	authz, err := auth.New([]auth.Token{
		{Name: "operator", Role: auth.Operator, Token: operatorToken},
		{Name: "viewer", Role: auth.Viewer, Token: viewerToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := plane.Options{SyncEvery: 50 * time.Millisecond}
	if db != nil {
		opts.Querier = func() telemetry.Querier { return db }
	}
	guard := func(h *component.Host) { h.Server.Guard("/api/v1/", authz.Guard) }
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
	registered := map[string]bool{}
	for _, p := range host.Server.Patterns() {
		if planeRoute(p) {
			registered[p] = true
		}
	}
	ops := planeOperations(doc)
	for p := range registered {
		if _, ok := ops[p]; !ok {
			t.Errorf("the plane serves %q but openapi.yaml does not describe it", p)
		}
	}
	for route, op := range ops {
		if !registered[route] {
			t.Errorf("openapi.yaml describes %q but the plane does not serve it", route)
		}
		method, _, _ := strings.Cut(route, " ")
		if !slices.Equal(op.Tags, []string{"learning"}) {
			t.Errorf("%s: tags %v, want [learning]", route, op.Tags)
		}
		if op.Responses.Status(http.StatusUnauthorized) == nil {
			t.Errorf("%s does not document 401", route)
		}
		if (op.Responses.Status(http.StatusForbidden) != nil) == (method == http.MethodGet) {
			t.Errorf("%s: 403 documented %v, want it only for changes", route, op.Responses.Status(http.StatusForbidden) != nil)
		}
		for code, resp := range op.Responses.Map() {
			if code[0] >= '4' && resp.Value.Content.Get(v1alpha1.ProblemContentType) == nil {
				t.Errorf("%s: %s is not a problem document", route, code)
			}
		}
	}
	if len(registered) != 13 {
		t.Errorf("the plane registers %d routes, want the 13 of its API", len(registered))
	}
}

// validatingTransport checks every request and answer against the
// document and records the status codes each operation answered.
type validatingTransport struct {
	t      testing.TB
	router routers.Router
	next   http.RoundTripper

	mu   sync.Mutex
	seen map[string][]int // operationId: status codes
}

func newValidatingTransport(t testing.TB, doc *openapi3.T) *validatingTransport {
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validatingTransport{t: t, router: router, next: http.DefaultTransport, seen: map[string][]int{}}
}

// requestInput finds the operation of req and prepares its validation.
func (v *validatingTransport) requestInput(req *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no operation in openapi.yaml: %w", req.Method, req.URL.Path, err)
	}
	return &openapi3filter.RequestValidationInput{
		Request: withBody(req, body), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}, nil
}

func (v *validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := readBody(req.Body)
	if err != nil {
		return nil, err
	}
	in, err := v.requestInput(req, body)
	if err != nil {
		v.t.Error(err)
		return nil, err
	}
	op := in.Route.Operation.OperationID
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		err = fmt.Errorf("%s (%s %s): the request breaks openapi.yaml: %w", op, req.Method, req.URL, err)
		v.t.Error(err)
		return nil, err
	}
	resp, data, err := v.send(req, body)
	if err != nil {
		return nil, err
	}
	if err := checkResponse(in, resp, data); err != nil {
		err = fmt.Errorf("%s (%s %s): the answer %d breaks openapi.yaml: %w\n%s", op, req.Method, req.URL, resp.StatusCode, err, data)
		v.t.Error(err)
		return nil, err
	}
	v.mu.Lock()
	v.seen[op] = append(v.seen[op], resp.StatusCode)
	v.mu.Unlock()
	return resp, nil
}

// send passes the request on and reads the whole answer, leaving it
// readable again in resp.Body.
func (v *validatingTransport) send(req *http.Request, body []byte) (*http.Response, []byte, error) {
	resp, err := v.next.RoundTrip(withBody(req, body))
	if err != nil {
		return nil, nil, err
	}
	data, err := readBody(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, data, nil
}

// CloseIdleConnections lets client.Close reach the transport underneath.
func (v *validatingTransport) CloseIdleConnections() {
	if c, ok := v.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (v *validatingTransport) codes(operationID string) []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.seen[operationID])
}

// checkResponse validates an answer: undocumented status codes fail, and
// so does a body where the document promises none.
func checkResponse(in *openapi3filter.RequestValidationInput, resp *http.Response, data []byte) error {
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	if documented := in.Route.Operation.Responses.Status(resp.StatusCode); documented != nil && len(documented.Value.Content) == 0 && len(data) > 0 {
		return fmt.Errorf("a body where the document promises none")
	}
	return nil
}

func readBody(rc io.ReadCloser) ([]byte, error) {
	if rc == nil {
		return nil, nil
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return r
}

// contract drives the plane through the validating transport: with the Go
// client where it has a method, raw HTTP where a request must be one the
// client would not send.
type contract struct {
	t    *testing.T
	base string
	v    *validatingTransport
	c    *client.Client // operator
	http *http.Client
}

// expect sends a raw JSON request and checks the status code.
func (s *contract) expect(want int, method, path, token, body string) (http.Header, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Errorf("%s %s = %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	return resp.Header, data
}

func (s *contract) must(err error, what string) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
}

// fails checks that a client call failed with the API status code.
func (s *contract) fails(err error, code int, what string) {
	s.t.Helper()
	if got := status(err); got != code {
		s.t.Errorf("%s: got %v, want the API's %d", what, err, code)
	}
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
	doc := loadDocument(t)
	host := startContractPlane(t, telemetryWithSamples(t))
	v := newValidatingTransport(t, doc)
	c, err := client.New(host.ControlPlaneURL)
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithTransport(v).WithToken(operatorToken)
	t.Cleanup(c.Close)
	s := &contract{t: t, base: host.ControlPlaneURL, v: v, c: c, http: &http.Client{Transport: v, Timeout: 10 * time.Second}}

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
	for _, op := range planeOperations(doc) {
		if _, ok := want[op.OperationID]; !ok {
			t.Errorf("the scenario has no expectation for %s", op.OperationID)
		}
	}
	for op, codes := range want {
		seen := v.codes(op)
		for _, code := range codes {
			if !slices.Contains(seen, code) {
				t.Errorf("%s never answered %d through the validator (saw %v)", op, code, seen)
			}
		}
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
	s.must(err, "ListModels of an empty registry")
	if len(models) != 0 {
		s.t.Errorf("models of an empty registry: %+v", models)
	}
	_, err = s.c.ModelVersions(ctx, "shop")
	s.fails(err, 404, "ModelVersions of an unknown model")
	_, err = s.c.RollbackModel(ctx, "shop")
	s.fails(err, 409, "RollbackModel of a model without versions")

	v1, err := s.c.RegisterModelVersion(ctx, modelVersion(s.t, "shop", nil))
	s.must(err, "RegisterModelVersion")
	if v1.Metadata.Name != "shop-v1" || v1.Status.Stage != v1alpha1.StageCandidate {
		s.t.Errorf("registered %s %s", v1.Metadata.Name, v1.Status.Stage)
	}
	other := modelVersion(s.t, "other", nil)
	s.expect(422, "POST", "/api/v1/models/shop/versions", operatorToken, mustJSON(s.t, other))
	_, err = s.c.GetModelVersion(ctx, "shop", 1)
	s.must(err, "GetModelVersion")
	_, err = s.c.GetModelVersion(ctx, "shop", 9)
	s.fails(err, 404, "GetModelVersion of a version never registered")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 9, false)
	s.fails(err, 404, "PromoteModelVersion of a version never registered")

	_, err = s.c.PromoteModelVersion(ctx, "shop", 1, false)
	s.must(err, "PromoteModelVersion of the first version")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 1, false)
	s.fails(err, 409, "PromoteModelVersion of the production version")
	_, err = s.c.RollbackModel(ctx, "shop")
	s.fails(err, 409, "RollbackModel of a first version, which replaced none")

	loser := &v1alpha1.ModelEvaluation{Against: 1, Metric: "mase", Candidate: 1.2, Current: 0.9}
	_, err = s.c.RegisterModelVersion(ctx, modelVersion(s.t, "shop", loser))
	s.must(err, "RegisterModelVersion of a loser")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 2, false)
	s.fails(err, 409, "PromoteModelVersion of a version that lost")
	_, err = s.c.RegisterModelVersion(ctx, modelVersion(s.t, "shop", nil))
	s.must(err, "RegisterModelVersion without evaluation")
	_, err = s.c.PromoteModelVersion(ctx, "shop", 3, false)
	s.fails(err, 409, "PromoteModelVersion of a version never evaluated")
	forced, err := s.c.PromoteModelVersion(ctx, "shop", 2, true)
	s.must(err, "PromoteModelVersion forced")
	if forced.Status.Replaced != 1 || !strings.Contains(forced.Status.Message, "force") {
		s.t.Errorf("forced promotion: %+v", forced.Status)
	}
	back, err := s.c.RollbackModel(ctx, "shop")
	s.must(err, "RollbackModel")
	if back.Status.Version != 1 || back.Status.Stage != v1alpha1.StageProduction {
		s.t.Errorf("rollback restored %+v", back.Status)
	}

	versions, err := s.c.ModelVersions(ctx, "shop")
	s.must(err, "ModelVersions")
	var stages []string
	for _, mv := range versions {
		stages = append(stages, mv.Status.Stage)
	}
	if want := []string{"production", "rolled-back", "candidate"}; !slices.Equal(stages, want) {
		s.t.Errorf("stages %v, want %v", stages, want)
	}
	models, err = s.c.ListModels(ctx)
	s.must(err, "ListModels")
	if len(models) != 1 || models[0].Production != 1 || models[0].Latest != 3 {
		s.t.Errorf("models: %+v", models)
	}
	// A value that matches the document's Duration pattern but overflows
	// Go's: the document allows it, the decoder refuses it.
	s.expect(400, "POST", "/api/v1/models/shop/versions", operatorToken,
		strings.Replace(mustJSON(s.t, modelVersion(s.t, "shop", nil)), `"step":"1m0s"`, `"step":"9999999999h"`, 1))
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
	s.must(err, "ListAgents with none")
	if len(list) != 0 {
		s.t.Errorf("agents: %+v", list)
	}
	_, err = s.c.GetAgent(ctx, "nobody")
	s.fails(err, 404, "GetAgent of an unknown agent")
	_, err = s.c.AgentTicks(ctx, "nobody", 0)
	s.fails(err, 404, "AgentTicks of an unknown agent")
	s.fails(s.c.DeleteAgent(ctx, "nobody"), 404, "DeleteAgent of an unknown agent")

	a := scalingAgent("shop-scaler")
	h, _ := s.expect(201, "PUT", "/api/v1/agents/shop-scaler", operatorToken, mustJSON(s.t, a))
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
	s.expect(422, "PUT", "/api/v1/agents/other", operatorToken, mustJSON(s.t, a))
	noTrigger := scalingAgent("bad")
	noTrigger.Spec.Trigger = v1alpha1.AgentTrigger{}
	_, _, err = s.c.ApplyAgent(ctx, noTrigger)
	s.fails(err, 422, "ApplyAgent without a trigger")
	badCron := scalingAgent("bad")
	badCron.Spec.Trigger = v1alpha1.AgentTrigger{Cron: "every day"}
	_, _, err = s.c.ApplyAgent(ctx, badCron)
	s.fails(err, 422, "ApplyAgent with a bad cron expression")

	ticks := s.waitTicks("shop-scaler", 2)
	if tk := ticks[0]; tk.Error != "" || tk.Inputs["load"].Points < 100 || len(tk.Prediction) == 0 || !strings.HasPrefix(tk.Action, "none") {
		s.t.Errorf("tick = %+v", tk)
	}
	last, err := s.c.AgentTicks(ctx, "shop-scaler", 1)
	s.must(err, "AgentTicks with a limit")
	if len(last) != 1 {
		s.t.Errorf("limit=1 gave %d ticks", len(last))
	}
	got, err := s.c.GetAgent(ctx, "shop-scaler")
	s.must(err, "GetAgent")
	// The log is read without the store's lock, so the status may lag it
	// by the tick being recorded.
	if got.Status.Ticks < 1 || got.Status.LastTick == nil || got.Status.LastDecision == "" {
		s.t.Errorf("status %+v", got.Status)
	}
	list, err = s.c.ListAgents(ctx)
	s.must(err, "ListAgents")
	if len(list) != 2 || list[0].Metadata.Name != "mover" || list[0].Spec.Sensors != nil {
		s.t.Errorf("agents: %+v", list)
	}
	s.must(s.c.DeleteAgent(ctx, "shop-scaler"), "DeleteAgent")
	s.must(s.c.DeleteAgent(ctx, "mover"), "DeleteAgent")
}

// waitTicks polls the agent's log, each poll validated, until it holds n
// ticks.
func (s *contract) waitTicks(name string, n int) []v1alpha1.AgentTick {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ts, err := s.c.AgentTicks(s.t.Context(), name, 0)
		s.must(err, "AgentTicks")
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
	s.must(err, "RecommendScaling of values")
	if rec.Replicas < 1 || len(rec.Forecast) == 0 {
		s.t.Errorf("scaling = %+v", rec)
	}
	hour := v1alpha1.Duration{Duration: 3 * time.Hour}
	rec, err = s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{
		Load: v1alpha1.SeriesSource{Query: "shop_load", Window: hour}, Scaling: scaling, Model: forecast.KindSeasonalNaive, Season: 60,
	})
	s.must(err, "RecommendScaling of a query")
	if rec.Model != forecast.KindSeasonalNaive || rec.Season != 60 {
		s.t.Errorf("scaling of a query = %+v", rec)
	}
	// One value: no model fits, and the forecast is null.
	rec, err = s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{Load: v1alpha1.SeriesSource{Values: []float64{30}}, Scaling: scaling})
	s.must(err, "RecommendScaling of one value")
	if rec.Forecast != nil || !strings.Contains(rec.Reason, "no model") {
		s.t.Errorf("scaling of one value = %+v", rec)
	}
	_, err = s.c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{Load: v1alpha1.SeriesSource{Query: "shop_load", Values: load}, Scaling: scaling})
	s.fails(err, 422, "RecommendScaling with both a query and values")
	s.expect(400, "POST", "/api/v1/recommendations/scaling", viewerToken,
		`{"load":{"query":"shop_load","window":"9999999999h"},"scaling":{"capacity":1}}`)

	inv := make([]float64, 120)
	for m := 0; m < 118; m += 15 {
		inv[m] = 1
	}
	pw, err := s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: inv}, Policy: "lsth"})
	s.must(err, "RecommendPrewarm of values")
	if pw.Policy != "lsth" || pw.Reason == "" {
		s.t.Errorf("prewarm = %+v", pw)
	}
	pw, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Query: "fn_invocations", Window: hour}})
	s.must(err, "RecommendPrewarm of a query")
	if pw.Policy != "hybrid" || pw.IdleFor < 0 {
		s.t.Errorf("prewarm of a query = %+v", pw)
	}
	// No invocation at all: no mode, idle for -1.
	pw, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: make([]float64, 30)}, Policy: "fixed-10"})
	s.must(err, "RecommendPrewarm of silence")
	if pw.IdleFor != -1 || pw.Warm {
		s.t.Errorf("prewarm of silence = %+v", pw)
	}
	_, err = s.c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: inv, Step: v1alpha1.Duration{Duration: time.Second}}})
	s.fails(err, 422, "RecommendPrewarm per second")
}

func (s *contract) authentication() {
	s.expect(401, "GET", "/api/v1/agents", "", "")
	s.expect(403, "PUT", "/api/v1/agents/shop-scaler", viewerToken, mustJSON(s.t, scalingAgent("shop-scaler")))
	// Recommendations change nothing: a viewer may ask for them.
	s.expect(200, "POST", "/api/v1/recommendations/prewarm", viewerToken, `{"invocations":{"values":[1,0,0,1]}}`)
}

// TestOpenAPIPlaneRefusesWhatDocumentForbids sends requests the document
// forbids (unknown fields, bodies that are not JSON, path and query
// parameters of the wrong type): the plane must refuse them too, with a
// documented 400.
func TestOpenAPIPlaneRefusesWhatDocumentForbids(t *testing.T) {
	doc := loadDocument(t)
	host := startContractPlane(t, nil)
	v := newValidatingTransport(t, doc)
	agent := mustJSON(t, scalingAgent("shop-scaler"))
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
		in, err := v.requestInput(req, []byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err == nil {
			t.Errorf("%s %s %s: the document accepts it", c.method, c.path, c.body)
		}
		resp, data, err := v.send(req, []byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s %s %s: the plane answers %d %s, want 400", c.method, c.path, c.body, resp.StatusCode, data)
		}
		if err := checkResponse(in, resp, data); err != nil {
			t.Errorf("%s %s: the refusal breaks openapi.yaml: %v", c.method, c.path, err)
		}
	}
}
