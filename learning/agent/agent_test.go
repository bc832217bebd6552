package agent_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/learning/agent"
	"github.com/cloudskin/cloudskin/learning/autoscale"
	"github.com/cloudskin/cloudskin/learning/registry"
	"github.com/cloudskin/cloudskin/store/bolt"
	"github.com/cloudskin/cloudskin/telemetry"
)

// now is where every test's telemetry ends.
var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func openTSDB(t testing.TB) *telemetry.DB {
	t.Helper()
	db, err := telemetry.OpenDB(t.TempDir(), telemetry.DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// series is one label set's values, one per minute, ending at now.
type series struct {
	labels map[string]string
	values []float64
}

// record writes series into the TSDB in time order (the head refuses
// samples older than what it holds by more than its window).
func record(t testing.TB, db *telemetry.DB, ss ...series) {
	t.Helper()
	var samples []telemetry.Sample
	n := len(ss[0].values)
	for i := range n {
		for _, s := range ss {
			samples = append(samples, telemetry.Sample{Labels: s.labels, T: now.Add(-time.Duration(n-1-i) * time.Minute), Value: s.values[i]})
		}
	}
	if err := db.Append(context.Background(), samples...); err != nil {
		t.Fatal(err)
	}
}

func openRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return registry.New(st, time.Now)
}

// nbi is the orchestrator's API as the agent sees it: one application
// whose component's replicas it records, and the migrations asked for.
type nbi struct {
	mu         sync.Mutex
	app        v1alpha1.Application
	applies    int
	migrations []v1alpha1.Migration
}

func newNBI(replicas int, sites ...string) *nbi {
	n := &nbi{app: v1alpha1.Application{
		Metadata: v1alpha1.ObjectMeta{Name: "shop"},
		Spec:     v1alpha1.ApplicationSpec{Components: []v1alpha1.Component{{Name: "api", Block: "api@1.0.0", Replicas: &replicas}}},
	}}
	st := v1alpha1.ComponentStatus{Name: "api", Desired: replicas, Ready: replicas}
	for i, s := range sites {
		st.Replicas = append(st.Replicas, v1alpha1.ReplicaStatus{Name: fmt.Sprintf("api-%d", i), Index: i, Site: s, Phase: "Running"})
	}
	n.app.Status.Components = []v1alpha1.ComponentStatus{st}
	return n
}

func (n *nbi) replicas() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.app.Spec.Components[0].DesiredReplicas()
}

func (n *nbi) GetApplication(_ context.Context, name string) (v1alpha1.Application, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if name != n.app.Metadata.Name {
		return v1alpha1.Application{}, errors.New("not found")
	}
	return n.app, nil
}

func (n *nbi) ApplyApplication(_ context.Context, a v1alpha1.Application) (v1alpha1.Application, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.app.Status
	n.app = a
	n.app.Status = st
	n.app.Status.Components[0].Ready = a.Spec.Components[0].DesiredReplicas()
	n.applies++
	return n.app, "configured", nil
}

func (n *nbi) CreateMigration(_ context.Context, m v1alpha1.Migration) (v1alpha1.Migration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m.Metadata.Name = fmt.Sprintf("shop-m%d", len(n.migrations))
	m.Status.Phase = v1alpha1.MigrationRunning
	n.migrations = append(n.migrations, m)
	return m, nil
}

func (n *nbi) ListMigrations(context.Context) ([]v1alpha1.Migration, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]v1alpha1.Migration(nil), n.migrations...), nil
}

func (n *nbi) ListSites(context.Context) ([]v1alpha1.Site, error) {
	return []v1alpha1.Site{{Metadata: v1alpha1.ObjectMeta{Name: "cloud"}}, {Metadata: v1alpha1.ObjectMeta{Name: "edge"}}}, nil
}

func (n *nbi) RecommendPlacement(_ context.Context, req v1alpha1.PlacementRecommendationRequest) (v1alpha1.PlacementRecommendation, error) {
	out := v1alpha1.PlacementRecommendation{Model: "test-ranking"}
	for i, s := range req.Sites {
		out.Sites = append(out.Sites, v1alpha1.SiteRecommendation{Site: s, Score: 0.9 - 0.2*float64(i)})
	}
	return out, nil
}

