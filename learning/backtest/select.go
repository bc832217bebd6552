package backtest

import (
	"fmt"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// LastOrigins plans a back-test whose last origin forecasts the final
// horizon values of a series of n values, with up to origins origins step
// apart, the first training window kept longer than minTrain.
func LastOrigins(n, season, horizon, step, origins, minTrain int) (Config, error) {
	if horizon < 1 || step < 1 || origins < 1 {
		return Config{}, fmt.Errorf("backtest: want horizon, step and origins ≥ 1, got %d, %d, %d", horizon, step, origins)
	}
	first := n - horizon - (origins-1)*step
	for first < minTrain && origins > 1 {
		origins--
		first += step
	}
	cfg := Config{Horizon: horizon, Step: step, MinTrain: first, Season: season}
	if first < minTrain {
		return Config{}, fmt.Errorf("backtest: %d values leave %d for training before a horizon of %d; need at least %d", n, first, horizon, minTrain)
	}
	return cfg, cfg.check(n)
}

// MinTrain is the shortest training window every model kind of the
// forecast package can be fitted on with the given season.
func MinTrain(season int) int { return 2*season + 1 }

// Selection is the outcome of Select.
type Selection struct {
	// Results holds one back-test per kind that could be back-tested, in
	// the order given.
	Results []Result
	// Best indexes Results: the model that survived every promotion.
	Best int
	// Decisions are the promotion decisions, in order.
	Decisions []Decision
	// Skipped says, per kind that could not be back-tested (too little
	// history for it, values it cannot take), why.
	Skipped []error
}

// Select back-tests each kind, simplest first, and keeps the first that
// works as the current model; each later kind replaces it only if Promote
// says so. A kind that fails to back-test is skipped and reported, so the
// choice falls back to a simpler model rather than failing.
func Select(y []float64, cfg Config, kinds []string, by Metric) (Selection, error) {
	var sel Selection
	for _, kind := range kinds {
		res, err := Run(y, cfg, Kind(kind, cfg.Season))
		if err != nil {
			sel.Skipped = append(sel.Skipped, fmt.Errorf("%s: %w", kind, err))
			continue
		}
		sel.Results = append(sel.Results, res)
		if len(sel.Results) == 1 {
			continue
		}
		d, err := Promote(res, sel.Results[sel.Best], by)
		if err != nil {
			return Selection{}, err
		}
		sel.Decisions = append(sel.Decisions, d)
		if d.Promote {
			sel.Best = len(sel.Results) - 1
		}
	}
	if len(sel.Results) == 0 {
		return sel, fmt.Errorf("backtest: no model could be back-tested: %v", sel.Skipped)
	}
	return sel, nil
}

// Kinds is forecast.AutoKinds, re-exported so callers of Select need one
// import: the kinds cheap enough to back-test at every origin.
func Kinds() []string { return forecast.AutoKinds() }
