package trace

import (
	"fmt"
	"slices"
	"time"
)

// GuessSeason proposes a season length from the spacing of a time column:
// the median step between rows decides the sampling, and the sampling the
// cycle people plan around (minutes → an hour, hours → a day, days → a
// week, weeks → a year, months → a year). It returns the length and the
// cycle's name, or an error when the spacing matches none of these.
func GuessSeason(times []time.Time) (int, string, error) {
	if len(times) < 3 {
		return 0, "", fmt.Errorf("trace: %d timestamps are too few to tell the sampling; give the season", len(times))
	}
	steps := make([]time.Duration, 0, len(times)-1)
	for i := 1; i < len(times); i++ {
		steps = append(steps, times[i].Sub(times[i-1]))
	}
	slices.Sort(steps)
	step := steps[len(steps)/2]
	within := func(d time.Duration, tol float64) bool {
		return float64(step) >= float64(d)*(1-tol) && float64(step) <= float64(d)*(1+tol)
	}
	const day = 24 * time.Hour
	switch {
	case within(time.Minute, 0.1):
		return 60, "hourly cycle of per-minute data", nil
	case within(time.Hour, 0.1):
		return 24, "daily cycle of hourly data", nil
	case within(day, 0.1):
		return 7, "weekly cycle of daily data", nil
	case within(7*day, 0.1):
		return 52, "yearly cycle of weekly data", nil
	case step >= 28*day && step <= 31*day:
		return 12, "yearly cycle of monthly data", nil
	}
	return 0, "", fmt.Errorf("trace: median step %v matches no known sampling (minute, hour, day, week, month); give the season", step)
}
