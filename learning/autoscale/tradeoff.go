package autoscale

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// RunAll replays load through each policy, up to workers at a time (at
// least one), and returns their results in the policies' order. Policies
// keep state, so each must be a fresh one used by no one else. It fails
// as Run does, on the first policy's error.
func RunAll(load []float64, interval time.Duration, svc Service, policies []Policy, workers int) ([]Result, error) {
	results := make([]Result, len(policies))
	errs := make([]error, len(policies))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(min(workers, len(policies)), 1) {
		wg.Go(func() {
			for i := range next {
				results[i], errs[i] = Run(load, interval, svc, policies[i])
			}
		})
	}
	for i := range policies {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", policies[i].Name(), err)
		}
	}
	return results, nil
}

// TradeoffPoint is one setting of one policy replayed on a trace: what it
// cost and how long demand went unserved.
type TradeoffPoint struct {
	Policy  string `json:"policy"`  // "hpa", "predictive:seasonal-naive"
	Setting string `json:"setting"` // what was varied, e.g. "target 0.8"
	Label   string `json:"label"`   // the setting in short, for plots: "0.8"
	// Default marks the setting the policy runs with unless told
	// otherwise (for 'lp scale tradeoff': the one its other flags name).
	Default bool `json:"default"`
	// ReplicaHours and ViolationMinutes as in Result.
	ReplicaHours     float64 `json:"replicaHours"`
	ViolationMinutes float64 `json:"violationMinutes"`
}

// PoliciesOf lists the policies of points, in order of first appearance.
func PoliciesOf(points []TradeoffPoint) []string {
	var names []string
	for _, p := range points {
		if !slices.Contains(names, p.Policy) {
			names = append(names, p.Policy)
		}
	}
	return names
}

// Frontier is policy's Pareto front among points: sorted by replica-hours,
// each point with fewer violation minutes than every cheaper one (of two
// that cost the same, the one with fewer minutes). A point off the front
// is beaten on both counts by another setting of the same policy.
func Frontier(points []TradeoffPoint, policy string) []TradeoffPoint {
	var own []TradeoffPoint
	for _, p := range points {
		if p.Policy == policy {
			own = append(own, p)
		}
	}
	slices.SortStableFunc(own, func(a, b TradeoffPoint) int {
		if a.ReplicaHours != b.ReplicaHours {
			return cmpFloat(a.ReplicaHours, b.ReplicaHours)
		}
		return cmpFloat(a.ViolationMinutes, b.ViolationMinutes)
	})
	var front []TradeoffPoint
	for _, p := range own {
		if len(front) == 0 || p.ViolationMinutes < front[len(front)-1].ViolationMinutes {
			front = append(front, p)
		}
	}
	return front
}

// BestWithin is the setting of policy with the fewest violation minutes
// among those costing at most budget replica-hours (of equals, the
// cheaper), and false if every setting costs more.
func BestWithin(points []TradeoffPoint, policy string, budget float64) (TradeoffPoint, bool) {
	var best TradeoffPoint
	found := false
	for _, p := range Frontier(points, policy) {
		if p.ReplicaHours <= budget {
			best, found = p, true
		}
	}
	return best, found
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
