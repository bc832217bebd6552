package trace

import (
	"fmt"
	"slices"
	"strings"
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

// cycle is a season length a sampling suggests, with its name.
type cycle struct {
	length int
	name   string
}

// cyclesOf lists the cycles people plan around for a sampling step,
// shortest first.
func cyclesOf(step time.Duration) []cycle {
	const day = 24 * time.Hour
	within := func(d time.Duration) bool {
		return float64(step) >= float64(d)*0.9 && float64(step) <= float64(d)*1.1
	}
	switch {
	case within(time.Second):
		return []cycle{{60, "minute"}, {3600, "hour"}}
	case within(time.Minute):
		return []cycle{{60, "hour"}, {1440, "day"}}
	case within(5 * time.Minute):
		return []cycle{{12, "hour"}, {288, "day"}, {2016, "week"}}
	case within(15 * time.Minute):
		return []cycle{{4, "hour"}, {96, "day"}, {672, "week"}}
	case within(time.Hour):
		return []cycle{{24, "day"}, {168, "week"}}
	case within(day):
		return []cycle{{7, "week"}, {365, "year"}}
	case within(7 * day):
		return []cycle{{52, "year"}}
	case step >= 28*day && step <= 31*day:
		return []cycle{{12, "year"}}
	}
	return nil
}

// MinSeasonStrength is the least autocorrelation (of the detrended
// series, at the season's lag) DetectSeason takes as a cycle in the data.
const MinSeasonStrength = 0.3

// DetectSeason picks a season length from the data: among the cycles its
// sampling step suggests (an hour and a day of minutes, a day and a week
// of hours, a week and a year of days, ...) and that fit twice in the
// series, the one whose lag has the highest autocorrelation of the series
// less its least-squares line, if that is at least MinSeasonStrength and
// higher than at half the lag. Removing the line keeps a trend from making
// every lag look seasonal; the half-lag test keeps a slow cycle (whose
// autocorrelation is high at every short lag) from passing for a short
// one. Without a clear cycle it returns 1 (no season). The reason says
// what was measured.
func DetectSeason(y []float64, step time.Duration) (int, string, error) {
	cycles := cyclesOf(step)
	if len(cycles) == 0 {
		return 0, "", fmt.Errorf("trace: step %v matches no known sampling (second, minute, 5 or 15 minutes, hour, day, week, month); give the season", step)
	}
	d := detrend(y)
	best, bestACF := cycle{length: 1, name: "none"}, MinSeasonStrength
	var tried []string
	for _, c := range cycles {
		if len(y) < 2*c.length+1 {
			tried = append(tried, fmt.Sprintf("%s (%d steps) needs %d values", c.name, c.length, 2*c.length+1))
			continue
		}
		r, half := autocorrelation(d, c.length), autocorrelation(d, c.length/2)
		tried = append(tried, fmt.Sprintf("%s (%d steps) autocorrelation %.2f, %.2f at half", c.name, c.length, r, half))
		// A cycle goes away and comes back: the autocorrelation at a
		// season's lag is higher than at half of it. A slow cycle's
		// autocorrelation is high at every short lag, and that is not
		// a season of that length.
		if r > bestACF && r > half {
			best, bestACF = c, r
		}
	}
	if best.length == 1 {
		return 1, fmt.Sprintf("no clear cycle in the data (%s); no season", strings.Join(tried, ", ")), nil
	}
	return best.length, fmt.Sprintf("a cycle of one %s detected in the data: %s", best.name, strings.Join(tried, ", ")), nil
}

// detrend returns y less its least-squares line.
func detrend(y []float64) []float64 {
	n := float64(len(y))
	var sx, sy, sxx, sxy float64
	for i, v := range y {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+v, sxx+x*x, sxy+x*v
	}
	slope := 0.0
	if den := n*sxx - sx*sx; den != 0 {
		slope = (n*sxy - sx*sy) / den
	}
	intercept := (sy - slope*sx) / n
	out := make([]float64, len(y))
	for i, v := range y {
		out[i] = v - intercept - slope*float64(i)
	}
	return out
}

// autocorrelation is the sample autocorrelation of x at lag k.
func autocorrelation(x []float64, k int) float64 {
	if k >= len(x) {
		return 0
	}
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var num, den float64
	for i, v := range x {
		den += (v - mean) * (v - mean)
		if i+k < len(x) {
			num += (v - mean) * (x[i+k] - mean)
		}
	}
	if den == 0 {
		return 0
	}
	return num / den
}
