package forecast

import (
	"encoding/json"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Seasonality says how the seasonal component combines with level and trend.
type Seasonality string

// Seasonality kinds.
const (
	// Additive: y = level + trend + season; seasonal swings of constant size.
	Additive Seasonality = "additive"
	// Multiplicative: y = (level + trend) × season; swings that grow with the
	// level. Needs strictly positive data.
	Multiplicative Seasonality = "multiplicative"
)

// HoltWinters is triple exponential smoothing (Holt 1957, Winters 1960) with
// additive trend and additive or multiplicative seasonality. With step t
// and season length m, the one-step prediction and updates are
//
//	ŷ[t]  = l + b + s[t-m]                     (additive; (l+b)·s[t-m] multiplicative)
//	l'    = α (y[t] - s[t-m]) + (1-α)(l + b)   (y[t]/s[t-m] multiplicative)
//	b'    = β (l' - l) + (1-β) b
//	s[t]  = γ (y[t] - l') + (1-γ) s[t-m]        (y[t]/l' multiplicative)
//
// The first season gives the initial level and seasonal indices, the first
// two the initial trend; α, β, γ in (0, 1) minimise the sum of squared
// one-step-ahead errors over the rest of the series.
type HoltWinters struct {
	Season      int         `json:"season"`
	Seasonality Seasonality `json:"seasonality"`

	// Fitted state, set by Fit.
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
	Gamma float64 `json:"gamma"`
	Level float64 `json:"level"`
	Trend float64 `json:"trend"`
	// Seasonal holds the m seasonal indices, Seasonal[0] being the one for
	// the first step after the data.
	Seasonal []float64 `json:"seasonal,omitempty"`
	// SSE is the sum of squared one-step errors at the fitted parameters,
	// over N observations.
	SSE float64 `json:"sse"`
	N   int     `json:"n"`

	fitted []float64
}

// Name implements Model.
func (hw *HoltWinters) Name() string {
	if hw.Seasonality == Multiplicative {
		return KindHoltWintersMul
	}
	return KindHoltWinters
}

// MarshalJSON keeps the saved form explicit about its seasonality even when
// the zero value (additive) was used.
func (hw *HoltWinters) MarshalJSON() ([]byte, error) {
	type plain HoltWinters
	c := plain(*hw)
	if c.Seasonality == "" {
		c.Seasonality = Additive
	}
	return json.Marshal(c)
}

// minLength is the shortest series Fit accepts: two full seasons to
// initialise the trend, and one more value to have an error to minimise.
func (hw *HoltWinters) minLength() int { return 2*hw.Season + 1 }

// Fit estimates α, β, γ and the final state. It fails with ErrTooShort
// below two seasons plus one value, and with ErrBadValue on NaN, infinity,
// or (multiplicative) a value that is not strictly positive.
func (hw *HoltWinters) Fit(y []float64) error {
	if err := hw.checkInput(y); err != nil {
		return err
	}
	return hw.apply(y, hw.searchParams(y))
}

// FitWith is Fit with α, β and γ given instead of estimated: it runs the
// recursions over y from the same initial state and keeps the final
// state, so the model forecasts y's continuation with those parameters.
// It is how a site uses smoothing parameters pooled from other sites
// (learning/federated) on its own series. Each parameter must be in
// [0, 1]; y is checked as by Fit.
func (hw *HoltWinters) FitWith(y []float64, alpha, beta, gamma float64) error {
	if err := hw.checkInput(y); err != nil {
		return err
	}
	for _, p := range []struct {
		name  string
		value float64
	}{{"alpha", alpha}, {"beta", beta}, {"gamma", gamma}} {
		if !(p.value >= 0 && p.value <= 1) {
			return fmt.Errorf("forecast: %s: %s = %v is outside [0, 1]", hw.Name(), p.name, p.value)
		}
	}
	return hw.apply(y, [3]float64{alpha, beta, gamma})
}

// checkInput checks the configuration and a series to fit.
func (hw *HoltWinters) checkInput(y []float64) error {
	if err := hw.checkConfig(); err != nil {
		return err
	}
	if len(y) < hw.minLength() {
		return fmt.Errorf("%w: %s with season %d needs at least %d values, got %d", ErrTooShort, hw.Name(), hw.Season, hw.minLength(), len(y))
	}
	if err := checkSeries(y); err != nil {
		return fmt.Errorf("forecast: %s: %w", hw.Name(), err)
	}
	if hw.Seasonality == Multiplicative {
		for i, v := range y {
			if v <= 0 {
				return fmt.Errorf("%w: %s needs values > 0, y[%d] is %v", ErrBadValue, hw.Name(), i, v)
			}
		}
	}
	return nil
}

// apply runs the recursions over y with parameters p and keeps the
// outcome as the fitted state.
func (hw *HoltWinters) apply(y []float64, p [3]float64) error {
	run := hw.run(y, p, true)
	if math.IsInf(run.sse, 0) || math.IsNaN(run.sse) {
		return fmt.Errorf("forecast: %s: α %v, β %v, γ %v give no finite error on this series", hw.Name(), p[0], p[1], p[2])
	}
	hw.Alpha, hw.Beta, hw.Gamma = p[0], p[1], p[2]
	hw.Level, hw.Trend, hw.Seasonal = run.level, run.trend, run.seasonal
	hw.SSE, hw.N = run.sse, len(y)
	hw.fitted = run.fitted
	return nil
}

func (hw *HoltWinters) checkConfig() error {
	if hw.Season < 1 {
		return fmt.Errorf("forecast: holt-winters: season length must be at least 1, got %d", hw.Season)
	}
	switch hw.Seasonality {
	case "":
		hw.Seasonality = Additive
	case Additive, Multiplicative:
	default:
		return fmt.Errorf("forecast: holt-winters: unknown seasonality %q (want %q or %q)", hw.Seasonality, Additive, Multiplicative)
	}
	return nil
}

// searchParams returns the (α, β, γ) with the least one-step SSE: the best
// point of a coarse grid, refined by Nelder-Mead in logit space so the
// search is unconstrained while the parameters stay inside (0, 1). The grid
// start keeps Nelder-Mead away from the poor local minima that a single
// arbitrary start falls into on strongly seasonal series.
func (hw *HoltWinters) searchParams(y []float64) [3]float64 {
	grid := []float64{0.02, 0.1, 0.3, 0.6, 0.9}
	best, bestSSE := [3]float64{0.3, 0.1, 0.1}, math.Inf(1)
	for _, a := range grid {
		for _, b := range grid {
			for _, g := range grid {
				p := [3]float64{a, b, g}
				if sse := hw.run(y, p, false).sse; sse < bestSSE {
					best, bestSSE = p, sse
				}
			}
		}
	}
	objective := func(x []float64) float64 {
		sse := hw.run(y, [3]float64{logistic(x[0]), logistic(x[1]), logistic(x[2])}, false).sse
		if math.IsNaN(sse) || math.IsInf(sse, 0) {
			return math.MaxFloat64 / 4 // a wall Nelder-Mead turns back from
		}
		return sse
	}
	start := []float64{logit(best[0]), logit(best[1]), logit(best[2])}
	settings := &optimize.Settings{
		FuncEvaluations: 3000,
		Converger:       &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-10, Iterations: 200},
	}
	res, err := optimize.Minimize(optimize.Problem{Func: objective}, start, settings, &optimize.NelderMead{})
	if err != nil || res == nil || !(res.F < bestSSE) {
		return best
	}
	return [3]float64{logistic(res.X[0]), logistic(res.X[1]), logistic(res.X[2])}
}

