package prewarm

// LSTH is the long-short-term histogram policy of INFless (Yang et al.,
// ASPLOS 2022), as we read it: two idle-time histograms per application,
// one over a long window of history and one over a short recent window. The
// pre-warm and keep-alive cut-offs are the head and tail percentiles of each,
// combined as ShortWeight·short + (1−ShortWeight)·long, so the window follows
// a recent change in rhythm faster than a histogram over all history, while
// the long histogram keeps it from chasing a single odd gap. With fewer than
// MinShort recent idle times the long histogram decides alone; with fewer
// than MinIdleTimes in all, a fixed keep-alive of Fallback minutes does.
type LSTH struct {
	Range        int     // histogram range in minutes (240)
	LongWindow   int     // minutes of history in the long histogram; 0 = all
	ShortWindow  int     // minutes of history in the short histogram (60)
	ShortWeight  float64 // weight of the short histogram's cut-offs (0.5)
	MinShort     int     // least recent idle times to use the short histogram (3)
	Head, Tail   float64 // percentiles of the cut-offs (0.05 and 0.99)
	Margin       float64 // widening of the window at both ends (0.10)
	MinIdleTimes int     // least idle times in the long window (5)
	Fallback     int     // fixed keep-alive in minutes (10)
}

// DefaultLSTH is LSTH with the parameters above.
func DefaultLSTH() LSTH {
	return LSTH{Range: 240, LongWindow: 0, ShortWindow: 60, ShortWeight: 0.5, MinShort: 3, Head: 0.05, Tail: 0.99, Margin: 0.10, MinIdleTimes: 5, Fallback: 10}
}

// Name implements Policy.
func (LSTH) Name() string { return "lsth" }

// NewTracker implements Policy.
func (p LSTH) NewTracker() Tracker {
	return &lsthTracker{p: p, long: newWindowed(p.Range, p.LongWindow), short: newWindowed(p.Range, p.ShortWindow), last: -1}
}

type lsthTracker struct {
	p           LSTH
	long, short *windowed
	last        int
}

func (t *lsthTracker) Invoked(minute int) Decision {
	if t.last >= 0 {
		idle := minute - t.last
		t.long.add(minute, idle)
		t.short.add(minute, idle)
	}
	t.last = minute
	t.long.expire(minute)
	t.short.expire(minute)
	return t.p.decide(t.long.hist, t.short.hist)
}

func (p LSTH) decide(long, short *histogram) Decision {
	if long.total() < p.MinIdleTimes || long.in == 0 {
		return Decision{Window: Window{Start: 0, End: p.Fallback}, Mode: ModeFewIdleTimes}
	}
	head, tail := float64(long.percentile(p.Head)), float64(long.percentile(p.Tail))
	if short.in < p.MinShort {
		return Decision{Window: windowFromCutoffs(head, tail, p.Margin), Mode: ModeLongOnly}
	}
	w := p.ShortWeight
	head = w*float64(short.percentile(p.Head)) + (1-w)*head
	tail = w*float64(short.percentile(p.Tail)) + (1-w)*tail
	return Decision{Window: windowFromCutoffs(head, tail, p.Margin), Mode: ModeShortTerm}
}

// windowed is a histogram of the idle times that ended within the last
// span minutes (span 0: all of them).
type windowed struct {
	span  int
	hist  *histogram
	queue []idleAt
}

type idleAt struct{ minute, idle int }

func newWindowed(rangeMinutes, span int) *windowed {
	return &windowed{span: span, hist: newHistogram(rangeMinutes)}
}

func (w *windowed) add(minute, idle int) {
	w.hist.add(idle, 1)
	if w.span > 0 {
		w.queue = append(w.queue, idleAt{minute, idle})
	}
}

func (w *windowed) expire(now int) {
	if w.span == 0 {
		return
	}
	i := 0
	for i < len(w.queue) && now-w.queue[i].minute >= w.span {
		w.hist.add(w.queue[i].idle, -1)
		i++
	}
	w.queue = w.queue[i:]
}
