package autoscale

import (
	"math"
	"strings"
	"testing"
	"time"
)

// decide feeds one observation with the given latest load to p.
func decide(p Policy, step int, load float64, desired, ready int) Decision {
	return p.Decide(Observation{Step: step, Interval: 15 * time.Second, Load: []float64{load}, Desired: desired, Ready: ready, Capacity: 10})
}

func TestHPAFollowsTheKubernetesRule(t *testing.T) {
	// Capacity 10 req/s at target 0.8: the target is 8 req/s per replica.
	cases := []struct {
		name                 string
		cfg                  HPAConfig
		load                 float64
		desired, ready, want int
	}{
		{"ratio 1.25 scales up", HPAConfig{}, 40, 4, 4, 5},              // 10/8 = 1.25, ceil(4·1.25) = 5
		{"within tolerance keeps", HPAConfig{}, 34, 4, 4, 4},            // 8.5/8 = 1.0625
		{"just past tolerance moves", HPAConfig{}, 35.3, 4, 4, 5},       // 8.825/8 = 1.103, ceil(4.41) = 5
		{"tolerance keeps the desired count", HPAConfig{}, 34, 6, 4, 6}, // ratio from ready, answer from desired
		{"no tolerance moves", HPAConfig{Tolerance: -1}, 34, 4, 4, 5},   // ceil(4.25)
		{"max bounds", HPAConfig{MaxReplicas: 10}, 1000, 4, 4, 10},      // ceil(125) capped
		{"min bounds", HPAConfig{MinReplicas: 2}, 0, 4, 4, 2},           // 0 → min
		{"no ready replica sizes from load", HPAConfig{}, 20, 0, 0, 3},  // ceil(20/8)
		{"unready replicas do not count", HPAConfig{}, 40, 8, 2, 5},     // 20/8 = 2.5, ceil(2·2.5) = 5
		{"default minimum is one", HPAConfig{}, 0, 3, 3, 1},             // 0 → 1
	}
	for _, c := range cases {
		got := decide(NewHPA(c.cfg), 0, c.load, c.desired, c.ready)
		if got.Replicas != c.want {
			t.Errorf("%s: load %v desired %d ready %d: got %d (%s), want %d", c.name, c.load, c.desired, c.ready, got.Replicas, got.Reason, c.want)
		}
		if got.Forecast != c.load {
			t.Errorf("%s: forecast %v, want the current load %v", c.name, got.Forecast, c.load)
		}
	}
}

func TestHPAStabilisesScaleDownOverTheWindow(t *testing.T) {
	p := NewHPA(HPAConfig{})
	if d := decide(p, 0, 80, 10, 10); d.Replicas != 10 {
		t.Fatalf("step 0: %d, want 10", d.Replicas)
	}
	// Load halves: the raw answer is 5, but the 10 of step 0 stays in the
	// 300 s window (20 decisions of 15 s) until step 20.
	for step := 1; step <= 21; step++ {
		d := decide(p, step, 40, 10, 10)
		want := 10
		if step >= 20 {
			want = 5
		}
		if d.Replicas != want {
			t.Fatalf("step %d: %d (%s), want %d", step, d.Replicas, d.Reason, want)
		}
	}
	// Scaling up is never held back.
	if d := decide(p, 22, 160, 5, 5); d.Replicas != 20 {
		t.Fatalf("scale up: %d, want 20", d.Replicas)
	}
}

func TestKEDASeesAStaleMetric(t *testing.T) {
	hpa, keda := NewHPA(HPAConfig{}), NewKEDA(HPAConfig{})
	// Polls every 30 s half a poll out of phase: at odd 15 s steps (and
	// the first). The load jumps at step 2; the HPA answers at once, KEDA
	// at its next poll, step 3.
	loads := []float64{40, 40, 80, 80}
	var gotHPA, gotKEDA []int
	for step, l := range loads {
		gotHPA = append(gotHPA, decide(hpa, step, l, 5, 5).Replicas)
		gotKEDA = append(gotKEDA, decide(keda, step, l, 5, 5).Replicas)
	}
	if want := []int{5, 5, 10, 10}; !equalInts(gotHPA, want) {
		t.Errorf("hpa %v, want %v", gotHPA, want)
	}
	if want := []int{5, 5, 5, 10}; !equalInts(gotKEDA, want) {
		t.Errorf("keda %v, want %v", gotKEDA, want)
	}
}

// script answers a fixed sequence of replica counts.
type script []int

func (script) Name() string { return "script" }
func (s script) Decide(o Observation) Decision {
	return Decision{Replicas: s[o.Step], Forecast: o.Load[len(o.Load)-1]}
}

