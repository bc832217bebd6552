package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/telemetry"
)

// Sensor defaults.
const (
	DefaultWindow = 6 * time.Hour
	DefaultStep   = time.Minute
	// maxPoints bounds what one sensor reads per tick, as Prometheus does.
	maxPoints = 11000
)

// ErrNoData is returned (wrapped) when a sensor's query returned no value
// at all over its window.
var ErrNoData = errors.New("no data")

// Reading is one sensor's series over its window, one value per step.
type Reading struct {
	Values []float64
	// Start is the time of Values[0].
	Start time.Time
	Step  time.Duration
	// Filled counts steps that had no value (a gap, or NaN in every
	// series) and took the previous step's value.
	Filled int
}

// Summary is how a tick logs the reading.
func (r Reading) Summary() v1alpha1.SensorReading {
	s := v1alpha1.SensorReading{Points: len(r.Values), Filled: r.Filled}
	if n := len(r.Values); n > 0 {
		s.Last = r.Values[n-1]
	}
	return s
}

// ReadSensor evaluates the sensor's query over its window ending at now.
// The series the query returns are summed step by step; NaN values are
// left out of the sum, and a step with no value in any series takes the
// previous step's value (steps before the first value are dropped), so a
// model always gets an equally spaced series without holes.
func ReadSensor(ctx context.Context, q telemetry.Querier, s v1alpha1.Sensor, now time.Time) (Reading, error) {
	window, step := s.Window.Duration, s.Step.Duration
	if window == 0 {
		window = DefaultWindow
	}
	if step == 0 {
		step = DefaultStep
	}
	if int(window/step) > maxPoints {
		return Reading{}, fmt.Errorf("sensor %s: window %s at step %s is over %d points; use a longer step", s.Name, window, step, maxPoints)
	}
	end := now.Truncate(step)
	start := end.Add(-window)
	series, err := q.QueryRange(ctx, s.Query, start, end, step)
	if err != nil {
		return Reading{}, fmt.Errorf("sensor %s: %w", s.Name, err)
	}
	r := sumSteps(series, start, end, step)
	if len(r.Values) == 0 {
		return r, fmt.Errorf("sensor %s: %w: %q returned no value in the last %s", s.Name, ErrNoData, s.Query, window)
	}
	return r, nil
}

// sumSteps lays the series on the grid start, start+step, ..., end.
func sumSteps(series []telemetry.Series, start, end time.Time, step time.Duration) Reading {
	n := int(end.Sub(start)/step) + 1
	sums := make([]float64, n)
	seen := make([]bool, n)
	for _, s := range series {
		for _, p := range s.Points {
			i := int(p.T.Sub(start) / step)
			if i < 0 || i >= n || math.IsNaN(p.V) || math.IsInf(p.V, 0) {
				continue
			}
			sums[i] += p.V
			seen[i] = true
		}
	}
	r := Reading{Step: step}
	for i := range n {
		switch {
		case seen[i]:
			if len(r.Values) == 0 {
				r.Start = start.Add(time.Duration(i) * step)
			}
			r.Values = append(r.Values, sums[i])
		case len(r.Values) > 0:
			r.Values = append(r.Values, r.Values[len(r.Values)-1])
			r.Filled++
		}
	}
	// Trailing fills are kept: the latest value holds until a new one.
	return r
}
