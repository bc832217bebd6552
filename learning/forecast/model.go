// Package forecast holds the Learning Plane's time-series forecasters behind
// one Model interface: seasonal naive, Holt-Winters (additive and
// multiplicative seasonality) and a recurrent network (a GRU, rnn.go).
//
// A model is fitted on an equally spaced series and predicts the h steps
// that follow its last observation. Models are pure: no clocks, no
// randomness, no I/O, so a fit is reproducible and a back-test is
// deterministic. Marshal and Unmarshal turn any model into a small JSON
// envelope (docs/formats/learning-model.md) that a model registry can
// store and reload.
//
// Holt-Winters is written here because it is a few recursions; only its
// parameter search is a library (gonum's Nelder-Mead), since a hand-written
// optimiser would be the part most likely to be wrong. Why the GRU's
// backward pass is written here too, after GoMLX was tried, is in rnn.go.
package forecast

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
)

// Model is a forecaster of one equally spaced series.
//
// Fit replaces any earlier fit. Predict forecasts the h steps after the last
// observation given to Fit. Fitted returns the in-sample one-step-ahead
// predictions, aligned with the fitted series, with NaN where the model has
// none (the warm-up it needs before its first prediction); residuals, MASE
// and prediction intervals are computed from it.
type Model interface {
	// Name is the model kind, as accepted by New ("seasonal-naive", ...).
	Name() string
	Fit(y []float64) error
	Predict(h int) ([]float64, error)
	Fitted() []float64
	// Params are the fitted parameters by name (for example alpha, beta,
	// gamma, season, sse), for reports and the model registry.
	Params() map[string]float64
}

// Model kinds accepted by New.
const (
	KindSeasonalNaive  = "seasonal-naive"
	KindHoltWinters    = "holt-winters"     // additive seasonality
	KindHoltWintersMul = "holt-winters-mul" // multiplicative seasonality
	KindGRU            = "gru"              // recurrent network (RNN)
)

// Kinds lists the model kinds New accepts, simplest first.
func Kinds() []string {
	return []string{KindSeasonalNaive, KindHoltWinters, KindHoltWintersMul, KindGRU}
}

// AutoKinds lists the kinds cheap enough to back-test at every origin when
// a model is picked automatically: all but the network, whose fit takes
// seconds where the others take milliseconds.
func AutoKinds() []string {
	return []string{KindSeasonalNaive, KindHoltWinters, KindHoltWintersMul}
}

// Errors a caller may want to tell apart.
var (
	// ErrNotFitted: Predict or Fitted before a successful Fit.
	ErrNotFitted = errors.New("forecast: model is not fitted")
	// ErrTooShort: the series is too short for the model's season length.
	ErrTooShort = errors.New("forecast: series too short")
	// ErrBadValue: the series holds NaN or infinity, or a value the model
	// cannot take (a non-positive value for multiplicative seasonality).
	ErrBadValue = errors.New("forecast: bad value in series")
)

// New returns an unfitted model of the given kind and season length (the
// number of steps in one seasonal cycle, at least 1).
func New(kind string, season int) (Model, error) {
	if season < 1 {
		return nil, fmt.Errorf("forecast: season length must be at least 1, got %d", season)
	}
	switch kind {
	case KindSeasonalNaive:
		return &SeasonalNaive{Season: season}, nil
	case KindHoltWinters:
		return &HoltWinters{Season: season, Seasonality: Additive}, nil
	case KindHoltWintersMul:
		return &HoltWinters{Season: season, Seasonality: Multiplicative}, nil
	case KindGRU:
		return NewRNN(RNNConfig{Season: season})
	}
	return nil, fmt.Errorf("forecast: unknown model %q (want one of %v)", kind, Kinds())
}

// envelope is the saved form of every model: its kind, a format version and
// the model's own state.
type envelope struct {
	Model   string          `json:"model"`
	Version int             `json:"version"`
	State   json.RawMessage `json:"state"`
}

const envelopeVersion = 1

// Marshal saves a model (fitted or not) as JSON.
func Marshal(m Model) ([]byte, error) {
	state, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("forecast: save %s: %w", m.Name(), err)
	}
	return json.Marshal(envelope{Model: m.Name(), Version: envelopeVersion, State: state})
}

// Unmarshal loads a model saved by Marshal and checks that its state is
// consistent, so a loaded model predicts or fails cleanly, never panics.
func Unmarshal(data []byte) (Model, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("forecast: load model: %w", err)
	}
	if env.Version != envelopeVersion {
		return nil, fmt.Errorf("forecast: load model: unsupported version %d (want %d)", env.Version, envelopeVersion)
	}
	var m interface {
		Model
		validate() error
	}
	switch env.Model {
	case KindSeasonalNaive:
		m = &SeasonalNaive{}
	case KindHoltWinters, KindHoltWintersMul:
		m = &HoltWinters{}
	case KindGRU:
		m = &RNN{}
	default:
		return nil, fmt.Errorf("forecast: load model: unknown model %q", env.Model)
	}
	if len(env.State) == 0 {
		return nil, fmt.Errorf("forecast: load %s: no state", env.Model)
	}
	if err := json.Unmarshal(env.State, m); err != nil {
		return nil, fmt.Errorf("forecast: load %s: %w", env.Model, err)
	}
	if m.Name() != env.Model {
		return nil, fmt.Errorf("forecast: load model: envelope says %q but state is %q", env.Model, m.Name())
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("forecast: load %s: %w", env.Model, err)
	}
	return m, nil
}

// checkSeries rejects NaN and infinities, which would silently poison every
// recursion that follows them.
func checkSeries(y []float64) error {
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: y[%d] is %v", ErrBadValue, i, v)
		}
	}
	return nil
}

// checkHorizon rejects a horizon that is not positive.
func checkHorizon(h int) error {
	if h < 1 {
		return fmt.Errorf("forecast: horizon must be at least 1, got %d", h)
	}
	return nil
}

// SortedParamNames returns the keys of a Params map in a stable order, for
// printing.
func SortedParamNames(p map[string]float64) []string {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
