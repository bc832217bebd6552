package autoscale

import (
	"math"
	"slices"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// fitted is one fit of the predictive policy's model, read as a path: one
// value per Resolution block, the model's in-sample one-step forecasts
// over the history it was fitted on, then its forecast ahead, smoothed by
// a running median. The policy never uses the path's level as it is: it
// scales it by the recent load (level) and reads its shape.
type fitted struct {
	r    int       // decision intervals per block
	from int       // block index of path[0]
	path []float64 // smoothed forecast per block; NaN where the model has none
	// fitBlock is the first block after the history the model saw.
	fitBlock int
	// bound is 1 + the error quantile of the relative deviations of the
	// load from the level-corrected path (≥ 1).
	bound float64
}

// smoothHalfWidth is the half-width, in blocks, of the running median over
// the forecast path: a 96th of the season, that is 15 minutes either side
// for a daily season. A burst of a few minutes that the model learned
// (yesterday's, for a seasonal naive model) is a spike on the path; the
// median removes it, while the ramps of a daily cycle, which are monotone
// over the window, pass unchanged. Seasons shorter than 96 blocks (a week
// of days) are not smoothed: a block is already a large share of them.
func smoothHalfWidth(season int) int { return season / 96 }

// fitPath fits a model of kind on the block means of the last history
// complete blocks of load (blocks of r intervals, blocks complete blocks
// in all) and builds its path, ahead blocks into the future.
func fitPath(kind string, season int, load []float64, blocks, r, history, ahead int) (*fitted, error) {
	from := max(blocks-history, 0)
	y := blockMeans(load, from, blocks, r)
	m, err := forecast.New(kind, season)
	if err == nil {
		err = m.Fit(y)
	}
	if err != nil {
		return nil, err
	}
	pred, err := m.Predict(ahead)
	if err != nil {
		return nil, err
	}
	raw := make([]float64, len(y), len(y)+len(pred))
	in := m.Fitted()
	for i := range raw {
		raw[i] = math.NaN()
		if i < len(in) {
			raw[i] = in[i]
		}
	}
	raw = append(raw, pred...)
	// A floor well below the load keeps ratios to the path finite where
	// the model forecasts zero or less (a quiet night).
	floor := math.Max(0.02*mean(y), 1e-9)
	return &fitted{r: r, from: from, fitBlock: blocks, path: runningMedian(raw, smoothHalfWidth(season), floor), bound: 1}, nil
}

// blockMeans is the mean load of each block from from to to (exclusive).
func blockMeans(load []float64, from, to, r int) []float64 {
	y := make([]float64, 0, to-from)
	for b := from; b < to; b++ {
		sum := 0.0
		for _, v := range load[b*r : (b+1)*r] {
			sum += v
		}
		y = append(y, sum/float64(r))
	}
	return y
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// runningMedian is the median of the values within w of each index,
// ignoring NaN (NaN where all are), and at least floor.
func runningMedian(xs []float64, w int, floor float64) []float64 {
	out := make([]float64, len(xs))
	buf := make([]float64, 0, 2*w+1)
	for i := range xs {
		buf = buf[:0]
		for _, v := range xs[max(i-w, 0):min(i+w+1, len(xs))] {
			if !math.IsNaN(v) {
				buf = append(buf, v)
			}
		}
		out[i] = math.NaN()
		if len(buf) > 0 {
			out[i] = math.Max(median(buf), floor)
		}
	}
	return out
}

// at is the path at decision interval i, interpolated linearly between
// the centres of the blocks around it (so a ramp is a ramp, not a
// staircase of 5-minute steps), and held flat beyond the path's ends.
// NaN where the model has no value.
func (f *fitted) at(i int) float64 {
	x := (float64(i) - float64(f.r-1)/2) / float64(f.r)
	b := math.Floor(x)
	w := x - b
	v0, v1 := f.block(int(b)), f.block(int(b)+1)
	switch {
	case math.IsNaN(v0):
		return v1
	case math.IsNaN(v1):
		return v0
	}
	return (1-w)*v0 + w*v1
}

// block is the path's value for block b, the nearest end outside it.
func (f *fitted) block(b int) float64 {
	return f.path[min(max(b-f.from, 0), len(f.path)-1)]
}

// level is the median ratio of the load to the path over the last w
// intervals of load, leaving out those burst reports (unless that leaves
// none: a rise that lasts the whole window is the new level), within
// [minLevel, maxLevel]; 1 without any.
func (f *fitted) level(load []float64, w int, burst func(i int) bool) float64 {
	var ratios, all []float64
	for i := max(len(load)-w, 0); i < len(load); i++ {
		if a := f.at(i); a > 0 {
			all = append(all, load[i]/a)
			if !burst(i) {
				ratios = append(ratios, load[i]/a)
			}
		}
	}
	if len(ratios) == 0 {
		ratios = all
	}
	if len(ratios) == 0 {
		return 1
	}
	return math.Min(math.Max(median(ratios), minLevel), maxLevel)
}

// measure sets bound from the history the model was fitted on, out of
// sample: the history is cut into segments (a block, or a quarter of the
// level window if that is longer), and each interval's deviation is its
// load divided by the path there times the level of the w intervals
// before its segment (the level a decision at the segment's start would
// have used), minus one. So the deviations are those of a forecast made up
// to a segment ahead, as the decisions' are, not of a level that already
// saw the load. bound is 1 + the q-quantile of a normal law fitted to them
// robustly (median and MAD), at least 1; q ≤ 0 means none.
//
// Relative, because load noise grows with the load: an absolute bound
// measured over busy hours would double the replicas of a quiet night.
// Robust, because rare bursts are deviations too: a plain quantile would
// count them and keep standing capacity for bursts all day long, which
// costs far more than the minutes it saves; bursts are met by the burst
// floor.
func (f *fitted) measure(load []float64, w int, q float64) {
	start, end := f.from*f.r, f.fitBlock*f.r
	ratios := make([]float64, end-start)
	for i := range ratios {
		ratios[i] = math.NaN()
		if a := f.at(start + i); a > 0 {
			ratios[i] = load[start+i] / a
		}
	}
	var devs []float64
	seg := max(f.r, (w+3)/4)
	buf := make([]float64, 0, w)
	for lo := w; lo < len(ratios); lo += seg {
		buf = buf[:0]
		for _, x := range ratios[lo-w : lo] {
			if !math.IsNaN(x) {
				buf = append(buf, x)
			}
		}
		if len(buf) == 0 {
			continue
		}
		level := math.Min(math.Max(median(buf), minLevel), maxLevel)
		for _, x := range ratios[lo:min(lo+seg, len(ratios))] {
			if !math.IsNaN(x) {
				devs = append(devs, x/level-1)
			}
		}
	}
	f.bound = 1
	if q > 0 && len(devs) > 0 {
		f.bound = 1 + robustQuantile(devs, q)
	}
}

// robustQuantile is the q-quantile, at least 0, of a normal law fitted to
// xs by their median and median absolute deviation. It reorders xs.
func robustQuantile(xs []float64, q float64) float64 {
	med := median(xs)
	abs := make([]float64, len(xs))
	for i, x := range xs {
		abs[i] = math.Abs(x - med)
	}
	sigma := 1.4826 * median(abs) // the MAD's normal-consistent scale
	z := math.Sqrt2 * math.Erfinv(2*q-1)
	return math.Max(med+z*sigma, 0)
}

// median reorders xs and returns its middle value (the mean of the two
// middle ones for an even count); xs is not empty. It selects rather than
// sorts: a fit takes the median of a few days of deviations twice, and
// sorting them was most of the policy's cost.
func median(xs []float64) float64 {
	n := len(xs)
	hi := selectNth(xs, n/2)
	if n%2 == 1 {
		return hi
	}
	return (slices.Max(xs[:n/2]) + hi) / 2
}

// selectNth reorders xs so that xs[k] is the value a sort would put there,
// with no larger value before it and no smaller after, and returns it
// (Hoare's selection, middle-of-three pivots; NaN-free input).
func selectNth(xs []float64, k int) float64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Order xs[lo], xs[mid], xs[hi]; the middle one is the pivot.
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		pivot := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < pivot {
				i++
			}
			for xs[j] > pivot {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