func scalingAgent(dryRun bool) v1alpha1.Agent {
	return v1alpha1.Agent{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindAgent},
		Metadata: v1alpha1.ObjectMeta{Name: "shop-scaler", Generation: 1},
		Spec: v1alpha1.AgentSpec{
			Trigger: v1alpha1.AgentTrigger{Interval: v1alpha1.Duration{Duration: time.Minute}},
			DryRun:  dryRun,
			Sensors: []v1alpha1.Sensor{{Name: "rps", Query: `sum(shop_requests_per_second)`, Window: v1alpha1.Duration{Duration: 6 * time.Hour}}},
			Model:   v1alpha1.AgentModel{Kind: "holt-winters", Season: 60},
			Policy: v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPredictiveScaling, Scaling: &v1alpha1.ScalingPolicy{
				Capacity: 10, TargetUtilization: 1, Headroom: 0.1, StartupDelay: v1alpha1.Duration{Duration: 5 * time.Minute},
				ScaleDownAfter: v1alpha1.Duration{Duration: 10 * time.Minute}, MinReplicas: 1, MaxReplicas: 50,
			}},
			Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorApplication, Application: "shop", Component: "api"},
		},
	}
}

// hourlyLoad is requests per second over n minutes with an hourly cycle
// (from 20 to 180), split across two pods' series.
func hourlyLoad(t testing.TB, db *telemetry.DB, n int) []float64 {
	t.Helper()
	total := make([]float64, n)
	a, b := make([]float64, n), make([]float64, n)
	for i := range total {
		total[i] = 100 - 80*math.Cos(2*math.Pi*float64(i+1)/60)
		a[i], b[i] = total[i]*0.4, total[i]*0.6
	}
	record(t, db, series{map[string]string{"__name__": "shop_requests_per_second", "pod": "a"}, a},
		series{map[string]string{"__name__": "shop_requests_per_second", "pod": "b"}, b})
	return total
}

func TestScalingAgentTrainsAModelAndScalesAheadOfTheLoad(t *testing.T) {
	db := openTSDB(t)
	load := hourlyLoad(t, db, 6*60)
	reg := openRegistry(t)
	api := newNBI(2)
	r, err := agent.NewRunner(scalingAgent(false), agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: reg, NBI: api, Log: logging.Discard(),
	}, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tick, version := r.Tick(context.Background(), now)
	if tick.Error != "" {
		t.Fatalf("tick failed: %s", tick.Error)
	}
	if version != 1 {
		t.Fatalf("the first tick trains and promotes version 1, got %d; decision %s", version, tick.Decision)
	}
	prod, err := reg.Production(context.Background(), "shop-scaler")
	if err != nil || prod.Spec.Kind != "holt-winters" || prod.Spec.TrainedBy != "agent/shop-scaler" || prod.Spec.Data.Points != len(load) {
		t.Fatalf("production version %+v (%v)", prod.Spec, err)
	}
	in := tick.Inputs["rps"]
	if in.Points != len(load) || math.Abs(in.Last-load[len(load)-1]) > 1e-9 {
		t.Fatalf("the sensor sums both pods: %+v, want %d points ending at %v", in, len(load), load[len(load)-1])
	}
	// The series ends at the trough (20 rps); over the next 6 minutes the
	// cycle climbs, and the forecast must see that coming.
	peakAhead := 0.0
	for k := 1; k <= 6; k++ {
		peakAhead = math.Max(peakAhead, 100-80*math.Cos(2*math.Pi*float64(len(load)+k)/60))
	}
	if len(tick.Prediction) != 1 || tick.Prediction[0] < 0.9*peakAhead {
		t.Fatalf("sized for %v, but the load reaches %.1f within the start-up delay", tick.Prediction, peakAhead)
	}
	want := int(math.Ceil(tick.Prediction[0] * 1.1 / 10))
	if got := api.replicas(); got != want || got <= 3 {
		t.Fatalf("replicas = %d, want %d (more than the 3 the current 20 rps needs); action %q", got, want, tick.Action)
	}
	if !strings.Contains(tick.Action, fmt.Sprintf("to %d", want)) || !strings.Contains(tick.Model, "v1") {
		t.Fatalf("the tick says what it did: model %q action %q", tick.Model, tick.Action)
	}
}

func TestDryRunDecidesButDoesNotAct(t *testing.T) {
	db := openTSDB(t)
	hourlyLoad(t, db, 6*60)
	api := newNBI(2)
	r, err := agent.NewRunner(scalingAgent(true), agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t), NBI: api, Log: logging.Discard(),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	tick, _ := r.Tick(context.Background(), now)
	if api.applies != 0 || api.replicas() != 2 {
		t.Fatalf("a dry run changed the application (%d applies)", api.applies)
	}
	if !strings.HasPrefix(tick.Action, "dry-run: would set ") || tick.Decision == "" {
		t.Fatalf("tick = %+v", tick)
	}
}

