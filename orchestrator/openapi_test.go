package orchestrator

// These tests keep openapi.yaml and the server from drifting apart: the
// document must be valid, name exactly the routes the control plane
// registers, and describe every request and answer of a scenario that
// calls every operation, errors included. The machinery (validating
// transport, route parity, the document's conventions) is
// internal/openapitest, shared with the other components' contract tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/internal/openapitest"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
)

// otherComponentRoutes are in the document but registered on the same
// server by other components than the control plane: the telemetry
// (telemetry.API.Routes) and the Learning Plane (learning/recommend,
// learning/plane and learning/federated), and the stream store's
// instance API (stream/streamapi). Route parity and the scenario's
// coverage leave them out; TestOpenAPIMetricsShapes checks the metrics
// answers' shapes, and the Learning Plane's packages run their own
// contract tests against this document (learning/plane/openapi_test.go,
// learning/recommend/openapi_test.go, learning/federated/openapi_test.go).
var otherComponentRoutes = map[string]bool{
	"GET /api/v1/query":               true,
	"POST /api/v1/query":              true,
	"GET /api/v1/query_range":         true,
	"POST /api/v1/query_range":        true,
	"GET /api/v1/labels":              true,
	"POST /api/v1/labels":             true,
	"GET /api/v1/series":              true,
	"POST /api/v1/series":             true,
	"GET /api/v1/label/{name}/values": true,
	// The Learning Plane's recommendations (learning/recommend).
	"POST /api/v1/recommendations/placement": true,
	"POST /api/v1/recommendations/migration": true,
	// The Learning Plane's registry, agents and recommendations
	// (learning/plane).
	"GET /api/v1/models":                                     true,
	"GET /api/v1/models/{model}/versions":                    true,
	"POST /api/v1/models/{model}/versions":                   true,
	"GET /api/v1/models/{model}/versions/{version}":          true,
	"POST /api/v1/models/{model}/versions/{version}/promote": true,
	"POST /api/v1/models/{model}/rollback":                   true,
	"GET /api/v1/agents":                                     true,
	"GET /api/v1/agents/{name}":                              true,
	"PUT /api/v1/agents/{name}":                              true,
	"DELETE /api/v1/agents/{name}":                           true,
	"GET /api/v1/agents/{name}/ticks":                        true,
	"POST /api/v1/recommendations/scaling":                   true,
	"POST /api/v1/recommendations/prewarm":                   true,
	// The Learning Plane's federated training aggregator
	// (learning/federated).
	"GET /api/v1/learning/federated":                    true,
	"PUT /api/v1/learning/federated/{model}":            true,
	"GET /api/v1/learning/federated/{model}":            true,
	"POST /api/v1/learning/federated/{model}/updates":   true,
	"POST /api/v1/learning/federated/{model}/aggregate": true,
	// Its pre-warm statistics pool.
	"GET /api/v1/learning/prewarm":                       true,
	"GET /api/v1/learning/prewarm/{app}":                 true,
	"PUT /api/v1/learning/prewarm/{app}/sites/{site}":    true,
	"DELETE /api/v1/learning/prewarm/{app}/sites/{site}": true,
	// The stream store's instance API (stream/streamapi, whose
	// instances_test.go runs its contract test against this document).
	"GET /streams/v1/instances": true,
	"PUT /streams/v1/instances": true,
}

// controlPlaneRoute reports whether a route is the control plane's own:
// under /api/v1 or the document's, and not another component's.
func controlPlaneRoute(route string) bool {
	return openapitest.PathPrefix("/api/v1/", "/openapi.")(route) && !otherComponentRoutes[route]
}

// Tokens of the contract server, which runs with authentication on.
const (
	adminToken    = "admin-token-0123456789"
	operatorToken = "operator-token-0123456789"
	viewerToken   = "viewer-token-0123456789"
)

func loadDocument(t testing.TB) *openapi3.T {
	t.Helper()
	return openapitest.Load(t, openAPIYAML)
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc := loadDocument(t)
	if doc.OpenAPI != "3.0.3" || doc.Info.Title != "CloudSkin northbound API" || doc.Info.Version != v1alpha1.Version {
		t.Errorf("openapi %q, info %q %q", doc.OpenAPI, doc.Info.Title, doc.Info.Version)
	}
	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	for route, op := range openapitest.Operations(doc, nil) {
		if op.OperationID == "" || op.Summary == "" || len(op.Tags) != 1 || !tags[op.Tags[0]] {
			t.Errorf("%s: want an operationId, a summary and one declared tag", route)
		}
		if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s share operationId %s", route, other, op.OperationID)
		}
		ids[op.OperationID] = route
		if !openapitest.PathPrefix("/api/v1/")(route) {
			continue
		}
		problems := openapitest.CheckAuth(route, op)
		if !otherComponentRoutes[route] {
			problems = append(problems, openapitest.CheckProblems(route, op)...)
		}
		for _, p := range problems {
			t.Error(p)
		}
	}
}

// TestOpenAPIRoutesMatchServer checks that every route the control plane
// registers under /api/v1 (and the document's own) is an operation of the
// document, and every operation is a registered route, but for the other
// components' routes, which must be in the document.
func TestOpenAPIRoutesMatchServer(t *testing.T) {
	doc := loadDocument(t)
	_, host := startContractServer(t)
	p := openapitest.RouteParity(doc, host.Server.Patterns(), controlPlaneRoute)
	for _, route := range p.Undocumented {
		t.Errorf("the server serves %q but openapi.yaml does not describe it", route)
	}
	for _, route := range p.Unserved {
		t.Errorf("openapi.yaml describes %q but the control plane does not serve it", route)
	}
	ops := openapitest.Operations(doc, nil)
	for route := range otherComponentRoutes {
		if ops[route] == nil {
			t.Errorf("%q is another component's route but openapi.yaml does not describe it", route)
		}
	}
	if len(p.Served) < 30 {
		t.Errorf("only %d routes registered; is the server set up?", len(p.Served))
	}
}

