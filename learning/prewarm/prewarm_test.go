package prewarm

import (
	"math"
	"testing"

	"github.com/cloudskin/cloudskin/learning/trace"
)

// every returns counts over n minutes with an invocation every period
// minutes from minute 0.
func every(n, period int) []int {
	c := make([]int, n)
	for m := 0; m < n; m += period {
		c[m] = 1
	}
	return c
}

// at returns counts over n minutes with invocations at the given minutes.
func at(n int, minutes ...int) []int {
	c := make([]int, n)
	for _, m := range minutes {
		c[m] = 3 // several in a minute are still one invoked minute
	}
	return c
}

func TestFixedKeepAliveCoversExactlyItsMinutes(t *testing.T) {
	// Invoked at 0, 10 (10 minutes later: warm) and 21 (11 later: cold).
	r := SimulateApp(at(40, 0, 10, 21), 512, Fixed{KeepAlive: 10}, Options{})
	if r.InvokedMinutes != 3 || r.ColdStarts != 2 {
		t.Fatalf("invoked %d, cold %d; want 3 and 2 (the first, and the one 11 minutes on)", r.InvokedMinutes, r.ColdStarts)
	}
	// Idle loaded minutes: 1..9 after 0, 11..20 after 10, 22..31 after 21.
	if r.WastedMinutes != 9+10+10 {
		t.Errorf("wasted %d minutes, want 29", r.WastedMinutes)
	}
	if r.WastedMBMinutes != 29*512 {
		t.Errorf("wasted %v MB·min, want %v", r.WastedMBMinutes, 29*512)
	}
}

func TestEndOfTraceTruncatesTheLastWindow(t *testing.T) {
	r := SimulateApp(at(25, 0, 20), 1, Fixed{KeepAlive: 10}, Options{})
	if r.WastedMinutes != 10+4 { // 1..10, then 21..24
		t.Errorf("wasted %d, want 14", r.WastedMinutes)
	}
	r = SimulateApp(every(480, 1), 1, Fixed{KeepAlive: 10}, Options{})
	if r.ColdStarts != 1 || r.WastedMinutes != 0 || r.InvokedMinutes != 480 {
		t.Errorf("invoked every minute: %+v, want 1 cold start and no waste", r)
	}
}

func TestHybridLearnsAnHourlyTimer(t *testing.T) {
	// Invoked every 60 minutes over 8 hours: a fixed 10-minute keep-alive
	// is cold every time; the hybrid policy, once it has seen 5 idle times
	// of 60 minutes, pre-warms at floor(0.9·60) = 54 and keeps alive to
	// ceil(1.1·60) = 66.
	counts := every(480, 60)
	fixed := SimulateApp(counts, 100, Fixed{KeepAlive: 10}, Options{})
	if fixed.ColdStarts != 8 || fixed.WastedMinutes != 8*10 {
		t.Fatalf("fixed-10: %d cold, %d wasted; want 8 and 80", fixed.ColdStarts, fixed.WastedMinutes)
	}
	hybrid := SimulateApp(counts, 100, DefaultHybrid(), Options{})
	// The window after invocation k has seen k idle times: after 5, 6 and
	// 7 it comes from the histogram, so invocations 6 and 7 are warm and
	// 0..5 are cold.
	if hybrid.ColdStarts != 6 {
		t.Errorf("hybrid: %d cold starts, want 6", hybrid.ColdStarts)
	}
	// Waste: 10 after each of the 5 fallback windows (0..4), then minutes
	// 54..59 after invocations 5, 6 and 7 (the last truncated at 479).
	if want := 5*10 + 3*6; hybrid.WastedMinutes != want {
		t.Errorf("hybrid: wasted %d minutes, want %d", hybrid.WastedMinutes, want)
	}
	if hybrid.Modes[ModeHistogram] != 3 || hybrid.Modes[ModeFewIdleTimes] != 5 {
		t.Errorf("hybrid modes %v, want 3 histogram and 5 fallback-few", hybrid.Modes)
	}
}