func TestScaleDownWaitsForTheHysteresisWindow(t *testing.T) {
	db := openTSDB(t)
	flat := make([]float64, 4*60)
	for i := range flat {
		flat[i] = 30 + 2*math.Sin(float64(i)) // about 4 replicas' worth, with noise
	}
	record(t, db, series{map[string]string{"__name__": "shop_requests_per_second"}, flat})
	spec := scalingAgent(false)
	spec.Spec.Model = v1alpha1.AgentModel{Kind: "seasonal-naive", Season: 1}
	api := newNBI(12) // far more than needed
	r, err := agent.NewRunner(spec, agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t), NBI: api, Log: logging.Discard(),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	for m := 0; m < 9; m++ {
		tick, _ := r.Tick(context.Background(), now.Add(time.Duration(m)*time.Minute))
		if api.replicas() != 12 {
			t.Fatalf("minute %d: scaled down to %d inside the 10-minute window: %s", m, api.replicas(), tick.Decision)
		}
	}
	tick, _ := r.Tick(context.Background(), now.Add(10*time.Minute))
	if got := api.replicas(); got >= 12 || got < 4 {
		t.Fatalf("after the window: %d replicas (%s)", got, tick.Decision)
	}
}

func TestPrewarmAgentLoadsAheadOfTheNextInvocation(t *testing.T) {
	// An application invoked every 10 minutes for 4 hours; the last
	// invocation was idle minutes ago.
	at := func(idle int) []float64 {
		inv := make([]float64, 4*60)
		last := len(inv) - 1 - idle
		for m := last; m >= 0; m -= 10 {
			inv[m] = 3
		}
		return inv
	}
	for _, c := range []struct {
		idle int
		want int
	}{{0, 1}, {3, 0}, {9, 1}, {10, 1}, {30, 0}} {
		db := openTSDB(t)
		record(t, db, series{map[string]string{"__name__": "fn_invocations"}, at(c.idle)})
		api := newNBI(1)
		a := v1alpha1.Agent{
			Metadata: v1alpha1.ObjectMeta{Name: "fn-warmer"},
			Spec: v1alpha1.AgentSpec{
				Sensors:  []v1alpha1.Sensor{{Name: "invocations", Query: "fn_invocations", Window: v1alpha1.Duration{Duration: 4 * time.Hour}}},
				Policy:   v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPreWarming, PreWarm: "hybrid"},
				Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorApplication, Application: "shop", Component: "api"},
			},
		}
		r, err := agent.NewRunner(a, agent.Deps{Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t), NBI: api, Log: logging.Discard()}, now)
		if err != nil {
			t.Fatal(err)
		}
		tick, _ := r.Tick(context.Background(), now)
		if tick.Error != "" || api.replicas() != c.want {
			t.Errorf("idle %d min: replicas %d, want %d (%s; %s)", c.idle, api.replicas(), c.want, tick.Decision, tick.Error)
		}
	}
}

// advisor answers every migration question the same way.
type advisor struct {
	rec v1alpha1.MigrationRecommendation
}

func (a advisor) RecommendMigration(_ context.Context, req v1alpha1.MigrationRecommendationRequest) (v1alpha1.MigrationRecommendation, error) {
	out := a.rec
	out.From = req.Site
	return out, nil
}

func TestMigrationAgentMovesOnceAndWaitsForTheMove(t *testing.T) {
	api := newNBI(1, "edge")
	a := v1alpha1.Agent{
		Metadata: v1alpha1.ObjectMeta{Name: "shop-mover"},
		Spec: v1alpha1.AgentSpec{
			Policy:   v1alpha1.AgentPolicy{Type: v1alpha1.PolicyMigrationTrigger, Objective: &v1alpha1.Objective{Metric: "latency_ms", Op: "<=", Value: 100}},
			Actuator: v1alpha1.Actuator{Type: v1alpha1.ActuatorApplication, Application: "shop", Component: "api"},
		},
	}
	adv := advisor{rec: v1alpha1.MigrationRecommendation{Migrate: true, To: "cloud", Model: "holt-winters", Predicted: 120, Reason: "latency heads for 120 ms in 3 steps"}}
	r, err := agent.NewRunner(a, agent.Deps{Querier: func() telemetry.Querier { return nil }, NBI: api, Migrations: adv, Log: logging.Discard()}, now)
	if err != nil {
		t.Fatal(err)
	}
	tick, _ := r.Tick(context.Background(), now)
	if len(api.migrations) != 1 || api.migrations[0].Spec.To != "cloud" || api.migrations[0].Spec.Component != "api" {
		t.Fatalf("migrations %+v; tick %+v", api.migrations, tick)
	}
	if !strings.Contains(tick.Decision, "move from edge to cloud") || tick.Prediction[0] != 120 {
		t.Fatalf("tick = %+v", tick)
	}
	tick, _ = r.Tick(context.Background(), now.Add(time.Minute))
	if len(api.migrations) != 1 || !strings.Contains(tick.Action, "still Running") {
		t.Fatalf("a second move while the first runs: %d migrations, action %q", len(api.migrations), tick.Action)
	}
}