// startContractServer serves a control plane with authentication on, the
// way `cloudskin up --auth` does, on a free loopback port.
func startContractServer(t testing.TB) (string, *component.Host) {
	t.Helper()
	return startContractServerWith(t, Options{NotReadyAfter: time.Minute})
}

func startContractServerWith(t testing.TB, opts Options) (string, *component.Host) {
	t.Helper()
	guard := openapitest.Guard(t,
		auth.Token{Name: "admin", Role: auth.Admin, Token: adminToken},
		auth.Token{Name: "operator", Role: auth.Operator, Token: operatorToken},
		auth.Token{Name: "viewer", Role: auth.Viewer, Token: viewerToken},
	)
	host := componenttest.Start(t, guard, New(opts))
	return host.ControlPlaneURL, host
}

// scenario drives the API through the validating transport, with the Go
// client where it has a method and raw HTTP (Call, Expect) where it has
// none; Must and Fails check the client's calls.
type scenario struct {
	openapitest.Caller
	t   *testing.T
	ctx context.Context
	v   *openapitest.Transport
	c   *client.Client // admin
	// checkpoints is the control plane's checkpoint storage, away until
	// the scenario sets it.
	checkpoints *cells.DeferredCheckpoints
}

func newScenario(t *testing.T) *scenario {
	doc := loadDocument(t)
	checkpoints := cells.NewDeferredCheckpoints("the scenario has not opened it yet")
	base, _ := startContractServerWith(t, Options{NotReadyAfter: time.Minute, Checkpoints: checkpoints})
	v := openapitest.NewTransport(t, doc, nil)
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithTransport(v).WithToken(adminToken)
	t.Cleanup(c.Close)
	raw := openapitest.Caller{T: t, HTTP: &http.Client{Transport: v, Timeout: 10 * time.Second}, BaseURL: base}
	return &scenario{Caller: raw, t: t, ctx: t.Context(), v: v, c: c, checkpoints: checkpoints}
}

func site(name string, typ v1alpha1.SiteType, cores int) v1alpha1.Site {
	return v1alpha1.NewSite(name, v1alpha1.SiteSpec{Type: typ, Capacity: v1alpha1.Capacity{Cores: cores, Memory: v1alpha1.MustParseQuantity("4Gi")}})
}

func cellBlock(name, version, module string) v1alpha1.Block {
	return v1alpha1.Block{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindBlock},
		Metadata: v1alpha1.ObjectMeta{Name: name, Labels: map[string]string{"team": "vision"}},
		Spec: v1alpha1.BlockSpec{
			Version: version, Type: v1alpha1.BlockCell, Description: "finds things in frames",
			Cell:       &v1alpha1.CellTemplate{Module: module, Args: []string{"--threshold={{ .Params.threshold }}"}, Memory: v1alpha1.MustParseQuantity("64Mi")},
			Parameters: []v1alpha1.ParameterSpec{{Name: "threshold", Type: v1alpha1.ParamNumber, Default: ptr("0.5")}},
			Resources:  v1alpha1.Resources{CPU: v1alpha1.MustParseQuantity("500m"), Memory: v1alpha1.MustParseQuantity("64Mi")},
		},
	}
}