func TestSimulateAccountingByHand(t *testing.T) {
	// Capacity 10, start-up 30 s = 2 intervals of 15 s. Replicas started
	// after step 0 serve from step 3.
	svc := Service{Capacity: 10, StartupDelay: 30 * time.Second, MinReplicas: 1, InitialReplicas: 1}
	load := []float64{5, 25, 25, 25, 5}
	r, err := Run(load, 15*time.Second, svc, script{3, 3, 3, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Replicas paid per step: 1, 3, 3, 3, 1 = 11 × 15 s.
	checks := []struct {
		name      string
		got, want float64
	}{
		{"replica-hours", r.ReplicaHours, 11 * 15.0 / 3600},
		{"violation minutes", r.SLOViolationMinutes, 0.5}, // steps 1 and 2
		{"violation intervals", float64(r.ViolationIntervals), 2},
		{"cold starts", float64(r.ColdStarts), 2},
		{"scaling events", float64(r.ScalingEvents), 2}, // 1→3, 3→1
		{"unserved requests", r.UnservedRequests, 2 * 15 * 15},
		{"total requests", r.TotalRequests, 85 * 15},
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if want := []int{1, 1, 1, 3, 1}; !equalInts(r.Series.Ready, want) {
		t.Errorf("ready %v, want %v", r.Series.Ready, want)
	}
}

func TestSimulateCancelsStartingReplicasFirstAndHonoursWarmup(t *testing.T) {
	svc := Service{Capacity: 10, StartupDelay: time.Minute, InitialReplicas: 2, Warmup: 1}
	// Start 3 more at step 0 (ready at step 5), drop back to 1 at step 1:
	// the 3 starting ones are cancelled and one ready replica stops.
	r, err := Run([]float64{1, 1, 1}, 15*time.Second, svc, script{5, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 2, 1}; !equalInts(r.Series.Ready, want) {
		t.Errorf("ready %v, want %v", r.Series.Ready, want)
	}
	// Step 0 is warm-up: its cold starts and event are not scored; step 1
	// pays 5 replicas, step 2 one.
	if r.ColdStarts != 0 || r.ScalingEvents != 1 || math.Abs(r.ReplicaHours-6*15.0/3600) > 1e-12 || r.Steps != 2 {
		t.Errorf("cold %d events %d replica-hours %v steps %d; want 0, 1, %v, 2", r.ColdStarts, r.ScalingEvents, r.ReplicaHours, r.Steps, 6*15.0/3600)
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	good := Service{Capacity: 10}
	cases := []struct {
		name     string
		load     []float64
		interval time.Duration
		svc      Service
		want     string
	}{
		{"zero capacity", []float64{1}, time.Second, Service{}, "capacity"},
		{"negative delay", []float64{1}, time.Second, Service{Capacity: 1, StartupDelay: -1}, "start-up"},
		{"max below min", []float64{1}, time.Second, Service{Capacity: 1, MinReplicas: 3, MaxReplicas: 2}, "max replicas"},
		{"zero interval", []float64{1}, 0, good, "interval"},
		{"NaN load", []float64{1, math.NaN()}, time.Second, good, "load[1]"},
		{"negative load", []float64{-1}, time.Second, good, "load[0]"},
	}
	for _, c := range cases {
		_, err := Run(c.load, c.interval, c.svc, NewHPA(HPAConfig{}))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
		}
	}
	if r := Simulate([]float64{1}, 0, good, NewHPA(HPAConfig{})); r.Steps != 0 || r.Policy != "hpa" {
		t.Errorf("Simulate on bad input: %+v, want an empty result", r)
	}
}

func TestParsePolicy(t *testing.T) {
	pred := PredictiveConfig{Season: 24}
	for spec, name := range map[string]string{"hpa": "hpa", "keda": "keda", "predictive": "predictive:seasonal-naive", "predictive:holt-winters": "predictive:holt-winters"} {
		p, err := ParsePolicy(spec, HPAConfig{}, pred)
		if err != nil || p.Name() != name {
			t.Errorf("%q: %v, %v; want %s", spec, p, err, name)
		}
	}
	for _, spec := range []string{"", "vpa", "hpa:x", "predictive:", "predictive:nope"} {
		if _, err := ParsePolicy(spec, HPAConfig{}, pred); err == nil {
			t.Errorf("%q: no error", spec)
		}
	}
	if _, err := ParsePolicy("predictive", HPAConfig{}, PredictiveConfig{}); err == nil || !strings.Contains(err.Error(), "season") {
		t.Errorf("predictive without a season: %v, want an error naming the season", err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"hpa", "keda", "predictive:holt-winters", "predictive:", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		p, err := ParsePolicy(spec, HPAConfig{}, PredictiveConfig{Season: 4})
		if err == nil {
			// A parsed policy must decide without panicking.
			p.Decide(Observation{Interval: time.Minute, Load: []float64{1, 2, 3}, Desired: 1, Ready: 1, Capacity: 1})
		}
	})
}

func TestGeneratedTracesAreSeededAndShaped(t *testing.T) {
	for _, tr := range GeneratedTraces(1) {
		again := GeneratedTraces(1)
		var same Trace
		for _, a := range again {
			if a.Name == tr.Name {
				same = a
			}
		}
		if len(tr.Load) != 14*minutesPerDay || !equalFloats(tr.Load, same.Load) {
			t.Errorf("%s: %d values, or differs between runs with one seed", tr.Name, len(tr.Load))
		}
		if !strings.HasPrefix(tr.Source, "generated") {
			t.Errorf("%s: source %q does not say generated", tr.Name, tr.Source)
		}
		night, noon := tr.Load[3*60], tr.Load[12*60+30]
		if !(noon > night) {
			t.Errorf("%s: load at 03:00 %v not below 12:30 %v", tr.Name, night, noon)
		}
	}
	if got := Resample([]float64{1, 2}, 3); !equalFloats(got, []float64{1, 1, 1, 2, 2, 2}) {
		t.Errorf("Resample: %v", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
