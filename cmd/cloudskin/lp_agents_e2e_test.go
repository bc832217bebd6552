package main

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// TestScalingAgentScalesAnApplication runs the Learning Plane's loop in
// `cloudskin up` end to end: an Agent whose sensor is a PromQL expression
// with an hourly cycle (evaluated by the embedded TSDB's engine, so a
// window of history exists from the first tick) trains a model into the
// registry, forecasts the load over the start-up delay and scales a
// process application through the orchestrator's API; the CLI shows the
// agent, its log and the model.
func TestScalingAgentScalesAnApplication(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	srv := []string{"--server", base}
	f := filepath.Join(dir, "shop.yaml")
	os.WriteFile(f, []byte(`apiVersion: cloudskin.io/v1alpha1
kind: Block
metadata: {name: api}
spec:
  version: 1.0.0
  type: process
  process:
    command: ["sleep", "3600"]
---
apiVersion: cloudskin.io/v1alpha1
kind: Application
metadata: {name: shop}
spec:
  components:
    - {name: api, block: api, replicas: 1}
---
apiVersion: cloudskin.io/v1alpha1
kind: Agent
metadata: {name: shop-scaler}
spec:
  trigger: {interval: 2s}
  sensors:
    - name: rps
      query: 60 + 40 * sin(vector(2 * pi() * time() / 3600))
      window: 3h
      step: 1m
  model: {kind: holt-winters, season: 60}
  policy:
    type: predictive-scaling
    scaling: {capacity: 10, targetUtilization: 1, headroom: 0.1, startupDelay: 5m, minReplicas: 1, maxReplicas: 20}
  actuator: {type: application, application: shop, component: api}
`), 0o644)
	out, err := run(t, nil, append([]string{"apply", "-f", f}, srv...)...)
	if err != nil || !strings.Contains(out, "agent/shop-scaler created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}

	// The first tick decides a count from the forecast and sets it.
	var logs string
	decided := regexp.MustCompile(`decision:   (\d+) replicas: holt-winters forecasts peak`)
	var want int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		logs, _ = run(t, nil, append([]string{"lp", "agents", "logs", "shop-scaler"}, srv...)...)
		if m := decided.FindStringSubmatch(logs); m != nil {
			want, _ = strconv.Atoi(m[1])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no forecast-based decision in the agent's log:\n%s", logs)
		}
	}
	// The sensor's phase depends on the wall clock, so the count is checked
	// against the load the tick saw: at least enough replicas for it at
	// full utilisation, and within the policy's bounds.
	m := regexp.MustCompile(`inputs:     rps=([0-9.]+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("the log has no rps input:\n%s", logs)
	}
	current, _ := strconv.ParseFloat(m[1], 64)
	if floor := int(math.Ceil(current / 10)); want < floor || want > 20 {
		t.Fatalf("decided %d replicas for %.1f rps at 10 per replica (want %d to 20):\n%s", want, current, floor, logs)
	}
	for _, s := range []string{"inputs:     rps=", "(181 points)", "prediction: shop-scaler v1 (holt-winters)", "action:     "} {
		if !strings.Contains(logs, s) {
			t.Errorf("the log lacks %q:\n%s", s, logs)
		}
	}
	waitApp(t, base, "shop", 60*time.Second, func(a v1alpha1.Application) bool {
		return a.Spec.Components[0].DesiredReplicas() >= 2 && running(a.Spec.Components[0].DesiredReplicas())(a)
	})

	out, err = run(t, nil, append([]string{"lp", "agents", "ls"}, srv...)...)
	if err != nil || !strings.Contains(out, "shop-scaler") || !strings.Contains(out, "predictive-scaling") || !strings.Contains(out, "application:shop/api") {
		t.Fatalf("lp agents ls: %v\n%s", err, out)
	}
	out, err = run(t, nil, append([]string{"lp", "models", "ls"}, srv...)...)
	if err != nil || !regexp.MustCompile(`shop-scaler\s+v1\s+holt-winters`).MatchString(out) {
		t.Fatalf("lp models ls: %v\n%s", err, out)
	}
	out, err = run(t, nil, append([]string{"lp", "models", "show", "shop-scaler"}, srv...)...)
	if err != nil || !strings.Contains(out, "Stage:") || !strings.Contains(out, "production") || !regexp.MustCompile(`Trained by:\s+agent/shop-scaler`).MatchString(out) {
		t.Fatalf("lp models show: %v\n%s", err, out)
	}
	if out, err := run(t, nil, append([]string{"delete", "agent", "shop-scaler"}, srv...)...); err != nil || !strings.Contains(out, "agent/shop-scaler deleted") {
		t.Fatalf("delete agent: %v\n%s", err, out)
	}
}