// hwRun is the outcome of one pass of the recursions over a series.
type hwRun struct {
	sse              float64
	level, trend     float64
	seasonal, fitted []float64
}

// run applies the recursions to y with parameters p. Without keep it only
// computes the SSE (the optimiser's inner loop), allocating one slice.
func (hw *HoltWinters) run(y []float64, p [3]float64, keep bool) hwRun {
	m := hw.Season
	alpha, beta, gamma := p[0], p[1], p[2]
	mul := hw.Seasonality == Multiplicative

	level := mean(y[:m])
	trend := (mean(y[m:2*m]) - level) / float64(m)
	seas := make([]float64, m)
	for i := range m {
		if mul {
			seas[i] = y[i] / level
		} else {
			seas[i] = y[i] - level
		}
	}
	var fitted []float64
	if keep {
		fitted = make([]float64, len(y))
		for i := range m {
			fitted[i] = math.NaN()
		}
	}
	sse := 0.0
	for t := m; t < len(y); t++ {
		s := seas[t%m]
		var pred, newLevel float64
		if mul {
			pred = (level + trend) * s
			newLevel = alpha*y[t]/s + (1-alpha)*(level+trend)
		} else {
			pred = level + trend + s
			newLevel = alpha*(y[t]-s) + (1-alpha)*(level+trend)
		}
		if keep {
			fitted[t] = pred
		}
		e := y[t] - pred
		sse += e * e
		trend = beta*(newLevel-level) + (1-beta)*trend
		level = newLevel
		if mul {
			seas[t%m] = gamma*y[t]/level + (1-gamma)*s
		} else {
			seas[t%m] = gamma*(y[t]-level) + (1-gamma)*s
		}
	}
	out := hwRun{sse: sse, level: level, trend: trend, fitted: fitted}
	if keep {
		// Rotate so that index 0 is the season of the first future step.
		out.seasonal = make([]float64, m)
		for j := range m {
			out.seasonal[j] = seas[(len(y)+j)%m]
		}
	}
	return out
}

