package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
)

// Caller sends raw requests, for the calls a Go client would not make
// (a malformed body, a missing token). Give it a client whose transport
// is a Transport to have them validated.
type Caller struct {
	T       testing.TB
	HTTP    *http.Client
	BaseURL string
}

// Call sends a request with an optional bearer token and body and returns
// the answer; a request that cannot be sent stops the test.
func (c Caller) Call(method, path, token, contentType string, body []byte) (int, http.Header, []byte) {
	c.T.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.T.Context(), method, c.BaseURL+path, rd)
	if err != nil {
		c.T.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.T.Fatalf("%s %s: %v", method, path, err)
	}
	data, err := ReadBody(resp.Body)
	if err != nil {
		c.T.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, data
}

// Expect sends a request with a JSON body (none when empty) and fails the
// test unless the answer has status want.
func (c Caller) Expect(want int, method, path, token, body string) (http.Header, []byte) {
	c.T.Helper()
	var b []byte
	contentType := ""
	if body != "" {
		b, contentType = []byte(body), "application/json"
	}
	code, h, data := c.Call(method, path, token, contentType, b)
	if code != want {
		c.T.Errorf("%s %s = %d, want %d: %s", method, path, code, want, data)
	}
	return h, data
}

// MustJSON is v in JSON, for the body of a raw request; it stops the test
// when v cannot be encoded.
func MustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("openapitest: encode %T: %v", v, err)
	}
	return string(b)
}

// StatusCode returns the API status code of a Go client's error (a
// *v1alpha1.Status in its chain), 0 for any other error or none.
func StatusCode(err error) int {
	var st *v1alpha1.Status
	if errors.As(err, &st) {
		return st.Code
	}
	return 0
}

// Must stops the test when a call that should succeed failed.
func (c Caller) Must(err error, what string) {
	c.T.Helper()
	if err != nil {
		c.T.Fatalf("%s: %v", what, err)
	}
}

// Fails fails the test unless a Go client's call failed with the API's
// status code.
func (c Caller) Fails(err error, code int, what string) {
	c.T.Helper()
	if got := StatusCode(err); got != code {
		c.T.Errorf("%s: got %v, want the API's %d", what, err, code)
	}
}

// Guard returns what componenttest.Start calls to guard /api/v1/ with
// these tokens, as `cloudskin up --auth` does, so that a contract test
// sees the document's 401 and 403.
func Guard(t testing.TB, tokens ...auth.Token) func(*component.Host) {
	t.Helper()
	authz, err := auth.New(tokens)
	if err != nil {
		t.Fatalf("openapitest: %v", err)
	}
	return func(h *component.Host) { h.Server.Guard("/api/v1/", authz.Guard) }
}
