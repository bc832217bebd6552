package federated_test

// These tests hold the aggregator's routes to the northbound API's OpenAPI
// document (orchestrator/openapi.yaml), the way `cloudskin up --auth`
// serves them: route parity, the document's conventions, and every
// request and answer of a scenario that reaches each status code of each
// operation validated against it (internal/openapitest).

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/internal/openapitest"
	"github.com/cloudskin/cloudskin/learning/federated"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/prewarm"
)

const documentPath = "../../orchestrator/openapi.yaml"

// Tokens of the contract server.
const (
	operatorToken = "operator-token-0123456789"
	viewerToken   = "viewer-token-0123456789"
)

// federatedRoute keeps the federated training routes, prewarmRoute the
// pre-warm statistics pool's, aggregatorRoute both: all the aggregator
// serves.
var (
	federatedRoute  = openapitest.PathPrefix(strings.TrimSuffix(federated.APIPrefix, "/"))
	prewarmRoute    = openapitest.PathPrefix(strings.TrimSuffix(federated.PrewarmAPIPrefix, "/"))
	aggregatorRoute = openapitest.PathPrefix(strings.TrimSuffix(federated.APIPrefix, "/"), strings.TrimSuffix(federated.PrewarmAPIPrefix, "/"))
)

// startAggregator serves an aggregator that averages once two sites have
// sent an update, as `up` runs it, with authentication on.
func startAggregator(t *testing.T) *component.Host {
	t.Helper()
	agg, err := federated.NewAggregator(2)
	if err != nil {
		t.Fatal(err)
	}
	guard := openapitest.Guard(t,
		auth.Token{Name: "operator", Role: auth.Operator, Token: operatorToken},
		auth.Token{Name: "viewer", Role: auth.Viewer, Token: viewerToken},
	)
	return componenttest.Start(t, guard, agg)
}

// TestOpenAPIFederatedRoutesMatchDocument checks that the aggregator
// serves exactly the document's federated training and pre-warm
// statistics operations, and that these
// follow the document's rules: tag learning, 401 always, 403 only for
// changes, errors as problem documents.
func TestOpenAPIFederatedRoutesMatchDocument(t *testing.T) {
	doc := openapitest.LoadFile(t, documentPath)
	host := startAggregator(t)
	p := openapitest.RouteParity(doc, host.Server.Patterns(), aggregatorRoute)
	for _, route := range p.Undocumented {
		t.Errorf("the aggregator serves %q but openapi.yaml does not describe it", route)
	}
	for _, route := range p.Unserved {
		t.Errorf("openapi.yaml describes %q but the aggregator does not serve it", route)
	}
	if len(p.Served) != 9 {
		t.Errorf("the aggregator registers %v, want the 9 routes of its API (5 federated training, 4 pre-warm statistics)", p.Served)
	}
	for route, op := range openapitest.Operations(doc, aggregatorRoute) {
		if !slices.Equal(op.Tags, []string{"learning"}) {
			t.Errorf("%s: tags %v, want [learning]", route, op.Tags)
		}
		for _, problem := range append(openapitest.CheckAuth(route, op), openapitest.CheckProblems(route, op)...) {
			t.Error(problem)
		}
	}
}

// bearer adds a token to every request, for federated.Client, which sends
// none of its own.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// fedContract drives the aggregator through the validating transport:
// with federated.Client where it has a method, raw HTTP otherwise; Must
// and Fails check the client's calls.
type fedContract struct {
	openapitest.Caller
	t *testing.T
	v *openapitest.Transport
	c federated.Client // operator
}

// update is a site's well-formed update for a network of shape, its
// parameters all v.
func update(site string, round int, shape federated.Shape, v float64) federated.Update {
	params := make([]float64, shape.Params)
	for i := range params {
		params[i] = v
	}
	return federated.Update{Site: site, Round: round, Samples: 100, Model: forecast.KindGRU, Shape: shape, Params: params, Mean: 50, Std: 5}
}

