package forecast

import (
	"math"
	"testing"
)

func TestIntervalWidensWithTheHorizonAndCoversTheTruth(t *testing.T) {
	// A seasonal series with a known noise level: the one-step error of a
	// good model is about the noise, and the 95 % band should hold the
	// next values most of the time.
	const season, noise = 12, 2.0
	y := make([]float64, 20*season)
	next := make([]float64, season)
	wobble := func(t int) float64 { return noise * math.Sin(float64(t)*7.13) * math.Sqrt2 } // RMS = noise
	for t := range y {
		y[t] = 100 + 30*math.Sin(2*math.Pi*float64(t)/season) + wobble(t)
	}
	for k := range next {
		t := len(y) + k
		next[k] = 100 + 30*math.Sin(2*math.Pi*float64(t)/season) + wobble(t)
	}
	m, _ := New(KindHoltWinters, season)
	if err := m.Fit(y); err != nil {
		t.Fatal(err)
	}
	pred, _ := m.Predict(season)
	lo, hi, err := Interval(m, y, pred, Z95)
	if err != nil {
		t.Fatal(err)
	}
	inside := 0
	for k := range pred {
		if !(lo[k] < pred[k] && pred[k] < hi[k]) {
			t.Fatalf("step %d: %v is not between %v and %v", k+1, pred[k], lo[k], hi[k])
		}
		if k > 0 && hi[k]-lo[k] <= hi[k-1]-lo[k-1] {
			t.Fatalf("the band does not widen at step %d", k+1)
		}
		if next[k] >= lo[k] && next[k] <= hi[k] {
			inside++
		}
	}
	if inside < season-1 {
		t.Fatalf("only %d of %d next values inside the 95%% band", inside, season)
	}
	if w := (hi[0] - lo[0]) / 2; w < Z95*noise*0.5 || w > Z95*noise*3 {
		t.Fatalf("first-step half width %.3g for a noise of %.3g", w, noise)
	}
}

// warmupOnly is a fitted model that is still in its warm-up everywhere.
type warmupOnly struct{ n int }

func (warmupOnly) Name() string                     { return "warm-up-only" }
func (warmupOnly) Fit([]float64) error              { return nil }
func (warmupOnly) Predict(h int) ([]float64, error) { return make([]float64, h), nil }
func (w warmupOnly) Fitted() []float64 {
	out := make([]float64, w.n)
	for i := range out {
		out[i] = math.NaN()
	}
	return out
}
func (warmupOnly) Params() map[string]float64 { return nil }

func TestIntervalNeedsInSampleErrors(t *testing.T) {
	y := []float64{1, 2, 3}
	if _, _, err := Interval(warmupOnly{n: 3}, y, []float64{4, 5}, Z95); err == nil {
		t.Fatal("a model with no one-step errors got an interval")
	}
	if _, _, err := Interval(warmupOnly{n: 2}, y, []float64{4}, Z95); err == nil {
		t.Fatal("in-sample predictions of the wrong length were accepted")
	}
}

// A series that is never negative (a load, a count) gets no negative lower
// bound, however wide the interval; one that goes negative keeps its band
// symmetric.
func TestIntervalStaysAtOrAboveZeroForANonNegativeSeries(t *testing.T) {
	y := []float64{0, 9, 1, 8, 0, 10, 2, 7, 0, 9, 1, 8}
	m, _ := New(KindSeasonalNaive, 2)
	if err := m.Fit(y); err != nil {
		t.Fatal(err)
	}
	pred, _ := m.Predict(6)
	lo, hi, err := Interval(m, y, pred, Z95)
	if err != nil {
		t.Fatal(err)
	}
	clipped := false
	for k := range pred {
		if lo[k] < 0 {
			t.Fatalf("step %d: lower bound %v below zero for a series that never is", k+1, lo[k])
		}
		clipped = clipped || (lo[k] == 0 && hi[k]-pred[k] > pred[k])
	}
	if !clipped {
		t.Fatal("no step's band reached zero: the test does not exercise the floor")
	}
	y[0] = -1
	if err := m.Fit(y); err != nil {
		t.Fatal(err)
	}
	pred, _ = m.Predict(6)
	lo, hi, _ = Interval(m, y, pred, Z95)
	if k := len(pred) - 1; math.Abs((pred[k]-lo[k])-(hi[k]-pred[k])) > 1e-9 || lo[k] >= 0 {
		t.Fatalf("a series with a negative value: band %v..%v around %v, want it symmetric and below zero", lo[k], hi[k], pred[k])
	}
}
