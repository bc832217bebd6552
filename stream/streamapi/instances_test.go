package streamapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/internal/openapitest"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

const (
	operatorToken = "operator-token-0123456789"
	viewerToken   = "viewer-token-0123456789"
)

// startComponent runs the stream component as `cloudskin up --auth` does:
// on a loopback server whose instance API is guarded by role.
func startComponent(t *testing.T, opts streamapi.BackendOptions) (*streamapi.Component, string) {
	t.Helper()
	authz, err := auth.New([]auth.Token{
		{Name: "operator", Role: auth.Operator, Token: operatorToken},
		{Name: "viewer", Role: auth.Viewer, Token: viewerToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := streamapi.NewComponent(opts)
	host := componenttest.Start(t, func(h *component.Host) {
		h.Server.Guard(streamapi.Base+"/instances", authz.Guard)
	}, c)
	return c, host.ControlPlaneURL
}

func newClient(t *testing.T, url, token string) *streamapi.Client {
	t.Helper()
	c, err := streamapi.NewClient(url, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestAPIInstances runs the stream component as `up --stream-instances 1`
// does (a cluster of 8 containers on one instance), scales it to 3 instances and
// back to 1 through the REST API while a stream keeps its events, and
// checks the answers: instances with their containers, moves with their
// times, 400 for a bad count, 401/403 without an operator's token.
func TestAPIInstances(t *testing.T) {
	ctx := context.Background()
	comp, url := startComponent(t, streamapi.BackendOptions{Instances: 1})
	if _, ok := comp.Service().(stream.InstanceScaler); !ok {
		t.Fatal("the component does not run a cluster")
	}
	op := newClient(t, url, operatorToken)

	in, err := op.Instances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.Count != 1 || in.Containers != 8 || len(in.Items) != 1 || in.Items[0].Name != "ss-0" || !slices.Equal(in.Items[0].Containers, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("instances at start: %+v", in)
	}

	if err := op.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if _, err := op.CreateStream(ctx, cams, streamapi.StreamSpec{Segments: 1}); err != nil {
		t.Fatal(err)
	}
	appendOne := func(data string) streamapi.AppendResult {
		t.Helper()
		res, err := op.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: "k", Events: [][]byte{[]byte(data)}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := appendOne("before")

	moves, after, err := op.SetInstances(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if after.Count != 3 || len(after.Items) != 3 {
		t.Fatalf("instances after scaling to 3: %+v", after)
	}
	var hosted []int
	for _, it := range after.Items {
		if len(it.Containers) < 2 || len(it.Containers) > 3 {
			t.Fatalf("unbalanced: %+v", after.Items)
		}
		hosted = append(hosted, it.Containers...)
	}
	slices.Sort(hosted)
	if !slices.Equal(hosted, []int{0, 1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("containers hosted %v, want each of 0..7 once", hosted)
	}
	if len(moves) != 5 {
		t.Fatalf("%d moves to spread 8 containers from 1 instance over 3, want 5: %+v", len(moves), moves)
	}
	for _, m := range moves {
		if m.From != "ss-0" || (m.To != "ss-1" && m.To != "ss-2") || m.Took <= 0 || m.Took > time.Minute {
			t.Fatalf("move %+v", m)
		}
	}
	second := appendOne("after")
	got, err := op.ReadSegment(ctx, cams, first.Segment, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 2 || string(got.Events[0].Data) != "before" || string(got.Events[1].Data) != "after" || got.Events[1].Offset != second.Offset {
		t.Fatalf("read back across the moves: %+v", got.Events)
	}

	if _, _, err := op.SetInstances(ctx, 0); openapitest.StatusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "count 0") {
		t.Fatalf("0 instances: %v, want a 400 naming the count", err)
	}
	if code, body := raw(t, "PUT", url+streamapi.Base+"/instances", `{"cuont": 2}`); code != http.StatusUnauthorized {
		t.Fatalf("PUT without a token = %d %s, want 401", code, body)
	}
	viewer := newClient(t, url, viewerToken)
	if _, err := viewer.Instances(ctx); err != nil {
		t.Fatalf("a viewer reads the instances: %v", err)
	}
	if _, _, err := viewer.SetInstances(ctx, 2); openapitest.StatusCode(err) != http.StatusForbidden {
		t.Fatalf("a viewer sets the instances: %v, want 403", err)
	}
	if in, _ := op.Instances(ctx); in.Count != 3 {
		t.Fatalf("refused changes changed the count: %+v", in)
	}

	moves, after, err = op.SetInstances(ctx, 1)
	if err != nil || after.Count != 1 || len(moves) != 5 {
		t.Fatalf("back to 1: %d moves, %+v, %v", len(moves), after, err)
	}
}

// TestAPIInstancesContract checks the instance API's requests and answers
// against the OpenAPI document (orchestrator/openapi.yaml), 501 included.
func TestAPIInstancesContract(t *testing.T) {
	doc := openapitest.LoadFile(t, "../../orchestrator/openapi.yaml")
	v := openapitest.NewTransport(t, doc, nil)
	_, url := startComponent(t, streamapi.BackendOptions{Containers: 4, Instances: 2})
	call := openapitest.Caller{T: t, HTTP: &http.Client{Transport: v}, BaseURL: url}
	_, body := call.Expect(http.StatusOK, "GET", streamapi.Base+"/instances", viewerToken, "")
	var in streamapi.Instances
	if err := json.Unmarshal(body, &in); err != nil || in.Count != 2 || in.Containers != 4 {
		t.Fatalf("GET instances: %s (%v)", body, err)
	}
	_, body = call.Expect(http.StatusOK, "PUT", streamapi.Base+"/instances", operatorToken, `{"count": 3}`)
	var ch streamapi.InstancesChange
	if err := json.Unmarshal(body, &ch); err != nil || ch.Instances.Count != 3 || len(ch.Moves) != 1 {
		t.Fatalf("PUT instances: %s (%v)", body, err)
	}
	call.Expect(http.StatusUnauthorized, "GET", streamapi.Base+"/instances", "", "")
	call.Expect(http.StatusForbidden, "PUT", streamapi.Base+"/instances", viewerToken, `{"count": 1}`)
	for _, bad := range []string{`{"count": 1, "extra": true}`, `{"count": 0}`, `{"count": 2000}`, `[]`} {
		req, err := http.NewRequestWithContext(t.Context(), "PUT", url+streamapi.Base+"/instances", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+operatorToken)
		v.Refuses(t, req, http.StatusBadRequest)
	}

	_, single := startComponent(t, streamapi.BackendOptions{})
	call.BaseURL = single
	call.Expect(http.StatusNotImplemented, "GET", streamapi.Base+"/instances", viewerToken, "")
	call.Expect(http.StatusNotImplemented, "PUT", streamapi.Base+"/instances", operatorToken, `{"count": 2}`)

	if missing := v.Missing(openapitest.PathPrefix(streamapi.Base)); len(missing) > 0 {
		t.Errorf("never called: %v", missing)
	}
	for _, u := range v.Unanswered(map[string][]int{
		"getStreamInstances": {200, 401, 501},
		"setStreamInstances": {200, 400, 403, 501},
	}) {
		t.Error(u)
	}
}

// TestAPIInstancesOfASingleStore: a server of one store has no instances;
// the API says so with 501 rather than pretending.
func TestAPIInstancesOfASingleStore(t *testing.T) {
	_, c, _ := serve(t)
	_, err := c.Instances(context.Background())
	if !streamapi.IsNotImplemented(err) || !strings.Contains(err.Error(), "single store") {
		t.Fatalf("Instances of a single store: %v, want 501 saying why", err)
	}
	if _, _, err := c.SetInstances(context.Background(), 2); !streamapi.IsNotImplemented(err) {
		t.Fatalf("SetInstances of a single store: %v, want 501", err)
	}
}

// TestOpenBackendKeepsASingleStoreDirectory: a data directory written by a
// single store is opened as that store, with its streams, not hidden
// behind a new, empty cluster; asking for instances there is a clear
// error. A new directory is a single store unless instances or containers
// are asked for; a cluster's directory stays a cluster.
func TestOpenBackendKeepsASingleStoreDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := stream.Open(ctx, stream.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateStream(ctx, cams, stream.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if _, _, err := streamapi.OpenBackend(ctx, streamapi.BackendOptions{Store: stream.Options{Dir: dir}, Instances: 2}); err == nil || !strings.Contains(err.Error(), "holds a single store") {
		t.Fatalf("2 instances of a single store's directory: %v", err)
	}
	b, single, err := streamapi.OpenBackend(ctx, streamapi.BackendOptions{Store: stream.Options{Dir: dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !single {
		t.Fatal("a single store's directory was opened as a cluster")
	}
	if _, err := b.Service().Stream(cams); err != nil {
		t.Fatalf("the single store's stream: %v", err)
	}

	plain, single, err := streamapi.OpenBackend(ctx, streamapi.BackendOptions{Store: stream.Options{Dir: t.TempDir()}})
	if err != nil || !single {
		t.Fatalf("a new directory with no instances asked for: single %v, %v; want a single store", single, err)
	}
	plain.Close()
	fresh := t.TempDir()
	b2, single, err := streamapi.OpenBackend(ctx, streamapi.BackendOptions{Store: stream.Options{Dir: fresh}, Containers: 2})
	if err != nil || single {
		t.Fatalf("a new directory with 2 containers: single %v, %v; want a cluster", single, err)
	}
	if _, ok := b2.Service().(stream.InstanceScaler); !ok {
		t.Fatal("a cluster's Service is not an InstanceScaler")
	}
	b2.Close()
	b3, single, err := streamapi.OpenBackend(ctx, streamapi.BackendOptions{Store: stream.Options{Dir: fresh}})
	if err != nil || single {
		t.Fatalf("reopening a cluster: single %v, %v", single, err)
	}
	b3.Close()
}

// FuzzInstancesAPI sends arbitrary bodies to PUT /streams/v1/instances of
// a small cluster: the answer is 200 or a 4xx, never a 500 or a panic, and
// the cluster keeps serving.
func FuzzInstancesAPI(f *testing.F) {
	f.Add(`{"count":2}`)
	f.Add(`{"count":0}`)
	f.Add(`{"count":1025}`)
	f.Add(`{"count":-1}`)
	f.Add(`{"count":"2"}`)
	f.Add(`{"count":2}{"count":3}`)
	b, _, err := streamapi.OpenBackend(context.Background(), streamapi.BackendOptions{Store: stream.Options{Dir: f.TempDir()}, Containers: 2})
	if err != nil {
		f.Fatal(err)
	}
	defer b.Close()
	mux := http.NewServeMux()
	streamapi.NewHandler(b.Service(), nil).Register(mux)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := http.NewRequest("PUT", "http://x"+streamapi.Base+"/instances", strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != http.StatusOK && (w.Code < 400 || w.Code >= 500) {
			t.Fatalf("PUT %q: %d %s", body, w.Code, w.Body)
		}
		if err := b.Service().Err(); err != nil {
			t.Fatalf("after PUT %q the cluster fails: %v", body, err)
		}
	})
}
