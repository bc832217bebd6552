package kubetest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestStartServesAndStops checks the whole life of a cluster: the API
// server answers as v1.34.4 through Config and through the kubeconfig
// file, refuses a wrong token, and after Stop no longer listens and has
// left no files behind.
func TestStartServesAndStops(t *testing.T) {
	c := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if v := serverVersion(ctx, t, c.Config); v != "v1.34.4" {
		t.Errorf("server version through Config = %q, want v1.34.4", v)
	}
	fromFile, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatalf("load %s: %v", c.Kubeconfig, err)
	}
	if v := serverVersion(ctx, t, fromFile); v != "v1.34.4" {
		t.Errorf("server version through the kubeconfig = %q, want v1.34.4", v)
	}

	wrong := rest.CopyConfig(c.Config)
	wrong.BearerToken = "not-the-token"
	disc, err := discovery.NewDiscoveryClientForConfig(wrong)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := disc.ServerGroupsWithContext(ctx); !apierrors.IsUnauthorized(err) {
		t.Errorf("discovery with a wrong token: err = %v, want 401 Unauthorized", err)
	}

	host := hostOf(t, c.Config.Host)
	dir := c.dir
	c.Stop()
	if conn, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop", host)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (stat: %v)", dir, err)
	}
	c.Stop() // stopping twice is fine
}

// TestSharedStartsOnce checks that every Get of a Shared returns the same
// running cluster and that Stop stops it.
func TestSharedStartsOnce(t *testing.T) {
	var s Shared
	a := s.Get(t)
	b := s.Get(t)
	if a != b {
		t.Fatal("two Gets of one Shared returned different clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v := serverVersion(ctx, t, b.Config); v == "" {
		t.Fatal("shared cluster does not answer")
	}
	s.Stop()
	client := &http.Client{Timeout: time.Second}
	if resp, err := client.Get(a.Config.Host + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after Stop", a.Config.Host)
	}
	s.Stop() // stopping twice is fine
}

// TestStartFailureCarriesLogs starts an "API server" that dies at once:
// start must fail promptly, not wait out its timeout, with the end of the
// server's log in the error.
func TestStartFailureCarriesLogs(t *testing.T) {
	bins := findBinaries(t)
	fake := filepath.Join(t.TempDir(), "kube-apiserver")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'boom: no such flag' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	c, err := start(binaries{etcd: bins.etcd, apiserver: fake}, t.TempDir())
	if err == nil {
		c.Stop()
		t.Fatal("start succeeded with an API server that exits at once")
	}
	for _, want := range []string{"exited before it was ready", "boom: no such flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if took := time.Since(began); took > startTimeout/2 {
		t.Errorf("start took %s to notice the server had exited", took)
	}
}

// TestSweepRemovesDeadProcessesDirs checks the clean-up of etcd data left
// in memory by a killed test binary: the directory of a process that is
// gone is removed, this process's stays.
func TestSweepRemovesDeadProcessesDirs(t *testing.T) {
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("no `true` to make a dead process: %v", err)
	}
	dir := t.TempDir()
	gone := filepath.Join(dir, fmt.Sprintf("kubetest-etcd-%d-1", dead.Process.Pid))
	mine := filepath.Join(dir, fmt.Sprintf("kubetest-etcd-%d-2", os.Getpid()))
	other := filepath.Join(dir, "kubetest-etcd-notapid-3")
	for _, d := range []string{gone, mine, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sweepEtcdDirs(dir)
	for d, want := range map[string]bool{gone: false, mine: true, other: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s exists = %v after the sweep, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

// BenchmarkStart measures how long a cluster takes to be ready (start-s)
// and to stop (stop-s).
func BenchmarkStart(b *testing.B) {
	bins := findBinaries(b)
	var starting, stopping time.Duration
	for b.Loop() {
		began := time.Now()
		c, err := start(bins, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		started := time.Now()
		c.Stop()
		starting += started.Sub(began)
		stopping += time.Since(started)
	}
	b.ReportMetric(starting.Seconds()/float64(b.N), "start-s")
	b.ReportMetric(stopping.Seconds()/float64(b.N), "stop-s")
}

func serverVersion(ctx context.Context, t *testing.T, cfg *rest.Config) string {
	t.Helper()
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := disc.ServerVersionWithContext(ctx)
	if err != nil {
		t.Fatalf("server version from %s: %v", cfg.Host, err)
	}
	return info.GitVersion
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
