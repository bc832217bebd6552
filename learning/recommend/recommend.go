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
//
// RankWith adds two things to that. A site where the block was never
// observed gets the prediction of a QoS model (package learning/qos) from
// the block's profile and the site's state, trusted half as much as the
// model's own confidence says, since it is a prediction and not an
// observation. And a per-site cost, weighted by the caller, lets a
// cheaper site win when QoS is equal. DecideMigration (migrate.go) uses the
// ranking to say when a replica should move.
package recommend

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cloudskin/cloudskin/learning/qos"
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
	// Basis says, per metric, where the number comes from: "observed" at
	// the site, "predicted" by the QoS model, "pooled" (the mean over the
	// other sites, not trusted) or "none".
	Basis map[string]string `json:"basis,omitempty"`
	// Cost is the site's cost per replica-hour, when known.
	Cost *float64 `json:"cost,omitempty"`
}

// The bases of a prediction.
const (
	BasisObserved  = "observed"
	BasisPredicted = "predicted"
	BasisPooled    = "pooled"
	BasisNone      = "none"
)

// Inputs are what RankWith adds to the observed history.
type Inputs struct {
	// Predictors are QoS models by metric, and Features the block's
	// features at each candidate site now; together they predict a site
	// where the block has no history.
	Predictors map[string]*qos.Model
	Features   map[string]qos.Features
	// Costs are per site, per replica-hour; CostWeight in [0, 1] is the
	// share of the score that cost takes (0: cost does not count).
	Costs      map[string]float64
	CostWeight float64
	// NoModel says, by metric, why there is no predictor (too few
	// samples...), for the reasons.
	NoModel map[string]error
}

// predictedTrust scales a QoS model's confidence: a prediction for a site
// where the block never ran counts for less than an observation there.
const predictedTrust = 0.5

// trustAt is k in the confidence n/(n+k): with samples every 5 s, a
// minute of history gives a confidence of 0.5.
const trustAt = 12

// Rank scores every site, best first (ties by name), on observed history
// alone.
func Rank(sites []string, objectives []Objective, h History) []Recommendation {
	out := make([]Recommendation, 0, len(sites))
	for _, site := range sites {
		out = append(out, rankOne(site, objectives, h, nil))
	}
	sortRecommendations(out)
	return out
}

// RankWith scores every site, best first (ties by name), on observed
// history, QoS predictions for the sites without history, and cost. Its
// reasons say for each metric whether the number was observed or
// predicted, and the site's cost.
func RankWith(sites []string, objectives []Objective, h History, in Inputs) []Recommendation {
	out := make([]Recommendation, 0, len(sites))
	costs := costScores(sites, in.Costs)
	w := math.Min(1, math.Max(0, in.CostWeight))
	for _, site := range sites {
		r := rankOne(site, objectives, h, &in)
		if c, ok := in.Costs[site]; ok {
			r.Cost = &c
			r.Reason += fmt.Sprintf("; cost %.4g per replica-hour", c)
		} else if len(in.Costs) > 0 {
			r.Reason += "; cost unknown"
		}
		if w > 0 {
			r.Score = (1-w)*r.Score + w*costs[site]
		}
		out = append(out, r)
	}
	sortRecommendations(out)
	return out
}

// costScores maps the candidates' costs to [0, 1]: 1 for the cheapest, 0
// for the dearest, linear between; 1 for all when they cost the same, and
// 0.5 (no opinion) where the cost is not known.
func costScores(sites []string, costs map[string]float64) map[string]float64 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range sites {
		if c, ok := costs[s]; ok {
			lo, hi = math.Min(lo, c), math.Max(hi, c)
		}
	}
	out := map[string]float64{}
	for _, s := range sites {
		c, ok := costs[s]
		switch {
		case !ok:
			out[s] = 0.5
		case hi == lo:
			out[s] = 1
		default:
			out[s] = 1 - (c-lo)/(hi-lo)
		}
	}
	return out
}

func sortRecommendations(out []Recommendation) {
	slices.SortStableFunc(out, func(a, b Recommendation) int {
		if a.Score != b.Score {
			if a.Score > b.Score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Site, b.Site)
	})
}

// rankOne scores one site; in is nil for Rank, whose reasons keep their
// original wording.
func rankOne(site string, objectives []Objective, h History, in *Inputs) Recommendation {
	r := Recommendation{Site: site, Score: 0.5, Predicted: map[string]float64{}}
	if in != nil {
		r.Basis = map[string]string{}
	}
	if len(objectives) == 0 {
		r.Reason = "no objectives to predict"
		return r
	}
	var score, conf float64
	var parts []string
	for _, o := range objectives {
		e := estimate(site, o.Metric, h, in)
		sat := 0.5
		if e.basis != BasisNone {
			r.Predicted[o.Metric] = e.value
			sat = satisfaction(o, e.value)
		}
		score += e.confidence*sat + (1-e.confidence)*0.5
		conf += e.confidence
		if in == nil {
			parts = append(parts, describe(o, e.value, e.n, e.basis != BasisNone))
		} else {
			r.Basis[o.Metric] = e.basis
			parts = append(parts, e.describe(o))
		}
	}
	k := float64(len(objectives))
	r.Score, r.Confidence = score/k, conf/k
	r.Reason = strings.Join(parts, "; ")
	return r
}

// estimateOf is one metric's number at one site and what it rests on.
type estimateOf struct {
	value, confidence float64
	n                 int
	basis             string
	model             *qos.Model
	modelErr          error
}

// estimate is the observed mean at the site; failing that a QoS model's
// prediction; failing that the pooled mean of the other sites, with no
// confidence.
func estimate(site, metric string, h History, in *Inputs) estimateOf {
	pred, n, known := predict(h[metric], site)
	e := estimateOf{value: pred, n: n, basis: BasisNone}
	switch {
	case n > 0:
		e.basis, e.confidence = BasisObserved, float64(n)/float64(n+trustAt)
		return e
	case known:
		e.basis = BasisPooled
	}
	if in == nil {
		return e
	}
	m := in.Predictors[metric]
	if m == nil {
		e.modelErr = in.NoModel[metric]
		return e
	}
	f, ok := in.Features[site]
	if !ok {
		f = qos.Unknown()
	}
	p, err := m.Predict(f)
	if err != nil {
		e.modelErr = err
		return e
	}
	e.value, e.basis, e.model = p.Value, BasisPredicted, m
	e.confidence = predictedTrust * p.Confidence
	return e
}

func (e estimateOf) describe(o Objective) string {
	switch e.basis {
	case BasisObserved:
		return fmt.Sprintf("%s %.4g observed (n=%d) vs %s %g", o.Metric, e.value, e.n, opOf(o), o.Target)
	case BasisPredicted:
		return fmt.Sprintf("%s %.4g predicted by the QoS model (%s) vs %s %g", o.Metric, e.value, e.model, opOf(o), o.Target)
	case BasisPooled:
		return fmt.Sprintf("%s: not observed here, %.4g elsewhere%s", o.Metric, e.value, e.modelNote())
	}
	return fmt.Sprintf("%s: never observed%s", o.Metric, e.modelNote())
}

func (e estimateOf) modelNote() string {
	if e.modelErr == nil {
		return ""
	}
	return fmt.Sprintf(" (QoS model: %v)", e.modelErr)
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
