package orchestrator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/orchestrator"
)

// startControlPlane serves a control plane on a free loopback port.
func startControlPlane(t testing.TB) string {
	t.Helper()
	cp := orchestrator.New(orchestrator.Options{NotReadyAfter: 6 * time.Second})
	return componenttest.Start(t, nil, cp).ControlPlaneURL
}

func call(t testing.TB, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const edgeJSON = `{"apiVersion":"cloudskin.io/v1alpha1","kind":"Site","metadata":{"name":"edge"},"spec":{"type":"edge","capacity":{"cores":2,"memory":"2Gi"}}}`

func TestSitesAPI(t *testing.T) {
	base := startControlPlane(t) + "/api/v1/sites"

	code, body := call(t, "PUT", base+"/edge", edgeJSON)
	if code != 201 {
		t.Fatalf("first PUT = %d %s", code, body)
	}
	if code, _ = call(t, "PUT", base+"/edge", edgeJSON); code != 200 {
		t.Fatalf("second PUT = %d, want 200", code)
	}
	code, body = call(t, "POST", base+"/edge/heartbeat", `{"agent":{"version":"v9"}}`)
	var site v1alpha1.Site
	if code != 200 || json.Unmarshal(body, &site) != nil || site.Status.Agent.Version != "v9" || site.Status.Phase != v1alpha1.SiteReady {
		t.Fatalf("heartbeat = %d %s", code, body)
	}
	code, body = call(t, "GET", base, "")
	var list v1alpha1.SiteList
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Items) != 1 || list.Kind != "SiteList" {
		t.Fatalf("list = %d %s", code, body)
	}
	if code, _ = call(t, "DELETE", base+"/edge", ""); code != 204 {
		t.Fatalf("DELETE = %d", code)
	}
	if code, _ = call(t, "GET", base+"/edge", ""); code != 404 {
		t.Fatalf("GET after DELETE = %d", code)
	}
}

func TestSitesAPIRejectsBadRequestsWithStatus(t *testing.T) {
	base := startControlPlane(t) + "/api/v1/sites"
	cases := []struct {
		name, method, path, body string
		code                     int
		reason, message          string
	}{
		{"unknown field", "PUT", "/edge", strings.Replace(edgeJSON, `"spec"`, `"spce"`, 1), 400, "BadRequest", `unknown field "spce"`},
		{"not JSON", "PUT", "/edge", `{"apiVersion":`, 400, "BadRequest", "request body"},
		{"trailing data", "PUT", "/edge", edgeJSON + `{}`, 400, "BadRequest", "after the JSON value"},
		{"name mismatch", "PUT", "/cloud", edgeJSON, 400, "BadRequest", `does not match the URL's "cloud"`},
		{"bad capacity", "PUT", "/edge", strings.Replace(edgeJSON, `"cores":2`, `"cores":-1`, 1), 400, "BadRequest", "spec.capacity.cores"},
		{"wrong kind", "PUT", "/edge", strings.Replace(edgeJSON, `"Site"`, `"Pod"`, 1), 400, "BadRequest", `kind "Pod"`},
		{"heartbeat unknown site", "POST", "/ghost/heartbeat", `{}`, 404, "NotFound", `site "ghost"`},
		{"get unknown site", "GET", "/ghost", "", 404, "NotFound", "not registered"},
		{"oversized body", "PUT", "/edge", `{"metadata":{"name":"` + strings.Repeat("x", 2<<20) + `"}}`, 400, "BadRequest", "too large"},
	}
	for _, c := range cases {
		code, body := call(t, c.method, base+c.path, c.body)
		var st v1alpha1.Status
		if err := json.Unmarshal(body, &st); err != nil {
			t.Errorf("%s: answer is not a problem document: %s", c.name, body)
			continue
		}
		if code != c.code || st.Code != c.code || st.Reason != c.reason || st.Type != v1alpha1.ProblemTypeBase+kebab(c.reason) || st.Title != http.StatusText(c.code) || !strings.Contains(st.Message, c.message) {
			t.Errorf("%s: %d %+v; want %d %s containing %q", c.name, code, st, c.code, c.reason, c.message)
		}
	}
}

// BenchmarkHeartbeat measures one agent heartbeat end to end: HTTP on
// loopback, JSON both ways, and the fsynced store write.
func BenchmarkHeartbeat(b *testing.B) {
	base := startControlPlane(b) + "/api/v1/sites"
	if code, body := call(b, "PUT", base+"/edge", edgeJSON); code != 201 {
		b.Fatalf("PUT = %d %s", code, body)
	}
	hb := []byte(`{"agent":{"version":"bench"}}`)
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Post(base+"/edge/heartbeat", "application/json", bytes.NewReader(hb))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("heartbeat = %d", resp.StatusCode)
		}
	}
}

func kebab(reason string) string {
	return map[string]string{"BadRequest": "bad-request", "NotFound": "not-found"}[reason]
}
