package auth

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

func TestRolesAndTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	f, err := Generate(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := map[Role]string{}
	for _, e := range f.Tokens {
		tok[e.Role] = e.Token
	}
	cases := []struct {
		token, method, path string
		want                error
	}{
		{"", "GET", "/api/v1/sites", ErrUnauthorized},
		{"cs_unknown_token_value", "GET", "/api/v1/sites", ErrUnauthorized},
		{tok[Viewer], "GET", "/api/v1/applications", nil},
		{tok[Viewer], "PUT", "/api/v1/applications/a", ErrForbidden},
		{tok[Operator], "PUT", "/api/v1/applications/a", nil},
		{tok[Operator], "DELETE", "/api/v1/applications/a", nil},
		{tok[Operator], "DELETE", "/api/v1/sites/edge", ErrForbidden},
		{tok[Operator], "DELETE", "/api/v1/blocks/b", ErrForbidden},
		{tok[Admin], "DELETE", "/api/v1/sites/edge", nil},
		{tok[Viewer], "POST", "/api/v1/query_range", nil},
		{tok[Viewer], "POST", "/api/v1/migrations", ErrForbidden},
		{tok[Viewer], "POST", "/api/v1/recommendations/scaling", nil},
		{tok[Viewer], "POST", "/api/v1/models/load/versions/2/promote", ErrForbidden},
		{tok[Operator], "POST", "/api/v1/models/load/rollback", nil},
		{tok[Viewer], "PUT", "/api/v1/agents/scaler", ErrForbidden},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		_, err := a.Check(r, Need(c.method, c.path))
		if !errors.Is(err, c.want) && !(err == nil && c.want == nil) {
			t.Errorf("%s %s with %q: %v, want %v", c.method, c.path, c.token, err, c.want)
		}
	}
}

func TestBadTokenFilesAreRefused(t *testing.T) {
	for _, ts := range [][]Token{
		{{Name: "a", Role: "root", Token: "0123456789abcdef"}},
		{{Name: "a", Role: Admin, Token: "short"}},
		{{Name: "a", Role: Admin, Token: "0123456789abcdef"}, {Name: "b", Role: Viewer, Token: "0123456789abcdef"}},
	} {
		if _, err := New(ts); err == nil {
			t.Errorf("%+v accepted", ts)
		}
	}
}
