package granny

import "fmt"

// Scenario is a whole simulated cluster for comparing policies: hosts
// hosts of slots slots each, a fraction spot of them spot hosts reclaimed
// about every 10 minutes with 30 s notice and back after 2 minutes, and a
// trace. It is what `cloudskin granny simulate` and the scale tests run.
func Scenario(hosts, slots int, spot float64, trace []Job, seed uint64, policies []Policy) Config {
	h := Cluster(hosts, slots, spot)
	horizon := 600.0
	if len(trace) > 0 {
		horizon += trace[len(trace)-1].Arrival
	}
	return Config{
		Hosts:     h,
		Jobs:      trace,
		Evictions: GenerateEvictions(seed+1, h, horizon, 600, 30, 120),
		Policies:  policies,
		LogLimit:  -1,
	}
}

// PoliciesWithout returns the default policies except those named.
func PoliciesWithout(names ...string) ([]Policy, error) {
	known := map[string]bool{}
	for _, p := range DefaultPolicies() {
		known[p.Name()] = true
	}
	for _, n := range names {
		if !known[n] {
			return nil, fmt.Errorf("policy %q: want one of defragment, spot-evacuation, elastic", n)
		}
	}
	var out []Policy
	for _, p := range DefaultPolicies() {
		drop := false
		for _, n := range names {
			drop = drop || p.Name() == n
		}
		if !drop {
			out = append(out, p)
		}
	}
	return out, nil
}
