// Package train turns a series into a candidate version for the model
// registry: it fits a forecaster (falling back to a simpler kind when one
// cannot be fitted, and saying so), back-tests it on held-out data, and,
// when a production version exists, back-tests that version's kind on the
// same held-out points so the registry can promote the candidate only if
// it strictly wins.
//
// Pure: no clocks, no I/O. The same series gives the same version.
package train

import (
	"errors"
	"fmt"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/backtest"
	"github.com/cloudskin/cloudskin/learning/forecast"
)

// KindAuto asks Candidate to pick the kind by back-test.
const KindAuto = "auto"

// Config says what to train and how to judge it.
type Config struct {
	// Model is the registry name.
	Model string
	// Kind is a forecaster kind or KindAuto.
	Kind string
	// Season in steps, at least 1.
	Season int
	// Horizon is how far the back-test forecasts from each origin; default
	// one season (capped at a quarter of the series).
	Horizon int
	// Origins is the number of back-test origins; default 4.
	Origins int
	// Metric judges the back-test; default MASE.
	Metric backtest.Metric
	// Data describes the series for the version's record.
	Data v1alpha1.TrainingData
	// TrainedBy is recorded on the version.
	TrainedBy string
}

// Fallbacks is the chain from a kind to the next simpler one.
var fallbacks = map[string]string{
	forecast.KindHoltWintersMul: forecast.KindHoltWinters,
	forecast.KindHoltWinters:    forecast.KindSeasonalNaive,
}

// FitWithFallback fits kind on y; if it cannot (too short a series, values
// it cannot take), it tries the next simpler kind. Notes say what fell
// back and why.
func FitWithFallback(kind string, season int, y []float64) (m forecast.Model, notes []string, err error) {
	for {
		m, err = forecast.New(kind, season)
		if err != nil {
			return nil, notes, err
		}
		err = m.Fit(y)
		if err == nil {
			return m, notes, nil
		}
		next, ok := fallbacks[kind]
		if !ok || !(errors.Is(err, forecast.ErrTooShort) || errors.Is(err, forecast.ErrBadValue)) {
			return nil, notes, err
		}
		notes = append(notes, fmt.Sprintf("%v; falling back to %s", err, next))
		kind = next
	}
}

// Result is a trained candidate.
type Result struct {
	Version v1alpha1.ModelVersion
	// Model is the fitted candidate, ready to predict.
	Model forecast.Model
	// Notes say what fell back, what was skipped, how the kind was chosen.
	Notes []string
}

// Candidate fits a model on y and back-tests it. With a production version
// its kind is back-tested on the same plan, and the version's Evaluation
// says whether the candidate strictly won.
func Candidate(y []float64, cfg Config, production *v1alpha1.ModelVersion) (Result, error) {
	cfg = withDefaults(cfg, len(y))
	plan, err := backtest.LastOrigins(len(y), cfg.Season, cfg.Horizon, cfg.Horizon, cfg.Origins, backtest.MinTrain(cfg.Season))
	if err != nil {
		return Result{}, fmt.Errorf("train %s: %w", cfg.Model, err)
	}
	var res Result
	kind, score, err := chooseKind(y, plan, cfg, &res.Notes)
	if errors.Is(err, backtest.ErrZeroScale) {
		// The series repeats itself exactly every season: MASE has no
		// scale, and the seasonal naive forecast is exact.
		kind, score = forecast.KindSeasonalNaive, backtest.Result{Model: forecast.KindSeasonalNaive}
		res.Notes = append(res.Notes, "the series repeats exactly every season: the seasonal naive forecast is exact (MASE undefined)")
		err = nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("train %s: %w", cfg.Model, err)
	}
	m, notes, err := FitWithFallback(kind, cfg.Season, y)
	res.Notes = append(res.Notes, notes...)
	if err != nil {
		return Result{}, fmt.Errorf("train %s: %w", cfg.Model, err)
	}
	artifact, err := forecast.Marshal(m)
	if err != nil {
		return Result{}, fmt.Errorf("train %s: %w", cfg.Model, err)
	}
	data := cfg.Data
	data.Points, data.Season = len(y), cfg.Season
	res.Model = m
	res.Version = v1alpha1.ModelVersion{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindModelVersion},
		Spec: v1alpha1.ModelVersionSpec{
			Model: cfg.Model, Kind: m.Name(), Parameters: m.Params(), Data: data, TrainedBy: cfg.TrainedBy,
			Metrics:  map[string]float64{"mae": score.Mean.MAE, "smape": score.Mean.SMAPE, "mase": score.Mean.MASE},
			Artifact: artifact,
		},
	}
	if production != nil {
		ev, err := evaluate(y, plan, cfg, score, *production)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("production version %d could not be back-tested here (%v): the candidate wins by default", production.Status.Version, err))
			ev = &v1alpha1.ModelEvaluation{Against: production.Status.Version, Metric: string(cfg.Metric), Candidate: score.Mean.Get(cfg.Metric), Current: -1, Better: true}
		}
		res.Version.Spec.Evaluation = ev
		res.Version.Spec.Parent = production.Status.Version
	}
	return res, nil
}

