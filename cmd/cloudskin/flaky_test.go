package main

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// flakyProxy forwards TCP connections to target and cuts them at random
// points: each read, in either direction, ends the connection with
// probability cutEach, so requests and answers in flight are cut short
// wherever they happen to be.
type flakyProxy struct {
	ln      net.Listener
	target  string
	cutEach float64
	cuts    atomic.Int64
	wg      sync.WaitGroup
	// partitioned cuts every connection and refuses new ones while set.
	partitioned atomic.Bool

	mu  sync.Mutex
	rng *rand.Rand
}

func startFlakyProxy(t *testing.T, target string, cutEach float64, seed uint64) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target, cutEach: cutEach, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.partitioned.Load() {
				c.Close()
				continue
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.forward(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// cutNow rolls the dice for one read.
func (p *flakyProxy) cutNow() bool {
	if p.partitioned.Load() {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < p.cutEach
}

func (p *flakyProxy) forward(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && p.cutNow() {
				dst.Write(buf[:rand.IntN(n)]) // part of it, then the cut
				p.cuts.Add(1)
				break
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		c.Close()
		s.Close()
	}
	done := make(chan struct{})
	go func() { pipe(s, c); close(done) }()
	pipe(c, s)
	<-done
}

func (p *flakyProxy) URL() string { return "http://" + p.ln.Addr().String() }

// TestMigrationWithConnectionsCutAtRandom runs a cell at a site whose agent
// reaches the control plane through a proxy that cuts every connection at
// a random point (requests and answers cut short), and moves
// the cell to another site. Whatever the cuts hit (the claim, the
// hand-over, the snapshot, the reports), the cell is never lost and never
// counted twice: it ends once, with the output and exit status of a run
// that was never interrupted, at one site or the other.
func TestMigrationWithConnectionsCutAtRandom(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 3; seed++ {
		dir := t.TempDir()
		conf := filepath.Join(dir, "continuum.yaml")
		// A long notReadyAfter: cut heartbeats must not make the site look lost.
		os.WriteFile(conf, []byte("apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: t\nspec:\n  heartbeat:\n    interval: 200ms\n    notReadyAfter: 60s\n"), 0o600)
		_, base := start(t, "up", "-f", conf, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
		proxy := startFlakyProxy(t, base[len("http://"):], 0.15, seed)
		src := exec.Command(binary, "agent", "--server", proxy.URL(), "--name", "flaky", "--interval", "200ms", "--listen", "127.0.0.1:0", "--log-level", "debug")
		src.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
		var agentLog lockedBuffer
		src.Stderr = &agentLog
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("the flaky site's agent said:\n%s", agentLog.String())
			}
		})
		if err := src.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Process.Kill(); src.Wait() })
		waitSites(t, base, 20*time.Second, func(s map[string]v1alpha1.Site) bool { return s["flaky"].Status.Phase == v1alpha1.SiteReady })

		wasm := filepath.Join(dir, "slow.wasm")
		if out, err := run(t, nil, "cell", "cc", "--migratable", "testdata/slow.c", "-o", wasm); err != nil {
			t.Fatalf("cell cc: %v\n%s", err, out)
		}
		straight, err := exec.Command(binary, "cell", "run", wasm).Output()
		straightCode := exitCode(err)
		remote := exec.Command(binary, "cell", "run", "--server", base, "--site", "flaky", wasm)
		var remoteOut bytes.Buffer
		remote.Stdout = &remoteOut
		if err := remote.Start(); err != nil {
			t.Fatal(err)
		}
		var name string
		for deadline := time.Now().Add(30 * time.Second); name == ""; time.Sleep(20 * time.Millisecond) {
			var list struct{ Items []v1alpha1.CellRun }
			getJSON(t, base+"/api/v1/cells", &list)
			if len(list.Items) == 1 && list.Items[0].Status.Phase == v1alpha1.CellRunning {
				name = list.Items[0].Metadata.Name
			}
			if time.Now().After(deadline) {
				t.Fatalf("seed %d: the cell never ran at the flaky site", seed)
			}
		}
		run(t, nil, "cell", "migrate", "--server", base, name, "--to", "cloud") // may or may not get through
		done := make(chan error, 1)
		go func() { done <- remote.Wait() }()
		select {
		case err = <-done:
		case <-time.After(90 * time.Second):
			remote.Process.Kill()
			t.Fatalf("seed %d: the cell never ended (cuts so far: %d)", seed, proxy.cuts.Load())
		}
		if remoteOut.String() != string(straight) || exitCode(err) != straightCode {
			t.Fatalf("seed %d: exit %d, output\n%s\nwant exit %d, output\n%s", seed, exitCode(err), remoteOut.String(), straightCode, straight)
		}
		var after v1alpha1.CellRun
		getJSON(t, base+"/api/v1/cells/"+name, &after)
		t.Logf("seed %d: %d connections cut; ended at %s after %d moves", seed, proxy.cuts.Load(), after.Status.Site, len(after.Status.Migrations))
	}
}

// lockedBuffer is a bytes.Buffer a process and the test can share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
