package recommend

import (
	"fmt"
	"testing"
)

var objectives = []Objective{{Metric: "fps", HigherIsBetter: true, Target: 25}, {Metric: "latency_ms", Target: 100}}

func TestRankPrefersTheSiteThatMetTheObjectives(t *testing.T) {
	h := History{
		"fps":        {"edge": {Mean: 12, Count: 100}, "cloud": {Mean: 30, Count: 100}},
		"latency_ms": {"edge": {Mean: 250, Count: 100}, "cloud": {Mean: 20, Count: 100}},
	}
	r := Rank([]string{"edge", "cloud", "new"}, objectives, h)
	if r[0].Site != "cloud" || r[len(r)-1].Site != "edge" {
		t.Fatalf("order %s, %s, %s; want cloud first, edge last", r[0].Site, r[1].Site, r[2].Site)
	}
	if r[0].Predicted["fps"] != 30 || r[0].Confidence < 0.8 {
		t.Errorf("cloud: %+v", r[0])
	}
	// A site never observed gets the pooled mean with no confidence: the
	// neutral score, whatever the others did.
	if r[1].Site != "new" || r[1].Score != 0.5 || r[1].Confidence != 0 || r[1].Predicted["fps"] != 21 {
		t.Errorf("new site: %+v", r[1])
	}
}

func TestConfidenceGrowsWithSamples(t *testing.T) {
	var last float64
	for _, n := range []int{1, 10, 100, 1000} {
		h := History{"fps": {"a": {Mean: 30, Count: n}}, "latency_ms": {"a": {Mean: 10, Count: n}}}
		r := Rank([]string{"a"}, objectives, h)[0]
		if r.Score <= last || r.Score > 1 {
			t.Errorf("n=%d: score %.3f not above %.3f", n, r.Score, last)
		}
		last = r.Score
	}
}

func TestNoHistoryIsNeutral(t *testing.T) {
	for _, r := range Rank([]string{"b", "a"}, objectives, History{}) {
		if r.Score != 0.5 || r.Confidence != 0 {
			t.Errorf("%+v", r)
		}
	}
	if r := Rank([]string{"b", "a"}, objectives, History{}); r[0].Site != "a" {
		t.Errorf("ties not by name: %v", r)
	}
}

func ExampleRank() {
	h := History{
		"fps":        {"edge": {Mean: 29.9, Count: 240}, "cloud": {Mean: 18, Count: 60}},
		"latency_ms": {"edge": {Mean: 8.5, Count: 240}, "cloud": {Mean: 140, Count: 60}},
	}
	for _, r := range Rank([]string{"cloud", "edge"}, objectives, h) {
		fmt.Printf("%s %.3f %s\n", r.Site, r.Score, r.Reason)
	}
	// Output:
	// edge 0.976 fps 29.9 (n=240) vs >= 25; latency_ms 8.5 (n=240) vs <= 100
	// cloud 0.681 fps 18 (n=60) vs >= 25; latency_ms 140 (n=60) vs <= 100
}
