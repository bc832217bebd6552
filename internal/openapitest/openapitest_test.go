package openapitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
)

// thingsDocument describes a small API of things, with a few flaws on
// purpose: DELETE documents neither 401 nor 403 and answers its 500 as
// plain text.
const thingsDocument = `
openapi: 3.0.3
info: {title: things, version: v1}
paths:
  /api/v1/things/{name}:
    parameters:
      - {name: name, in: path, required: true, schema: {type: string, pattern: '^[a-z]+$'}}
    get:
      operationId: getThing
      responses:
        "200":
          description: The thing.
          content:
            application/json:
              schema: {type: object, additionalProperties: false, required: [name], properties: {name: {type: string}}}
        "401": {$ref: "#/components/responses/Problem"}
        "404": {$ref: "#/components/responses/Problem"}
    put:
      operationId: putThing
      requestBody:
        required: true
        content:
          application/json:
            schema: {type: object, additionalProperties: false, properties: {size: {type: integer, minimum: 1}}}
      responses:
        "202": {description: "Accepted, without a body."}
        "400": {$ref: "#/components/responses/Problem"}
        "401": {$ref: "#/components/responses/Problem"}
        "403": {$ref: "#/components/responses/Problem"}
    delete:
      operationId: deleteThing
      responses:
        "204": {description: Gone.}
        "500":
          description: Failed.
          content:
            text/plain:
              schema: {type: string}
components:
  responses:
    Problem:
      description: A problem document.
      content:
        application/problem+json:
          schema:
            type: object
            required: [status, reason]
            properties:
              status: {type: integer}
              reason: {type: string}
`

