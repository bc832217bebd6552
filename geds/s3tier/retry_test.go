package s3tier_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/s3tier"
)

func TestPolicyDelay(t *testing.T) {
	p := s3tier.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2}
	cases := []struct {
		policy  s3tier.Policy
		attempt int
		rnd     float64
		want    time.Duration
	}{
		{p, 0, 0, 50 * time.Millisecond}, // lower half of 100 ms
		{p, 0, 0.5, 75 * time.Millisecond},
		{p, 1, 0, 100 * time.Millisecond}, // 200 ms
		{p, 2, 0.5, 300 * time.Millisecond},
		{p, 3, 0, 400 * time.Millisecond},    // 800 ms
		{p, 4, 0, 500 * time.Millisecond},    // 1.6 s capped at 1 s
		{p, 1000, 0, 500 * time.Millisecond}, // no overflow
		{p, -3, 0, 50 * time.Millisecond},    // as attempt 0
		{p, 0, -1, 50 * time.Millisecond},    // rnd clamped to 0
		{s3tier.Policy{Initial: time.Second, Max: 100 * time.Millisecond, Multiplier: 2}, 0, 0, 50 * time.Millisecond},   // Max wins
		{s3tier.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 0.5}, 5, 0, 50 * time.Millisecond}, // below 1 counts as 1
		{s3tier.Policy{Initial: 10 * time.Millisecond, Max: time.Minute, Multiplier: 3}, 2, 0, 45 * time.Millisecond},    // 90 ms
		{s3tier.Policy{}, 0, 0, s3tier.DefaultPolicy.Initial / 2},
		{s3tier.Policy{}, 100, 0, s3tier.DefaultPolicy.Max / 2},
	}
	for _, c := range cases {
		if got := c.policy.Delay(c.attempt, c.rnd); got != c.want {
			t.Errorf("%+v.Delay(%d, %v) = %s, want %s", c.policy, c.attempt, c.rnd, got, c.want)
		}
	}
	// rnd of 1 or more gives the full delay.
	for _, rnd := range []float64{1, 7} {
		if got := p.Delay(0, rnd); got != 100*time.Millisecond {
			t.Errorf("Delay(0, %v) = %s, want 100ms", rnd, got)
		}
	}
}

func FuzzPolicyDelay(f *testing.F) {
	f.Add(int64(time.Millisecond), int64(time.Second), 2.0, 3, 0.5)
	f.Add(int64(0), int64(0), 0.0, 0, 0.0)
	f.Add(int64(1), int64(1<<62), 1e300, 1<<30, 0.9999)
	f.Fuzz(func(t *testing.T, initial, maxDelay int64, mult float64, attempt int, rnd float64) {
		p := s3tier.Policy{Initial: time.Duration(initial), Max: time.Duration(maxDelay), Multiplier: mult}
		d := p.Delay(attempt, rnd)
		ceiling := p.Max
		if ceiling <= 0 {
			ceiling = s3tier.DefaultPolicy.Max
		}
		if d < 0 || d > ceiling {
			t.Fatalf("%+v.Delay(%d, %v) = %s, outside [0, %s]", p, attempt, rnd, d, ceiling)
		}
	})
}

var errDown = fmt.Errorf("test: %w", s3tier.ErrUnavailable)

func TestRetryOutcomes(t *testing.T) {
	fast := s3tier.Policy{Initial: time.Microsecond, Max: time.Microsecond}
	permanent := errors.New("bad request")
	cases := []struct {
		name     string
		results  []error // what successive calls return; the last repeats
		wantErr  error
		wantRuns int
	}{
		{"success at once", []error{nil}, nil, 1},
		{"success after outages", []error{errDown, errDown, nil}, nil, 3},
		{"permanent error at once", []error{permanent}, permanent, 1},
		{"permanent error after an outage", []error{errDown, permanent}, permanent, 2},
		{"missing object is not retried", []error{fmt.Errorf("x: %w", fs.ErrNotExist)}, fs.ErrNotExist, 1},
	}
	for _, c := range cases {
		runs := 0
		err := s3tier.Retry(context.Background(), fast, func() error {
			runs++
			return c.results[min(runs, len(c.results))-1]
		})
		if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) || runs != c.wantRuns {
			t.Errorf("%s: err %v after %d runs; want %v after %d", c.name, err, runs, c.wantErr, c.wantRuns)
		}
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	t.Run("canceled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		runs := 0
		// The first wait is at least 30 minutes: only the cancel can end it.
		err := s3tier.Retry(ctx, s3tier.Policy{Initial: time.Hour, Max: time.Hour}, func() error {
			runs++
			cancel()
			return errDown
		})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, s3tier.ErrUnavailable) || runs != 1 {
			t.Fatalf("err %v after %d runs; want context.Canceled and the last ErrUnavailable after 1", err, runs)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		runs := 0
		err := s3tier.Retry(ctx, s3tier.Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond}, func() error {
			runs++
			return errDown
		})
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, s3tier.ErrUnavailable) || runs < 2 {
			t.Fatalf("err %v after %d runs; want DeadlineExceeded and ErrUnavailable after several runs", err, runs)
		}
	})
	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := s3tier.Retry(ctx, s3tier.DefaultPolicy, func() error {
			t.Fatal("fn called with a canceled context")
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}
