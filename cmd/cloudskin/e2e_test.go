package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// The end-to-end tests build the real binary once and drive it as a user
// would: start `cloudskin up` on a free port, use the API and the CLI, stop
// it with SIGINT.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cloudskin-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "cloudskin")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building cloudskin:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running cloudskin command with its output captured.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	url  chan string
	done chan error
}

var urlPattern = regexp.MustCompile(`(?:control plane at|metrics at) (http://127\.0\.0\.1:\d+)`)

// start runs the binary with args and waits for it to say where it listens.
func start(t *testing.T, args ...string) (*process, string) {
	t.Helper()
	return startWith(t, nil, args...)
}

// startWith is start with env added to the process's environment.
func startWith(t *testing.T, env []string, args ...string) (*process, string) {
	t.Helper()
	if args[0] == "up" && !slices.Contains(args, "--s3-listen") {
		// Tests run side by side: each S3 gateway on a port of its own.
		args = append(args, "--s3-listen", "127.0.0.1:0")
	}
	if args[0] == "up" && !slices.Contains(args, "--stream-listen") {
		args = append(args, "--stream-listen", "127.0.0.1:0")
	}
	p := launch(t, env, args...)
	select {
	case u := <-p.url:
		return p, u
	case err := <-p.done:
		t.Fatalf("cloudskin %v exited early: %v\n%s", args, err, p.output())
	case <-time.After(30 * time.Second):
		t.Fatalf("cloudskin %v did not report its URL\n%s", args, p.output())
	}
	return nil, ""
}

// launch starts the binary with args, env added to its environment (and
// no control plane from the caller's), collecting its output; it is killed
// when the test ends, and its output logged if the test failed.
func launch(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(binary, args...), url: make(chan string, 1), done: make(chan error, 1)}
	p.cmd.Env = append(append(os.Environ(), "CLOUDSKIN_SERVER="), env...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &lockedWriter{p: p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.scan(stdout)
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %v:\n%s", args, p.output())
		}
	})
	return p
}

func (p *process) scan(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.out.WriteString(line + "\n")
		p.mu.Unlock()
		if m := urlPattern.FindStringSubmatch(line); m != nil {
			select {
			case p.url <- m[1]:
			default:
			}
		}
	}
	p.done <- p.cmd.Wait()
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// interrupt sends SIGINT and returns how long the exit took and the exit error.
func (p *process) interrupt(t *testing.T) (time.Duration, error) {
	t.Helper()
	begin := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		return time.Since(begin), err
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGINT")
	}
	return 0, nil
}

