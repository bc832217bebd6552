// Package auth checks bearer tokens and roles on the northbound API.
//
// Three roles, each including the one before: viewer may read (GET,
// HEAD); operator may also change what runs (applications, migrations,
// blocks, cell runs, modules) and is what node agents use; admin may also
// remove sites and blocks from the catalog. Tokens live in a YAML file
// kept by `cloudskin up` under its data directory (see
// docs/formats/tokens.md); only their SHA-256 is held in memory, and
// comparisons take constant time.
//
// It is a few dozen lines over net/http, not an OAuth/OIDC library: the
// continuum's clients are its own CLI and agents with static tokens, the
// way Kubernetes' --token-auth-file serves a cluster's first users.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cloudskin/cloudskin/internal/httpapi"
)

// Role is what a token may do.
type Role string

// The roles, weakest first.
const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
	Admin    Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Covers reports whether r may do what need asks.
func (r Role) Covers(need Role) bool { return r.rank() >= need.rank() }

// Token is one entry of the tokens file.
type Token struct {
	Name  string `yaml:"name" json:"name"`
	Role  Role   `yaml:"role" json:"role"`
	Token string `yaml:"token" json:"token"`
}

// File is the tokens file.
type File struct {
	Tokens []Token `yaml:"tokens"`
}

// ErrUnauthorized: no token, or one the file does not have.
var ErrUnauthorized = errors.New("unauthorized")

// ErrForbidden: a known token whose role does not cover the call.
var ErrForbidden = errors.New("forbidden")

// Authorizer knows the tokens.
type Authorizer struct {
	entries []entry
}

type entry struct {
	name string
	role Role
	hash [32]byte
}

// New returns an authorizer for tokens; it refuses empty or duplicate
// tokens and unknown roles.
func New(tokens []Token) (*Authorizer, error) {
	a := &Authorizer{}
	seen := map[[32]byte]bool{}
	for i, t := range tokens {
		if t.Name == "" || len(t.Token) < 16 {
			return nil, fmt.Errorf("tokens[%d]: want a name and a token of at least 16 characters", i)
		}
		if t.Role.rank() == 0 {
			return nil, fmt.Errorf("tokens[%d] (%s).role %q: want viewer, operator or admin", i, t.Name, t.Role)
		}
		h := sha256.Sum256([]byte(t.Token))
		if seen[h] {
			return nil, fmt.Errorf("tokens[%d] (%s): the same token is listed twice", i, t.Name)
		}
		seen[h] = true
		a.entries = append(a.entries, entry{name: t.Name, role: t.Role, hash: h})
	}
	return a, nil
}

// ReadFile reads a tokens file strictly.
func ReadFile(path string) (File, error) {
	var f File
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Load reads a tokens file and returns its authorizer.
func Load(path string) (*Authorizer, error) {
	f, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	a, err := New(f.Tokens)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Generate writes a new tokens file with one token per role (admin for
// people, operator for agents, viewer for dashboards) and returns it.
func Generate(path string) (File, error) {
	f := File{}
	for _, r := range []Role{Admin, Operator, Viewer} {
		f.Tokens = append(f.Tokens, Token{Name: string(r), Role: r, Token: "cs_" + strings.ToLower(rand.Text())})
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		return f, err
	}
	return f, os.WriteFile(path, data, 0o600)
}

// Check returns who a request is, if its bearer token is known and its
// role covers need.
func (a *Authorizer) Check(r *http.Request, need Role) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", fmt.Errorf("%w: send an Authorization: Bearer token", ErrUnauthorized)
	}
	h := sha256.Sum256([]byte(tok))
	for _, e := range a.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			if !e.role.Covers(need) {
				return e.name, fmt.Errorf("%w: token %q has role %s; %s %s needs %s", ErrForbidden, e.name, e.role, r.Method, r.URL.Path, need)
			}
			return e.name, nil
		}
	}
	return "", fmt.Errorf("%w: the bearer token is not known", ErrUnauthorized)
}

// Need is the role a call needs: reads need viewer (PromQL queries sent
// by POST too, as Grafana does); deleting sites or catalog blocks needs
// admin; any other change needs operator.
func Need(method, path string) Role {
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return Viewer
	case method == http.MethodPost && (isQuery(path) || strings.HasPrefix(path, "/api/v1/recommendations/")):
		// Queries and the Learning Plane's recommendations read and
		// compute; they change nothing.
		return Viewer
	case method == http.MethodDelete && (strings.HasPrefix(path, "/api/v1/sites/") || strings.HasPrefix(path, "/api/v1/blocks/")):
		return Admin
	}
	return Operator
}

// isQuery reports whether path is one of the Prometheus-compatible read
// endpoints, which accept POSTed forms.
func isQuery(path string) bool {
	switch path {
	case "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels":
		return true
	}
	return false
}

// Guard checks r against the role its method and path need (Need) and
// returns the API error to answer with: 401 without a known token, 403
// when its role falls short. It is what the control plane's server runs
// before every /api/v1 route.
func (a *Authorizer) Guard(r *http.Request) error {
	_, err := a.Check(r, Need(r.Method, r.URL.Path))
	switch {
	case errors.Is(err, ErrUnauthorized):
		return &httpapi.Error{Code: http.StatusUnauthorized, Reason: "Unauthorized", Err: err}
	case errors.Is(err, ErrForbidden):
		return &httpapi.Error{Code: http.StatusForbidden, Reason: "Forbidden", Err: err}
	}
	return err
}
