package prewarm

// Hybrid is the hybrid histogram policy of Shahrad et al. ("Serverless in
// the Wild", USENIX ATC 2020, section 4.2). Per application it keeps a
// histogram of idle times (minutes between consecutive invoked minutes) in
// 1-minute bins over Range minutes. When the histogram is representative it
// pre-warms at the Head percentile minus Margin and keeps alive to the Tail
// percentile plus Margin; when it is not, it falls back to a fixed
// keep-alive of Fallback minutes.
//
// The paper's representativeness test is the coefficient of variation of
// the bin counts: a CV below CVThreshold (their default 2) means idle times
// are spread out and no window predicts them. It also needs enough idle
// times; the paper gives no number, MinIdleTimes is ours. Where most idle
// times fall beyond the range the paper forecasts the next one with ARIMA;
// this implementation falls back to the fixed keep-alive instead (in the
// 8-hour Azure sample an application has at most one idle time past 4 h).
type Hybrid struct {
	Range        int     // histogram range in minutes (240: 4 hours)
	Head, Tail   float64 // percentiles of the cut-offs (0.05 and 0.99)
	Margin       float64 // widening of the window at both ends (0.10)
	CVThreshold  float64 // least CV of bin counts to trust the histogram (2)
	MinIdleTimes int     // least idle times to trust the histogram
	OOBFraction  float64 // most out-of-range idle times to trust it (0.5)
	Fallback     int     // fixed keep-alive in minutes when it is not trusted (10)
}

// DefaultHybrid is the policy with the paper's parameters, a fallback of a
// fixed 10-minute keep-alive, and at least 5 idle times seen.
func DefaultHybrid() Hybrid {
	return Hybrid{Range: 240, Head: 0.05, Tail: 0.99, Margin: 0.10, CVThreshold: 2, MinIdleTimes: 5, OOBFraction: 0.5, Fallback: 10}
}

// Name implements Policy.
func (Hybrid) Name() string { return "hybrid" }

// NewTracker implements Policy.
func (p Hybrid) NewTracker() Tracker {
	return &hybridTracker{p: p, hist: newHistogram(p.Range), last: -1}
}

type hybridTracker struct {
	p    Hybrid
	hist *histogram
	last int
}

func (t *hybridTracker) Invoked(minute int) Decision {
	if t.last >= 0 {
		t.hist.add(minute-t.last, 1)
	}
	t.last = minute
	return t.p.decide(t.hist)
}

func (p Hybrid) decide(h *histogram) Decision {
	fallback := Window{Start: 0, End: p.Fallback}
	switch {
	case h.total() < p.MinIdleTimes || h.total() == 0:
		return Decision{Window: fallback, Mode: ModeFewIdleTimes}
	case float64(h.oob) > p.OOBFraction*float64(h.total()):
		return Decision{Window: fallback, Mode: ModeOutOfBounds}
	case h.cv() < p.CVThreshold:
		return Decision{Window: fallback, Mode: ModeLowCV}
	}
	head, tail := h.percentile(p.Head), h.percentile(p.Tail)
	return Decision{Window: windowFromCutoffs(float64(head), float64(tail), p.Margin), Mode: ModeHistogram}
}
