package mpi_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/mpi"
)

// run runs f on every rank of w, each in its own goroutine, and fails the
// test with every rank's error. It gives up after a minute, so a deadlock
// fails rather than hangs.
func run(t testing.TB, w *mpi.World, f func(ctx context.Context, r *mpi.Rank) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, w.Size())
	var wg sync.WaitGroup
	for i := range w.Size() {
		wg.Go(func() { errs[i] = f(ctx, w.Rank(i)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", i, err)
		}
	}
}

func newWorld(n int) *mpi.World {
	return mpi.NewWorld(n, mpi.Options{ProcessorName: "test"})
}

// noLeaks fails the test if it ends with more goroutines than it began
// with. The package starts none, so any left over are blocked calls that
// never returned.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			after := runtime.NumGoroutine()
			if after <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// check returns an error if got != want.
func check[T comparable](what string, got, want T) error {
	if got != want {
		return fmt.Errorf("%s: got %v, want %v", what, got, want)
	}
	return nil
}