func application(name, block string, replicas int) v1alpha1.Application {
	return v1alpha1.Application{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindApplication},
		Metadata: v1alpha1.ObjectMeta{Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Components: []v1alpha1.Component{{Name: "detector", Block: block, Replicas: &replicas, Parameters: map[string]string{"threshold": "0.7"}}},
			Objectives: []v1alpha1.Objective{{Metric: "fps", Component: "detector", Op: ">=", Value: 25}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// TestOpenAPIContract runs a scenario that calls every operation of the
// control plane, successes and errors, and checks every request and
// answer against openapi.yaml.
func TestOpenAPIContract(t *testing.T) {
	s := newScenario(t)
	s.discovery()
	module := s.modules()
	s.blocks(module)
	// An application placed while no site exists yet: its placement
	// decisions have no candidates at all.
	s.applications()
	s.sites()
	s.cells(module)
	s.migrations()
	s.authentication()
	if missing := s.v.Missing(func(route string) bool { return !otherComponentRoutes[route] }); len(missing) > 0 {
		t.Errorf("the scenario never called:\n  %s", strings.Join(missing, "\n  "))
	}
}

func (s *scenario) discovery() {
	for _, p := range []string{"/openapi.yaml", "/openapi.json"} {
		code, h, body := s.Call("GET", p, "", "", nil)
		if code != 200 || len(body) < 1000 {
			s.t.Errorf("GET %s = %d, %d bytes", p, code, len(body))
		}
		// A client that has the document gets a 304 (not validated: the
		// validator leaves 304s alone, as they have no body).
		req, _ := http.NewRequest("GET", s.BaseURL+p, nil)
		req.Header.Set("If-None-Match", h.Get("ETag"))
		resp, err := http.DefaultClient.Do(req)
		s.Must(err, "conditional GET")
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			s.t.Errorf("GET %s with If-None-Match = %d, want 304", p, resp.StatusCode)
		}
	}
}

func (s *scenario) modules() string {
	wasm := []byte("\x00asm\x01\x00\x00\x00 any bytes are a module to the control plane")
	digest, err := s.c.PutModule(s.ctx, wasm)
	s.Must(err, "PutModule")
	got, err := s.c.GetModule(s.ctx, digest)
	s.Must(err, "GetModule")
	if !bytes.Equal(got, wasm) {
		s.t.Errorf("GetModule returned other bytes")
	}
	other := strings.Repeat("ab", 32)
	_, err = s.c.GetModule(s.ctx, other)
	s.Fails(err, 404, "GetModule of a module never uploaded")
	// The body does not hash to the digest.
	if code, _, body := s.Call("PUT", "/api/v1/modules/"+other, adminToken, "application/wasm", wasm); code != 400 {
		s.t.Errorf("PUT a module under another digest = %d %s, want 400", code, body)
	}
	return digest
}

func (s *scenario) blocks(module string) {
	b := cellBlock("detector", "1.0.0", module)
	_, created, err := s.c.PublishBlock(s.ctx, b)
	s.Must(err, "PublishBlock")
	if !created {
		s.t.Errorf("PublishBlock of a new version: created = false")
	}
	_, created, err = s.c.PublishBlock(s.ctx, b)
	if err != nil || created {
		s.t.Errorf("PublishBlock again = %v, created %v; want unchanged", err, created)
	}
	changed := b
	changed.Spec.Description = "something else"
	_, _, err = s.c.PublishBlock(s.ctx, changed)
	s.Fails(err, 409, "PublishBlock of a published version with another spec")
	_, _, err = s.c.PublishBlock(s.ctx, cellBlock("ghost", "1.0.0", strings.Repeat("cd", 32)))
	s.Fails(err, 422, "PublishBlock of a cell whose module was never uploaded")
	noCell := cellBlock("bad", "1.0.0", module)
	noCell.Spec.Cell = nil // type cell without a cell
	_, _, err = s.c.PublishBlock(s.ctx, noCell)
	s.Fails(err, 422, "PublishBlock of a cell block without spec.cell")
	for _, v := range []string{"1.1.0", "2.0.0-rc.1"} {
		_, _, err = s.c.PublishBlock(s.ctx, cellBlock("detector", v, module))
		s.Must(err, "PublishBlock "+v)
	}
	_, _, err = s.c.PublishBlock(s.ctx, cellBlock("tracker", "0.1.0", module))
	s.Must(err, "PublishBlock tracker")

	list, err := s.c.ListBlocks(s.ctx, client.BlockQuery{Search: "FRAMES", Type: v1alpha1.BlockCell, AllVersions: true})
	if err != nil || len(list) != 4 {
		s.t.Errorf("ListBlocks = %d blocks, %v; want 4", len(list), err)
	}
	s.paginate("/api/v1/blocks?allVersions=true", 4)
	s.Expect(400, "GET", "/api/v1/blocks?continue=%21%21", adminToken, "")
	newest, err := s.c.GetBlock(s.ctx, "detector")
	if err != nil || newest.Spec.Version != "2.0.0-rc.1" {
		s.t.Errorf("GetBlock detector = %s, %v", newest.Spec.Version, err)
	}
	_, err = s.c.GetBlock(s.ctx, "detector@1.0.0")
	s.Must(err, "GetBlock detector@1.0.0")
	_, err = s.c.GetBlock(s.ctx, "detector@9.9.9")
	s.Fails(err, 404, "GetBlock of an unknown version")
	_, err = s.c.GetBlock(s.ctx, "nothing")
	s.Fails(err, 404, "GetBlock of an unknown block")
	var versions v1alpha1.BlockList
	_, data := s.Expect(200, "GET", "/api/v1/blocks/detector/versions", adminToken, "")
	if json.Unmarshal(data, &versions) != nil || len(versions.Items) != 3 {
		s.t.Errorf("versions of detector: %s", data)
	}
	s.Expect(404, "GET", "/api/v1/blocks/nothing/versions", adminToken, "")
	s.Must(s.c.DeleteBlock(s.ctx, "detector@2.0.0-rc.1"), "DeleteBlock detector@2.0.0-rc.1")
	s.Fails(s.c.DeleteBlock(s.ctx, "detector@2.0.0-rc.1"), 404, "DeleteBlock of a deleted version")
	s.Must(s.c.DeleteBlock(s.ctx, "tracker"), "DeleteBlock tracker")
	s.Fails(s.c.DeleteBlock(s.ctx, "tracker"), 404, "DeleteBlock of a deleted block")
}

// paginate lists path one item a page, following metadata.continue, and
// checks it saw want items.
func (s *scenario) paginate(path string, want int) {
	s.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	seen, next := 0, ""
	for page := 0; page <= want; page++ {
		p := path + sep + "limit=1"
		if next != "" {
			p += "&continue=" + url.QueryEscape(next)
		}
		_, data := s.Expect(200, "GET", p, adminToken, "")
		var list struct {
			Metadata v1alpha1.ListMeta `json:"metadata"`
			Items    []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(data, &list); err != nil || len(list.Items) > 1 {
			s.t.Fatalf("page of %s: %v %s", p, err, data)
		}
		seen += len(list.Items)
		if next = list.Metadata.Continue; next == "" {
			break
		}
	}
	if seen != want {
		s.t.Errorf("%s: %d items over its pages, want %d", path, seen, want)
	}
}

func (s *scenario) applications() {
	video := application("video", "detector", 1)
	h, _ := s.Expect(201, "POST", "/api/v1/applications", adminToken, openapitest.MustJSON(s.t, video))
	if got := h.Get(v1alpha1.ApplyResultHeader); got != "created" {
		s.t.Errorf("POST application: %s = %q", v1alpha1.ApplyResultHeader, got)
	}
	s.Expect(409, "POST", "/api/v1/applications", adminToken, openapitest.MustJSON(s.t, video))
	s.Expect(422, "POST", "/api/v1/applications", adminToken, openapitest.MustJSON(s.t, application("lost", "no-such-block", 1)))

	_, what, err := s.c.ApplyApplication(s.ctx, video)
	if err != nil || what != "unchanged" {
		s.t.Errorf("ApplyApplication of the same spec = %q, %v", what, err)
	}
	_, what, err = s.c.ApplyApplication(s.ctx, application("video", "detector@1.1.0", 2))
	if err != nil || what != "configured" {
		s.t.Errorf("ApplyApplication of a new spec = %q, %v", what, err)
	}
	_, what, err = s.c.ApplyApplication(s.ctx, application("video2", "detector@1.0.0", 0))
	if err != nil || what != "created" {
		s.t.Errorf("ApplyApplication of a new application = %q, %v", what, err)
	}
	bad := application("video", "detector", 1)
	bad.Spec.Components[0].Links = []string{"nobody"}
	_, _, err = s.c.ApplyApplication(s.ctx, bad)
	s.Fails(err, 422, "ApplyApplication with a link to no component")
	s.Expect(400, "PUT", "/api/v1/applications/other", adminToken, openapitest.MustJSON(s.t, video))

	got, err := s.c.GetApplication(s.ctx, "video")
	if err != nil || got.Metadata.Generation != 2 {
		s.t.Errorf("GetApplication = generation %d, %v", got.Metadata.Generation, err)
	}
	_, err = s.c.GetApplication(s.ctx, "nothing")
	s.Fails(err, 404, "GetApplication of an unknown application")
	apps, err := s.c.ListApplications(s.ctx)
	if err != nil || len(apps) != 2 {
		s.t.Errorf("ListApplications = %d, %v", len(apps), err)
	}
	s.paginate("/api/v1/applications", 2)

	_, err = s.c.ApplicationLogs(s.ctx, "video", "detector", 0)
	s.Must(err, "ApplicationLogs")
	_, err = s.c.ApplicationLogs(s.ctx, "video", "nobody", -1)
	s.Fails(err, 404, "ApplicationLogs of an unknown component")
	_, err = s.c.ApplicationLogs(s.ctx, "nothing", "", -1)
	s.Fails(err, 404, "ApplicationLogs of an unknown application")

	p := s.placement("video")
	if len(p.Decisions) == 0 || p.Decisions[0].Site != "" || p.Decisions[0].Candidates != nil {
		s.t.Errorf("placement without sites: %+v", p.Decisions)
	}
	_, err = s.c.GetPlacement(s.ctx, "nothing")
	s.Fails(err, 404, "GetPlacement of an unknown application")
	_, err = s.c.ListPlacements(s.ctx)
	s.Must(err, "ListPlacements")
	s.Expect(200, "GET", "/api/v1/placements?limit=1", adminToken, "")
	s.Expect(400, "GET", "/api/v1/placements?continue=%25", adminToken, "")

	s.Must(s.c.DeleteApplication(s.ctx, "video2"), "DeleteApplication")
	s.Fails(s.c.DeleteApplication(s.ctx, "video2"), 404, "DeleteApplication of a deleted application")
}

// placement waits for the reconciler to record an application's first
// placement decisions.
func (s *scenario) placement(app string) v1alpha1.Placement {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := s.c.GetPlacement(s.ctx, app)
		if err == nil {
			return p
		}
		if !client.IsNotFound(err) || time.Now().After(deadline) {
			s.t.Fatalf("placement of %s: %v", app, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
}

func (s *scenario) sites() {
	for _, st := range []v1alpha1.Site{site("edge", v1alpha1.SiteEdge, 2), site("cloud", v1alpha1.SiteCloud, 8), site("spare", v1alpha1.SiteCloud, 4)} {
		_, err := s.c.RegisterSite(s.ctx, st)
		s.Must(err, "RegisterSite "+st.Metadata.Name)
	}
	// Registering again updates (200).
	edge := site("edge", v1alpha1.SiteEdge, 2)
	edge.Spec.DataSources = []v1alpha1.DataSource{{Name: "camera-1", Latency: v1alpha1.Duration{Duration: 5 * time.Millisecond}}}
	edge.Status.Agent = v1alpha1.AgentInfo{Version: "v1", Hostname: "box1"}
	s.Expect(200, "PUT", "/api/v1/sites/edge", adminToken, openapitest.MustJSON(s.t, edge))
	s.Expect(400, "PUT", "/api/v1/sites/other", adminToken, openapitest.MustJSON(s.t, edge))
	// The document cannot say that a kubernetes site needs spec.kubernetes.
	s.Expect(400, "PUT", "/api/v1/sites/bad", adminToken, openapitest.MustJSON(s.t, site("bad", v1alpha1.SiteKubernetes, 2)))

	got, err := s.c.Heartbeat(s.ctx, "edge", v1alpha1.Heartbeat{Agent: v1alpha1.AgentInfo{Version: "v2"}})
	if err != nil || got.Status.Phase != v1alpha1.SiteReady || got.Status.Agent.Version != "v2" {
		s.t.Errorf("Heartbeat = %+v, %v", got.Status, err)
	}
	_, err = s.c.Heartbeat(s.ctx, "ghost", v1alpha1.Heartbeat{})
	s.Fails(err, 404, "Heartbeat of an unknown site")
	_, err = s.c.GetSite(s.ctx, "edge")
	s.Must(err, "GetSite")
	_, err = s.c.GetSite(s.ctx, "ghost")
	s.Fails(err, 404, "GetSite of an unknown site")
	list, err := s.c.ListSites(s.ctx)
	if err != nil || len(list) != 3 {
		s.t.Errorf("ListSites = %d, %v", len(list), err)
	}

	drain, err := s.c.DrainSite(s.ctx, "spare", 30*time.Second)
	if err != nil || drain.Site != "spare" || len(drain.Moves) != 0 {
		s.t.Errorf("DrainSite of an idle site = %+v, %v", drain, err)
	}
	s.Expect(400, "POST", "/api/v1/sites/spare/drain", adminToken, `{"deadline":"0s"}`)
	_, err = s.c.DrainSite(s.ctx, "ghost", time.Second)
	s.Fails(err, 404, "DrainSite of an unknown site")

	s.Must(s.c.DeleteSite(s.ctx, "spare"), "DeleteSite")
	s.Fails(s.c.DeleteSite(s.ctx, "spare"), 404, "DeleteSite of a deleted site")
}

func (s *scenario) cells(module string) {
	run := v1alpha1.CellRun{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindCellRun},
		Metadata: v1alpha1.ObjectMeta{Name: "job1"},
		Spec: v1alpha1.CellRunSpec{
			Site: "edge", Module: module, Args: []string{"-n", "3"}, Engine: "wazero",
			Memory: v1alpha1.MustParseQuantity("256Mi"), Timeout: v1alpha1.Duration{Duration: time.Minute},
			CheckpointInterval: v1alpha1.Duration{Duration: 30 * time.Second},
		},
	}
	_, err := s.c.CreateCellRun(s.ctx, run)
	s.Must(err, "CreateCellRun")
	_, err = s.c.CreateCellRun(s.ctx, run)
	s.Fails(err, 400, "CreateCellRun of a name in use")
	elsewhere := run
	elsewhere.Metadata.Name, elsewhere.Spec.Site = "", "ghost"
	_, err = s.c.CreateCellRun(s.ctx, elsewhere)
	s.Fails(err, 400, "CreateCellRun at an unknown site")

	list, err := s.c.WatchCellRuns(s.ctx, client.CellRunQuery{Site: "edge", Phase: v1alpha1.CellPending}, "", 0)
	if err != nil || list.Metadata.ResourceVersion == "" || !slices.ContainsFunc(list.Items, func(c v1alpha1.CellRun) bool { return c.Metadata.Name == "job1" }) {
		s.t.Errorf("list of edge's Pending runs: %+v, %v", list, err)
	}
	// A long poll: it answers when the runs change or its wait is over.
	_, err = s.c.WatchCellRuns(s.ctx, client.CellRunQuery{Involves: "nowhere"}, list.Metadata.ResourceVersion, 10*time.Millisecond)
	s.Must(err, "WatchCellRuns")
	s.Expect(400, "GET", "/api/v1/cells?resourceVersion=x&wait=2m", adminToken, "")
	_, err = s.c.GetCellRun(s.ctx, "job1")
	s.Must(err, "GetCellRun")
	_, err = s.c.GetCellRun(s.ctx, "nothing")
	s.Fails(err, 404, "GetCellRun of an unknown run")

	// The agent of edge takes the run with a claim.
	now := time.Now().UTC()
	taken, err := s.c.SetCellRunStatus(s.ctx, "job1", v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: "edge", Claim: "claim1", Engine: "wazero", StartTime: &now})
	if err != nil || taken.Status.Phase != v1alpha1.CellRunning {
		s.t.Errorf("taking job1: %+v, %v", taken.Status, err)
	}
	_, err = s.c.SetCellRunStatus(s.ctx, "job1", v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: "edge", Claim: "stale"})
	s.Fails(err, 409, "a report under another claim")
	_, err = s.c.SetCellRunStatus(s.ctx, "job1", v1alpha1.CellRunStatus{Phase: v1alpha1.CellPending, Claim: "claim1"})
	s.Fails(err, 400, "a report of Pending")
	_, err = s.c.SetCellRunStatus(s.ctx, "nothing", v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Claim: "x"})
	s.Fails(err, 404, "a report of an unknown run")

	// A checkpoint: refused while the storage is away, then uploaded, then
	// a report naming it.
	s.Fails(s.c.PutCheckpoint(s.ctx, "job1", "claim1", "ck0", []byte("x")), 503, "PutCheckpoint while the checkpoint storage is away")
	s.Fails(s.c.PutSnapshot(s.ctx, "job1", "claim1", "ck0", []byte("x")), 503, "PutSnapshot as a checkpoint while the checkpoint storage is away")
	s.checkpoints.Set(cells.NewDirCheckpoints(s.t.TempDir()))
	s.Must(s.c.PutCheckpoint(s.ctx, "job1", "claim1", "ck1", []byte("checkpoint bytes")), "PutCheckpoint")
	s.Fails(s.c.PutCheckpoint(s.ctx, "job1", "stale", "ck2", []byte("x")), 409, "PutCheckpoint under another claim")
	checkpointed, err := s.c.SetCellRunStatus(s.ctx, "job1", v1alpha1.CellRunStatus{
		Phase: v1alpha1.CellRunning, Site: "edge", Claim: "claim1", Output: "frame 1\n",
		Checkpoint: &v1alpha1.CellCheckpoint{ID: "ck1", Time: now, Site: "edge", HostCall: 42, Bytes: 16},
	})
	if err != nil || checkpointed.Status.Checkpoint == nil {
		s.t.Errorf("report with a checkpoint: %+v, %v", checkpointed.Status, err)
	}

	// A migration: asked for, the snapshot handed over and fetched.
	moving, err := s.c.MigrateCellRun(s.ctx, "job1", "cloud")
	if err != nil || moving.Spec.Site != "cloud" {
		s.t.Errorf("MigrateCellRun = %+v, %v", moving.Spec, err)
	}
	_, err = s.c.MigrateCellRun(s.ctx, "job1", "cloud")
	s.Fails(err, 400, "MigrateCellRun of a run moving already")
	_, err = s.c.MigrateCellRun(s.ctx, "job1", "ghost")
	s.Fails(err, 400, "MigrateCellRun to an unknown site")
	_, err = s.c.MigrateCellRun(s.ctx, "nothing", "cloud")
	s.Fails(err, 404, "MigrateCellRun of an unknown run")
	snapshot := []byte("snapshot bytes")
	s.Must(s.c.PutSnapshot(s.ctx, "job1", "claim1", "ck3", snapshot), "PutSnapshot")
	s.Fails(s.c.PutSnapshot(s.ctx, "job1", "stale", "", snapshot), 409, "PutSnapshot under another claim")
	got, err := s.c.GetSnapshot(s.ctx, "job1")
	if err != nil || !bytes.Equal(got, snapshot) {
		s.t.Errorf("GetSnapshot = %q, %v", got, err)
	}
	_, err = s.c.GetSnapshot(s.ctx, "nothing")
	s.Fails(err, 404, "GetSnapshot of an unknown run")

	s.Expect(204, "DELETE", "/api/v1/cells/job1", adminToken, "")
	s.Expect(404, "DELETE", "/api/v1/cells/job1", adminToken, "")
	s.rankMoves(module)
}

// rankMoves moves one rank of an MPI world: asked for, offered by the
// world's agent, listed for the new site's agent, and refused where it
// cannot be.
func (s *scenario) rankMoves(module string) {
	world := v1alpha1.CellRun{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindCellRun},
		Metadata: v1alpha1.ObjectMeta{Name: "world1"},
		Spec:     v1alpha1.CellRunSpec{Site: "edge", Module: module, Ranks: 2},
	}
	_, err := s.c.CreateCellRun(s.ctx, world)
	s.Must(err, "CreateCellRun of a world")
	_, err = s.c.MigrateCellRank(s.ctx, "world1", 1, "cloud")
	s.Fails(err, 400, "MigrateCellRank of a run not Running")
	_, err = s.c.SetCellRunStatus(s.ctx, "world1", v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: "edge", Claim: "w1"})
	s.Must(err, "taking world1")
	moving, err := s.c.MigrateCellRank(s.ctx, "world1", 1, "cloud")
	if site, ok := moving.Spec.RankSite(1); err != nil || !ok || site != "cloud" || moving.Spec.Site != "edge" {
		s.t.Errorf("MigrateCellRank = %+v, %v", moving.Spec, err)
	}
	_, err = s.c.MigrateCellRank(s.ctx, "world1", 1, "cloud")
	s.Fails(err, 400, "MigrateCellRank of a rank moving already")
	_, err = s.c.MigrateCellRank(s.ctx, "world1", 2, "cloud")
	s.Fails(err, 400, "MigrateCellRank of a rank outside the world")
	_, err = s.c.MigrateCellRun(s.ctx, "world1", "cloud")
	s.Fails(err, 400, "MigrateCellRun of a world with a rank moving")
	offered, err := s.c.SetCellRunStatus(s.ctx, "world1", v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: "edge", Claim: "w1",
		Ranks: []v1alpha1.CellRankStatus{{Rank: 1, Site: "cloud", Phase: v1alpha1.RankOffered, Home: "127.0.0.1:7000", Token: "tok"}}})
	if err != nil || len(offered.Status.Ranks) != 1 {
		s.t.Errorf("report of an offered rank: %+v, %v", offered.Status, err)
	}
	list, err := s.c.WatchCellRuns(s.ctx, client.CellRunQuery{Involves: "cloud"}, "", 0)
	if err != nil || !slices.ContainsFunc(list.Items, func(c v1alpha1.CellRun) bool { return c.Metadata.Name == "world1" }) {
		s.t.Errorf("the runs involving cloud lack the world offering it a rank: %+v, %v", list.Items, err)
	}
	// The planner sees the world spread once rank 1 runs at cloud, and
	// edge has a core free for it: it brings the rank home.
	_, err = s.c.SetCellRunStatus(s.ctx, "world1", v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, Site: "edge", Claim: "w1",
		Ranks: []v1alpha1.CellRankStatus{{Rank: 1, Site: "cloud", Phase: v1alpha1.RankMoved}}})
	s.Must(err, "report of a moved rank")
	defrag, err := s.c.Defragment(s.ctx)
	if err != nil || len(defrag.Moves) != 1 || *defrag.Moves[0].Rank != 1 || defrag.Moves[0].From != "cloud" || defrag.Moves[0].To != "edge" {
		s.t.Errorf("Defragment of a spread world = %+v, %v", defrag, err)
	}
	back, err := s.c.GetCellRun(s.ctx, "world1")
	if site, _ := back.Spec.RankSite(1); err != nil || site != "edge" {
		s.t.Errorf("after Defragment, spec.rankSites = %+v, %v", back.Spec.RankSites, err)
	}
	again, err := s.c.Defragment(s.ctx)
	if err != nil || len(again.Moves) != 0 {
		s.t.Errorf("Defragment again while the rank comes home = %+v, %v", again, err)
	}
	s.Expect(204, "DELETE", "/api/v1/cells/world1", adminToken, "")

	// The planner places a world the user gives no site.
	placed := world
	placed.Metadata.Name, placed.Spec.Site, placed.Spec.Place = "placed1", "", true
	got, err := s.c.CreateCellRun(s.ctx, placed)
	if err != nil || got.Spec.Site == "" || !got.Spec.Place {
		s.t.Errorf("CreateCellRun with place = %+v, %v", got.Spec, err)
	}
	placed.Metadata.Name, placed.Spec.Ranks = "placed2", v1alpha1.MaxRanks
	_, err = s.c.CreateCellRun(s.ctx, placed)
	s.Fails(err, 400, "CreateCellRun with place and more ranks than free cores")
	s.Expect(204, "DELETE", "/api/v1/cells/placed1", adminToken, "")
}

