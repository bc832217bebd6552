package forecast

import (
	"fmt"
	"math"
)

// SeasonalNaive forecasts each step with the value one season earlier:
// ŷ[n+h] = y[n+h-m·k] with k the smallest whole number of seasons that
// reaches back into the data. With Season 1 it is the naive (random walk)
// forecast. It is the yardstick: MASE divides by its in-sample error.
type SeasonalNaive struct {
	Season int `json:"season"`
	// Last holds the last Season observations, oldest first.
	Last []float64 `json:"last,omitempty"`
	// fitted is not saved: it is a by-product of the fit, not the model.
	fitted []float64
}

// Name implements Model.
func (*SeasonalNaive) Name() string { return KindSeasonalNaive }

// Fit keeps the last season of y. It needs at least Season+1 values so that
// at least one in-sample prediction exists.
func (s *SeasonalNaive) Fit(y []float64) error {
	if s.Season < 1 {
		return fmt.Errorf("forecast: seasonal naive: season length must be at least 1, got %d", s.Season)
	}
	if len(y) <= s.Season {
		return fmt.Errorf("%w: seasonal naive with season %d needs at least %d values, got %d", ErrTooShort, s.Season, s.Season+1, len(y))
	}
	if err := checkSeries(y); err != nil {
		return fmt.Errorf("forecast: seasonal naive: %w", err)
	}
	s.Last = append([]float64(nil), y[len(y)-s.Season:]...)
	s.fitted = make([]float64, len(y))
	for t := range y {
		if t < s.Season {
			s.fitted[t] = math.NaN()
			continue
		}
		s.fitted[t] = y[t-s.Season]
	}
	return nil
}

// Predict implements Model.
func (s *SeasonalNaive) Predict(h int) ([]float64, error) {
	if err := checkHorizon(h); err != nil {
		return nil, err
	}
	if len(s.Last) == 0 {
		return nil, ErrNotFitted
	}
	out := make([]float64, h)
	for i := range out {
		out[i] = s.Last[i%s.Season]
	}
	return out, nil
}

// Fitted implements Model. A loaded model has no in-sample predictions
// (they are not saved) and returns nil.
func (s *SeasonalNaive) Fitted() []float64 { return s.fitted }

// Params implements Model.
func (s *SeasonalNaive) Params() map[string]float64 {
	return map[string]float64{"season": float64(s.Season)}
}

func (s *SeasonalNaive) validate() error {
	if s.Season < 1 {
		return fmt.Errorf("season length must be at least 1, got %d", s.Season)
	}
	if len(s.Last) != 0 && len(s.Last) != s.Season {
		return fmt.Errorf("state has %d values for season %d", len(s.Last), s.Season)
	}
	return checkSeries(s.Last)
}
