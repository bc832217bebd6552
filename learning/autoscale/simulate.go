package autoscale

import (
	"fmt"
	"math"
	"time"
)

// Service is what the simulator scales.
type Service struct {
	// Capacity is the requests per second one ready replica serves within
	// the SLO.
	Capacity float64
	// StartupDelay is a replica's cold start: it costs from the decision
	// that starts it and serves from the first whole interval after the
	// delay.
	StartupDelay time.Duration
	// MinReplicas and MaxReplicas bound every decision (MaxReplicas ≤ 0:
	// no bound); InitialReplicas are ready at step 0.
	MinReplicas, MaxReplicas, InitialReplicas int
	// Warmup is how many steps at the start are simulated but not scored:
	// the history a policy in production would have learned on before the
	// trace starts. Optional.
	Warmup int
}

// Validate reports a service the simulator cannot run.
func (s Service) Validate() error {
	if !(s.Capacity > 0) || math.IsInf(s.Capacity, 0) {
		return fmt.Errorf("autoscale: service capacity %v must be a positive number", s.Capacity)
	}
	if s.StartupDelay < 0 {
		return fmt.Errorf("autoscale: start-up delay %s is negative", s.StartupDelay)
	}
	if s.InitialReplicas < 0 || s.Warmup < 0 {
		return fmt.Errorf("autoscale: initial replicas %d and warm-up %d must not be negative", s.InitialReplicas, s.Warmup)
	}
	return checkRange(s.MinReplicas, s.MaxReplicas)
}

// Result is a policy's outcome over one trace. Totals cover the scored
// steps (after the warm-up); the series cover every step.
type Result struct {
	Policy   string        `json:"policy"`
	Interval time.Duration `json:"interval"`
	Steps    int           `json:"steps"`  // scored steps
	Scored   int           `json:"scored"` // first scored step (the warm-up)
	// SLOViolationMinutes is the time in intervals whose demand exceeded
	// the ready capacity.
	SLOViolationMinutes float64 `json:"sloViolationMinutes"`
	// ViolationIntervals counts those intervals.
	ViolationIntervals int `json:"violationIntervals"`
	// ReplicaHours is the cost: replicas ready or starting, times time.
	ReplicaHours float64 `json:"replicaHours"`
	// ScalingEvents counts changes of the desired count.
	ScalingEvents int `json:"scalingEvents"`
	// ColdStarts counts replicas started.
	ColdStarts int `json:"coldStarts"`
	// UnservedRequests is demand above ready capacity, in requests;
	// TotalRequests is all demand.
	UnservedRequests float64 `json:"unservedRequests"`
	TotalRequests    float64 `json:"totalRequests"`
	// Series, one value per step, for plots.
	Series Series `json:"-"`
}

// Series holds a simulation step by step.
type Series struct {
	Load          []float64 // demand, req/s
	ReadyCapacity []float64 // ready replicas × Capacity, req/s
	Ready         []int     // replicas ready
	Desired       []int     // replicas desired after the step's decision
	Forecast      []float64 // the load the decision was sized for
}

// UnservedPercent is the share of demand that found no ready capacity.
func (r Result) UnservedPercent() float64 {
	if r.TotalRequests == 0 {
		return 0
	}
	return 100 * r.UnservedRequests / r.TotalRequests
}

// Simulate replays load (req/s per interval, oldest first) through policy
// p. In each interval the demand meets the replicas ready at its start;
// then p decides with the history up to and including that interval, and
// the decision takes effect from the next: new replicas start at once and
// serve once StartupDelay has passed, surplus replicas stop at once (those
// still starting first). For an invalid service, interval or load it
// returns a Result with no steps; Run says why.
func Simulate(load []float64, interval time.Duration, svc Service, p Policy) Result {
	r, err := Run(load, interval, svc, p)
	if err != nil {
		return Result{Policy: p.Name(), Interval: interval}
	}
	return r
}

// Run is Simulate with the input checked: it fails on an invalid service, a
// non-positive interval, or a load that is negative, NaN or infinite.
func Run(load []float64, interval time.Duration, svc Service, p Policy) (Result, error) {
	if err := svc.Validate(); err != nil {
		return Result{}, err
	}
	if interval <= 0 {
		return Result{}, fmt.Errorf("autoscale: decision interval %s must be positive", interval)
	}
	for i, v := range load {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return Result{}, fmt.Errorf("autoscale: load[%d] = %v: want a finite value ≥ 0", i, v)
		}
	}
	return run(load, interval, svc, p), nil
}

func run(load []float64, interval time.Duration, svc Service, p Policy) Result {
	n := len(load)
	res := Result{Policy: p.Name(), Interval: interval, Scored: min(svc.Warmup, n), Steps: max(n-svc.Warmup, 0)}
	res.Series = Series{
		Load: load, ReadyCapacity: make([]float64, n), Ready: make([]int, n),
		Desired: make([]int, n), Forecast: make([]float64, n),
	}
	startup := stepsIn(svc.StartupDelay, interval)
	seconds := interval.Seconds()
	ready := svc.InitialReplicas
	desired := svc.InitialReplicas
	var starting []int // the step each starting replica is ready at, oldest first
	for t := range n {
		// Replicas whose start-up has passed serve this interval.
		for len(starting) > 0 && starting[0] <= t {
			starting = starting[1:]
			ready++
		}
		capacity := float64(ready) * svc.Capacity
		res.Series.Ready[t], res.Series.ReadyCapacity[t] = ready, capacity
		if t >= svc.Warmup {
			res.TotalRequests += load[t] * seconds
			if load[t] > capacity*(1+1e-12) {
				res.ViolationIntervals++
				res.SLOViolationMinutes += interval.Minutes()
				res.UnservedRequests += (load[t] - capacity) * seconds
			}
			res.ReplicaHours += float64(ready+len(starting)) * interval.Hours()
		}

		d := p.Decide(Observation{
			Step: t, Interval: interval, Load: load[: t+1 : t+1],
			Desired: desired, Ready: ready, Capacity: svc.Capacity,
		})
		want := clampReplicas(max(d.Replicas, 0), svc.MinReplicas, svc.MaxReplicas)
		res.Series.Desired[t], res.Series.Forecast[t] = want, d.Forecast
		if want == desired {
			continue
		}
		if t >= svc.Warmup {
			res.ScalingEvents++
		}
		desired = want
		total := ready + len(starting)
		switch {
		case want > total:
			for range want - total {
				starting = append(starting, t+1+startup)
			}
			if t >= svc.Warmup {
				res.ColdStarts += want - total
			}
		case want < total:
			cut := total - want
			// Cancel the newest starts first, then stop ready replicas.
			drop := min(cut, len(starting))
			starting = starting[:len(starting)-drop]
			ready -= cut - drop
		}
	}
	return res
}
