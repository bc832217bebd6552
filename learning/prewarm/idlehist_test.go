package prewarm_test

import (
	"slices"
	"testing"

	"github.com/cloudskin/cloudskin/learning/prewarm"
)

// invokedEvery returns per-minute counts of an application invoked every
// period minutes, n times.
func invokedEvery(period, n int) []int {
	counts := make([]int, period*n)
	for i := range n {
		counts[i*period] = 1
	}
	return counts
}

// Two sites that each saw too few idle times to trust fall back to the
// fixed keep-alive; their merged histogram is the histogram of all their
// idle times and is trusted.
func TestMergedIdleHistogramsAreTrustedWhereEachSiteIsNot(t *testing.T) {
	p := prewarm.DefaultHybrid()
	edge := prewarm.IdleHistogramOf(invokedEvery(30, 4), p.Range)  // 3 idle times of 30 min
	cloud := prewarm.IdleHistogramOf(invokedEvery(30, 3), p.Range) // 2 more
	for name, h := range map[string]prewarm.IdleHistogram{"edge": edge, "cloud": cloud} {
		d, err := p.Decide(h)
		if err != nil || d.Mode != prewarm.ModeFewIdleTimes {
			t.Fatalf("%s alone: %+v, %v; want the few-idle-times fallback", name, d, err)
		}
	}
	merged, err := prewarm.MergeIdleHistograms(edge, cloud)
	if err != nil {
		t.Fatal(err)
	}
	both := prewarm.IdleHistogramOf(append(invokedEvery(30, 4), invokedEvery(30, 3)...), p.Range)
	both.Bins[30]-- // the concatenation adds one idle time between the two series
	if !slices.Equal(merged.Bins, both.Bins) || merged.OutOfBounds != both.OutOfBounds {
		t.Fatalf("merged histogram differs from the histogram of all idle times")
	}
	d, err := p.Decide(merged)
	if err != nil {
		t.Fatal(err)
	}
	if d.Mode != prewarm.ModeHistogram || d.Window.Start != 27 || d.Window.End != 33 {
		t.Fatalf("merged: %+v, want a histogram window of 27..33 minutes around the 30-minute idle time", d)
	}
	if _, err := prewarm.MergeIdleHistograms(edge, prewarm.IdleHistogram{Bins: make([]int, 10)}); err == nil {
		t.Fatal("merging histograms of different ranges succeeded")
	}
	if _, err := p.Decide(prewarm.IdleHistogram{Bins: make([]int, p.Range), OutOfBounds: -1}); err == nil {
		t.Fatal("a negative count was accepted")
	}
}
