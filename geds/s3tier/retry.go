package s3tier

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff: the wait after the n-th failure
// (counting from 0) is drawn from [d/2, d] where d = Initial × Multiplier^n,
// capped at Max. Drawing from the upper half ("equal jitter") keeps callers
// that failed together from retrying together, while every wait still
// grows. Zero fields take the defaults of DefaultPolicy.
type Policy struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
}

// DefaultPolicy waits about 100 ms after the first failure, doubling up to
// about 10 s.
var DefaultPolicy = Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, Multiplier: 2}

// Delay is the wait after failed attempt number attempt (0 for the first
// failure), given rnd, a uniform random number in [0, 1]: d/2 + rnd×d/2. It is pure, so
// the schedule can be tested exactly; Retry passes it fresh random numbers.
// A Multiplier below 1 counts as 1 (a constant wait); rnd outside [0, 1] is
// clamped into it, and NaN counts as 0.
func (p Policy) Delay(attempt int, rnd float64) time.Duration {
	p = p.withDefaults()
	ceiling := float64(p.Max)
	d := float64(p.Initial) * math.Pow(math.Max(p.Multiplier, 1), float64(max(attempt, 0)))
	if d > ceiling || math.IsInf(d, 0) || math.IsNaN(d) {
		d = ceiling
	}
	if math.IsNaN(rnd) {
		rnd = 0
	}
	rnd = min(max(rnd, 0), 1)
	wait := d/2 + d/2*rnd
	if wait >= ceiling { // float rounding near the largest durations
		return p.Max
	}
	return time.Duration(wait)
}

func (p Policy) withDefaults() Policy {
	if p.Initial <= 0 {
		p.Initial = DefaultPolicy.Initial
	}
	if p.Max <= 0 {
		p.Max = DefaultPolicy.Max
	}
	if p.Multiplier == 0 {
		p.Multiplier = DefaultPolicy.Multiplier
	}
	return p
}

// Retry calls fn until it returns nil or an error that does not wrap
// ErrUnavailable, waiting p.Delay between attempts, and gives up when ctx
// ends. Bound the total time with ctx's deadline. When it gives up, the
// error wraps both ctx's error and fn's last error.
func Retry(ctx context.Context, p Policy, fn func() error) error {
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return gaveUp(attempt, err, last)
		}
		err := fn()
		if err == nil || !errors.Is(err, ErrUnavailable) {
			return err
		}
		last = err
		timer := time.NewTimer(p.Delay(attempt, rand.Float64()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return gaveUp(attempt+1, ctx.Err(), last)
		case <-timer.C:
		}
	}
}

func gaveUp(attempts int, ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("s3tier: retry: %w before the first attempt", ctxErr)
	}
	return fmt.Errorf("s3tier: retry: %w after %d attempts; last error: %w", ctxErr, attempts, last)
}
