// Package recommend ranks the sites a component could run at by the QoS
// its block was observed to reach at each of them: the Learning Plane's
// placement recommendation, which the orchestrator's learning scorer
// blends into its placement decisions.
//
// The model is deliberately simple and explainable: per site, the mean of
// the observed samples of each objective's metric, trusted in proportion
// to how many there are (confidence n/(n+k)); a site never observed gets
// the mean over all sites with no confidence. Each objective scores how
// well the prediction meets its target, and a site's score is the mean
// over objectives, pulled towards 0.5 (no opinion) by low confidence. It
// is pure logic over samples the caller reads (from the TSDB through
// PromQL), so rankings are reproducible in tests.
package recommend

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Objective is a QoS target on a metric.
type Objective struct {
	Metric string
	// HigherIsBetter: fps; otherwise lower is (latency).
	HigherIsBetter bool
	Target         float64
}

// Stats summarise the observed samples of one metric at one site.
type Stats struct {
	Mean  float64
	Count int
}

// History holds, by metric and then by site, what was observed.
type History map[string]map[string]Stats

// Recommendation is one site's rank.
type Recommendation struct {
	Site  string  `json:"site"`
	Score float64 `json:"score"`
	// Predicted holds each objective's metric as predicted at the site.
	Predicted  map[string]float64 `json:"predicted"`
	Confidence float64            `json:"confidence"`
	Reason     string             `json:"reason"`
}

// trustAt is k in the confidence n/(n+k): with samples every 5 s, a
// minute of history gives a confidence of 0.5.
const trustAt = 12

// Rank scores every site, best first (ties by name).
func Rank(sites []string, objectives []Objective, h History) []Recommendation {
	out := make([]Recommendation, 0, len(sites))
	for _, site := range sites {
		out = append(out, rankOne(site, objectives, h))
	}
	slices.SortStableFunc(out, func(a, b Recommendation) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Site, b.Site)
	})
	return out
}

func rankOne(site string, objectives []Objective, h History) Recommendation {
	r := Recommendation{Site: site, Score: 0.5, Predicted: map[string]float64{}}
	if len(objectives) == 0 {
		r.Reason = "no objectives to predict"
		return r
	}
	var score, conf float64
	var parts []string
	for _, o := range objectives {
		pred, n, known := predict(h[o.Metric], site)
		c := float64(n) / float64(n+trustAt)
		sat := 0.5
		if known {
			r.Predicted[o.Metric] = pred
			sat = satisfaction(o, pred)
		}
		score += c*sat + (1-c)*0.5
		conf += c
		parts = append(parts, describe(o, pred, n, known))
	}
	k := float64(len(objectives))
	r.Score, r.Confidence = score/k, conf/k
	r.Reason = strings.Join(parts, "; ")
	return r
}

// predict returns the site's mean and sample count, or, for a site never
// observed, the mean over all sites with count 0.
func predict(bySite map[string]Stats, site string) (float64, int, bool) {
	if s, ok := bySite[site]; ok && s.Count > 0 {
		return s.Mean, s.Count, true
	}
	var sum float64
	n := 0
	for _, s := range bySite {
		if s.Count > 0 {
			sum += s.Mean * float64(s.Count)
			n += s.Count
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	return sum / float64(n), 0, true
}

// satisfaction is 1 when the prediction meets the target and falls
// proportionally below it otherwise.
func satisfaction(o Objective, pred float64) float64 {
	if o.Target <= 0 || math.IsNaN(pred) {
		return 0.5
	}
	if o.HigherIsBetter {
		return math.Min(1, math.Max(0, pred/o.Target))
	}
	if pred <= 0 {
		return 1
	}
	return math.Min(1, o.Target/pred)
}

func describe(o Objective, pred float64, n int, known bool) string {
	switch {
	case !known:
		return fmt.Sprintf("%s: never observed", o.Metric)
	case n == 0:
		return fmt.Sprintf("%s: not observed here, %.4g elsewhere", o.Metric, pred)
	}
	op := "<="
	if o.HigherIsBetter {
		op = ">="
	}
	return fmt.Sprintf("%s %.4g (n=%d) vs %s %g", o.Metric, pred, n, op, o.Target)
}
