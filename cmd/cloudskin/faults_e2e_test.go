package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// agentsOnlyConfig is a continuum with no in-process agent: the sites are
// separate `cloudskin agent` processes, so the control plane can be
// stopped and started without their cells.
const agentsOnlyConfig = `apiVersion: cloudskin.io/v1alpha1
kind: Continuum
metadata: {name: faults}
spec:
  heartbeat: {interval: 300ms, notReadyAfter: 1500ms}
  sites: []
`

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startAgent(t *testing.T, dir, base, name string) *process {
	t.Helper()
	p, _ := start(t, "agent", "--name", name, "--type", "edge", "--cores", "4", "--memory", "4Gi",
		"--interval", "300ms", "--listen", "127.0.0.1:0", "--server", base, "--data", filepath.Join(dir, name))
	return p
}

func liveRuns(t *testing.T, base string) []v1alpha1.CellRun {
	t.Helper()
	var cells v1alpha1.CellRunList
	getJSON(t, base+"/api/v1/cells", &cells)
	var live []v1alpha1.CellRun
	for _, c := range cells.Items {
		if !c.Status.Phase.Done() {
			live = append(live, c)
		}
	}
	return live
}

// TestControlPlaneRestartMidRollout kills the control plane (SIGKILL)
// while a rolling update is half done, starts it again on the same data,
// and checks the rollout completes with exactly the replicas asked for:
// the reconciler keeps no state of its own, it reads the runs back.
func TestControlPlaneRestartMidRollout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "continuum.yaml")
	os.WriteFile(cfg, []byte(agentsOnlyConfig), 0o644)
	addr := freeAddr(t)
	data := filepath.Join(dir, "data")
	cp, base := start(t, "up", "-f", cfg, "--listen", addr, "--data", data)
	startAgent(t, dir, base, "a1")
	startAgent(t, dir, base, "a2")
	if out, err := run(t, nil, "apply", "-f", "testdata/apps/", "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	waitApp(t, base, "demo", 30*time.Second, running(3))

	changed := filepath.Join(dir, "demo.yaml")
	src, _ := os.ReadFile("testdata/apps/demo.yaml")
	os.WriteFile(changed, []byte(strings.Replace(string(src), `interval_ms: "50"`, `interval_ms: "70"`, 1)), 0o644)
	if out, err := run(t, nil, "apply", "-f", changed, "--server", base); err != nil {
		t.Fatalf("apply of the change: %v\n%s", err, out)
	}
	// Kill it as soon as the rollout has made its first new replica.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if slicesAny(liveRuns(t, base), func(c v1alpha1.CellRun) bool { return strings.HasSuffix(c.Metadata.Name, "-1") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rollout did not start")
		}
	}
	cp.cmd.Process.Signal(syscall.SIGKILL)
	cp.done <- <-cp.done // wait for it to end; leave the result for the cleanup
	start(t, "up", "-f", cfg, "--listen", addr, "--data", data)

	a := waitApp(t, base, "demo", 45*time.Second, func(a v1alpha1.Application) bool {
		if !running(3)(a) || a.Metadata.Generation != 2 {
			return false
		}
		for _, r := range a.Status.Components[0].Replicas { // the source: both on the new template
			if !strings.HasSuffix(r.Name, "-1") {
				return false
			}
		}
		return len(a.Status.Components[0].Replicas) == 2
	})
	time.Sleep(time.Second) // let any stray action of the old plan show
	if live := liveRuns(t, base); len(live) != 3 {
		t.Fatalf("%d live runs after the rollout, want 3: %+v", len(live), live)
	}
	_ = a
}

// TestSiteLostMidDeployment kills (SIGKILL) the agent of the site an
// application was just placed on, before its replicas run; the
// orchestrator places them again on the site that is left.
func TestSiteLostMidDeployment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "continuum.yaml")
	os.WriteFile(cfg, []byte(agentsOnlyConfig), 0o644)
	_, base := start(t, "up", "-f", cfg, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	doomed := startAgent(t, dir, base, "doomed")
	waitSites(t, base, 10*time.Second, func(s map[string]v1alpha1.Site) bool { return s["doomed"].Status.Phase == v1alpha1.SiteReady })
	// Stop the doomed agent from taking work, then make it the only site.
	doomed.cmd.Process.Signal(syscall.SIGSTOP)
	if out, err := run(t, nil, "apply", "-f", "testdata/apps/", "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	for _, c := range liveRuns(t, base) {
		if c.Spec.Site != "doomed" || c.Status.Phase != v1alpha1.CellPending {
			t.Fatalf("before the loss: run %s %s at %s", c.Metadata.Name, c.Status.Phase, c.Spec.Site)
		}
	}
	doomed.cmd.Process.Signal(syscall.SIGKILL)
	startAgent(t, dir, base, "spare")
	a := waitApp(t, base, "demo", 30*time.Second, running(3))
	for _, c := range a.Status.Components {
		for _, r := range c.Replicas {
			if r.Site != "spare" {
				t.Errorf("replica %s at %s, want spare", r.Name, r.Site)
			}
		}
	}
	if live := liveRuns(t, base); len(live) != 3 {
		t.Fatalf("%d live runs, want 3", len(live))
	}
}

func slicesAny[T any](s []T, f func(T) bool) bool {
	for _, x := range s {
		if f(x) {
			return true
		}
	}
	return false
}
