package recommend

import (
	"errors"
	"fmt"
	"math"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// Migration trigger defaults.
const (
	// DefaultMargin is the hysteresis: a target site must be predicted
	// to meet the objective with 10 % to spare, and to beat the current
	// site's forecast by as much, so a replica that just moved is not
	// moved back by the same noise.
	DefaultMargin = 0.1
	// DefaultMinConfidence is the least confidence, both in the violation
	// and in the target site's prediction, that justifies a move.
	DefaultMinConfidence = 0.3
)

// Forecasters the trigger uses, most capable first; each is used only when
// the series is long enough for it.
const (
	trendModel     = "holt-winters" // Holt's linear trend: forecast.HoltWinters with season 1
	lineModel      = "linear-trend" // least-squares line through the series
	lastValueModel = "last-value"   // persistence, for one or two points
	minHoltPoints  = 6              // fewer, and three smoothing parameters are noise
	minLinePoints  = 3
)

// MigrationInput is what the trigger decides on.
type MigrationInput struct {
	// Current is the site the replica runs at.
	Current string
	// Series is the metric at the current site per interval, oldest
	// first; NaNs (intervals with no report) are skipped.
	Series    []float64
	Objective Objective
	// Horizon is how many intervals ahead to look.
	Horizon int
	// Ranking ranks the candidate sites for the block, best first (as
	// Rank or RankWith return it); the current site is skipped.
	Ranking []Recommendation
	// Margin and MinConfidence default to DefaultMargin and
	// DefaultMinConfidence when zero.
	Margin, MinConfidence float64
}

// MigrationDecision says whether to move and why.
type MigrationDecision struct {
	Migrate bool
	// To is the best site to move to; empty when no site qualifies.
	To string
	// ViolationAt is how many intervals ahead the objective is first
	// predicted to be violated: 0 means it is violated now, -1 never
	// within the horizon.
	ViolationAt int
	// Predicted is the forecast at ViolationAt, or at the horizon when
	// there is no violation.
	Predicted float64
	Forecast  []float64
	// Model is the forecaster that was used.
	Model string
	// Confidence is in [0, 1]: that the violation happens, times the
	// target's confidence when moving.
	Confidence float64
	Reason     string
}

// ErrNoSeries is returned when the current site's series holds no number.
var ErrNoSeries = errors.New("recommend: no samples of the metric at the current site")

// DecideMigration forecasts the metric at the current site and recommends
// moving when it is predicted to break the objective within the horizon
// and another site is predicted, confidently and with margin to spare, to
// meet it.
func DecideMigration(in MigrationInput) (MigrationDecision, error) {
	if in.Horizon < 1 {
		return MigrationDecision{}, fmt.Errorf("recommend: horizon %d: must be at least 1", in.Horizon)
	}
	if in.Objective.Target <= 0 || math.IsNaN(in.Objective.Target) || math.IsInf(in.Objective.Target, 0) {
		return MigrationDecision{}, fmt.Errorf("recommend: objective %s target %v: must be a positive number", in.Objective.Metric, in.Objective.Target)
	}
	margin, minConf := in.Margin, in.MinConfidence
	if margin == 0 {
		margin = DefaultMargin
	}
	if minConf == 0 {
		minConf = DefaultMinConfidence
	}
	y := finite(in.Series)
	if len(y) == 0 {
		return MigrationDecision{}, fmt.Errorf("%w (%d intervals, none with a value)", ErrNoSeries, len(in.Series))
	}
	fc := forecastSeries(y, in.Horizon)
	d := MigrationDecision{Forecast: fc.values, Model: fc.model, ViolationAt: -1}
	o := in.Objective
	last := y[len(y)-1]
	switch {
	case violates(o, last):
		d.ViolationAt, d.Predicted = 0, last
	default:
		d.Predicted = fc.values[len(fc.values)-1]
		for k, v := range fc.values {
			if violates(o, v) {
				d.ViolationAt, d.Predicted = k+1, v
				break
			}
		}
	}
	if d.ViolationAt < 0 {
		d.Confidence = 1 - violationChance(o, d.Predicted, fc, in.Horizon)
		d.Reason = fmt.Sprintf("%s forecast (%s) stays %s %g over %d intervals: %.4g at the end", o.Metric, fc.note(), opOf(o), o.Target, in.Horizon, d.Predicted)
		return d, nil
	}
	chance := violationChance(o, d.Predicted, fc, d.ViolationAt)
	d.Confidence = chance
	when := "now"
	if d.ViolationAt > 0 {
		when = fmt.Sprintf("in %d intervals", d.ViolationAt)
	}
	d.Reason = fmt.Sprintf("%s predicted %.4g %s (%s), objective %s %g", o.Metric, d.Predicted, when, fc.note(), opOf(o), o.Target)
	if chance < minConf {
		d.Reason += fmt.Sprintf("; violation not certain enough (%.2f < %.2f), staying", chance, minConf)
		return d, nil
	}
	target, why := bestTarget(in, o, d.Predicted, margin, minConf)
	if target == nil {
		d.Reason += "; " + why + ", staying"
		return d, nil
	}
	d.Migrate, d.To = true, target.Site
	d.Confidence = chance * target.Confidence
	d.Reason += fmt.Sprintf("; move to %s: %s %.4g predicted there (confidence %.2f)", target.Site, o.Metric, target.Predicted[o.Metric], target.Confidence)
	return d, nil
}

// bestTarget returns the best-ranked other site predicted to meet the
// objective with the margin, confidently, and clearly better than staying;
// or nil and why none qualifies.
func bestTarget(in MigrationInput, o Objective, staying, margin, minConf float64) (*Recommendation, string) {
	why := ""
	for i := range in.Ranking {
		r := &in.Ranking[i]
		if r.Site == in.Current {
			continue
		}
		v, ok := r.Predicted[o.Metric]
		reject := ""
		switch {
		case !ok || math.IsNaN(v):
			reject = fmt.Sprintf("no better site: %s has no prediction of %s", r.Site, o.Metric)
		case r.Confidence < minConf:
			reject = fmt.Sprintf("no better site: %s is not known well enough (confidence %.2f < %.2f)", r.Site, r.Confidence, minConf)
		case !meetsWithMargin(o, v, margin) || !clearlyBetter(o, v, staying, margin):
			reject = fmt.Sprintf("no better site: %s is predicted at %.4g, not %s %g with a %.0f%% margin", r.Site, v, opOf(o), o.Target, 100*margin)
		default:
			return r, ""
		}
		if why == "" {
			why = reject // the best-ranked candidate's, the one a reader expects
		}
	}
	if why == "" {
		why = "no other site to move to"
	}
	return nil, why
}

func violates(o Objective, v float64) bool {
	if o.HigherIsBetter {
		return v < o.Target
	}
	return v > o.Target
}

func meetsWithMargin(o Objective, v, margin float64) bool {
	if o.HigherIsBetter {
		return v >= o.Target*(1+margin)
	}
	return v <= o.Target*(1-margin)
}

// clearlyBetter: v beats staying by the margin, relative to the target.
func clearlyBetter(o Objective, v, staying, margin float64) bool {
	if o.HigherIsBetter {
		return v-staying >= margin*o.Target
	}
	return staying-v >= margin*o.Target
}

func opOf(o Objective) string {
	if o.HigherIsBetter {
		return ">="
	}
	return "<="
}

func finite(series []float64) []float64 {
	var y []float64
	for _, v := range series {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			y = append(y, v)
		}
	}
	return y
}

