// Package backtest judges forecasters the way they will be used: fit on the
// past, forecast the unseen future, compare. It runs rolling-origin
// evaluation (an expanding training window; a forecast of h steps from each
// origin; origins s steps apart), scores forecasts with MAE, sMAPE and MASE,
// and decides whether a candidate model may replace the current one.
//
// Hand-written: the metrics are one-line formulas and the loop is a dozen
// lines; what matters is the guarantee that a model never sees a value past
// its origin, which is easier to check in our own code than in a library.
package backtest

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// Metric names a forecast error measure; lower is better for all three.
type Metric string

// Metrics.
const (
	ByMAE   Metric = "mae"
	BySMAPE Metric = "smape"
	ByMASE  Metric = "mase"
)

// ParseMetric accepts "mae", "smape" or "mase".
func ParseMetric(s string) (Metric, error) {
	switch m := Metric(s); m {
	case ByMAE, BySMAPE, ByMASE:
		return m, nil
	}
	return "", fmt.Errorf("backtest: unknown metric %q (want mae, smape or mase)", s)
}

// MAE is the mean absolute error of pred against actual.
func MAE(actual, pred []float64) (float64, error) {
	if err := checkPair(actual, pred); err != nil {
		return 0, err
	}
	sum := 0.0
	for i := range actual {
		sum += math.Abs(actual[i] - pred[i])
	}
	return sum / float64(len(actual)), nil
}

// SMAPE is the symmetric mean absolute percentage error, in percent (0 to
// 200): the mean of 2|F−A| / (|A|+|F|). A step where both are 0 is a perfect
// forecast and counts 0, not NaN, since counts of zero are common in
// invocation traces.
func SMAPE(actual, pred []float64) (float64, error) {
	if err := checkPair(actual, pred); err != nil {
		return 0, err
	}
	sum := 0.0
	for i := range actual {
		den := math.Abs(actual[i]) + math.Abs(pred[i])
		if den == 0 {
			continue
		}
		sum += 2 * math.Abs(pred[i]-actual[i]) / den
	}
	return 100 * sum / float64(len(actual)), nil
}

// ErrZeroScale: the training data repeats itself exactly every season, so
// the seasonal naive in-sample error that MASE divides by is zero.
var ErrZeroScale = errors.New("backtest: MASE undefined: seasonal naive in-sample error is zero")

// SeasonalNaiveScale is the in-sample mean absolute error of the seasonal
// naive forecast on train: mean of |y[t] − y[t−m]| for t ≥ m.
func SeasonalNaiveScale(train []float64, season int) (float64, error) {
	if season < 1 {
		return 0, fmt.Errorf("backtest: season length must be at least 1, got %d", season)
	}
	if len(train) <= season {
		return 0, fmt.Errorf("backtest: MASE scale needs more than %d training values, got %d", season, len(train))
	}
	sum := 0.0
	for t := season; t < len(train); t++ {
		sum += math.Abs(train[t] - train[t-season])
	}
	return sum / float64(len(train)-season), nil
}

// MASE is the mean absolute scaled error (Hyndman and Koehler, 2006): the
// MAE of pred divided by the in-sample seasonal naive MAE on train. Below 1,
// the forecast beats seasonal naive's in-sample one-step error.
func MASE(actual, pred, train []float64, season int) (float64, error) {
	mae, err := MAE(actual, pred)
	if err != nil {
		return 0, err
	}
	scale, err := SeasonalNaiveScale(train, season)
	if err != nil {
		return 0, err
	}
	if scale == 0 {
		return 0, ErrZeroScale
	}
	return mae / scale, nil
}

func checkPair(actual, pred []float64) error {
	if len(actual) == 0 {
		return errors.New("backtest: no values to score")
	}
	if len(actual) != len(pred) {
		return fmt.Errorf("backtest: %d actual values but %d predictions", len(actual), len(pred))
	}
	for i := range actual {
		if math.IsNaN(actual[i]) || math.IsNaN(pred[i]) {
			return fmt.Errorf("backtest: NaN at step %d", i)
		}
	}
	return nil
}

// Config is a rolling-origin evaluation plan.
type Config struct {
	// Horizon h: steps forecast from each origin.
	Horizon int `json:"horizon"`
	// Step s: distance between consecutive origins.
	Step int `json:"step"`
	// MinTrain: length of the first (shortest) training window.
	MinTrain int `json:"minTrain"`
	// Season: season length of the seasonal naive forecast that scales MASE.
	Season int `json:"season"`
}

func (c Config) check(n int) error {
	switch {
	case c.Horizon < 1:
		return fmt.Errorf("backtest: horizon must be at least 1, got %d", c.Horizon)
	case c.Step < 1:
		return fmt.Errorf("backtest: step must be at least 1, got %d", c.Step)
	case c.Season < 1:
		return fmt.Errorf("backtest: season must be at least 1, got %d", c.Season)
	case c.MinTrain <= c.Season:
		return fmt.Errorf("backtest: first training window (%d) must be longer than the season (%d)", c.MinTrain, c.Season)
	case c.MinTrain+c.Horizon > n:
		return fmt.Errorf("backtest: series of %d values is too short for a training window of %d plus a horizon of %d", n, c.MinTrain, c.Horizon)
	}
	return nil
}

// Origins returns the training-window lengths the plan uses on a series of
// n values: MinTrain, MinTrain+Step, ... while a full horizon remains.
func (c Config) Origins(n int) []int {
	var out []int
	for o := c.MinTrain; o+c.Horizon <= n; o += c.Step {
		out = append(out, o)
	}
	return out
}

