package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Transport is an http.RoundTripper that checks every request and every
// answer against an OpenAPI document and records the status codes each
// operation answered. A request or answer that breaks the document fails
// the test (t.Error) and the round trip, so a client sees an error rather
// than a wrong answer.
type Transport struct {
	t      testing.TB
	doc    *openapi3.T
	router routers.Router
	next   http.RoundTripper

	mu   sync.Mutex
	seen map[string][]int // operationId: status codes, in order
}

// NewTransport validates against doc and passes requests on to next
// (http.DefaultTransport when nil).
func NewTransport(t testing.TB, doc *openapi3.T, next http.RoundTripper) *Transport {
	t.Helper()
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapitest: route the document: %v", err)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{t: t, doc: doc, router: router, next: next, seen: map[string][]int{}}
}

// RoundTrip implements http.RoundTripper.
func (v *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := ReadBody(req.Body)
	if err != nil {
		return nil, err
	}
	in, err := v.Input(req, body)
	if err != nil {
		return nil, v.fail(err)
	}
	op := in.Route.Operation.OperationID
	if err := openapi3filter.ValidateRequest(req.Context(), in); err != nil {
		return nil, v.fail(fmt.Errorf("%s (%s %s): the request breaks the document: %w\n%s", op, req.Method, req.URL, err, body))
	}
	resp, data, err := v.Send(req, body)
	if err != nil {
		return nil, err
	}
	if err := CheckResponse(in, resp, data); err != nil {
		return nil, v.fail(fmt.Errorf("%s (%s %s): the answer %d breaks the document: %w\n%s", op, req.Method, req.URL, resp.StatusCode, err, data))
	}
	v.record(op, resp.StatusCode)
	return resp, nil
}

func (v *Transport) fail(err error) error {
	v.t.Error(err)
	return err
}

func (v *Transport) record(operationID string, code int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seen[operationID] = append(v.seen[operationID], code)
}

// CloseIdleConnections lets a client's Close reach the transport
// underneath.
func (v *Transport) CloseIdleConnections() {
	if c, ok := v.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Input finds the document's operation for req and prepares the
// validation of req with body; an error when no operation matches.
func (v *Transport) Input(req *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: no operation in the document: %w", req.Method, req.URL.Path, err)
	}
	return &openapi3filter.RequestValidationInput{
		Request: WithBody(req, body), PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}, nil
}

// Send passes req with body on, without validating anything, and reads
// the whole answer, which stays readable in resp.Body.
func (v *Transport) Send(req *http.Request, body []byte) (*http.Response, []byte, error) {
	resp, err := v.next.RoundTrip(WithBody(req, body))
	if err != nil {
		return nil, nil, err
	}
	data, err := ReadBody(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, data, nil
}

// Probe is what became of a request sent as it is, valid or not: for
// the requests a test expects the document to forbid and the server to
// refuse.
type Probe struct {
	// Operation is the operationId the request was routed to.
	Operation string
	// RequestErr says how the request breaks the document; nil when the
	// document accepts it.
	RequestErr error
	Status     int
	Header     http.Header
	Body       []byte
	// AnswerErr says how the answer breaks the document; nil when it
	// matches.
	AnswerErr error
}

// Probe sends req without failing the test on a request that breaks the
// document, and validates the answer. An answer that matches the
// document is recorded like a round trip's. The error is for a request
// no operation matches or that could not be sent.
func (v *Transport) Probe(req *http.Request) (Probe, error) {
	body, err := ReadBody(req.Body)
	if err != nil {
		return Probe{}, err
	}
	in, err := v.Input(req, body)
	if err != nil {
		return Probe{}, err
	}
	p := Probe{Operation: in.Route.Operation.OperationID}
	p.RequestErr = openapi3filter.ValidateRequest(req.Context(), in)
	resp, data, err := v.Send(req, body)
	if err != nil {
		return Probe{}, err
	}
	p.Status, p.Header, p.Body = resp.StatusCode, resp.Header, data
	if p.AnswerErr = CheckResponse(in, resp, data); p.AnswerErr == nil {
		v.record(p.Operation, resp.StatusCode)
	}
	return p, nil
}

// Refuses probes a request the document should forbid and fails the test
// unless the document does forbid it and the server refuses it with
// status want, in an answer that matches the document. It returns the
// probe for further checks.
func (v *Transport) Refuses(t testing.TB, req *http.Request, want int) Probe {
	t.Helper()
	body, err := ReadBody(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	what := fmt.Sprintf("%s %s %.200s", req.Method, req.URL.RequestURI(), body)
	p, err := v.Probe(WithBody(req, body))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if p.RequestErr == nil {
		t.Errorf("%s: the document accepts it", what)
	}
	if p.Status != want {
		t.Errorf("%s: the server answers %d %s, want %d", what, p.Status, p.Body, want)
	}
	if p.AnswerErr != nil {
		t.Errorf("%s: the refusal breaks the document: %v", what, p.AnswerErr)
	}
	return p
}

// Codes returns the status codes an operation answered, in order.
func (v *Transport) Codes(operationID string) []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.seen[operationID])
}

// Missing returns the operations that keep accepts (all when nil) and
// that never answered, as "operationId (METHOD /path)", sorted.
func (v *Transport) Missing(keep func(route string) bool) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for route, op := range Operations(v.doc, keep) {
		if _, ok := v.seen[op.OperationID]; !ok {
			out = append(out, op.OperationID+" ("+route+")")
		}
	}
	slices.Sort(out)
	return out
}

// Unanswered returns, for each operationId of want, the status codes it
// should have answered and never did, one line each, sorted.
func (v *Transport) Unanswered(want map[string][]int) []string {
	var out []string
	for op, codes := range want {
		seen := v.Codes(op)
		for _, code := range codes {
			if !slices.Contains(seen, code) {
				out = append(out, fmt.Sprintf("%s never answered %d through the validator (saw %v)", op, code, seen))
			}
		}
	}
	slices.Sort(out)
	return out
}

// CheckResponse validates an answer (status, headers, body) to the
// request of in. An undocumented status code fails; so does a body where
// the document promises none, and a problem document whose status is not
// the answer's or that has no reason.
func CheckResponse(in *openapi3filter.RequestValidationInput, resp *http.Response, data []byte) error {
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return err
	}
	if documented := in.Route.Operation.Responses.Status(resp.StatusCode); documented != nil && len(documented.Value.Content) == 0 && len(data) > 0 {
		return errors.New("a body where the document promises none")
	}
	return checkProblem(resp, data)
}

// checkProblem checks what a schema cannot: that an error's problem
// document names the status it came with, and its reason.
func checkProblem(resp *http.Response, data []byte) error {
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode < 400 || mt != v1alpha1.ProblemContentType {
		return nil
	}
	var p struct {
		Status int    `json:"status"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("problem document: %w", err)
	}
	if p.Status != resp.StatusCode {
		return fmt.Errorf("problem document says status %d, the answer is %d", p.Status, resp.StatusCode)
	}
	if p.Reason == "" {
		return errors.New("problem document without a reason")
	}
	return nil
}

// ReadBody reads and closes a request's or answer's body; nil for none.
func ReadBody(rc io.ReadCloser) ([]byte, error) {
	if rc == nil {
		return nil, nil
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: read body: %w", err)
	}
	return data, nil
}

// WithBody returns a copy of req whose body reads body (none when nil),
// so that a request can be validated and sent after its body was read.
func WithBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	r.Body = nil
	if body != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	return r
}
