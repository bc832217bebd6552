package forecast

import (
	"fmt"
	"math"
)

// Z95 is the standard normal quantile of a two-sided 95 % interval.
const Z95 = 1.959963984540054

// Interval returns prediction bounds for pred, a forecast of m fitted on
// y: pred ∓ z·σ·√k at step k, where σ is the root mean square of m's
// in-sample one-step errors. The √k growth is that of a random walk's
// error, a simple and usually conservative stand-in for each model's own
// variance formula. When no value of y is negative (counts, rates, load),
// neither is a lower bound: the series cannot go below zero, however wide
// the interval grows. It fails when m has no in-sample predictions to
// measure its error on.
func Interval(m Model, y, pred []float64, z float64) (lower, upper []float64, err error) {
	fitted := m.Fitted()
	if len(fitted) != len(y) {
		return nil, nil, fmt.Errorf("forecast: interval: %d in-sample predictions for %d values", len(fitted), len(y))
	}
	ss, n := 0.0, 0
	for i, f := range fitted {
		if math.IsNaN(f) {
			continue
		}
		d := y[i] - f
		ss += d * d
		n++
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("forecast: interval: %s has no in-sample predictions to measure its error on", m.Name())
	}
	sigma := math.Sqrt(ss / float64(n))
	floor := math.Inf(-1)
	if nonNegative(y) {
		floor = 0
	}
	lower, upper = make([]float64, len(pred)), make([]float64, len(pred))
	for k, p := range pred {
		w := z * sigma * math.Sqrt(float64(k+1))
		lower[k], upper[k] = math.Max(p-w, floor), p+w
	}
	return lower, upper, nil
}

func nonNegative(y []float64) bool {
	for _, v := range y {
		if v < 0 {
			return false
		}
	}
	return true
}
