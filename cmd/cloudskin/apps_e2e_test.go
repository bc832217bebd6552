package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// waitApp polls an application until cond holds.
func waitApp(t *testing.T, base, name string, within time.Duration, cond func(v1alpha1.Application) bool) v1alpha1.Application {
	t.Helper()
	var a v1alpha1.Application
	deadline := time.Now().Add(within)
	for {
		code := getJSON(t, base+"/api/v1/applications/"+name, &a)
		if code == 200 && cond(a) {
			return a
		}
		if time.Now().After(deadline) {
			out, _ := json.MarshalIndent(a, "", "  ")
			t.Fatalf("application %s did not get there within %s:\n%s", name, within, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func running(n int) func(v1alpha1.Application) bool {
	return func(a v1alpha1.Application) bool {
		ready := 0
		for _, c := range a.Status.Components {
			ready += c.Ready
		}
		return a.Status.Phase == v1alpha1.AppRunning && ready == n && a.Status.ObservedGeneration == a.Metadata.Generation
	}
}

// TestApplyDeployMigrateUpdateDelete drives the orchestrator as a user
// would: apply a directory with a block built from C and an application
// of two linked components, see it placed and running, move a component
// live to the other site, update a parameter (rolling replacement),
// re-apply unchanged, then delete it and see its replicas stop.
func TestApplyDeployMigrateUpdateDelete(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	srv := []string{"--server", base}

	out, err := run(t, nil, append([]string{"apply", "-f", "testdata/apps/"}, srv...)...)
	if err != nil || !strings.Contains(out, "block/ticker@1.0.0 created") || !strings.Contains(out, "application/demo created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	a := waitApp(t, base, "demo", 30*time.Second, running(3))
	if a.Status.Components[0].Name != "source" || a.Status.Components[1].Name != "sink" {
		t.Errorf("components in chain order: %+v", a.Status.Components)
	}
	table, err := run(t, nil, append([]string{"get", "applications"}, srv...)...)
	if err != nil || !strings.Contains(table, "demo") || !strings.Contains(table, "Running") || !strings.Contains(table, "3/3") {
		t.Fatalf("get applications: %v\n%s", err, table)
	}
	// The placement record explains every decision.
	var p v1alpha1.Placement
	getJSON(t, base+"/api/v1/placements/demo", &p)
	if len(p.Decisions) != 3 || p.Decisions[0].Reason == "" || len(p.Decisions[0].Candidates) != 2 || p.Scorer != "learning" {
		t.Fatalf("placement: %+v", p)
	}
	yamlOut, err := run(t, nil, append([]string{"get", "placement", "demo", "-o", "yaml"}, srv...)...)
	if err != nil || !strings.Contains(yamlOut, "feasible: true") || !strings.Contains(yamlOut, "free ") {
		t.Fatalf("get placement -o yaml: %v\n%s", err, yamlOut)
	}

	// Agents publish each replica's CPU time and memory.
	waitUsage(t, base, "demo-sink-0-0", 64<<10, 10*time.Second)

	// Move the sink live to the site it is not on.
	from := a.Status.Components[1].Replicas[0].Site
	to := map[string]string{"edge": "cloud", "cloud": "edge"}[from]
	out, err = run(t, nil, append([]string{"migrate", "demo/sink", "--to", to}, srv...)...)
	if err != nil || !strings.Contains(out, "succeeded") || !strings.Contains(out, "live") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	var ms v1alpha1.MigrationList
	getJSON(t, base+"/api/v1/migrations", &ms)
	if len(ms.Items) != 1 || ms.Items[0].Status.Moves[0].Downtime.Duration <= 0 || ms.Items[0].Status.Moves[0].From != from {
		t.Fatalf("migration record: %+v", ms.Items)
	}
	t.Logf("sink moved %s -> %s live, downtime %s, %d bytes", from, to, ms.Items[0].Status.Moves[0].Downtime, ms.Items[0].Status.Moves[0].Bytes)
	a = waitApp(t, base, "demo", 10*time.Second, running(3))
	if got := a.Status.Components[1].Replicas[0].Site; got != to {
		t.Fatalf("sink runs at %s after the move, want %s", got, to)
	}

	// Applying the same files changes nothing.
	out, err = run(t, nil, append([]string{"apply", "-f", "testdata/apps/"}, srv...)...)
	if err != nil || !strings.Contains(out, "block/ticker@1.0.0 unchanged") || !strings.Contains(out, "application/demo unchanged") {
		t.Fatalf("second apply: %v\n%s", err, out)
	}

	// A changed parameter replaces the source replicas one by one.
	changed := filepath.Join(dir, "demo.yaml")
	data, _ := os.ReadFile("testdata/apps/demo.yaml")
	os.WriteFile(changed, []byte(strings.Replace(string(data), `interval_ms: "50"`, `interval_ms: "60"`, 1)), 0o644)
	out, err = run(t, nil, append([]string{"apply", "-f", changed}, srv...)...)
	if err != nil || !strings.Contains(out, "application/demo configured") {
		t.Fatalf("apply of the change: %v\n%s", err, out)
	}
	a = waitApp(t, base, "demo", 30*time.Second, func(a v1alpha1.Application) bool {
		if !running(3)(a) || a.Metadata.Generation != 2 {
			return false
		}
		for _, r := range a.Status.Components[0].Replicas {
			if !strings.HasSuffix(r.Name, "-1") || len(a.Status.Components[0].Replicas) != 2 {
				return false // the first serial is still there
			}
		}
		return true
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		// Running cells report their output every 2 s.
		logs, err := run(t, nil, append([]string{"logs", "demo/source"}, srv...)...)
		if err == nil && strings.Contains(logs, "demo-source-0-1 tick") && strings.Contains(logs, "demo-source-1-1 tick") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs of the running source replicas: %v\n%s", err, logs)
		}
	}
	desc, err := run(t, nil, append([]string{"describe", "application", "demo"}, srv...)...)
	for _, want := range []string{"Phase:", "Running", "source", "ticker@1.0.0", "Placement:", "Migrations:", "Available"} {
		if !strings.Contains(desc, want) {
			t.Fatalf("describe lacks %q: %v\n%s", want, err, desc)
		}
	}

	// Deleting the application stops and removes its replicas.
	if out, err := run(t, nil, append([]string{"delete", "application", "demo"}, srv...)...); err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var cells v1alpha1.CellRunList
		getJSON(t, base+"/api/v1/cells", &cells)
		if len(cells.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d cell runs left after the delete", len(cells.Items))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestApplyRejectsBadManifests checks that broken manifests are refused
// with errors that name the file, line and field, and nothing is applied.
func TestApplyRejectsBadManifests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	app := func(body string) string {
		return "apiVersion: cloudskin.io/v1alpha1\nkind: Application\nmetadata:\n  name: bad\nspec:\n" + body
	}
	cases := []struct{ name, yaml, want string }{
		{"unknown field", app("  components:\n  - name: a\n    block: x\n    replica: 2\n"), `bad.yaml:9:5: spec.components[0].replica: unknown field`},
		{"wrong type", app("  components:\n  - name: a\n    block: x\n    replicas: two\n"), `bad.yaml:9:15: spec.components[0].replicas`},
		{"cycle", app("  components:\n  - {name: a, block: x, links: [b]}\n  - {name: b, block: x, links: [a]}\n"), "links form a cycle: a -> b -> a"},
		{"missing link", app("  components:\n  - {name: a, block: x, links: [c]}\n"), `no component "c" in this application`},
		{"missing block", app("  components:\n  - {name: a, block: nosuch}\n"), "block nosuch: not found"},
		{"unknown kind", "apiVersion: cloudskin.io/v1alpha1\nkind: Pod\nmetadata: {name: p}\n", `kind "Pod": want Site, Block, Application or Agent`},
	}
	for _, c := range cases {
		f := filepath.Join(dir, "bad.yaml")
		os.WriteFile(f, []byte(c.yaml), 0o644)
		out, err := run(t, nil, "apply", "-f", f, "--server", base)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: %v\n%s\nwant %q", c.name, err, out, c.want)
		}
	}
	var list v1alpha1.ApplicationList
	getJSON(t, base+"/api/v1/applications", &list)
	if len(list.Items) != 0 {
		t.Errorf("applications after bad manifests: %+v", list.Items)
	}
}

// TestAuthRolesOnTheAPI starts `up --auth` and checks that the API wants
// a token (401), that a viewer can read but not change (403), and that
// the CLI finds the admin token in the client config `up` wrote.
func TestAuthRolesOnTheAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	_, base := start(t, "up", "--auth", "--listen", "127.0.0.1:0", "--data", data)
	if code := getJSON(t, base+"/api/v1/sites", nil); code != 401 {
		t.Fatalf("GET /api/v1/sites without a token = %d, want 401", code)
	}
	out, err := run(t, nil, "get", "sites", "--server", base)
	if err == nil || !strings.Contains(out, "Authorization: Bearer") || !strings.Contains(out, "401") {
		t.Fatalf("get sites without a token: %v\n%s", err, out)
	}
	// The agents of up hold the operator token: both sites are Ready.
	waitSitesWith(t, base, "--data", data)
	tokens, err := os.ReadFile(filepath.Join(data, "tokens.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	viewer := tokenOf(t, string(tokens), "viewer")
	out, err = run(t, []string{"CLOUDSKIN_TOKEN=" + viewer}, "get", "applications", "--server", base)
	if err != nil {
		t.Fatalf("viewer get applications: %v\n%s", err, out)
	}
	out, err = run(t, []string{"CLOUDSKIN_TOKEN=" + viewer}, "apply", "-f", "testdata/apps/", "--server", base)
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "role viewer") {
		t.Fatalf("viewer apply: %v\n%s", err, out)
	}
	if out, err = run(t, nil, "apply", "-f", "testdata/apps/", "--data", data); err != nil || !strings.Contains(out, "application/demo created") {
		t.Fatalf("admin apply through the client config: %v\n%s", err, out)
	}
}

// waitSitesWith waits until `get sites` (with args) shows both sites Ready.
func waitSitesWith(t *testing.T, base string, args ...string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := run(t, nil, append([]string{"get", "sites"}, args...)...)
		if err == nil && strings.Count(out, "Ready") == 2 && !strings.Contains(out, "NotReady") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sites of %s not Ready: %v\n%s", base, err, out)
		}
	}
}

func tokenOf(t *testing.T, file, role string) string {
	t.Helper()
	lines := strings.Split(file, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "role: "+role && i+1 < len(lines) {
			if tok, ok := strings.CutPrefix(strings.TrimSpace(lines[i+1]), "token: "); ok {
				return tok
			}
		}
	}
	t.Fatalf("no %s token in\n%s", role, file)
	return ""
}

// TestProcessBlockRunsAndMovesByRestart deploys a block of type process
// (a native shell loop), reads its logs, then moves it: a process cannot
// migrate live, so the orchestrator starts a new one at the destination
// and stops the old one once the new one runs.
func TestProcessBlockRunsAndMovesByRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	f := filepath.Join(dir, "proc.yaml")
	os.WriteFile(f, []byte(`apiVersion: cloudskin.io/v1alpha1
kind: Block
metadata: {name: looper}
spec:
  version: 0.1.0
  type: process
  process:
    command: ["sh", "-c", "while true; do echo \"{{ .Params.msg }} from $CLOUDSKIN_WORKLOAD\"; sleep 0.1; done"]
  parameters: [{name: msg, type: string}]
---
apiVersion: cloudskin.io/v1alpha1
kind: Application
metadata: {name: proc}
spec:
  components:
    - {name: loop, block: looper, parameters: {msg: hello}, requirements: {siteType: edge}}
`), 0o644)
	if out, err := run(t, nil, "apply", "-f", f, "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	waitApp(t, base, "proc", 20*time.Second, running(1))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ := run(t, nil, "logs", "proc", "--server", base)
		if strings.Contains(out, "hello from proc-loop-0-0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs: %s", out)
		}
	}
	// Its agent publishes the process's CPU time (the shell's and its
	// sleeps') and resident memory, as it does a cell's.
	waitUsage(t, base, "proc-loop-0-0", 100<<10, 20*time.Second)
	// Lift the edge requirement so the move is allowed, then move it.
	os.WriteFile(f, []byte(strings.Replace(mustRead(t, f), ", requirements: {siteType: edge}", "", 1)), 0o644)
	if out, err := run(t, nil, "apply", "-f", f, "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	out, err := run(t, nil, "migrate", "proc/loop", "--to", "cloud", "--server", base)
	if err != nil || !strings.Contains(out, "edge→cloud restart, downtime 0s") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if live := liveRuns(t, base); len(live) != 1 || live[0].Spec.Site != "cloud" || live[0].Spec.Process == nil {
		t.Fatalf("live runs after the move: %+v", live)
	}
}

// waitUsage waits until the agents publish some CPU time and at least
// minMemory bytes for workload (a cell's linear memory, a process's
// resident set).
func waitUsage(t *testing.T, base, workload string, minMemory float64, within time.Duration) {
	t.Helper()
	where := `workload="` + workload + `"`
	for deadline := time.Now().Add(within); ; time.Sleep(100 * time.Millisecond) {
		mem := agentGaugeWhere(t, base+"/metrics", "cloudskin_cell_memory_bytes", where)
		cpu := agentGaugeWhere(t, base+"/metrics", "cloudskin_cell_cpu_seconds_total", where)
		if mem >= minMemory && cpu > 0 {
			t.Logf("%s: %.0f bytes of memory, %.4f s of CPU", workload, mem, cpu)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage of %s: memory %v, cpu %v", workload, mem, cpu)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