func (s *scenario) migrations() {
	m, err := s.c.CreateMigration(s.ctx, v1alpha1.Migration{Spec: v1alpha1.MigrationSpec{Application: "video", Component: "detector", To: "cloud", Replica: ptr(0)}})
	if err != nil || m.Status.Phase != v1alpha1.MigrationPending || m.Metadata.Name == "" {
		s.t.Errorf("CreateMigration = %+v, %v", m, err)
	}
	_, err = s.c.CreateMigration(s.ctx, v1alpha1.Migration{Spec: v1alpha1.MigrationSpec{Application: "nothing", Component: "detector", To: "cloud"}})
	s.Fails(err, 422, "CreateMigration of an unknown application")
	_, err = s.c.GetMigration(s.ctx, m.Metadata.Name)
	s.Must(err, "GetMigration")
	_, err = s.c.GetMigration(s.ctx, "nothing")
	s.Fails(err, 404, "GetMigration of an unknown migration")
	list, err := s.c.ListMigrations(s.ctx)
	if err != nil || len(list) != 1 {
		s.t.Errorf("ListMigrations = %d, %v", len(list), err)
	}
	s.Expect(400, "GET", "/api/v1/migrations?continue=%25", adminToken, "")
}

// authentication checks the answers of the guard: 401 without a known
// token, 403 when the role falls short.
func (s *scenario) authentication() {
	s.Expect(401, "GET", "/api/v1/sites", "", "")
	s.Expect(401, "GET", "/api/v1/sites", "not-a-known-token-at-all", "")
	s.Expect(403, "POST", "/api/v1/sites/edge/heartbeat", viewerToken, `{}`)
	s.Expect(403, "DELETE", "/api/v1/sites/edge", operatorToken, "")
	s.Expect(200, "GET", "/api/v1/sites/edge", viewerToken, "")
}