// TestOpenAPIFederatedContract calls each federated operation until it
// has answered each of its documented status codes but 500, and checks
// every request and answer against openapi.yaml.
func TestOpenAPIFederatedContract(t *testing.T) {
	doc := openapitest.LoadFile(t, documentPath)
	host := startAggregator(t)
	v := openapitest.NewTransport(t, doc, nil)
	httpc := &http.Client{Transport: bearer{operatorToken, v}, Timeout: 10 * time.Second}
	s := &fedContract{
		Caller: openapitest.Caller{T: t, HTTP: &http.Client{Transport: v, Timeout: 10 * time.Second}, BaseURL: host.ControlPlaneURL},
		t:      t,
		v:      v,
		c:      federated.Client{BaseURL: host.ControlPlaneURL, HTTP: httpc},
	}
	shape := s.create()
	s.train(shape)
	s.refusals(shape)
	s.holtWinters()
	s.holtWintersRefusals()

	want := map[string][]int{
		"listFederatedModels":     {200, 401},
		"createFederatedModel":    {201, 400, 403, 409, 422},
		"getFederatedModel":       {200, 404},
		"submitFederatedUpdate":   {202, 400, 403, 404, 409, 422},
		"aggregateFederatedModel": {200, 403, 404, 409},
	}
	for _, op := range openapitest.Operations(doc, federatedRoute) {
		if _, ok := want[op.OperationID]; !ok {
			t.Errorf("the scenario has no expectation for %s", op.OperationID)
		}
	}
	for _, missing := range v.Unanswered(want) {
		t.Error(missing)
	}
}

// create registers the model "load" and returns its shape.
func (s *fedContract) create() federated.Shape {
	ctx := s.t.Context()
	list, err := s.c.List(ctx)
	s.Must(err, "List of no models")
	if len(list) != 0 {
		s.t.Errorf("models of a new aggregator: %+v", list)
	}
	s.Expect(401, "GET", "/api/v1/learning/federated", "", "")

	cfg := forecast.RNNConfig{Season: 12, Hidden: 4, Seed: 7}
	g, err := s.c.Create(ctx, "load", cfg)
	s.Must(err, "Create")
	if g.Name != "load" || g.Round != 0 || g.Sites != nil || g.Shape.Window != 24 || g.Shape.Hidden != 4 || len(g.Model) == 0 {
		s.t.Errorf("created %+v", g)
	}
	if _, err := forecast.Unmarshal(g.Model); err != nil {
		s.t.Errorf("the round-0 network does not load: %v", err)
	}
	_, err = s.c.Create(ctx, "load", cfg)
	s.Fails(err, http.StatusConflict, "Create of a name in use")
	s.Expect(403, "PUT", "/api/v1/learning/federated/other", viewerToken, `{"season": 12}`)
	// Two JSON values: the document reads the first, the server refuses
	// the second.
	s.Expect(400, "PUT", "/api/v1/learning/federated/other", operatorToken, `{"season": 12} {"season": 24}`)
	return g.Shape
}

// train runs two rounds: one completed by a second site, one by
// aggregate, with the errors of each step.
func (s *fedContract) train(shape federated.Shape) {
	ctx := s.t.Context()
	acc, err := s.c.Submit(ctx, "load", update("edge-1", 0, shape, 0.1))
	s.Must(err, "Submit of the first site")
	if acc != (federated.Accepted{Round: 0, Pending: 1}) {
		s.t.Errorf("first update: %+v", acc)
	}
	acc, err = s.c.Submit(ctx, "load", update("edge-2", 0, shape, 0.3))
	s.Must(err, "Submit of the second site")
	if acc != (federated.Accepted{Round: 1, Averaged: true}) {
		s.t.Errorf("second update: %+v", acc)
	}
	_, err = s.c.Submit(ctx, "load", update("edge-1", 0, shape, 0.1))
	s.Fails(err, http.StatusConflict, "Submit for a round gone")
	short := update("edge-1", 1, shape, 0.1)
	short.Params = short.Params[1:]
	_, err = s.c.Submit(ctx, "load", short)
	s.Fails(err, http.StatusUnprocessableEntity, "Submit of a vector too short")
	_, err = s.c.Submit(ctx, "ghost", update("edge-1", 0, shape, 0.1))
	s.Fails(err, http.StatusNotFound, "Submit to an unknown model")
	u := openapitest.MustJSON(s.t, update("edge-1", 1, shape, 0.1))
	s.Expect(403, "POST", "/api/v1/learning/federated/load/updates", viewerToken, u)
	s.Expect(400, "POST", "/api/v1/learning/federated/load/updates", operatorToken, u+u)

	s.Expect(409, "POST", "/api/v1/learning/federated/load/aggregate", operatorToken, "")
	_, err = s.c.Submit(ctx, "load", update("edge-3", 1, shape, 0.5))
	s.Must(err, "Submit of round 1")
	_, data := s.Expect(200, "POST", "/api/v1/learning/federated/load/aggregate", operatorToken, "")
	var done federated.Accepted
	if err := json.Unmarshal(data, &done); err != nil || done != (federated.Accepted{Round: 2, Averaged: true}) {
		s.t.Errorf("aggregate: %s %v", data, err)
	}
	s.Expect(403, "POST", "/api/v1/learning/federated/load/aggregate", viewerToken, "")
	s.Expect(404, "POST", "/api/v1/learning/federated/ghost/aggregate", operatorToken, "")

	g, err := s.c.Global(ctx, "load")
	s.Must(err, "Global")
	if g.Round != 2 || !slices.Equal(g.Sites, []string{"edge-3"}) || g.Samples != 100 {
		s.t.Errorf("global after two rounds: round %d, sites %v, samples %d", g.Round, g.Sites, g.Samples)
	}
	_, err = s.c.Global(ctx, "ghost")
	s.Fails(err, http.StatusNotFound, "Global of an unknown model")
	list, err := s.c.List(ctx)
	s.Must(err, "List")
	if len(list) != 1 || list[0].Round != 2 || list[0].Model != nil {
		s.t.Errorf("list: %+v", list)
	}
}

