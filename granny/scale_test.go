package granny

import (
	"testing"
	"time"
)

// scaleConfig is the scale: 1,000 hosts of 8 slots (a fifth of
// them spot) and 10,000 jobs from DefaultGenConfig.
func scaleConfig(hosts, jobs int, policies []Policy) Config {
	return Scenario(hosts, 8, 0.2, Generate(DefaultGenConfig(1, jobs)), 1, policies)
}

func without(names ...string) []Policy {
	p, err := PoliciesWithout(names...)
	if err != nil {
		panic(err)
	}
	return p
}

// TestScale simulates 1,000 hosts × 10,000 jobs with each policy on and
// off and checks conservation: every job completes exactly once. It logs
// the reports and how long each took; it asserts nothing about speed.
func TestScale(t *testing.T) {
	hosts, jobs := 1000, 10000
	if raceEnabled || testing.Short() {
		hosts, jobs = 100, 1000 // the race detector makes the full run too slow
	}
	for _, c := range []struct {
		name     string
		policies []Policy
	}{
		{"all", DefaultPolicies()},
		{"no-defragment", without("defragment")},
		{"no-spot-evacuation", without("spot-evacuation")},
		{"first-fit-only", []Policy{FirstFit{}}},
	} {
		cfg := scaleConfig(hosts, jobs, c.policies)
		start := time.Now()
		rep, err := Simulate(cfg)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rep.Completed != jobs {
			t.Fatalf("%s: %d of %d jobs completed", c.name, rep.Completed, jobs)
		}
		for id, end := range rep.End {
			if end < cfg.Jobs[id].Arrival+cfg.Jobs[id].Duration/2 {
				t.Fatalf("%s: job %d ended at %v, arrived %v, runs %v", c.name, id, end, cfg.Jobs[id].Arrival, cfg.Jobs[id].Duration)
			}
		}
		t.Logf("%s (%d evictions, %d steps, %v):\n%s", c.name, len(cfg.Evictions), rep.Steps, took, rep)
	}
}

func BenchmarkSimulate(b *testing.B) {
	cfg := scaleConfig(1000, 10000, DefaultPolicies())
	for b.Loop() {
		if _, err := Simulate(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