// TestOpenAPIForbidsWhatServerRefuses checks requests the document
// forbids through additionalProperties: false: the server must refuse
// them too, with a documented 400.
func TestOpenAPIForbidsWhatServerRefuses(t *testing.T) {
	doc := loadDocument(t)
	checkpoints := cells.NewDeferredCheckpoints("the scenario has not opened it yet")
	base, _ := startContractServerWith(t, Options{NotReadyAfter: time.Minute, Checkpoints: checkpoints})
	v := openapitest.NewTransport(t, doc, nil)
	site := openapitest.MustJSON(t, site("edge", v1alpha1.SiteEdge, 2))
	app := openapitest.MustJSON(t, application("video", "detector", 1))
	block := openapitest.MustJSON(t, cellBlock("detector", "1.0.0", strings.Repeat("ab", 32)))
	cases := []struct{ method, path, body string }{
		{"PUT", "/api/v1/applications/video", strings.Replace(app, `"spec"`, `"spce"`, 1)},
		{"PUT", "/api/v1/applications/video", strings.Replace(app, `"replicas"`, `"replica"`, 1)},
		{"PUT", "/api/v1/sites/edge", strings.Replace(site, `"cores"`, `"gpus":1,"cores"`, 1)},
		{"POST", "/api/v1/blocks", strings.Replace(block, `"module"`, `"entrypoint":"main","module"`, 1)},
		{"POST", "/api/v1/migrations", `{"spec":{"application":"video","component":"detector","to":"cloud","when":"now"}}`},
		{"POST", "/api/v1/sites/edge/heartbeat", `{"agent":{"version":"v1","uptime":"3h"}}`},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if p := v.Refuses(t, req, http.StatusBadRequest); !bytes.Contains(p.Body, []byte("unknown field")) {
			t.Errorf("%s %s: the server answers %d %s, want 400 for the unknown field", c.method, c.path, p.Status, p.Body)
		}
	}
}

