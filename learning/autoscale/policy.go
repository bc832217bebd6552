// Package autoscale decides how many replicas a service should run, and
// replays a load trace through those decisions to measure what they cost
// and how often demand went unserved. It holds the Kubernetes HPA rule (and
// KEDA, modelled as the same rule fed by a metric polled every 30 s), a
// predictive policy that sizes the service for the load forecast over the
// replicas' start-up delay, a trace-driven simulator, and seeded generated
// traces to evaluate them on.
//
// Everything here is pure: no clocks, no I/O, randomness only from explicit
// seeds, so a simulation is exact and repeatable and the live agent can call
// the same policies with observations it gathered itself. Hand-written: the
// HPA rule is a ratio and a window maximum, and no Go library replays a
// trace through an autoscaler; forecasting is learning/forecast's job.
package autoscale

import (
	"fmt"
	"math"
	"time"
)

// Observation is what a policy sees at one decision.
type Observation struct {
	Step     int           // decision index, 0-based
	Interval time.Duration // time between decisions
	// Load is the demand history, one value per interval (requests per
	// second averaged over the interval), oldest first, ending with the
	// latest.
	Load     []float64
	Desired  int     // replicas currently desired (the policy's last answer, or the initial count)
	Ready    int     // replicas ready to serve
	Capacity float64 // requests per second one replica serves within the SLO
}

// Decision is a policy's answer to one Observation.
type Decision struct {
	Replicas int
	Forecast float64 // the load the decision was sized for (the current load for reactive rules)
	Reason   string  // one line: why
}

// A Policy decides replica counts; it may keep state across calls
// (hysteresis), so use one Policy per service and per simulation.
type Policy interface {
	Name() string
	Decide(o Observation) Decision
}

// Defaults shared by the policies, taken from Kubernetes where it has one.
const (
	DefaultTargetUtilization = 0.8
	DefaultTolerance         = 0.1               // --horizontal-pod-autoscaler-tolerance
	DefaultDownscaleWindow   = 300 * time.Second // behavior.scaleDown.stabilizationWindowSeconds
	DefaultKEDAPollInterval  = 30 * time.Second  // ScaledObject pollingInterval
)

// orDefault reads a setting where zero means the default and a negative
// value means none (zero).
func orDefault[T float64 | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// clampReplicas keeps n within [lo, hi]; hi ≤ 0 means no upper bound.
func clampReplicas(n, lo, hi int) int {
	if n < lo {
		n = lo
	}
	if hi > 0 && n > hi {
		n = hi
	}
	return n
}

// replicasFor is how many replicas serve load at the target utilisation.
func replicasFor(load, capacity, target float64) int {
	if load <= 0 || capacity <= 0 || target <= 0 {
		return 0
	}
	// A tiny epsilon keeps 2.0000000001 from becoming 3.
	return int(math.Ceil(load/(capacity*target) - 1e-9))
}

// latest is the last value of the load history, 0 if there is none.
func latest(load []float64) float64 {
	if len(load) == 0 {
		return 0
	}
	return load[len(load)-1]
}

// stepsIn is how many decision intervals d spans, rounded up, at least 0.
func stepsIn(d, interval time.Duration) int {
	if d <= 0 || interval <= 0 {
		return 0
	}
	return int((d + interval - 1) / interval)
}

// checkRange rejects a min/max replica pair that cannot hold.
func checkRange(lo, hi int) error {
	if lo < 0 {
		return fmt.Errorf("autoscale: min replicas %d is negative", lo)
	}
	if hi > 0 && hi < lo {
		return fmt.Errorf("autoscale: max replicas %d is below min replicas %d", hi, lo)
	}
	return nil
}
