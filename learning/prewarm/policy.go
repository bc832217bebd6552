// Package prewarm decides how long to keep a serverless application's
// instance warm after an invocation, and when to load it again ahead of the
// next one, so fewer invocations wait for a cold start while less memory
// sits idle. It holds the policies (a fixed keep-alive, the hybrid histogram
// policy of Shahrad et al., ATC'20, and INFless's long-short-term histograms,
// ASPLOS'22) and a simulator that replays per-minute invocation counts of
// the Azure Functions trace through them.
//
// Everything here is a pure function of the invocation minutes: no clocks,
// no randomness, so a simulation is exact and repeatable. Hand-written: the
// policies are a histogram and two percentiles each, and no Go library
// implements them.
package prewarm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Window is the span, in whole minutes after an invocation at minute a, in
// which the application's instance is loaded: minutes a+Start through a+End
// inclusive. Start ≤ 1 means the instance is never unloaded after the
// invocation (no pre-warming); Start > 1 means it is unloaded and loaded
// again (pre-warmed) at a+Start. End is where the keep-alive ends.
type Window struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// covers reports whether an invocation d minutes after the last finds the
// instance warm.
func (w Window) covers(d int) bool { return d >= w.Start && d <= w.End }

// Mode says which branch of a policy made a decision.
type Mode string

// Modes.
const (
	ModeFixed        Mode = "fixed"        // a fixed keep-alive policy
	ModeHistogram    Mode = "histogram"    // windows from the idle-time histogram
	ModeFewIdleTimes Mode = "fallback-few" // too few idle times seen: fixed keep-alive
	ModeLowCV        Mode = "fallback-cv"  // histogram too flat to predict: fixed keep-alive
	ModeOutOfBounds  Mode = "fallback-oob" // most idle times beyond the histogram: fixed keep-alive
	ModeShortTerm    Mode = "long-short"   // LSTH: long and short histograms combined
	ModeLongOnly     Mode = "long-only"    // LSTH: too few recent idle times, long histogram alone
)

// Decision is a policy's answer after one invocation.
type Decision struct {
	Window Window `json:"window"`
	Mode   Mode   `json:"mode"`
}

// Policy makes a Tracker for each application: policies learn per
// application, from that application's invocations only.
type Policy interface {
	Name() string
	NewTracker() Tracker
}

// Tracker follows one application. Invoked is told every minute in which the
// application is invoked, in increasing order, and returns the window that
// follows that invocation.
type Tracker interface {
	Invoked(minute int) Decision
}

// ParsePolicy accepts "fixed-N" (a fixed keep-alive of N minutes), "hybrid"
// and "lsth", with the papers' default parameters.
func ParsePolicy(name string) (Policy, error) {
	switch {
	case name == "hybrid":
		return DefaultHybrid(), nil
	case name == "lsth":
		return DefaultLSTH(), nil
	case strings.HasPrefix(name, "fixed-"):
		n, err := strconv.Atoi(strings.TrimPrefix(name, "fixed-"))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("prewarm: policy %q: want fixed-N with N a number of minutes ≥ 0", name)
		}
		return Fixed{KeepAlive: n}, nil
	}
	return nil, fmt.Errorf("prewarm: unknown policy %q (want fixed-N, hybrid or lsth)", name)
}

// Fixed keeps the instance loaded for KeepAlive minutes after each
// invocation and never pre-warms: what AWS Lambda (about 10 minutes) and
// Azure Functions (20 minutes) did when the trace was taken.
type Fixed struct {
	KeepAlive int
}

// Name implements Policy.
func (f Fixed) Name() string { return fmt.Sprintf("fixed-%d", f.KeepAlive) }

// NewTracker implements Policy.
func (f Fixed) NewTracker() Tracker { return fixedTracker(f) }

type fixedTracker Fixed

func (f fixedTracker) Invoked(int) Decision {
	return Decision{Window: Window{Start: 0, End: f.KeepAlive}, Mode: ModeFixed}
}

// histogram counts idle times in 1-minute bins 0..len(bins)-1; longer idle
// times are counted as out of bounds.
type histogram struct {
	bins []int
	in   int // idle times inside the bins
	oob  int // idle times ≥ len(bins)
}

func newHistogram(rangeMinutes int) *histogram { return &histogram{bins: make([]int, rangeMinutes)} }

func (h *histogram) add(idle, delta int) {
	if idle >= len(h.bins) {
		h.oob += delta
		return
	}
	h.bins[idle] += delta
	h.in += delta
}

func (h *histogram) total() int { return h.in + h.oob }

// percentile returns the smallest bin whose cumulative count reaches the
// fraction p of the in-range idle times (the nearest-rank percentile). Bins
// are whole minutes, so the head cut-off is the bin's lower edge and the
// tail cut-off its value: idle times are whole minutes here.
func (h *histogram) percentile(p float64) int {
	target := p * float64(h.in)
	cum := 0
	for i, c := range h.bins {
		cum += c
		if c > 0 && float64(cum) >= target {
			return i
		}
	}
	return len(h.bins) - 1
}

// cv is the coefficient of variation (population standard deviation over
// mean) of the bin counts, over all bins of the range. A single spike has a
// high CV; idle times spread evenly over the range have a CV near 0.
func (h *histogram) cv() float64 {
	if h.in == 0 {
		return 0
	}
	n := float64(len(h.bins))
	mean := float64(h.in) / n
	ss := 0.0
	for _, c := range h.bins {
		d := float64(c) - mean
		ss += d * d
	}
	return math.Sqrt(ss/n) / mean
}

// windowFromCutoffs applies the margins: pre-warm a margin before the head
// and keep alive a margin past the tail, in whole minutes. The slack keeps
// binary rounding (1.1·50 = 55.000000000000007) from adding a minute.
func windowFromCutoffs(head, tail, margin float64) Window {
	const slack = 1e-9
	return Window{
		Start: int(math.Floor(head*(1-margin) + slack)),
		End:   int(math.Ceil(tail*(1+margin) - slack)),
	}
}