// seriesForecast is a forecast and the one-step error spread of the model
// that made it.
type seriesForecast struct {
	values   []float64
	model    string
	sigma    float64 // one-step residual standard deviation
	n        int     // points the model saw
	fallback string  // why a simpler model was used, if one was
}

func (f seriesForecast) note() string {
	if f.fallback == "" {
		return f.model
	}
	return f.model + ", " + f.fallback
}

// forecastSeries forecasts h steps with Holt's linear trend when the
// series is long enough and the fit works, else with a least-squares
// line, else with the last value.
func forecastSeries(y []float64, h int) seriesForecast {
	fallback := ""
	if len(y) >= minHoltPoints {
		m, err := forecast.New(forecast.KindHoltWinters, 1)
		if err == nil {
			if err = m.Fit(y); err == nil {
				var p []float64
				if p, err = m.Predict(h); err == nil {
					return seriesForecast{values: p, model: trendModel, sigma: residualSigma(y, m.Fitted(), 3), n: len(y)}
				}
			}
		}
		fallback = "holt-winters failed: " + err.Error()
	} else {
		fallback = fmt.Sprintf("%d points are too few for holt-winters", len(y))
	}
	if len(y) >= minLinePoints {
		a, b := lineFit(y)
		fitted := make([]float64, len(y))
		p := make([]float64, h)
		for i := range y {
			fitted[i] = a + b*float64(i)
		}
		for k := range p {
			p[k] = a + b*float64(len(y)+k)
		}
		return seriesForecast{values: p, model: lineModel, sigma: residualSigma(y, fitted, 2), n: len(y), fallback: fallback}
	}
	p := make([]float64, h)
	for k := range p {
		p[k] = y[len(y)-1]
	}
	sigma := 0.0
	if len(y) == 2 {
		sigma = math.Abs(y[1] - y[0])
	}
	return seriesForecast{values: p, model: lastValueModel, sigma: sigma, n: len(y), fallback: fallback}
}

// lineFit returns the least-squares intercept and slope of y against its
// index.
func lineFit(y []float64) (float64, float64) {
	n := float64(len(y))
	var sx, sy, sxx, sxy float64
	for i, v := range y {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+v, sxx+x*x, sxy+x*v
	}
	b := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return (sy - b*sx) / n, b
}

// residualSigma is the standard deviation of y - fitted (NaN fitted
// values are the warm-up and skipped), with params degrees of freedom
// used by the fit.
func residualSigma(y, fitted []float64, params int) float64 {
	var ss float64
	n := 0
	for i := range y {
		if i < len(fitted) && !math.IsNaN(fitted[i]) {
			ss += (y[i] - fitted[i]) * (y[i] - fitted[i])
			n++
		}
	}
	if n <= params {
		return math.Sqrt(ss / math.Max(1, float64(n)))
	}
	return math.Sqrt(ss / float64(n-params))
}

// violationChance is the probability that the metric k steps ahead
// violates the objective, taking the forecast as the mean of a normal
// whose spread grows as √k from the one-step residuals (the random-walk
// approximation), times n/(n+4) so a handful of points never gives
// certainty.
func violationChance(o Objective, v float64, f seriesForecast, k int) float64 {
	k = max(k, 1)
	trust := float64(f.n) / float64(f.n+4)
	gap := v - o.Target // > 0: above the target
	if o.HigherIsBetter {
		gap = -gap // > 0: below the target
	}
	sd := f.sigma * math.Sqrt(float64(k))
	var p float64
	switch {
	case sd == 0 && gap > 0:
		p = 1
	case sd == 0:
		p = 0
	default:
		p = 0.5 * (1 + math.Erf(gap/(sd*math.Sqrt2)))
	}
	if gap > 0 {
		return p * trust
	}
	// Not predicted to violate: the chance it does anyway, pulled up
	// towards 0.5 by little data.
	return p*trust + 0.5*(1-trust)
}