func TestHybridWindowFromHistogram(t *testing.T) {
	p := DefaultHybrid()
	h := newHistogram(p.Range)
	// 100 idle times: 2 of 3 minutes, 97 of 30, 1 of 50. The 5th percentile
	// (rank 5) is 30 and the 99th (rank 99) is 30; at 100 the tail is 50.
	h.add(3, 2)
	h.add(30, 97)
	h.add(50, 1)
	d := p.decide(h)
	if d.Mode != ModeHistogram || d.Window != (Window{Start: 27, End: 33}) {
		t.Errorf("decision %+v, want histogram window [27, 33]", d)
	}
	p.Tail = 1
	if d := p.decide(h); d.Window != (Window{Start: 27, End: 55}) {
		t.Errorf("tail at the 100th percentile: %+v, want [27, 55]", d)
	}
}

func TestHybridFallsBackWhenTheHistogramIsNotRepresentative(t *testing.T) {
	p := DefaultHybrid()
	fallback := Window{Start: 0, End: 10}

	few := newHistogram(p.Range)
	few.add(60, 4)
	if d := p.decide(few); d.Mode != ModeFewIdleTimes || d.Window != fallback {
		t.Errorf("4 idle times: %+v, want fallback-few", d)
	}

	// Idle times spread evenly over 60 of the 240 bins: CV = sqrt(180/60)
	// ≈ 1.73 < 2, so no window predicts them.
	flat := newHistogram(p.Range)
	for i := 0; i < 60; i++ {
		flat.add(4*i, 1)
	}
	if cv := flat.cv(); math.Abs(cv-math.Sqrt(3)) > 1e-9 {
		t.Fatalf("CV %v, want sqrt(3)", cv)
	}
	if d := p.decide(flat); d.Mode != ModeLowCV || d.Window != fallback {
		t.Errorf("flat histogram: %+v, want fallback-cv", d)
	}
	// Over 40 bins the CV is sqrt(200/40) ≈ 2.24: trusted.
	narrower := newHistogram(p.Range)
	for i := 0; i < 40; i++ {
		narrower.add(4*i, 1)
	}
	if d := p.decide(narrower); d.Mode != ModeHistogram {
		t.Errorf("40 bins: %+v, want a histogram window", d)
	}

	oob := newHistogram(p.Range)
	oob.add(300, 6)
	oob.add(60, 5)
	if d := p.decide(oob); d.Mode != ModeOutOfBounds || d.Window != fallback {
		t.Errorf("mostly beyond 4 h: %+v, want fallback-oob", d)
	}
}

func TestLSTHFollowsARecentChangeOfRhythm(t *testing.T) {
	// An hour-long rhythm for 10 hours, then every 10 minutes.
	var minutes []int
	m := 0
	for i := 0; i < 10; i++ {
		minutes = append(minutes, m)
		m += 60
	}
	for i := 0; i < 8; i++ {
		minutes = append(minutes, m)
		m += 10
	}
	hybrid, lsth := DefaultHybrid().NewTracker(), DefaultLSTH().NewTracker()
	var dh, dl Decision
	for _, m := range minutes {
		dh, dl = hybrid.Invoked(m), lsth.Invoked(m)
	}
	// The hybrid histogram still has its 99th percentile at 60 and keeps
	// the instance loaded to 66; LSTH's short window (the last hour, by now
	// only 10-minute gaps) pulls the keep-alive in to
	// ceil(1.1·(0.5·10 + 0.5·60)) = 39.
	if dh.Window.End != 66 {
		t.Errorf("hybrid window %+v, want end 66", dh.Window)
	}
	if dl.Mode != ModeShortTerm || dl.Window != (Window{Start: 9, End: 39}) {
		t.Errorf("LSTH decision %+v, want long-short window [9, 39]", dl)
	}
}

