package prewarm

import (
	"errors"
	"fmt"
)

// IdleHistogram is what the hybrid policy learns about one application at
// one site: its idle times in 1-minute bins. It is also all a site sends
// to be merged with other sites' (learning/federated): counts of idle
// times, never when the invocations happened.
type IdleHistogram struct {
	// Bins[i] counts idle times of i minutes; len(Bins) is the range.
	Bins []int `json:"bins"`
	// OutOfBounds counts idle times of len(Bins) minutes or more.
	OutOfBounds int `json:"outOfBounds"`
}

// IdleHistogramOf returns the idle times of per-minute invocation counts
// (as Advise takes them) in a histogram of rangeMinutes bins.
func IdleHistogramOf(counts []int, rangeMinutes int) IdleHistogram {
	h := newHistogram(rangeMinutes)
	last := -1
	for m, c := range counts {
		if c <= 0 {
			continue
		}
		if last >= 0 {
			h.add(m-last, 1)
		}
		last = m
	}
	return IdleHistogram{Bins: h.bins, OutOfBounds: h.oob}
}

// MergeIdleHistograms adds histograms of one range bin by bin: the
// histogram of all their idle times together.
func MergeIdleHistograms(hs ...IdleHistogram) (IdleHistogram, error) {
	if len(hs) == 0 {
		return IdleHistogram{}, errors.New("prewarm: no histograms to merge")
	}
	out := IdleHistogram{Bins: make([]int, len(hs[0].Bins))}
	for i, h := range hs {
		if err := h.Check(len(out.Bins)); err != nil {
			return IdleHistogram{}, fmt.Errorf("prewarm: histogram %d: %w", i, err)
		}
		for b, c := range h.Bins {
			out.Bins[b] += c
		}
		out.OutOfBounds += h.OutOfBounds
	}
	return out, nil
}

// Check says what is wrong with a histogram meant to have rangeMinutes
// one-minute bins: another number of bins, or a negative count.
func (h IdleHistogram) Check(rangeMinutes int) error {
	if len(h.Bins) != rangeMinutes || rangeMinutes == 0 {
		return fmt.Errorf("%d bins, want %d", len(h.Bins), rangeMinutes)
	}
	if h.OutOfBounds < 0 {
		return fmt.Errorf("negative out-of-range count %d", h.OutOfBounds)
	}
	for b, c := range h.Bins {
		if c < 0 {
			return fmt.Errorf("negative count %d in bin %d", c, b)
		}
	}
	return nil
}

// Decide is the policy's decision on a histogram learnt elsewhere, say one
// merged from several sites. Its range must be the policy's.
func (p Hybrid) Decide(h IdleHistogram) (Decision, error) {
	if err := h.Check(p.Range); err != nil {
		return Decision{}, fmt.Errorf("prewarm: %w", err)
	}
	in := 0
	for _, c := range h.Bins {
		in += c
	}
	return p.decide(&histogram{bins: h.Bins, in: in, oob: h.OutOfBounds}), nil
}