// Predict implements Model: level + k·trend combined with the seasonal
// index of step k.
func (hw *HoltWinters) Predict(h int) ([]float64, error) {
	if err := checkHorizon(h); err != nil {
		return nil, err
	}
	if len(hw.Seasonal) == 0 {
		return nil, ErrNotFitted
	}
	out := make([]float64, h)
	for k := 1; k <= h; k++ {
		base := hw.Level + float64(k)*hw.Trend
		s := hw.Seasonal[(k-1)%hw.Season]
		if hw.Seasonality == Multiplicative {
			out[k-1] = base * s
		} else {
			out[k-1] = base + s
		}
	}
	return out, nil
}

// Fitted implements Model. A loaded model returns nil.
func (hw *HoltWinters) Fitted() []float64 { return hw.fitted }

// Params implements Model.
func (hw *HoltWinters) Params() map[string]float64 {
	p := map[string]float64{
		"season": float64(hw.Season),
		"alpha":  hw.Alpha,
		"beta":   hw.Beta,
		"gamma":  hw.Gamma,
		"sse":    hw.SSE,
	}
	if hw.N > hw.Season {
		p["rmse"] = math.Sqrt(hw.SSE / float64(hw.N-hw.Season))
	}
	return p
}

func (hw *HoltWinters) validate() error {
	if err := hw.checkConfig(); err != nil {
		return err
	}
	if len(hw.Seasonal) == 0 {
		return nil // saved unfitted
	}
	if len(hw.Seasonal) != hw.Season {
		return fmt.Errorf("state has %d seasonal indices for season %d", len(hw.Seasonal), hw.Season)
	}
	for name, v := range map[string]float64{"alpha": hw.Alpha, "beta": hw.Beta, "gamma": hw.Gamma} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s = %v is outside [0, 1]", name, v)
		}
	}
	return checkSeries(append([]float64{hw.Level, hw.Trend}, hw.Seasonal...))
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func logistic(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func logit(p float64) float64 { return math.Log(p / (1 - p)) }