type lockedWriter struct{ p *process }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// run runs a client command to completion.
func run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "CLOUDSKIN_SERVER="), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// waitSites polls the API until cond holds for the site list.
func waitSites(t *testing.T, base string, within time.Duration, cond func(map[string]v1alpha1.Site) bool) map[string]v1alpha1.Site {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var list v1alpha1.SiteList
		getJSON(t, base+"/api/v1/sites", &list)
		byName := map[string]v1alpha1.Site{}
		for _, s := range list.Items {
			byName[s.Metadata.Name] = s
		}
		if cond(byName) {
			return byName
		}
		if time.Now().After(deadline) {
			t.Fatalf("sites did not reach the expected state within %s: %+v", within, list.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func bothReady(sites map[string]v1alpha1.Site) bool {
	return len(sites) == 2 && sites["edge"].Status.Phase == v1alpha1.SiteReady && sites["cloud"].Status.Phase == v1alpha1.SiteReady
}

func TestUpServesSitesMetricsAndCLIThenStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	up, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", data)

	sites := waitSites(t, base, 10*time.Second, bothReady)
	cloudMemory := sites["cloud"].Spec.Capacity.Memory
	if sites["edge"].Spec.Capacity.Cores != 2 || cloudMemory.String() != "64Gi" {
		t.Fatalf("default sites have unexpected capacity: %+v", sites)
	}
	if sites["edge"].Metadata.Labels["tier"] != "edge" {
		t.Fatalf("edge labels = %v", sites["edge"].Metadata.Labels)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`cloudskin_site_ready{site="edge",type="edge"} 1`, `cloudskin_site_capacity_cores{site="cloud",type="cloud"} 16`, "cloudskin_agent_heartbeats_total", "cloudskin_http_requests_total"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := getJSON(t, base+"/readyz", nil); code != 200 {
		t.Errorf("/readyz = %d", code)
	}

	// The CLI finds the server through the client config `up` wrote in --data.
	out, err := run(t, nil, "get", "sites", "--data", data)
	if err != nil {
		t.Fatalf("get sites: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^cloud\s+cloud\s+Ready\s+16\s+64Gi`).MatchString(out) || !regexp.MustCompile(`(?m)^edge\s+edge\s+Ready\s+2\s+2Gi`).MatchString(out) {
		t.Fatalf("get sites table:\n%s", out)
	}
	// ... and through $CLOUDSKIN_SERVER, with -o yaml.
	out, err = run(t, []string{"CLOUDSKIN_SERVER=" + base}, "get", "sites", "edge", "-o", "yaml", "--data", t.TempDir())
	if err != nil || !strings.Contains(out, "phase: Ready") || !strings.Contains(out, "kind: SiteList") {
		t.Fatalf("get sites edge -o yaml: %v\n%s", err, out)
	}
	// A wrong server is a clear error, not a hang.
	out, err = run(t, nil, "get", "sites", "--server", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(out, "control plane at http://127.0.0.1:1") {
		t.Fatalf("get sites against a dead server: %v\n%s", err, out)
	}

	took, err := up.interrupt(t)
	if err != nil {
		t.Fatalf("up exited with %v after SIGINT\n%s", err, up.output())
	}
	if took > 5*time.Second {
		t.Fatalf("shutdown took %s, want under 5 s", took)
	}
	t.Logf("stopped %s after SIGINT", took.Round(time.Millisecond))
}

func TestUpKeepsSitesAcrossRestart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	up, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", data)
	first := waitSites(t, base, 10*time.Second, bothReady)
	if _, err := up.interrupt(t); err != nil {
		t.Fatal(err)
	}

	_, base = start(t, "up", "--listen", "127.0.0.1:0", "--data", data)
	again := waitSites(t, base, 10*time.Second, bothReady)
	for _, name := range []string{"edge", "cloud"} {
		was, is := first[name].Metadata.CreationTimestamp, again[name].Metadata.CreationTimestamp
		if was == nil || is == nil || !was.Equal(*is) {
			t.Errorf("site %s creation time %v after restart, was %v: not kept", name, is, was)
		}
	}
}

func TestSilentAgentIsNotReadyWithin10s(t *testing.T) {
	t.Parallel()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	agentProc, _ := start(t, "agent", "--server", base, "--listen", "127.0.0.1:0",
		"--name", "pole-7", "--type", "edge", "--cores", "4", "--memory", "8Gi", "--label", "gpu=true", "--interval", "500ms")
	waitSites(t, base, 10*time.Second, func(s map[string]v1alpha1.Site) bool {
		return s["pole-7"].Status.Phase == v1alpha1.SiteReady && s["pole-7"].Metadata.Labels["gpu"] == "true"
	})

	if err := agentProc.cmd.Process.Kill(); err != nil { // no goodbye: a crashed host
		t.Fatal(err)
	}
	killed := time.Now()
	sites := waitSites(t, base, 10*time.Second, func(s map[string]v1alpha1.Site) bool {
		return s["pole-7"].Status.Phase == v1alpha1.SiteNotReady
	})
	t.Logf("pole-7 NotReady %s after SIGKILL: %s", time.Since(killed).Round(100*time.Millisecond), sites["pole-7"].Status.Message)
	if sites["edge"].Status.Phase != v1alpha1.SiteReady {
		t.Errorf("edge went %s when another site's agent died", sites["edge"].Status.Phase)
	}
}

func TestBadInputsAreClearErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "continuum.yaml")
	os.WriteFile(bad, []byte("apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: x\nspec:\n  listne: 127.0.0.1:1\n"), 0o600)
	out, err := run(t, nil, "up", "-f", bad, "--data", dir)
	if err == nil || !strings.Contains(out, bad+":6:3") || !strings.Contains(out, "listne") {
		t.Fatalf("up with a misspelt field: %v\n%s", err, out)
	}
	out, err = run(t, nil, "get", "sites", "-o", "xml")
	if err == nil || !strings.Contains(out, `output format "xml"`) {
		t.Fatalf("get sites -o xml: %v\n%s", err, out)
	}
	out, err = run(t, nil, "agent", "--name", "Bad_Name", "--server", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(out, "metadata.name") {
		t.Fatalf("agent with a bad name: %v\n%s", err, out)
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	out, err := run(t, nil, "version", "-o", "json")
	if err != nil {
		t.Fatal(err, out)
	}
	var v struct{ Version, Commit, GoVersion string }
	if err := json.Unmarshal([]byte(out), &v); err != nil || !strings.HasPrefix(v.GoVersion, "go1.") || v.Version == "" {
		t.Fatalf("version -o json = %q (%v)", out, err)
	}
	for _, args := range [][]string{{"--help"}, {"up", "--help"}, {"get", "sites", "--help"}, {"agent", "--help"}, {"version", "--help"}, {"config", "--help"}} {
		out, err := run(t, nil, args...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("cloudskin %v: %v\n%s", args, err, out)
		}
	}
}

// exitCode is a finished command's exit status (0 for a nil error).
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
