package prewarm

import (
	"fmt"
	"math"
	"slices"

	"github.com/cloudskin/cloudskin/learning/trace"
)

// AppResult is one application's outcome under one policy.
type AppResult struct {
	ID      string `json:"id"`
	Trigger string `json:"trigger"`
	// InvokedMinutes counts minutes with at least one invocation: the
	// simulator's invocations (one instance per application serves a
	// minute's invocations, so only the first in a minute can be cold).
	InvokedMinutes int `json:"invokedMinutes"`
	ColdStarts     int `json:"coldStarts"`
	// WastedMinutes counts minutes the instance was loaded with no
	// invocation; WastedMBMinutes weighs them by the application's memory.
	WastedMinutes   int          `json:"wastedMinutes"`
	WastedMBMinutes float64      `json:"wastedMBMinutes"`
	Modes           map[Mode]int `json:"modes"`
}

// ColdStartPercent is the share of invoked minutes that started cold.
func (r AppResult) ColdStartPercent() float64 {
	if r.InvokedMinutes == 0 {
		return 0
	}
	return 100 * float64(r.ColdStarts) / float64(r.InvokedMinutes)
}

// Result is a policy's outcome over all applications of a trace.
type Result struct {
	Policy string      `json:"policy"`
	Apps   []AppResult `json:"apps"`
	// ColdStartP75 is the 75th percentile across applications of their
	// cold-start percentage, the figure Shahrad et al. plot.
	ColdStartP75 float64 `json:"coldStartP75"`
	// ColdStartMean is the mean of the same percentages.
	ColdStartMean float64 `json:"coldStartMean"`
	// ColdStarts and InvokedMinutes are totals over all applications.
	ColdStarts     int `json:"coldStarts"`
	InvokedMinutes int `json:"invokedMinutes"`
	// WastedGBMinutes is the memory kept loaded without an invocation,
	// summed over applications, in GB·minutes (MB/1024).
	WastedGBMinutes float64      `json:"wastedGBMinutes"`
	Modes           map[Mode]int `json:"modes"`
}

// Options tune a simulation.
type Options struct {
	// Warmup minutes at the start of the trace train the policies but are
	// not scored: invocations before it count neither as cold nor as warm,
	// and loaded minutes before it are not waste. It stands in for the
	// history a production policy would have learned on before the trace.
	Warmup int
}

// SimulateApp replays one application's per-minute invocation counts under
// a policy. memoryMB weighs wasted minutes. Before its first invocation the
// application has no instance, so the first scored invocation is cold unless
// an earlier, unscored one left the instance warm. The instance is loaded
// in the window the policy chose after each invocation; loaded minutes past
// the end of the trace are not counted.
func SimulateApp(counts []int, memoryMB float64, p Policy, opt Options) AppResult {
	r := AppResult{Modes: map[Mode]int{}}
	tracker := p.NewTracker()
	last := -1
	var w Window
	for m, c := range counts {
		if c <= 0 {
			continue
		}
		if m >= opt.Warmup {
			r.InvokedMinutes++
			if last < 0 || !w.covers(m-last) {
				r.ColdStarts++
			}
		}
		if last >= 0 {
			r.WastedMinutes += loadedIdle(w, last, m-1, opt.Warmup)
		}
		dec := tracker.Invoked(m)
		if m >= opt.Warmup {
			r.Modes[dec.Mode]++
		}
		w, last = dec.Window, m
	}
	if last >= 0 {
		r.WastedMinutes += loadedIdle(w, last, len(counts)-1, opt.Warmup)
	}
	r.WastedMBMinutes = float64(r.WastedMinutes) * memoryMB
	return r
}

// loadedIdle counts the minutes after an invocation at minute last, up to
// minute until and from minute since on, in which window w kept the
// instance loaded.
func loadedIdle(w Window, last, until, since int) int {
	from := max(last+max(w.Start, 1), since)
	to := min(last+w.End, until)
	return max(0, to-from+1)
}

// Simulate replays every application (or function) of a trace under a
// policy. Pass az.ByApp() to simulate applications as the paper does.
// Applications with no scored invocation are left out.
func Simulate(az *trace.Azure, p Policy, opt Options) Result {
	res := Result{Policy: p.Name(), Modes: map[Mode]int{}}
	pct := make([]float64, 0, len(az.Functions))
	for _, f := range az.Functions {
		r := SimulateApp(f.Counts, f.MemoryMB, p, opt)
		if r.InvokedMinutes == 0 {
			continue
		}
		r.ID, r.Trigger = f.Hash, f.Trigger
		res.Apps = append(res.Apps, r)
		res.ColdStarts += r.ColdStarts
		res.InvokedMinutes += r.InvokedMinutes
		res.WastedGBMinutes += r.WastedMBMinutes / 1024
		for m, n := range r.Modes {
			res.Modes[m] += n
		}
		pct = append(pct, r.ColdStartPercent())
	}
	res.ColdStartP75 = Percentile(pct, 0.75)
	for _, v := range pct {
		res.ColdStartMean += v / float64(len(pct))
	}
	return res
}

// Percentile is the nearest-rank p-quantile of xs (0 < p ≤ 1): the
// smallest value with at least p of the values at or below it. NaN for no
// values.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Compare simulates several policies on one trace, in order.
func Compare(az *trace.Azure, policies []Policy, opt Options) []Result {
	out := make([]Result, 0, len(policies))
	for _, p := range policies {
		out = append(out, Simulate(az, p, opt))
	}
	return out
}

// ParsePolicies parses a comma-separated list of policy names.
func ParsePolicies(list []string) ([]Policy, error) {
	var out []Policy
	for _, name := range list {
		p, err := ParsePolicy(name)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("prewarm: no policy given")
	}
	return out, nil
}