// TestOpenAPIMetricsShapes checks the metrics operations, which the
// telemetry component serves, against answers in Prometheus's format: one
// of each result type, label and series look-ups, and errors. A broken
// answer must be refused, so the schemas say something.
func TestOpenAPIMetricsShapes(t *testing.T) {
	v := openapitest.NewTransport(t, loadDocument(t), nil)
	cases := []struct {
		method, target, form string
		code                 int
		body                 string
		valid                bool
	}{
		{"GET", "/api/v1/query?query=up&time=1700000000.5", "", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"site"},"value":[1700000000.5,"1"]}]}}`, true},
		{"GET", "/api/v1/query?query=1", "", 200, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}`, true},
		{"GET", "/api/v1/query?query=%22a%22", "", 200, `{"status":"success","data":{"resultType":"string","result":[1700000000,"a"]}}`, true},
		{"POST", "/api/v1/query", "query=up&timeout=5s", 200, `{"status":"success","data":{"resultType":"vector","result":[]}}`, true},
		{"GET", "/api/v1/query_range?query=up&start=2026-11-24T10:00:00Z&end=2026-11-24T11:00:00Z&step=15s", "", 200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"job":"site"},"values":[[1700000000,"1"],[1700000015,"NaN"]]}]}}`, true},
		{"POST", "/api/v1/query_range", "query=up&start=1&end=2&step=1", 200, `{"status":"success","data":{"resultType":"matrix","result":[]}}`, true},
		{"GET", "/api/v1/labels", "", 200, `{"status":"success","data":["__name__","job"]}`, true},
		{"POST", "/api/v1/labels", "match%5B%5D=up", 200, `{"status":"success","data":[]}`, true},
		{"GET", "/api/v1/label/job/values", "", 200, `{"status":"success","data":["site"]}`, true},
		{"GET", "/api/v1/series?match%5B%5D=up", "", 200, `{"status":"success","data":[{"__name__":"up","job":"site"}]}`, true},
		{"POST", "/api/v1/series", "match%5B%5D=up", 200, `{"status":"success","data":[]}`, true},
		{"GET", "/api/v1/query?query=rate(", "", 400, `{"status":"error","errorType":"bad_data","error":"parse error"}`, true},
		{"GET", "/api/v1/query?query=up", "", 422, `{"status":"error","errorType":"execution","error":"too many samples"}`, true},
		{"GET", "/api/v1/series?match%5B%5D=up", "", 501, `{"status":"error","errorType":"unavailable","error":"not offered"}`, true},
		// What the schemas must refuse.
		{"GET", "/api/v1/query?query=up", "", 200, `{"status":"ok","data":{"resultType":"vector","result":[]}}`, false},
		{"GET", "/api/v1/query?query=up", "", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2,3]}]}}`, false},
		{"GET", "/api/v1/query?query=up", "", 400, `{"status":"error","errorType":"oops","error":"x"}`, false},
		{"GET", "/api/v1/labels", "", 200, `{"status":"success","data":[1]}`, false},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, "http://control-plane"+c.target, strings.NewReader(c.form))
		if err != nil {
			t.Fatal(err)
		}
		if c.form != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		in, err := v.Input(req, []byte(c.form))
		if err != nil {
			t.Fatal(err)
		}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the request breaks openapi.yaml: %v", c.method, c.target, err)
			continue
		}
		resp := &http.Response{StatusCode: c.code, Header: http.Header{"Content-Type": {"application/json"}}}
		err = openapitest.CheckResponse(in, resp, []byte(c.body))
		if (err == nil) != c.valid {
			t.Errorf("%s %s → %d %s: validation error %v, want valid %v", c.method, c.target, c.code, c.body, err, c.valid)
		}
	}
}