// refusals sends requests the document forbids: the aggregator must
// refuse them too, with a documented answer.
// refuses sends body as an operator and checks the answer is want, as the
// document says.
func (s *fedContract) refuses(method, path, body string, want int) {
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.BaseURL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	s.v.Refuses(s.t, req, want)
}

func (s *fedContract) refusals(shape federated.Shape) {
	withSeries := strings.Replace(openapitest.MustJSON(s.t, update("edge-1", 2, shape, 0.1)), `"params"`, `"series":[1,2,3],"params"`, 1)
	noStd, lstm := update("edge-1", 2, shape, 0.1), update("edge-1", 2, shape, 0.1)
	noStd.Std, lstm.Model = 0, "lstm"
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/api/v1/learning/federated/odd", `{"season": 0}`, http.StatusUnprocessableEntity},
		{"PUT", "/api/v1/learning/federated/odd", `{"season": 12, "learningRate": 1}`, http.StatusUnprocessableEntity},
		{"PUT", "/api/v1/learning/federated/Bad_Name", `{"season": 12}`, http.StatusUnprocessableEntity},
		{"PUT", "/api/v1/learning/federated/odd", `{"seasons": 12}`, http.StatusBadRequest},
		{"POST", "/api/v1/learning/federated/load/updates", withSeries, http.StatusBadRequest},
		{"POST", "/api/v1/learning/federated/load/updates", openapitest.MustJSON(s.t, noStd), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/load/updates", openapitest.MustJSON(s.t, lstm), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/load/updates", `not json`, http.StatusBadRequest},
	}
	for _, c := range cases {
		s.refuses(c.method, c.path, c.body, c.want)
	}
}

// hwUpdate is a site's well-formed update of a Holt-Winters model of
// season 4 at the given level.
func hwUpdate(site string, round int, level float64) federated.Update {
	return federated.Update{Site: site, Round: round, Samples: 96, Model: forecast.KindHoltWinters, Shape: federated.Shape{Season: 4},
		HoltWinters: &federated.HoltWintersState{Alpha: 0.2, Beta: 0.01, Gamma: 0.3, Level: level, Trend: 0.5, Seasonal: []float64{-4, 1, 5, -2}}}
}

