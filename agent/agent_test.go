package agent_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/agent"
	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/orchestrator"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// controlPlane serves a control plane on addr until the returned stop is called.
func controlPlane(t *testing.T, addr, dataDir string) (url string, stop func()) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(dataDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // the port may still be held briefly after a previous stop
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New("t", "t")
	h := &component.Host{Log: logging.Discard(), Metrics: reg.Registerer, Server: httpserver.New(logging.Discard(), reg), Store: st, DataDir: dataDir, ControlPlaneURL: "http://" + ln.Addr().String()}
	cp := orchestrator.New(orchestrator.Options{NotReadyAfter: 3 * time.Second})
	if err := cp.Setup(h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Server.Serve(ctx, ln); close(done) }()
	return h.ControlPlaneURL, func() { cancel(); <-done; st.Close() }
}

func runAgent(t *testing.T, server string) (stop func()) {
	t.Helper()
	site := v1alpha1.NewSite("pole", v1alpha1.SiteSpec{Type: v1alpha1.SiteEdge, Capacity: v1alpha1.Capacity{Cores: 1, Memory: v1alpha1.MustParseQuantity("1Gi")}})
	a, err := agent.New(site, 50*time.Millisecond, server)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New("t", "t")
	if err := a.Setup(&component.Host{Log: logging.Discard(), Metrics: reg.Registerer, ControlPlaneURL: server}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAgentSurvivesControlPlaneOutageAndReRegistersAfterLoss(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()

	// The agent starts before the control plane exists: it must keep trying.
	stopAgent := runAgent(t, "http://"+addr)
	defer stopAgent()
	time.Sleep(150 * time.Millisecond)

	url, stopCP := controlPlane(t, addr, t.TempDir())
	c, _ := client.New(url)
	ready := func() bool {
		s, err := c.GetSite(context.Background(), "pole")
		return err == nil && s.Status.Phase == v1alpha1.SiteReady
	}
	eventually(t, "agent registers once the control plane appears", ready)

	// The control plane comes back with an empty store (its state was lost):
	// heartbeats get 404 and the agent must register again.
	stopCP()
	_, stopCP = controlPlane(t, addr, t.TempDir())
	defer stopCP()
	eventually(t, "agent re-registers with a control plane that lost it", ready)
}
