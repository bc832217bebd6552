package federated

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cloudskin/cloudskin/learning/backtest"
	"github.com/cloudskin/cloudskin/learning/forecast"
)

// Holt-Winters federated models (kinds holt-winters and holt-winters-mul)
// go over the same routes as the network. Each round a site fits its own
// series from scratch and sends its HoltWintersState and sample count;
// the aggregator merges a round's states with MergeHoltWinters. Why from
// scratch, and why a site forecasts with the merged smoothing parameters
// over its own series rather than with the merged state, is in
// docs/RATIONALE.md ("federated Holt-Winters").

// MaxHoltWintersSeason is the longest season a Holt-Winters federated
// model may have: a week of minutes. An update holds one number per step
// of the season, so this keeps it well inside the API's body limit.
const MaxHoltWintersSeason = 7 * 24 * 60

// HoltWintersState is what a site sends for a Holt-Winters federated
// model: its fitted smoothing parameters and the state after its last
// observation. It holds no observation and no residual, and its size
// depends on the season only.
type HoltWintersState struct {
	Alpha float64 `json:"alpha"`
	Beta  float64 `json:"beta"`
	Gamma float64 `json:"gamma"`
	Level float64 `json:"level"`
	Trend float64 `json:"trend"`
	// Seasonal holds one index per step of the season, Seasonal[0] the
	// one of the first step after the site's data.
	Seasonal []float64 `json:"seasonal"`
}

// HoltWintersStateOf returns a fitted model's parameters and state.
func HoltWintersStateOf(m *forecast.HoltWinters) HoltWintersState {
	return HoltWintersState{
		Alpha: m.Alpha, Beta: m.Beta, Gamma: m.Gamma,
		Level: m.Level, Trend: m.Trend, Seasonal: slices.Clone(m.Seasonal),
	}
}

// model returns the state as a fitted model. Its SSE and N stay zero: a
// site does not send its errors.
func (s HoltWintersState) model(season int, seasonality forecast.Seasonality) *forecast.HoltWinters {
	return &forecast.HoltWinters{
		Season: season, Seasonality: seasonality,
		Alpha: s.Alpha, Beta: s.Beta, Gamma: s.Gamma,
		Level: s.Level, Trend: s.Trend, Seasonal: slices.Clone(s.Seasonal),
	}
}

// SeasonalityOf returns the seasonality of a Holt-Winters model kind.
func SeasonalityOf(kind string) forecast.Seasonality {
	if kind == forecast.KindHoltWintersMul {
		return forecast.Multiplicative
	}
	return forecast.Additive
}

// checkHoltWintersUpdate validates a Holt-Winters update (whose site,
// kind and sample count are checked already) against the registered
// seasonality and season, naming the field that is wrong.
func checkHoltWintersUpdate(u Update, seasonality forecast.Seasonality, season int) error {
	var err error
	switch {
	case u.Shape.Season != season:
		err = fmt.Errorf("shape.season is %d, the model's season is %d", u.Shape.Season, season)
	case u.Shape.Window != 0 || u.Shape.Hidden != 0 || u.Shape.Params != 0:
		err = errors.New("shape: a Holt-Winters model's shape is its season only (no window, hidden or params)")
	case len(u.Params) > 0:
		err = errors.New("params: a Holt-Winters update carries its state in holtWinters, not a parameter vector")
	case u.Mean != 0 || u.Std != 0:
		err = errors.New("mean, std: a Holt-Winters update carries no normalisation")
	case u.HoltWinters == nil:
		err = errors.New("holtWinters is missing")
	case u.Samples < 2*season+1:
		err = fmt.Errorf("samples is %d, fewer than the %d a fit with season %d needs", u.Samples, 2*season+1, season)
	default:
		err = checkHoltWintersState(*u.HoltWinters, seasonality, season)
	}
	if err != nil {
		return fmt.Errorf("federated: update from %q: %w", u.Site, err)
	}
	return nil
}