// thingsServer serves the things API; some names make it break the
// document: "bad" answers a wrong body, "liar" a problem whose status is
// not the answer's, "chatty" a body where none is documented.
func thingsServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	problem := func(w http.ResponseWriter, code, says int, reason string) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%d,"reason":%q}`, says, reason)
	}
	mux.HandleFunc("GET /api/v1/things/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch name := r.PathValue("name"); name {
		case "good":
			fmt.Fprint(w, `{"name":"good"}`)
		case "bad":
			fmt.Fprint(w, `{"name":1}`)
		case "liar":
			problem(w, 404, 400, "NotFound")
		default:
			problem(w, 404, 404, "NotFound")
		}
	})
	mux.HandleFunc("PUT /api/v1/things/{name}", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || len(body) > 1 || (len(body) == 1 && body["size"] == nil) {
			problem(w, 400, 400, "BadRequest")
			return
		}
		w.WriteHeader(http.StatusAccepted)
		if r.PathValue("name") == "chatty" {
			fmt.Fprint(w, "stored")
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// errorRecorder is a testing.TB that keeps the errors reported to it
// instead of failing the test.
type errorRecorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *errorRecorder) Error(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprint(args...))
}

func (r *errorRecorder) Errorf(format string, args ...any) { r.Error(fmt.Sprintf(format, args...)) }

func (r *errorRecorder) reported() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

func TestParseRefusesWhatIsNotADocument(t *testing.T) {
	if _, err := Parse([]byte(thingsDocument)); err != nil {
		t.Fatalf("the things document: %v", err)
	}
	for _, bad := range []string{
		"a: [",
		"openapi: 3.0.3\ninfo: {title: x}\npaths: {}\n", // no info.version
		strings.Replace(thingsDocument, "operationId: putThing", "operationId: getThing", 1),
	} {
		if _, err := Parse([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "openapitest: ") {
			t.Errorf("Parse(%.40q) = %v, want an openapitest error", bad, err)
		}
	}
}

func TestRouteParityFindsBothDifferences(t *testing.T) {
	doc := Load(t, []byte(thingsDocument))
	patterns := []string{"GET /api/v1/things/{name}", "PUT /api/v1/things/{name}", "POST /api/v1/things", "GET /metrics", "/healthz"}
	p := RouteParity(doc, patterns, PathPrefix("/api/v1/"))
	want := Parity{
		Served:       []string{"GET /api/v1/things/{name}", "POST /api/v1/things", "PUT /api/v1/things/{name}"},
		Undocumented: []string{"POST /api/v1/things"},
		Unserved:     []string{"DELETE /api/v1/things/{name}"},
	}
	if !slices.Equal(p.Served, want.Served) || !slices.Equal(p.Undocumented, want.Undocumented) || !slices.Equal(p.Unserved, want.Unserved) {
		t.Errorf("RouteParity = %+v, want %+v", p, want)
	}
	if all := RouteParity(doc, patterns, nil); len(all.Served) != len(patterns) {
		t.Errorf("without a filter, served %v", all.Served)
	}
	if len(Operations(doc, PathPrefix("/api/v2/"))) != 0 || len(Operations(doc, nil)) != 3 {
		t.Errorf("Operations does not filter")
	}
}

func TestConventionChecks(t *testing.T) {
	doc := Load(t, []byte(thingsDocument))
	var got []string
	for route, op := range Operations(doc, nil) {
		got = append(got, CheckAuth(route, op)...)
		got = append(got, CheckProblems(route, op)...)
	}
	slices.Sort(got)
	want := []string{
		"DELETE /api/v1/things/{name} does not document 401",
		"DELETE /api/v1/things/{name}: 403 documented false, want it only for changes",
		"DELETE /api/v1/things/{name}: 500 is not a problem document",
	}
	if !slices.Equal(got, want) {
		t.Errorf("checks =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestTransportValidatesAndRecords(t *testing.T) {
	srv := thingsServer(t)
	rec := &errorRecorder{TB: t}
	v := NewTransport(rec, Load(t, []byte(thingsDocument)), nil)
	c := Caller{T: t, HTTP: &http.Client{Transport: v}, BaseURL: srv.URL}

	if _, data := c.Expect(200, "GET", "/api/v1/things/good", "", ""); string(data) != `{"name":"good"}` {
		t.Errorf("the answer's body is not readable again: %q", data)
	}
	c.Expect(404, "GET", "/api/v1/things/ghost", "", "")
	c.Expect(202, "PUT", "/api/v1/things/good", "", `{"size":2}`)
	if len(rec.reported()) != 0 {
		t.Fatalf("valid exchanges reported: %v", rec.reported())
	}
	if got := v.Codes("getThing"); !slices.Equal(got, []int{200, 404}) {
		t.Errorf("getThing codes %v", got)
	}
	if got := v.Missing(nil); !slices.Equal(got, []string{"deleteThing (DELETE /api/v1/things/{name})"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := v.Unanswered(map[string][]int{"getThing": {200, 401}, "putThing": {202}}); !slices.Equal(got, []string{"getThing never answered 401 through the validator (saw [200 404])"}) {
		t.Errorf("Unanswered = %v", got)
	}

	// Each of these breaks the document: the round trip fails and the
	// test hears why.
	broken := []struct{ method, path, body, why string }{
		{"GET", "/api/v1/things/bad", "", "the answer 200 breaks the document"},
		{"GET", "/api/v1/things/liar", "", "problem document says status 400, the answer is 404"},
		{"PUT", "/api/v1/things/chatty", `{"size":2}`, "a body where the document promises none"},
		{"PUT", "/api/v1/things/good", `{"size":0}`, "the request breaks the document"},
		{"GET", "/api/v1/things/Upper", "", "the request breaks the document"},
		{"POST", "/api/v1/things", "", "no operation in the document"},
	}
	for _, b := range broken {
		req, _ := http.NewRequest(b.method, srv.URL+b.path, strings.NewReader(b.body))
		req.Header.Set("Content-Type", "application/json")
		before := len(rec.reported())
		resp, err := v.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s %s: no error", b.method, b.path)
			continue
		}
		errs := rec.reported()
		if !strings.Contains(err.Error(), b.why) || len(errs) != before+1 || errs[before] != err.Error() {
			t.Errorf("%s %s: error %v (reported %v), want one naming %q", b.method, b.path, err, errs[before:], b.why)
		}
	}
	if got := v.Codes("getThing"); !slices.Equal(got, []int{200, 404}) {
		t.Errorf("broken exchanges were recorded: %v", got)
	}
}

func TestProbeSendsWhatTheDocumentForbids(t *testing.T) {
	srv := thingsServer(t)
	rec := &errorRecorder{TB: t}
	v := NewTransport(rec, Load(t, []byte(thingsDocument)), nil)
	req, _ := http.NewRequest("PUT", srv.URL+"/api/v1/things/good", strings.NewReader(`{"size":2,"colour":"red"}`))
	req.Header.Set("Content-Type", "application/json")
	p, err := v.Probe(req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Operation != "putThing" || p.RequestErr == nil || p.Status != 400 || p.AnswerErr != nil || !strings.Contains(string(p.Body), "BadRequest") {
		t.Errorf("probe = %+v", p)
	}
	if len(rec.reported()) != 0 || !slices.Equal(v.Codes("putThing"), []int{400}) {
		t.Errorf("reported %v, recorded %v; want nothing reported and the 400 recorded", rec.reported(), v.Codes("putThing"))
	}
	// An answer that breaks the document is said, not recorded.
	req, _ = http.NewRequest("GET", srv.URL+"/api/v1/things/bad", nil)
	if p, err = v.Probe(req); err != nil || p.RequestErr != nil || p.AnswerErr == nil || len(v.Codes("getThing")) != 0 {
		t.Errorf("probe of a broken answer = %+v, %v; recorded %v", p, err, v.Codes("getThing"))
	}
	req, _ = http.NewRequest("GET", srv.URL+"/elsewhere", nil)
	if _, err := v.Probe(req); err == nil {
		t.Errorf("a probe of a path the document does not have: no error")
	}
}

func TestRefusesSaysWhatWasNotRefused(t *testing.T) {
	srv := thingsServer(t)
	v := NewTransport(t, Load(t, []byte(thingsDocument)), nil)
	put := func(body string) *http.Request {
		req, _ := http.NewRequest("PUT", srv.URL+"/api/v1/things/good", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	if p := v.Refuses(t, put(`{"colour":"red"}`), 400); !strings.Contains(string(p.Body), "BadRequest") {
		t.Errorf("refusal body %s", p.Body)
	}
	cases := []struct {
		body string
		want int
		says []string
	}{
		{`{"size":2}`, 202, []string{`PUT /api/v1/things/good {"size":2}: the document accepts it`}},
		{`{"colour":"red"}`, 422, []string{"the server answers 400", "want 422"}},
	}
	for _, c := range cases {
		rec := &errorRecorder{TB: t}
		v.Refuses(rec, put(c.body), c.want)
		got := strings.Join(rec.reported(), "\n")
		for _, s := range c.says {
			if !strings.Contains(got, s) {
				t.Errorf("Refuses(%s, %d) reported %q, want %q", c.body, c.want, got, s)
			}
		}
	}
}

func TestStatusCodeAndFails(t *testing.T) {
	if StatusCode(nil) != 0 || StatusCode(fmt.Errorf("plain")) != 0 {
		t.Errorf("StatusCode of a non-API error is not 0")
	}
	err := fmt.Errorf("get thing: %w", v1alpha1.ParseStatus(409, []byte(`{"status":409,"reason":"Conflict","detail":"taken"}`)))
	if StatusCode(err) != 409 {
		t.Errorf("StatusCode(%v) = %d, want 409", err, StatusCode(err))
	}
	rec := &errorRecorder{TB: t}
	c := Caller{T: rec}
	c.Fails(err, 409, "a conflict")
	c.Must(nil, "nothing wrong")
	if len(rec.reported()) != 0 {
		t.Errorf("reported %v", rec.reported())
	}
	c.Fails(err, 404, "a lookup")
	c.Fails(nil, 404, "a success")
	if got := rec.reported(); len(got) != 2 || !strings.Contains(got[0], "a lookup: got get thing") || !strings.Contains(got[1], "want the API's 404") {
		t.Errorf("reported %q", got)
	}
}

func TestGuardAnswers401And403(t *testing.T) {
	guard := Guard(t,
		auth.Token{Name: "viewer", Role: auth.Viewer, Token: "viewer-token-0123456789"},
		auth.Token{Name: "operator", Role: auth.Operator, Token: "operator-token-0123456789"},
	)
	host := componenttest.Start(t, guard)
	host.Server.HandleFunc("/api/v1/things/{name}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c := Caller{T: t, HTTP: http.DefaultClient, BaseURL: host.ControlPlaneURL}
	c.Expect(401, "GET", "/api/v1/things/a", "", "")
	c.Expect(204, "GET", "/api/v1/things/a", "viewer-token-0123456789", "")
	c.Expect(403, "PUT", "/api/v1/things/a", "viewer-token-0123456789", "{}")
	c.Expect(204, "PUT", "/api/v1/things/a", "operator-token-0123456789", "{}")
}
