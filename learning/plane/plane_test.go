package plane_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/component/componenttest"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/plane"
	"github.com/cloudskin/cloudskin/telemetry"
)

// start serves a plane whose sensors read db, and returns a client of it.
func start(t *testing.T, db *telemetry.DB) *client.Client {
	t.Helper()
	opts := plane.Options{SyncEvery: 50 * time.Millisecond}
	if db != nil {
		opts.Querier = func() telemetry.Querier { return db }
	}
	p := plane.New(opts)
	h := componenttest.Start(t, nil, p)
	c, err := client.New(h.ControlPlaneURL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func status(err error) int {
	var st *v1alpha1.Status
	if errors.As(err, &st) {
		return st.Code
	}
	return 0
}

func artifact(t *testing.T) []byte {
	t.Helper()
	m, _ := forecast.New(forecast.KindSeasonalNaive, 1)
	if err := m.Fit([]float64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	b, err := forecast.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegistryAPI(t *testing.T) {
	ctx := context.Background()
	c := start(t, nil)
	mv := v1alpha1.ModelVersion{Spec: v1alpha1.ModelVersionSpec{Model: "load", Kind: forecast.KindSeasonalNaive, Artifact: artifact(t)}}
	v1, err := c.RegisterModelVersion(ctx, mv)
	if err != nil || v1.Status.Version != 1 || v1.Status.Stage != v1alpha1.StageCandidate {
		t.Fatalf("register: %+v, %v", v1.Status, err)
	}
	if _, err := c.PromoteModelVersion(ctx, "load", 1, false); err != nil {
		t.Fatal(err)
	}
	mv.Spec.Evaluation = &v1alpha1.ModelEvaluation{Against: 1, Metric: "mase", Candidate: 1.2, Current: 1.0}
	if _, err := c.RegisterModelVersion(ctx, mv); err != nil {
		t.Fatal(err)
	}
	_, err = c.PromoteModelVersion(ctx, "load", 2, false)
	if status(err) != http.StatusConflict || !strings.Contains(err.Error(), "held-out mase 1.2") {
		t.Fatalf("promoting a loser: %v, want a 409 that says why", err)
	}
	if _, err := c.PromoteModelVersion(ctx, "load", 2, true); err != nil {
		t.Fatalf("forced: %v", err)
	}
	back, err := c.RollbackModel(ctx, "load")
	if err != nil || back.Status.Version != 1 {
		t.Fatalf("rollback: v%d, %v", back.Status.Version, err)
	}
	models, err := c.ListModels(ctx)
	if err != nil || len(models) != 1 || models[0].Production != 1 || models[0].Versions != 2 {
		t.Fatalf("models: %+v, %v", models, err)
	}
	if _, err := c.GetModelVersion(ctx, "load", 9); status(err) != http.StatusNotFound {
		t.Fatalf("missing version: %v", err)
	}
	bad := mv
	bad.Spec.Artifact = nil
	if _, err := c.RegisterModelVersion(ctx, bad); status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("no artifact: %v", err)
	}
}

func prewarmAgent(name string) v1alpha1.Agent {
	return v1alpha1.Agent{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindAgent},
		Metadata: v1alpha1.ObjectMeta{Name: name},
		Spec: v1alpha1.AgentSpec{
			Trigger: v1alpha1.AgentTrigger{Interval: v1alpha1.Duration{Duration: time.Second}},
			Sensors: []v1alpha1.Sensor{{Name: "invocations", Query: "fn_invocations", Window: v1alpha1.Duration{Duration: time.Hour}}},
			Policy:  v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPreWarming},
		},
	}
}

// waitTicks waits until the agent has logged at least n ticks.
func waitTicks(t *testing.T, c *client.Client, name string, n int) []v1alpha1.AgentTick {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ts, err := c.AgentTicks(context.Background(), name, 0)
		if err == nil && len(ts) >= n {
			return ts
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s logged %d ticks (%v), want %d", name, len(ts), err, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAgentsRunOnTheirTriggerAndStopWhenDeleted(t *testing.T) {
	ctx := context.Background()
	db, err := telemetry.OpenDB(t.TempDir(), telemetry.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for m := 59; m >= 0; m-- {
		v := 0.0
		if m%5 == 0 {
			v = 2
		}
		lbls := map[string]string{"__name__": "fn_invocations"}
		if err := db.AppendSample(ctx, lbls, now.Add(-time.Duration(m)*time.Minute), v); err != nil {
			t.Fatal(err)
		}
	}
	c := start(t, db)
	a := prewarmAgent("warmer")
	saved, result, err := c.ApplyAgent(ctx, a)
	if err != nil || result != "created" || saved.Metadata.Generation != 1 {
		t.Fatalf("apply: %s %+v %v", result, saved.Metadata, err)
	}
	if _, result, _ = c.ApplyAgent(ctx, a); result != "unchanged" {
		t.Fatalf("re-apply: %s", result)
	}
	ticks := waitTicks(t, c, "warmer", 2)
	first := ticks[0]
	if first.Error != "" || first.Inputs["invocations"].Points < 58 || !strings.Contains(first.Decision, "hybrid") ||
		!strings.HasPrefix(first.Action, "none (no actuator)") || len(first.Prediction) != 2 {
		t.Fatalf("tick = %+v", first)
	}
	if gap := ticks[1].Time.Sub(ticks[0].Time); gap < 900*time.Millisecond {
		t.Fatalf("ticks %s apart with a 1 s interval", gap)
	}
	got, err := c.GetAgent(ctx, "warmer")
	if err != nil || got.Status.Ticks < 1 || got.Status.LastDecision == "" {
		t.Fatalf("status: %+v %v", got.Status, err)
	}

	a.Spec.Policy.PreWarm = "fixed-10"
	if _, result, _ := c.ApplyAgent(ctx, a); result != "configured" {
		t.Fatalf("changed spec: %s", result)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ts := waitTicks(t, c, "warmer", 1)
		if strings.Contains(ts[len(ts)-1].Decision, "fixed-10") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never picked up its new policy: %s", ts[len(ts)-1].Decision)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := c.DeleteAgent(ctx, "warmer"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AgentTicks(ctx, "warmer", 0); status(err) != http.StatusNotFound {
		t.Fatalf("ticks of a deleted agent: %v", err)
	}
	time.Sleep(1500 * time.Millisecond) // more than a tick: a stopped loop must not bring its log back
	if _, err := c.AgentTicks(ctx, "warmer", 0); status(err) != http.StatusNotFound {
		t.Fatalf("the deleted agent is still ticking: %v", err)
	}
}

func TestAgentAPIRejectsBadAgents(t *testing.T) {
	ctx := context.Background()
	c := start(t, nil)
	for name, change := range map[string]func(*v1alpha1.Agent){
		"no trigger":   func(a *v1alpha1.Agent) { a.Spec.Trigger = v1alpha1.AgentTrigger{} },
		"bad cron":     func(a *v1alpha1.Agent) { a.Spec.Trigger = v1alpha1.AgentTrigger{Cron: "every day"} },
		"no sensor":    func(a *v1alpha1.Agent) { a.Spec.Sensors = nil },
		"bad policy":   func(a *v1alpha1.Agent) { a.Spec.Policy.Type = "guess" },
		"no capacity":  func(a *v1alpha1.Agent) { a.Spec.Policy = v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPredictiveScaling} },
		"bad actuator": func(a *v1alpha1.Agent) { a.Spec.Actuator.Type = "magic" },
		"k8s migration": func(a *v1alpha1.Agent) {
			a.Spec.Actuator = v1alpha1.Actuator{Type: "kubernetes", Kubeconfig: "k", Deployment: "d"}
			a.Spec.Policy = v1alpha1.AgentPolicy{Type: v1alpha1.PolicyMigrationTrigger, Objective: &v1alpha1.Objective{Metric: "fps", Op: ">=", Value: 1}}
		},
	} {
		a := prewarmAgent("bad")
		change(&a)
		if _, _, err := c.ApplyAgent(ctx, a); status(err) != http.StatusUnprocessableEntity {
			t.Errorf("%s: %v, want 422", name, err)
		}
	}
	if _, err := c.GetAgent(ctx, "nobody"); status(err) != http.StatusNotFound {
		t.Errorf("missing agent: %v", err)
	}
}

func TestScalingAndPrewarmRecommendations(t *testing.T) {
	ctx := context.Background()
	c := start(t, nil)
	var load []float64
	for i := range 300 {
		load = append(load, 50+40*float64((i%60))/60) // a saw tooth: hourly ramps
	}
	rec, err := c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{
		Load:    v1alpha1.SeriesSource{Values: load},
		Scaling: v1alpha1.ScalingPolicy{Capacity: 10, TargetUtilization: 1, StartupDelay: v1alpha1.Duration{Duration: 3 * time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Season != 60 || rec.Replicas < 9 || rec.Confidence <= 0 || rec.Confidence > 1 || len(rec.Forecast) != 4 || rec.Model == "" {
		t.Fatalf("scaling = %+v", rec)
	}
	if _, err := c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{Load: v1alpha1.SeriesSource{Values: load}}); status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("no capacity: %v", err)
	}
	if _, err := c.RecommendScaling(ctx, v1alpha1.ScalingRecommendationRequest{Load: v1alpha1.SeriesSource{Query: "up"}, Scaling: v1alpha1.ScalingPolicy{Capacity: 1}}); status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("a query without telemetry: %v", err)
	}

	inv := make([]float64, 120)
	for m := 0; m < 118; m += 15 {
		inv[m] = 1
	}
	pw, err := c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: inv}})
	if err != nil {
		t.Fatal(err)
	}
	if pw.Policy != "hybrid" || pw.IdleFor != 14 || pw.Reason == "" || pw.Confidence < 0 || pw.Confidence > 1 {
		t.Fatalf("prewarm = %+v", pw)
	}
	if _, err := c.RecommendPrewarm(ctx, v1alpha1.PrewarmRecommendationRequest{Invocations: v1alpha1.SeriesSource{Values: inv, Step: v1alpha1.Duration{Duration: time.Second}}}); status(err) != http.StatusUnprocessableEntity {
		t.Fatalf("per-second invocations: %v", err)
	}
}

func TestAnUnreachablePrometheusIsA503(t *testing.T) {
	// A port nothing listens on: bind one, note it, close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	remote, err := telemetry.NewRemote("http://"+addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := plane.New(plane.Options{Querier: func() telemetry.Querier { return remote }})
	h := componenttest.Start(t, nil, p)
	c, _ := client.New(h.ControlPlaneURL)
	_, err = c.RecommendScaling(context.Background(), v1alpha1.ScalingRecommendationRequest{
		Load: v1alpha1.SeriesSource{Query: "sum(rate(http_requests_total[1m]))"}, Scaling: v1alpha1.ScalingPolicy{Capacity: 5},
	})
	if status(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "sensor load") {
		t.Fatalf("err = %v, want a 503 naming the input", err)
	}
}