func TestLSTHShortWindowForgets(t *testing.T) {
	w := newWindowed(240, 60)
	w.add(10, 5)
	w.add(50, 40)
	w.expire(69)
	if w.hist.in != 2 {
		t.Fatalf("at 69: %d idle times in the last hour, want 2", w.hist.in)
	}
	w.expire(70)
	if w.hist.in != 1 || w.hist.bins[5] != 0 || w.hist.bins[40] != 1 {
		t.Fatalf("at 70: %+v, want only the idle time that ended at 50", w.hist.bins[:41])
	}
}

func TestWarmupIsNotScored(t *testing.T) {
	counts := at(100, 0, 5, 50, 55)
	r := SimulateApp(counts, 1, Fixed{KeepAlive: 10}, Options{Warmup: 10})
	if r.InvokedMinutes != 2 || r.ColdStarts != 1 {
		t.Errorf("%+v: want 2 scored invocations, 1 cold", r)
	}
	// Loaded 1..4 and 6..15 after 0 and 5, but only 10..15 is scored;
	// then 51..54 and 56..65.
	if r.WastedMinutes != 6+4+10 {
		t.Errorf("wasted %d, want 20", r.WastedMinutes)
	}
	// An invocation just after the warm-up is warm if the window from an
	// unscored one covers it.
	r = SimulateApp(at(100, 5, 12), 1, Fixed{KeepAlive: 10}, Options{Warmup: 10})
	if r.ColdStarts != 0 {
		t.Errorf("%+v: want the invocation at 12 warm", r)
	}
}

func TestSimulateAggregatesAcrossApplications(t *testing.T) {
	az := &trace.Azure{Minutes: 480, Functions: []trace.Function{
		{Hash: "hourly", Counts: every(480, 60), MemoryMB: 1024},
		{Hash: "busy", Counts: every(480, 1), MemoryMB: 2048},
		{Hash: "once", Counts: at(480, 100), MemoryMB: 512},
		{Hash: "never", Counts: make([]int, 480), MemoryMB: 512},
		{Hash: "twice", Counts: at(480, 0, 479), MemoryMB: 512},
	}}
	r := Simulate(az, Fixed{KeepAlive: 10}, Options{})
	if len(r.Apps) != 4 {
		t.Fatalf("%d apps scored, want 4 (one was never invoked)", len(r.Apps))
	}
	// Cold-start percentages: hourly 100, busy 1/480, once 100, twice 100:
	// the nearest-rank 75th percentile of four values is the third: 100.
	if r.ColdStartP75 != 100 {
		t.Errorf("p75 %v, want 100", r.ColdStartP75)
	}
	// Wasted: hourly 80 min × 1 GB, once 10 × 0.5 GB, twice 10 × 0.5 GB.
	if r.WastedGBMinutes != 80+5+5 {
		t.Errorf("wasted %v GB·min, want 90", r.WastedGBMinutes)
	}
	if r.ColdStarts != 8+1+1+2 || r.InvokedMinutes != 8+480+1+2 {
		t.Errorf("totals %d/%d", r.ColdStarts, r.InvokedMinutes)
	}
}

func TestPercentileNearestRank(t *testing.T) {
	xs := []float64{40, 10, 30, 20}
	for p, want := range map[float64]float64{0.25: 10, 0.5: 20, 0.75: 30, 0.76: 40, 1: 40} {
		if got := Percentile(xs, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if !math.IsNaN(Percentile(nil, 0.5)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestParsePolicy(t *testing.T) {
	for _, name := range []string{"fixed-10", "fixed-20", "hybrid", "lsth"} {
		p, err := ParsePolicy(name)
		if err != nil || p.Name() != name {
			t.Errorf("ParsePolicy(%q) = %v, %v", name, p, err)
		}
	}
	for _, bad := range []string{"", "fixed", "fixed-x", "fixed--1", "arima"} {
		if _, err := ParsePolicy(bad); err == nil {
			t.Errorf("ParsePolicy(%q) succeeded", bad)
		}
	}
}