func withDefaults(cfg Config, n int) Config {
	if cfg.Kind == "" {
		cfg.Kind = KindAuto
	}
	if cfg.Season < 1 {
		cfg.Season = 1
	}
	if cfg.Horizon < 1 {
		cfg.Horizon = cfg.Season
		if limit := n / 4; cfg.Horizon > limit && limit >= 1 {
			cfg.Horizon = limit
		}
	}
	if cfg.Origins < 1 {
		cfg.Origins = 4
	}
	if cfg.Metric == "" {
		cfg.Metric = backtest.ByMASE
	}
	return cfg
}

// chooseKind back-tests the configured kind, or with KindAuto every kind,
// keeping a more complex one only when it strictly wins.
func chooseKind(y []float64, plan backtest.Config, cfg Config, notes *[]string) (string, backtest.Result, error) {
	if cfg.Kind != KindAuto {
		kind := cfg.Kind
		for {
			res, err := backtest.Run(y, plan, backtest.Kind(kind, cfg.Season))
			if err == nil {
				return kind, res, nil
			}
			next, ok := fallbacks[kind]
			if !ok {
				return "", backtest.Result{}, err
			}
			*notes = append(*notes, fmt.Sprintf("back-test of %s failed (%v); falling back to %s", kind, err, next))
			kind = next
		}
	}
	sel, err := backtest.Select(y, plan, forecast.AutoKinds(), cfg.Metric)
	zeroScale := false
	for _, s := range sel.Skipped {
		*notes = append(*notes, fmt.Sprintf("skipped %v", s))
		zeroScale = zeroScale || errors.Is(s, backtest.ErrZeroScale)
	}
	if err != nil && zeroScale {
		return "", backtest.Result{}, fmt.Errorf("%w (every kind)", backtest.ErrZeroScale)
	}
	if err != nil {
		return "", backtest.Result{}, err
	}
	for _, d := range sel.Decisions {
		*notes = append(*notes, d.Reason)
	}
	best := sel.Results[sel.Best]
	return best.Model, best, nil
}

// evaluate back-tests the production version's kind on the candidate's
// plan and compares.
func evaluate(y []float64, plan backtest.Config, cfg Config, candidate backtest.Result, production v1alpha1.ModelVersion) (*v1alpha1.ModelEvaluation, error) {
	current, err := backtest.Run(y, plan, backtest.Kind(production.Spec.Kind, cfg.Season))
	if err != nil {
		return nil, err
	}
	d, err := backtest.Promote(candidate, current, cfg.Metric)
	if err != nil {
		return nil, err
	}
	return &v1alpha1.ModelEvaluation{
		Against: production.Status.Version, Metric: string(cfg.Metric),
		Candidate: d.Candidate, Current: d.Current, Better: d.Promote,
	}, nil
}

// Window returns the training data record of a series read from source
// from start, step apart.
func Window(source string, start time.Time, step time.Duration, points int) v1alpha1.TrainingData {
	end := start.Add(time.Duration(points-1) * step)
	return v1alpha1.TrainingData{Source: source, Start: &start, End: &end, Points: points, Step: v1alpha1.Duration{Duration: step}}
}