// checkHoltWintersState checks a state field by field: parameters in
// [0, 1], every number finite, one seasonal index per step of the season,
// and multiplicative indices above zero.
func checkHoltWintersState(s HoltWintersState, seasonality forecast.Seasonality, season int) error {
	for _, p := range []struct {
		name  string
		value float64
	}{{"alpha", s.Alpha}, {"beta", s.Beta}, {"gamma", s.Gamma}} {
		if !finite(p.value) {
			return fmt.Errorf("holtWinters.%s is %v", p.name, p.value)
		}
		if p.value < 0 || p.value > 1 {
			return fmt.Errorf("holtWinters.%s = %v is outside [0, 1]", p.name, p.value)
		}
	}
	if !finite(s.Level) {
		return fmt.Errorf("holtWinters.level is %v", s.Level)
	}
	if !finite(s.Trend) {
		return fmt.Errorf("holtWinters.trend is %v", s.Trend)
	}
	if len(s.Seasonal) != season {
		return fmt.Errorf("holtWinters.seasonal has %d indices, the season is %d", len(s.Seasonal), season)
	}
	for i, v := range s.Seasonal {
		if !finite(v) {
			return fmt.Errorf("holtWinters.seasonal[%d] is %v", i, v)
		}
		if seasonality == forecast.Multiplicative && v <= 0 {
			return fmt.Errorf("holtWinters.seasonal[%d] = %v: multiplicative seasonal indices must be above 0", i, v)
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// mergeHoltWintersUpdates merges a round's updates into the next global
// model: MergeHoltWinters, weighted by the sites' sample counts.
func mergeHoltWintersUpdates(global *forecast.HoltWinters, updates []Update) (*forecast.HoltWinters, error) {
	sites := make([]SiteHoltWinters, 0, len(updates))
	for _, u := range updates {
		if u.HoltWinters == nil {
			return nil, fmt.Errorf("federated: update from %q has no Holt-Winters state", u.Site)
		}
		sites = append(sites, SiteHoltWinters{Samples: u.Samples, Model: u.HoltWinters.model(global.Season, global.Seasonality)})
	}
	merged, err := MergeHoltWinters(sites)
	if err != nil {
		return nil, err
	}
	// Finite states can still sum past the largest float64; such a model
	// could be neither saved nor served.
	if err := checkHoltWintersState(HoltWintersStateOf(merged), merged.Seasonality, merged.Season); err != nil {
		return nil, fmt.Errorf("federated: the merged model is unusable: %w", err)
	}
	return merged, nil
}

// ErrNotMerged: a Holt-Winters federated model is in round 0, with no
// merged state to forecast with yet.
var ErrNotMerged = errors.New("federated: the global Holt-Winters model has not been merged yet (round 0)")

// HoltWinters returns the global model of a Holt-Winters federated model
// (fetched with its model, not from a list). It fails for a network, and
// with ErrNotMerged before the first round.
func (g GlobalModel) HoltWinters() (*forecast.HoltWinters, error) {
	if len(g.Model) == 0 {
		return nil, fmt.Errorf("federated: model %q: the answer holds no global model", g.Name)
	}
	m, err := forecast.Unmarshal(g.Model)
	if err != nil {
		return nil, fmt.Errorf("federated: model %q: %w", g.Name, err)
	}
	hw, ok := m.(*forecast.HoltWinters)
	if !ok {
		return nil, fmt.Errorf("federated: model %q is a %s model, not Holt-Winters", g.Name, m.Name())
	}
	if len(hw.Seasonal) == 0 {
		return nil, fmt.Errorf("model %q: %w", g.Name, ErrNotMerged)
	}
	return hw, nil
}

// HoltWintersForSite returns the model a site forecasts with from a merged
// global model: the global α, β and γ, with level, trend and seasonal
// indices from running the recursions over the site's own series y. The
// merged level, trend and seasonal indices are a typical site's, at the
// end of the sites' series; a site that has a series keeps its own.
func HoltWintersForSite(global *forecast.HoltWinters, y []float64) (*forecast.HoltWinters, error) {
	if len(global.Seasonal) == 0 {
		return nil, ErrNotMerged
	}
	m := &forecast.HoltWinters{Season: global.Season, Seasonality: global.Seasonality}
	if err := m.FitWith(y, global.Alpha, global.Beta, global.Gamma); err != nil {
		return nil, fmt.Errorf("federated: global parameters on the site's series: %w", err)
	}
	return m, nil
}

// globalParams is a Holt-Winters model whose Fit keeps the global
// smoothing parameters (HoltWintersForSite), for back-testing them.
type globalParams struct {
	forecast.HoltWinters
	alpha, beta, gamma float64
}

func (m *globalParams) Fit(y []float64) error {
	return m.HoltWinters.FitWith(y, m.alpha, m.beta, m.gamma)
}

// Labels of a Comparison's two back-tests (their Result.Model).
const (
	LabelLocal  = "local fit"
	LabelGlobal = "global parameters"
)

// Comparison is a site's back-test of its own Holt-Winters model against
// the global one, both on the site's series with the same plan.
type Comparison struct {
	// Local fits α, β and γ at every origin, as the site's own model does.
	Local backtest.Result
	// Global keeps the global α, β and γ at every origin and runs them
	// over the site's series (HoltWintersForSite).
	Global backtest.Result
	// Decision says whether the global parameters replace the site's own:
	// only when strictly better by the metric (backtest.Promote).
	Decision backtest.Decision
}

// CompareHoltWinters back-tests the site's own fit against the global
// model's parameters on y with plan cfg, whose season must be the global
// model's. It reads nothing but its arguments.
func CompareHoltWinters(y []float64, global *forecast.HoltWinters, cfg backtest.Config, by backtest.Metric) (Comparison, error) {
	if len(global.Seasonal) == 0 {
		return Comparison{}, ErrNotMerged
	}
	if cfg.Season != global.Season {
		return Comparison{}, fmt.Errorf("federated: back-test season %d, the global model's is %d", cfg.Season, global.Season)
	}
	season, seasonality := global.Season, global.Seasonality
	local, err := backtest.Run(y, cfg, func() (forecast.Model, error) {
		return &forecast.HoltWinters{Season: season, Seasonality: seasonality}, nil
	})
	if err != nil {
		return Comparison{}, fmt.Errorf("federated: back-test of the local fit: %w", err)
	}
	glob, err := backtest.Run(y, cfg, func() (forecast.Model, error) {
		return &globalParams{HoltWinters: forecast.HoltWinters{Season: season, Seasonality: seasonality},
			alpha: global.Alpha, beta: global.Beta, gamma: global.Gamma}, nil
	})
	if err != nil {
		return Comparison{}, fmt.Errorf("federated: back-test of the global parameters: %w", err)
	}
	local.Model, glob.Model = LabelLocal, LabelGlobal
	d, err := backtest.Promote(glob, local, by)
	if err != nil {
		return Comparison{}, err
	}
	return Comparison{Local: local, Global: glob, Decision: d}, nil
}