// holtWinters creates Holt-Winters models, merges a round of two sites'
// fitted states and reads the merged model, with the refusals the
// document cannot express (they depend on the registered model).
func (s *fedContract) holtWinters() {
	ctx := s.t.Context()
	g, err := s.c.CreateHoltWinters(ctx, "daily", forecast.Additive, 4)
	s.Must(err, "CreateHoltWinters")
	if g.Kind != forecast.KindHoltWinters || g.Round != 0 || g.Shape != (federated.Shape{Season: 4}) || len(g.Model) == 0 {
		s.t.Errorf("created %+v", g)
	}
	_, err = s.c.CreateHoltWinters(ctx, "daily", forecast.Additive, 4)
	s.Fails(err, http.StatusConflict, "CreateHoltWinters of a name in use")
	_, err = s.c.CreateHoltWinters(ctx, "ratio", forecast.Multiplicative, 4)
	s.Must(err, "CreateHoltWinters, multiplicative")
	s.Expect(403, "PUT", "/api/v1/learning/federated/other", viewerToken, `{"kind": "holt-winters", "season": 24}`)

	acc, err := s.c.Submit(ctx, "daily", hwUpdate("edge-1", 0, 50))
	s.Must(err, "Submit of a Holt-Winters state")
	if acc != (federated.Accepted{Round: 0, Pending: 1}) {
		s.t.Errorf("first Holt-Winters update: %+v", acc)
	}
	acc, err = s.c.Submit(ctx, "daily", hwUpdate("edge-2", 0, 70))
	s.Must(err, "Submit of the second Holt-Winters state")
	if acc != (federated.Accepted{Round: 1, Averaged: true}) {
		s.t.Errorf("second Holt-Winters update: %+v", acc)
	}
	g, err = s.c.Global(ctx, "daily")
	s.Must(err, "Global of a Holt-Winters model")
	hw, err := g.HoltWinters()
	if err != nil || g.Round != 1 || hw.Level != 60 || hw.Alpha != 0.2 || len(hw.Seasonal) != 4 {
		s.t.Errorf("merged Holt-Winters model: round %d, %+v, %v", g.Round, hw, err)
	}
	list, err := s.c.List(ctx)
	s.Must(err, "List of three models")
	var kinds []string
	for _, m := range list {
		kinds = append(kinds, m.Name+"="+m.Kind)
	}
	if !slices.Equal(kinds, []string{"daily=holt-winters", "load=gru", "ratio=holt-winters-mul"}) {
		s.t.Errorf("list: %v", kinds)
	}

	wrongSeason, shortSeasonal, fewSamples, stale := hwUpdate("edge-1", 1, 50), hwUpdate("edge-1", 1, 50), hwUpdate("edge-1", 1, 50), hwUpdate("edge-1", 0, 50)
	wrongSeason.Shape.Season = 12
	shortSeasonal.HoltWinters.Seasonal = shortSeasonal.HoltWinters.Seasonal[:3]
	fewSamples.Samples = 5
	zeroIndex := hwUpdate("edge-1", 0, 50)
	zeroIndex.Model, zeroIndex.HoltWinters.Seasonal = forecast.KindHoltWintersMul, []float64{1.1, 0, 0.9, 1}
	for _, c := range []struct {
		model, what string
		u           federated.Update
		code        int
	}{
		{"daily", "a season that is not the model's", wrongSeason, http.StatusUnprocessableEntity},
		{"daily", "a seasonal vector shorter than the season", shortSeasonal, http.StatusUnprocessableEntity},
		{"daily", "fewer samples than a fit needs", fewSamples, http.StatusUnprocessableEntity},
		{"ratio", "a multiplicative index of 0", zeroIndex, http.StatusUnprocessableEntity},
		{"load", "a Holt-Winters state to a network", hwUpdate("edge-1", 2, 50), http.StatusUnprocessableEntity},
		{"daily", "a network's parameters to Holt-Winters", update("edge-1", 1, federated.Shape{Season: 4, Window: 24, Hidden: 4, Params: 97}, 0.1), http.StatusUnprocessableEntity},
		{"daily", "a round gone", stale, http.StatusConflict},
	} {
		_, err := s.c.Submit(ctx, c.model, c.u)
		s.Fails(err, c.code, "Submit of "+c.what)
	}
}

// holtWintersRefusals sends Holt-Winters requests the document forbids:
// the aggregator must refuse them too, with a documented answer.
func (s *fedContract) holtWintersRefusals() {
	good := openapitest.MustJSON(s.t, hwUpdate("edge-1", 1, 50))
	edit := func(old, new string) string {
		if !strings.Contains(good, old) {
			s.t.Fatalf("%s is not in %s", old, good)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/api/v1/learning/federated/odd", `{"kind": "holt-winters", "season": 24, "hidden": 8}`, http.StatusUnprocessableEntity},
		{"PUT", "/api/v1/learning/federated/odd", `{"kind": "holt-winters"}`, http.StatusUnprocessableEntity},
		{"PUT", "/api/v1/learning/federated/odd", `{"kind": "holt-winters-mul", "season": 10081}`, http.StatusUnprocessableEntity},
		{"PUT", "/api/v1/learning/federated/odd", `{"kind": "arima", "season": 24}`, http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"alpha":0.2`, `"alpha":1.5`), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"gamma":0.3`, `"gamma":-0.3`), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"seasonal":[-4,1,5,-2]`, `"seasonal":[]`), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"holtWinters"`, `"params":[0.1],"holtWinters"`), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"holtWinters"`, `"std":2.5,"holtWinters"`), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"shape":{"season":4}`, `"shape":{"season":4,"window":8}`), http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", `{"site":"edge-1","round":1,"samples":96,"model":"holt-winters","shape":{"season":4}}`, http.StatusUnprocessableEntity},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"level":50`, `"level":NaN`), http.StatusBadRequest},
		{"POST", "/api/v1/learning/federated/daily/updates", edit(`"holtWinters"`, `"observations":[51.5,49.25],"holtWinters"`), http.StatusBadRequest},
	}
	for _, c := range cases {
		s.refuses(c.method, c.path, c.body, c.want)
	}
}

