// Package openapitest holds HTTP servers to an OpenAPI 3 document in
// tests. It is what the contract tests of every component on the control
// plane's server share (orchestrator, learning/plane, learning/recommend,
// learning/federated), so they judge the one hand-written document
// (orchestrator/openapi.yaml) by the same rules:
//
//   - Load and LoadFile read the document and stop the test unless it is
//     a valid OpenAPI document.
//   - RouteParity compares the routes a server registers with the
//     document's operations, both kept to a component's part of the API.
//   - CheckAuth and CheckProblems check the document's own conventions
//     for an operation under /api/v1: 401 everywhere, 403 only on changes,
//     errors as RFC 9457 problem documents.
//   - Transport is an http.RoundTripper that validates every request and
//     answer against the document, checks that problem documents say the
//     answer's status, and records which operations answered which status
//     codes, so a test can say that every operation was called and every
//     documented error seen.
//
// kin-openapi (openapi3filter) does the schema validation. Its own
// ValidationHandler checks requests on the server side, which would not
// catch an answer that breaks the document or say which operations a test
// never reached; this package is the client-side half, written here.
//
// The package is a normal package rather than a _test.go file so that
// several test packages can import it; only tests use it.
package openapitest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Parse loads an OpenAPI 3 document from YAML or JSON and validates it.
func Parse(data []byte) (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapitest: not a valid OpenAPI document: %w", err)
	}
	return doc, nil
}

// Load is Parse for a test: it stops the test when the document does not
// load or is not valid.
func Load(t testing.TB, data []byte) *openapi3.T {
	t.Helper()
	doc, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// LoadFile reads the document at path (relative to the test's package
// directory) and loads it as Load does.
func LoadFile(t testing.TB, path string) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("openapitest: %v", err)
	}
	doc, err := Parse(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// Operations returns the document's operations by route, "METHOD /path"
// as in http.ServeMux patterns, keeping those keep accepts (all of them
// when keep is nil).
func Operations(doc *openapi3.T, keep func(route string) bool) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if route := method + " " + path; keep == nil || keep(route) {
				ops[route] = op
			}
		}
	}
	return ops
}

// PathPrefix returns a route filter that keeps the routes ("METHOD /path"
// or a bare "/path") whose path starts with one of prefixes.
func PathPrefix(prefixes ...string) func(route string) bool {
	return func(route string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(routePath(route), p) })
	}
}

// routePath is the path of a route, "METHOD /path" or a bare "/path".
func routePath(route string) string {
	if _, path, ok := strings.Cut(route, " "); ok {
		return path
	}
	return route
}

// Parity is how a server's routes and a document's operations differ.
type Parity struct {
	// Served are the routes the server registers, sorted.
	Served []string
	// Undocumented are served routes the document does not describe.
	Undocumented []string
	// Unserved are operations of the document the server does not serve.
	Unserved []string
}

// RouteParity compares the routes a server registers (patterns such as
// "GET /api/v1/sites/{name}", as httpserver.Server.Patterns returns them)
// with the document's operations, both sides kept to the routes keep
// accepts. All three lists are sorted.
func RouteParity(doc *openapi3.T, patterns []string, keep func(route string) bool) Parity {
	ops := Operations(doc, keep)
	var p Parity
	for _, route := range patterns {
		if keep != nil && !keep(route) {
			continue
		}
		p.Served = append(p.Served, route)
		if ops[route] == nil {
			p.Undocumented = append(p.Undocumented, route)
		}
	}
	for route := range ops {
		if !slices.Contains(p.Served, route) {
			p.Unserved = append(p.Unserved, route)
		}
	}
	slices.Sort(p.Served)
	slices.Sort(p.Undocumented)
	slices.Sort(p.Unserved)
	return p
}

// CheckAuth returns how an operation breaks the rules of a route under
// authentication (`cloudskin up --auth` guards all of /api/v1): every
// call may get 401, and since a viewer may GET anything, only changes may
// get 403.
func CheckAuth(route string, op *openapi3.Operation) []string {
	var out []string
	if op.Responses.Status(http.StatusUnauthorized) == nil {
		out = append(out, route+" does not document 401")
	}
	method, _, _ := strings.Cut(route, " ")
	if has403 := op.Responses.Status(http.StatusForbidden) != nil; has403 == (method == http.MethodGet) {
		out = append(out, fmt.Sprintf("%s: 403 documented %v, want it only for changes", route, has403))
	}
	return out
}

// CheckProblems returns the 4xx and 5xx answers of an operation that are
// not RFC 9457 problem documents.
func CheckProblems(route string, op *openapi3.Operation) []string {
	var out []string
	for code, resp := range op.Responses.Map() {
		if code[0] >= '4' && resp.Value.Content.Get(v1alpha1.ProblemContentType) == nil {
			out = append(out, fmt.Sprintf("%s: %s is not a problem document", route, code))
		}
	}
	slices.Sort(out)
	return out
}