func TestPlacementRankingAgentLogsTheRanking(t *testing.T) {
	api := newNBI(1, "edge")
	a := v1alpha1.Agent{
		Metadata: v1alpha1.ObjectMeta{Name: "shop-ranker"},
		Spec: v1alpha1.AgentSpec{
			Policy:   v1alpha1.AgentPolicy{Type: v1alpha1.PolicyPlacementRanking, Objective: &v1alpha1.Objective{Metric: "fps", Op: ">=", Value: 25}},
			Actuator: v1alpha1.Actuator{Application: "shop", Component: "api"},
		},
	}
	r, err := agent.NewRunner(a, agent.Deps{Querier: func() telemetry.Querier { return nil }, NBI: api, Log: logging.Discard()}, now)
	if err != nil {
		t.Fatal(err)
	}
	tick, _ := r.Tick(context.Background(), now)
	if tick.Error != "" || tick.Decision != "rank: cloud 0.90, edge 0.70" || len(tick.Prediction) != 2 || api.applies != 0 {
		t.Fatalf("tick = %+v", tick)
	}
}

func TestSensorFailuresAreLoggedNotFatal(t *testing.T) {
	db := openTSDB(t)
	r, err := agent.NewRunner(scalingAgent(false), agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t), NBI: newNBI(1), Log: logging.Discard(),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	tick, _ := r.Tick(context.Background(), now)
	if !strings.Contains(tick.Error, "no data") || tick.Action != "none" {
		t.Fatalf("an empty sensor: %+v", tick)
	}
	bad := scalingAgent(false)
	bad.Spec.Sensors[0].Query = "sum(("
	r, _ = agent.NewRunner(bad, agent.Deps{Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t), NBI: newNBI(1), Log: logging.Discard()}, now)
	tick, _ = r.Tick(context.Background(), now)
	if !strings.Contains(tick.Error, "sensor rps") {
		t.Fatalf("a broken query: %+v", tick)
	}
}

// An agent that names no model kind, on too little telemetry to train one
// (a new service), scales with learning/autoscale's default model, the one
// `lp scale simulate` evaluates, not with another kind.
func TestScalingAgentWithoutAKindUsesThePolicysDefaultModel(t *testing.T) {
	db := openTSDB(t)
	load := make([]float64, 20)
	for i := range load {
		load[i] = 20 + 2*float64(i%10) // a saw tooth of 10 minutes
	}
	record(t, db, series{map[string]string{"__name__": "shop_requests_per_second"}, load})
	spec := scalingAgent(true)
	spec.Spec.Model = v1alpha1.AgentModel{Season: 10}
	r, err := agent.NewRunner(spec, agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(t), NBI: newNBI(2), Log: logging.Discard(),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	tick, version := r.Tick(context.Background(), now)
	def := autoscale.PredictiveConfig{}.WithDefaults().Model
	if tick.Error != "" || version != 0 || !strings.Contains(tick.Decision, "training skipped") {
		t.Fatalf("want a tick without a trained version: version %d, %+v", version, tick)
	}
	if !strings.Contains(tick.Decision, def+" forecasts") || strings.Contains(tick.Decision, "holt-winters") {
		t.Fatalf("decision %q: want the policy's default model %s to forecast", tick.Decision, def)
	}
}

// With telemetry enough to train, an agent that names no kind trains the
// policy's default kind too: "auto" would pick the kind with the least
// forecast error, which is not the one that scales best.
func TestScalingAgentWithoutAKindTrainsThePolicysDefaultModel(t *testing.T) {
	db := openTSDB(t)
	hourlyLoad(t, db, 6*60)
	reg := openRegistry(t)
	spec := scalingAgent(true)
	spec.Spec.Model = v1alpha1.AgentModel{Season: 60}
	r, err := agent.NewRunner(spec, agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: reg, NBI: newNBI(2), Log: logging.Discard(),
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	tick, version := r.Tick(context.Background(), now)
	if tick.Error != "" || version != 1 {
		t.Fatalf("want version 1 trained: version %d, %+v", version, tick)
	}
	prod, err := reg.Production(context.Background(), "shop-scaler")
	def := autoscale.PredictiveConfig{}.WithDefaults().Model
	if err != nil || prod.Spec.Kind != def {
		t.Fatalf("production version kind %q (%v), want the policy's default %s", prod.Spec.Kind, err, def)
	}
	if !strings.Contains(tick.Decision, def+" forecasts") {
		t.Fatalf("decision %q: want %s to forecast", tick.Decision, def)
	}
}