// idleHistogram is a histogram of rangeMinutes bins with n idle times of
// each given length.
func idleHistogram(rangeMinutes, n int, lengths ...int) prewarm.IdleHistogram {
	h := prewarm.IdleHistogram{Bins: make([]int, rangeMinutes)}
	for _, l := range lengths {
		h.Bins[l] += n
	}
	return h
}

// TestOpenAPIPrewarmContract calls each operation of the pre-warm
// statistics pool until it has answered each of its documented status
// codes but 500, and checks every request and answer against
// openapi.yaml.
func TestOpenAPIPrewarmContract(t *testing.T) {
	doc := openapitest.LoadFile(t, documentPath)
	host := startAggregator(t)
	v := openapitest.NewTransport(t, doc, nil)
	httpc := &http.Client{Transport: bearer{operatorToken, v}, Timeout: 10 * time.Second}
	s := &fedContract{
		Caller: openapitest.Caller{T: t, HTTP: &http.Client{Transport: v, Timeout: 10 * time.Second}, BaseURL: host.ControlPlaneURL},
		t:      t,
		v:      v,
		c:      federated.Client{BaseURL: host.ControlPlaneURL, HTTP: httpc},
	}
	s.reportAndRead()
	s.forget()
	s.prewarmRefusals()

	want := map[string][]int{
		"listPrewarmStatistics":  {200, 401},
		"getPrewarmStatistics":   {200, 401, 404},
		"putPrewarmHistogram":    {200, 400, 401, 403, 422},
		"deletePrewarmHistogram": {204, 401, 403, 404},
	}
	for _, op := range openapitest.Operations(doc, prewarmRoute) {
		if _, ok := want[op.OperationID]; !ok {
			t.Errorf("the scenario has no expectation for %s", op.OperationID)
		}
	}
	for _, missing := range v.Unanswered(want) {
		t.Error(missing)
	}
}

// reportAndRead has two sites report "thumbs", each with too few idle
// times to trust alone, and reads the merged view and the list.
func (s *fedContract) reportAndRead() {
	ctx := s.t.Context()
	apps, err := s.c.PrewarmApps(ctx)
	s.Must(err, "PrewarmApps of an empty pool")
	if len(apps) != 0 {
		s.t.Errorf("apps of a new pool: %+v", apps)
	}
	s.Expect(401, "GET", "/api/v1/learning/prewarm", "", "")

	st, err := s.c.PutIdleHistogram(ctx, "thumbs", "edge-1", idleHistogram(240, 3, 30))
	s.Must(err, "PutIdleHistogram of the first site")
	if !st.Decision.Fallback || st.Decision.Mode != prewarm.ModeFewIdleTimes {
		s.t.Errorf("one site's 3 idle times: %+v, want the fallback for too few", st.Decision)
	}
	st, err = s.c.PutIdleHistogram(ctx, "thumbs", "edge-2", idleHistogram(240, 3, 30))
	s.Must(err, "PutIdleHistogram of the second site")
	want := federated.PrewarmDecision{Policy: "hybrid", Mode: prewarm.ModeHistogram, PrewarmAfter: 27, KeepAliveUntil: 33}
	if st.Decision != want || st.IdleTimes != 6 || len(st.Sites) != 2 || st.Sites[0].Site != "edge-1" {
		s.t.Errorf("two sites merged: %+v, want 6 idle times from edge-1 and edge-2 and the decision %+v", st, want)
	}
	_, err = s.c.PutIdleHistogram(ctx, "thumbs", "edge-3", idleHistogram(120, 3, 30))
	s.Fails(err, http.StatusUnprocessableEntity, "PutIdleHistogram of another range")
	body := openapitest.MustJSON(s.t, idleHistogram(240, 1, 30))
	s.Expect(403, "PUT", "/api/v1/learning/prewarm/thumbs/sites/edge-3", viewerToken, body)
	s.Expect(401, "PUT", "/api/v1/learning/prewarm/thumbs/sites/edge-3", "", body)
	// Two JSON values: the document reads the first, the server refuses
	// the second.
	s.Expect(400, "PUT", "/api/v1/learning/prewarm/thumbs/sites/edge-3", operatorToken, body+body)

	got, err := s.c.PrewarmStats(ctx, "thumbs")
	s.Must(err, "PrewarmStats")
	if got.IdleTimes != 6 || got.Decision != want {
		s.t.Errorf("GET thumbs: %+v", got)
	}
	_, err = s.c.PrewarmStats(ctx, "ghost")
	s.Fails(err, http.StatusNotFound, "PrewarmStats of an unknown application")
	s.Expect(401, "GET", "/api/v1/learning/prewarm/thumbs", "", "")
	// A viewer may read.
	s.Expect(200, "GET", "/api/v1/learning/prewarm/thumbs", viewerToken, "")
	apps, err = s.c.PrewarmApps(ctx)
	s.Must(err, "PrewarmApps")
	if len(apps) != 1 || apps[0] != (federated.PrewarmApp{App: "thumbs", Sites: 2, IdleTimes: 6, Range: 240}) {
		s.t.Errorf("apps: %+v", apps)
	}
}