// TestOpenAPIJSONIsTheYAML checks that /openapi.json is the document of
// /openapi.yaml, keys in the same order, with the right content types.
func TestOpenAPIJSONIsTheYAML(t *testing.T) {
	base, host := startContractServer(t)
	fetch := func(path, wantType string) []byte {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType {
			t.Fatalf("GET %s = %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return data
	}
	yamlDoc := fetch("/openapi.yaml", "application/yaml")
	jsonDoc := fetch("/openapi.json", "application/json")
	if !bytes.Equal(yamlDoc, openAPIYAML) {
		t.Errorf("/openapi.yaml is not the embedded document")
	}
	fromYAML, err := openapi3.NewLoader().LoadFromData(yamlDoc)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := openapi3.NewLoader().LoadFromData(jsonDoc)
	if err != nil {
		t.Fatalf("/openapi.json does not load: %v", err)
	}
	a, _ := json.Marshal(fromYAML)
	b, _ := json.Marshal(fromJSON)
	if !bytes.Equal(a, b) {
		t.Errorf("/openapi.json and /openapi.yaml describe different APIs")
	}
	if !bytes.HasPrefix(jsonDoc, []byte("{\n  \"openapi\": \"3.0.3\",\n  \"info\"")) || !bytes.Contains(jsonDoc, []byte(`">="`)) {
		t.Errorf("/openapi.json does not keep the YAML's order or escapes HTML: %.80s", jsonDoc)
	}
	found := false
	for _, e := range host.Endpoints() {
		found = found || (e.What == "OpenAPI" && e.URL == base+"/openapi.yaml")
	}
	if !found {
		t.Errorf("the document is not announced: %+v", host.Endpoints())
	}
}

func TestYAMLToJSON(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"b: 1\na: [x, 2.5, true, null, '3']\n", `{"b":1,"a":["x",2.5,true,null,"3"]}`, ""},
		{"base: &r {x: 1}\nuse: *r\n", `{"base":{"x":1},"use":{"x":1}}`, ""},
		{"\"200\": ok\n300: '<=>'\nt: 2026-01-02\n", `{"200":"ok","300":"<=>","t":"2026-01-02"}`, ""},
		{"n: 0x1F\nf: 1e3\n", `{"n":31,"f":1000}`, ""},
		{"x: .nan\n", "", "line 1"},
		{"s: \"tab\\t \\\"q\\\" é \\u2028\"\n", `{"s":"tab\t \"q\" é \u2028"}`, ""},
		{"base: &r {x: 1}\nuse: {<<: *r}\n", "", "only scalar keys"},
		{"? [a]\n: 1\n", "", "only scalar keys"},
		{"a: [\n", "", "parse YAML"},
		{laughs(), "", "larger than"},
	}
	for _, c := range cases {
		got, err := yamlToJSON([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("yamlToJSON(%q) = %s, %v; want an error with %q", c.in, got, err, c.err)
			}
			continue
		}
		var compact bytes.Buffer
		if err != nil || json.Compact(&compact, got) != nil || compact.String() != c.want {
			t.Errorf("yamlToJSON(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

// laughs returns a small YAML document whose aliases expand to 10^9
// strings.
func laughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// FuzzYAMLToJSON checks that the converter never panics and only ever
// produces valid JSON.
func FuzzYAMLToJSON(f *testing.F) {
	f.Add([]byte("a: 1\nb: [x, {c: null}]\n"))
	f.Add([]byte("x: &a [1]\ny: *a\n"))
	f.Add(openAPIYAML[:2000])
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := yamlToJSON(in)
		if err == nil && !json.Valid(out) {
			t.Fatalf("yamlToJSON(%q) = invalid JSON %s", in, out)
		}
	})
}

// BenchmarkYAMLToJSON measures what converting the document costs the
// control plane's start.
func BenchmarkYAMLToJSON(b *testing.B) {
	b.SetBytes(int64(len(openAPIYAML)))
	for b.Loop() {
		if _, err := yamlToJSON(openAPIYAML); err != nil {
			b.Fatal(err)
		}
	}
}
