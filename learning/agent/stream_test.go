package agent_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/learning/agent"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/telemetry"
)

const streamOperatorToken = "operator-token-0123456789"

// startStreams runs the stream component as `cloudskin up --auth` does (a
// cluster of 8 containers on one instance, the instance API guarded by
// role) on a free loopback port, and returns its URL.
func startStreams(t *testing.T) string {
	t.Helper()
	authz, err := auth.New([]auth.Token{{Name: "operator", Role: auth.Operator, Token: streamOperatorToken}})
	if err != nil {
		t.Fatal(err)
	}
	host := componenttest.Start(t, func(h *component.Host) {
		h.Server.Guard(streamapi.Base+"/instances", authz.Guard)
	}, streamapi.NewComponent(streamapi.BackendOptions{Instances: 1}))
	return host.ControlPlaneURL
}

// selfNBI is the plane's NBI client as the agents get it inside up: it
// knows its server and token (the application actuator's methods are not
// used here).
type selfNBI struct {
	agent.NBI
	server, token string
}

func (n selfNBI) Server() string { return n.server }
func (n selfNBI) Token() string  { return n.token }

func streamAgent(dryRun bool, server string) v1alpha1.Agent {
	a := scalingAgent(dryRun)
	a.Metadata.Name = "stream-scaler"
	a.Spec.Actuator = v1alpha1.Actuator{Type: v1alpha1.ActuatorStream, Server: server}
	return a
}

func instances(t *testing.T, url string) int {
	t.Helper()
	c, err := streamapi.NewClient(url, streamOperatorToken)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := c.Instances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return in.Count
}

// TestStreamActuatorScalesTheStoreAheadOfTheLoad runs a predictive-scaling
// agent with the stream actuator for three ticks over a synthetic hourly
// load (20 to 180 events/s, 10 per instance) against a real stream
// component: the store goes from 1 instance to what the policy decided,
// capped at its 8 containers. The agent reaches the store as it does
// inside up: the continuum's own URL and operator token, through the NBI.
func TestStreamActuatorScalesTheStoreAheadOfTheLoad(t *testing.T) {
	db := openTSDB(t)
	hourlyLoad(t, db, 6*60)
	url := startStreams(t)
	r, err := agent.NewRunner(streamAgent(false, ""), agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t),
		NBI: selfNBI{server: url, token: streamOperatorToken}, Log: logging.Discard(),
	}, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var last v1alpha1.AgentTick
	for i := range 3 {
		last, _ = r.Tick(context.Background(), now.Add(time.Duration(i)*time.Minute))
		if last.Error != "" {
			t.Fatalf("tick %d failed: %s (decision %s)", i, last.Error, last.Decision)
		}
		if i == 0 && !strings.Contains(last.Action, "set the stream store's instances from 1 to ") {
			t.Fatalf("the first tick did not scale the store: %q (decision %q)", last.Action, last.Decision)
		}
	}
	t.Logf("last tick: decision %q, action %q", last.Decision, last.Action)
	var replicas int
	if _, err := fmt.Sscanf(last.Decision, "%d replicas", &replicas); err != nil {
		t.Fatalf("decision %q: %v", last.Decision, err)
	}
	want := agent.InstancesFor(replicas, 8)
	if got := instances(t, url); got != want || got < 3 {
		t.Fatalf("%d instances after 3 ticks, want %d (the decision %q, capped at 8 containers; more than the 2 that 20 events/s needs)", got, want, last.Decision)
	}
	if replicas > 8 && !strings.Contains(last.Action, "8 containers") {
		t.Fatalf("the cap is not said: %q", last.Action)
	}
}

// TestStreamActuatorDryRunChangesNothing: the same agent in dry-run
// decides and logs, and the store keeps its one instance.
func TestStreamActuatorDryRunChangesNothing(t *testing.T) {
	db := openTSDB(t)
	hourlyLoad(t, db, 6*60)
	url := startStreams(t)
	r, err := agent.NewRunner(streamAgent(true, url), agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t),
		NBI: selfNBI{server: url, token: streamOperatorToken}, Log: logging.Discard(),
	}, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tick, _ := r.Tick(context.Background(), now.Add(time.Duration(i)*time.Minute))
		if tick.Error != "" || !strings.HasPrefix(tick.Action, "dry-run: would set ") {
			t.Fatalf("tick %d: %+v", i, tick)
		}
	}
	if got := instances(t, url); got != 1 {
		t.Fatalf("a dry run changed the store to %d instances", got)
	}
}

// TestStreamActuatorNeedsAToken: a server other than the plane's own gets
// no token, and a guarded instance API refuses the change; the tick says
// why.
func TestStreamActuatorNeedsAToken(t *testing.T) {
	db := openTSDB(t)
	hourlyLoad(t, db, 6*60)
	url := startStreams(t)
	r, err := agent.NewRunner(streamAgent(false, url), agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t),
		NBI: selfNBI{server: "http://127.0.0.1:1", token: streamOperatorToken}, Log: logging.Discard(),
	}, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tick, _ := r.Tick(context.Background(), now)
	if !strings.Contains(tick.Error, "401") {
		t.Fatalf("tick error %q, want the API's 401", tick.Error)
	}
	if got := instances(t, url); got != 1 {
		t.Fatalf("an unauthenticated actuator changed the store to %d instances", got)
	}
}

func TestInstancesFor(t *testing.T) {
	for _, c := range []struct{ replicas, containers, want int }{
		{0, 8, 1}, {-3, 8, 1}, {1, 8, 1}, {5, 8, 5}, {8, 8, 8}, {50, 8, 8}, {50, 0, 50}, {0, 0, 1},
	} {
		if got := agent.InstancesFor(c.replicas, c.containers); got != c.want {
			t.Errorf("InstancesFor(%d, %d) = %d, want %d", c.replicas, c.containers, got, c.want)
		}
	}
}

func TestStreamActuatorValidation(t *testing.T) {
	a := streamAgent(false, "ftp://x")
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "spec.actuator.server") {
		t.Fatalf("a bad server: %v", err)
	}
	a = streamAgent(false, "")
	a.Spec.Policy = v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPreWarming}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "stream actuator") {
		t.Fatalf("the stream actuator under pre-warming: %v", err)
	}
	if _, err := agent.NewRunner(streamAgent(false, ""), agent.Deps{NBI: newNBI(1)}, now); err == nil || !strings.Contains(err.Error(), "spec.actuator.server") {
		t.Fatalf("no server and an NBI that does not know its own: %v", err)
	}
}