// forget takes edge-2 out of "thumbs", with the errors of each step.
func (s *fedContract) forget() {
	ctx := s.t.Context()
	s.Expect(403, "DELETE", "/api/v1/learning/prewarm/thumbs/sites/edge-2", viewerToken, "")
	s.Expect(401, "DELETE", "/api/v1/learning/prewarm/thumbs/sites/edge-2", "", "")
	s.Must(s.c.DeleteIdleHistogram(ctx, "thumbs", "edge-2"), "DeleteIdleHistogram")
	s.Fails(s.c.DeleteIdleHistogram(ctx, "thumbs", "edge-2"), http.StatusNotFound, "DeleteIdleHistogram twice")
	st, err := s.c.PrewarmStats(ctx, "thumbs")
	s.Must(err, "PrewarmStats after a site was forgotten")
	if len(st.Sites) != 1 || st.IdleTimes != 3 {
		s.t.Errorf("thumbs after forgetting edge-2: %+v", st)
	}
}

// prewarmRefusals sends reports the document forbids: the aggregator must
// refuse them too, with a documented answer.
func (s *fedContract) prewarmRefusals() {
	negative := idleHistogram(240, 1, 30)
	negative.Bins[3] = -1
	cases := []struct {
		path, body string
		want       int
	}{
		{"/api/v1/learning/prewarm/Bad_App/sites/edge-1", openapitest.MustJSON(s.t, idleHistogram(240, 1, 30)), http.StatusUnprocessableEntity},
		{"/api/v1/learning/prewarm/thumbs/sites/edge_1", openapitest.MustJSON(s.t, idleHistogram(240, 1, 30)), http.StatusUnprocessableEntity},
		{"/api/v1/learning/prewarm/thumbs/sites/edge-1", openapitest.MustJSON(s.t, negative), http.StatusUnprocessableEntity},
		{"/api/v1/learning/prewarm/thumbs/sites/edge-1", `{"bins": [1], "outOfBounds": -4}`, http.StatusUnprocessableEntity},
		{"/api/v1/learning/prewarm/thumbs/sites/edge-1", `{"bins": []}`, http.StatusUnprocessableEntity},
		{"/api/v1/learning/prewarm/fresh/sites/edge-1", openapitest.MustJSON(s.t, idleHistogram(federated.MaxIdleRange+1, 1, 30)), http.StatusUnprocessableEntity},
		{"/api/v1/learning/prewarm/thumbs/sites/edge-1", `{"bins": [0, 1], "series": [0, 4, 0, 2]}`, http.StatusBadRequest},
		{"/api/v1/learning/prewarm/thumbs/sites/edge-1", `{"bins": [0, 1.5]}`, http.StatusBadRequest},
		{"/api/v1/learning/prewarm/thumbs/sites/edge-1", `not json`, http.StatusBadRequest},
	}
	for _, c := range cases {
		req, err := http.NewRequestWithContext(s.t.Context(), http.MethodPut, s.BaseURL+c.path, strings.NewReader(c.body))
		if err != nil {
			s.t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		s.v.Refuses(s.t, req, c.want)
	}
}
