package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// agentGauge reads one gauge from an agent's /metrics.
func agentGauge(t *testing.T, metricsURL, name string) float64 {
	t.Helper()
	return agentGaugeWhere(t, metricsURL, name, "")
}

// agentGaugeWhere reads the first sample of name whose labels contain
// match; -1 if there is none.
func agentGaugeWhere(t *testing.T, metricsURL, name, match string) float64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + `\{[^}]*` + regexp.QuoteMeta(match) + `[^}]*\} (\S+)$`).FindSubmatch(body)
	if m == nil && match != "" {
		return -1
	}
	if m == nil {
		t.Fatalf("no %s in %s", name, metricsURL)
	}
	var v float64
	fmt.Sscan(string(m[1]), &v)
	return v
}

// TestPartitionedAgentKeepsItsCellAndNoDuplicateAfterHeal cuts a separate
// agent process off from the control plane. The agent keeps its cell
// running (edge autonomy) while the control plane, seeing the site lost,
// runs the replica again at another site; when the partition heals, the
// agent learns its run was replaced and stops its copy, so exactly one
// replica runs.
func TestPartitionedAgentKeepsItsCellAndNoDuplicateAfterHeal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "continuum.yaml")
	os.WriteFile(cfg, []byte(`apiVersion: cloudskin.io/v1alpha1
kind: Continuum
metadata: {name: partition}
spec:
  heartbeat: {interval: 300ms, notReadyAfter: 1500ms}
  sites:
    - name: cloud
      spec: {type: cloud, capacity: {cores: 1, memory: 1Gi}}
`), 0o644)
	_, base := start(t, "up", "-f", cfg, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	proxy := startFlakyProxy(t, strings.TrimPrefix(base, "http://"), 0, 1)
	_, metrics := start(t, "agent", "--name", "far", "--type", "edge", "--cores", "16", "--memory", "8Gi",
		"--interval", "300ms", "--listen", "127.0.0.1:0", "--server", proxy.URL(), "--data", filepath.Join(dir, "agent"))
	metrics += "/metrics"
	if out, err := run(t, nil, "apply", "-f", "testdata/apps/blocks.yaml", "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	app := filepath.Join(dir, "one.yaml")
	os.WriteFile(app, []byte("apiVersion: cloudskin.io/v1alpha1\nkind: Application\nmetadata: {name: one}\nspec:\n  components:\n  - {name: t, block: ticker}\n"), 0o644)
	if out, err := run(t, nil, "apply", "-f", app, "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	a := waitApp(t, base, "one", 30*time.Second, running(1))
	if site := a.Status.Components[0].Replicas[0].Site; site != "far" {
		t.Fatalf("the replica runs at %s, want far (the freest site)", site)
	}

	// The control plane scrapes the separate agent's own /metrics.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res := promQuery(t, base, `cloudskin_agent_cells_running{job="agent",site="far"}`)
		if len(res) == 1 && res[0].Value[1] == "1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the far agent's metrics through PromQL: %+v", res)
		}
	}

	proxy.partitioned.Store(true)
	a = waitApp(t, base, "one", 30*time.Second, func(a v1alpha1.Application) bool {
		if !running(1)(a) {
			return false
		}
		for _, r := range a.Status.Components[0].Replicas {
			if r.Site == "cloud" && r.Phase == "Running" {
				return true
			}
		}
		return false
	})
	if n := agentGauge(t, metrics, "cloudskin_agent_cells_running"); n != 1 {
		t.Fatalf("the cut-off agent runs %v cells, want 1 (it keeps its workload)", n)
	}

	proxy.partitioned.Store(false)
	for deadline := time.Now().Add(20 * time.Second); agentGauge(t, metrics, "cloudskin_agent_cells_running") != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("after the partition healed the agent still runs the replaced cell")
		}
	}
	var cells v1alpha1.CellRunList
	getJSON(t, base+"/api/v1/cells", &cells)
	live := 0
	for _, c := range cells.Items {
		if !c.Status.Phase.Done() {
			live++
			if c.Spec.Site != "cloud" {
				t.Errorf("live run %s at %s, want cloud", c.Metadata.Name, c.Spec.Site)
			}
		}
	}
	if live != 1 {
		t.Fatalf("%d live runs after the heal, want 1: %+v", live, cells.Items)
	}
}