// Score holds the three metrics of one forecast or their mean over origins.
type Score struct {
	MAE   float64 `json:"mae"`
	SMAPE float64 `json:"smape"`
	MASE  float64 `json:"mase"`
}

// Get returns the score's value for a metric.
func (s Score) Get(m Metric) float64 {
	switch m {
	case ByMAE:
		return s.MAE
	case BySMAPE:
		return s.SMAPE
	}
	return s.MASE
}

// Origin is the outcome of one forecast origin.
type Origin struct {
	// Train is the number of values the model was fitted on.
	Train int   `json:"train"`
	Score Score `json:"score"`
}

// Result is the outcome of a back-test: the mean score over all origins
// and each origin's own.
type Result struct {
	Model     string   `json:"model"`
	Config    Config   `json:"config"`
	SeriesLen int      `json:"seriesLen"`
	Mean      Score    `json:"mean"`
	Origins   []Origin `json:"origins"`
}

// Factory makes a fresh, unfitted model for each origin, so no state leaks
// from a later origin into an earlier one.
type Factory func() (forecast.Model, error)

// Kind returns a Factory for a model kind of the forecast package.
func Kind(kind string, season int) Factory {
	return func() (forecast.Model, error) { return forecast.New(kind, season) }
}

// Run back-tests a model on y. At each origin o the model is fitted on a
// copy of y[:o] (a copy, so not even the slice's capacity reaches the
// future) and scored on its forecast of y[o:o+h]. The MASE of an origin is
// scaled by the seasonal naive error on that origin's training window.
func Run(y []float64, cfg Config, newModel Factory) (Result, error) {
	if err := cfg.check(len(y)); err != nil {
		return Result{}, err
	}
	var res Result
	res.Config, res.SeriesLen = cfg, len(y)
	for _, o := range cfg.Origins(len(y)) {
		m, err := newModel()
		if err != nil {
			return Result{}, err
		}
		res.Model = m.Name()
		train := slices.Clone(y[:o])
		if err := m.Fit(train); err != nil {
			return Result{}, fmt.Errorf("backtest: %s at origin %d: %w", m.Name(), o, err)
		}
		pred, err := m.Predict(cfg.Horizon)
		if err != nil {
			return Result{}, fmt.Errorf("backtest: %s at origin %d: %w", m.Name(), o, err)
		}
		if len(pred) != cfg.Horizon {
			return Result{}, fmt.Errorf("backtest: %s at origin %d: %d predictions for a horizon of %d", m.Name(), o, len(pred), cfg.Horizon)
		}
		sc, err := score(y[o:o+cfg.Horizon], pred, y[:o], cfg.Season)
		if err != nil {
			return Result{}, fmt.Errorf("backtest: %s at origin %d: %w", m.Name(), o, err)
		}
		res.Origins = append(res.Origins, Origin{Train: o, Score: sc})
	}
	for _, o := range res.Origins {
		res.Mean.MAE += o.Score.MAE
		res.Mean.SMAPE += o.Score.SMAPE
		res.Mean.MASE += o.Score.MASE
	}
	n := float64(len(res.Origins))
	res.Mean.MAE /= n
	res.Mean.SMAPE /= n
	res.Mean.MASE /= n
	return res, nil
}

func score(actual, pred, train []float64, season int) (Score, error) {
	var s Score
	var err error
	if s.MAE, err = MAE(actual, pred); err != nil {
		return s, err
	}
	if s.SMAPE, err = SMAPE(actual, pred); err != nil {
		return s, err
	}
	s.MASE, err = MASE(actual, pred, train, season)
	return s, err
}

// Decision is the outcome of Promote.
type Decision struct {
	Promote   bool    `json:"promote"`
	Metric    Metric  `json:"metric"`
	Current   float64 `json:"current"`
	Candidate float64 `json:"candidate"`
	Reason    string  `json:"reason"`
}

// Promote decides whether candidate replaces current: only if both were
// back-tested with the same plan on a series of the same length (so on the
// same held-out points) and the candidate's mean error by the metric is
// strictly lower. A tie keeps the current model: a change needs a reason.
func Promote(candidate, current Result, by Metric) (Decision, error) {
	if _, err := ParseMetric(string(by)); err != nil {
		return Decision{}, err
	}
	if candidate.Config != current.Config || candidate.SeriesLen != current.SeriesLen {
		return Decision{}, fmt.Errorf("backtest: cannot compare %s and %s: back-tested on different plans or series (%+v on %d values vs %+v on %d)",
			candidate.Model, current.Model, candidate.Config, candidate.SeriesLen, current.Config, current.SeriesLen)
	}
	if len(candidate.Origins) == 0 {
		return Decision{}, fmt.Errorf("backtest: candidate %s has no back-test origins", candidate.Model)
	}
	d := Decision{Metric: by, Candidate: candidate.Mean.Get(by), Current: current.Mean.Get(by)}
	d.Promote = d.Candidate < d.Current
	if d.Promote {
		d.Reason = fmt.Sprintf("%s %s %.4g < %s %.4g over %d origins", candidate.Model, by, d.Candidate, current.Model, d.Current, len(candidate.Origins))
	} else {
		d.Reason = fmt.Sprintf("keep %s: %s %.4g ≤ %s %.4g over %d origins", current.Model, by, d.Current, candidate.Model, d.Candidate, len(candidate.Origins))
	}
	return d, nil
}
