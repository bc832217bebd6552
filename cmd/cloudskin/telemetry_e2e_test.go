package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// promQuery asks base's PromQL API and returns the vector's samples; nil
// when the query failed (a Prometheus not up yet).
func promQuery(t *testing.T, base, query string) []struct {
	Metric map[string]string
	Value  [2]any
} {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("query %q: %v", query, err)
	}
	if out.Status != "success" {
		return nil // not yet: the callers poll
	}
	return out.Data.Result
}

// TestUpQueriesAnExternalPrometheus points `up` at a real Prometheus
// (Debian's) with spec.telemetry.prometheusURL: PromQL through the control
// plane answers from that Prometheus.
func TestUpQueriesAnExternalPrometheus(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("no prometheus binary (Debian package prometheus; make deps installs it)")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(fmt.Sprintf(`global: {scrape_interval: 1s}
scrape_configs:
  - job_name: itself
    static_configs: [{targets: ["%s"]}]
`, addr)), 0o644)
	prom := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "prom"),
		"--web.listen-address="+addr)
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prom.Process.Kill(); prom.Wait() })
	cfg := filepath.Join(dir, "continuum.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata: {name: p}\nspec:\n  telemetry: {prometheusURL: \"http://%s\"}\n", addr)), 0o644)
	_, base := start(t, "up", "-f", cfg, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res := promQuery(t, base, `up{job="itself"}`)
		if len(res) == 1 && res[0].Value[1] == "1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("up{job=\"itself\"} through the control plane: %+v", res)
		}
	}
}
