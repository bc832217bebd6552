package mpi_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/mpi"
)

func TestCancelRecv(t *testing.T) {
	noLeaks(t)
	w := newWorld(2)
	r := w.Rank(1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := r.Recv(ctx, make([]byte, 4), 0, 0, mpi.CommWorld)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Recv returned before cancel: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Recv after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Recv did not return after cancel")
	}

	// The cancelled receive is withdrawn: a later message goes to the
	// next receive.
	ctx = context.Background()
	if err := w.Rank(0).Send(ctx, []byte("late"), 1, 0, mpi.CommWorld); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := r.Recv(ctx, buf, 0, 0, mpi.CommWorld); err != nil || string(buf) != "late" {
		t.Errorf("Recv after a cancelled one: %q, %v", buf, err)
	}

	// A collective that cannot complete also returns on cancel.
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.Barrier(ctx, mpi.CommWorld); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Barrier alone: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	q, err := r.Irecv(buf, 0, 1, mpi.CommWorld)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Waitall(ctx, []*mpi.Request{q}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Waitall: %v", err)
	}
}

// waitBlocked gives goroutines time to block.
func waitBlocked() { time.Sleep(30 * time.Millisecond) }

func TestFailUnblocks(t *testing.T) {
	noLeaks(t)
	const n = 4
	w := newWorld(n)
	ctx := context.Background()
	errs := make([]error, n)
	var wg sync.WaitGroup
	// Ranks 1 and 2 wait in a barrier rank 0 never joins; rank 3 waits for
	// a message rank 0 never sends.
	for i := 1; i < n; i++ {
		wg.Go(func() {
			r := w.Rank(i)
			if i == 3 {
				_, errs[i] = r.Recv(ctx, make([]byte, 1), 0, 0, mpi.CommWorld)
			} else {
				errs[i] = r.Barrier(ctx, mpi.CommWorld)
			}
		})
	}
	waitBlocked()
	cause := errors.New("trap: unreachable")
	w.Fail(0, cause)
	wg.Wait()
	for i := 1; i < n; i++ {
		var f *mpi.FailedError
		if !errors.As(errs[i], &f) || f.Rank != 0 || !errors.Is(errs[i], cause) {
			t.Errorf("rank %d: %v, want rank 0's failure", i, errs[i])
		}
	}
	// Every later call fails too, and a second failure changes nothing.
	w.Fail(2, errors.New("later"))
	if err := w.Rank(1).Send(ctx, nil, 2, 0, mpi.CommWorld); !errors.As(err, new(*mpi.FailedError)) {
		t.Errorf("Send after failure: %v", err)
	}
	if err := w.Err(); !errors.Is(err, cause) {
		t.Errorf("World.Err: %v", err)
	}
}

func TestAbort(t *testing.T) {
	noLeaks(t)
	w := newWorld(3)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() { _, errs[1] = w.Rank(1).Recv(ctx, nil, 0, 0, mpi.CommWorld) })
	wg.Go(func() { errs[2] = w.Rank(2).Allreduce(ctx, nil, make([]byte, 4), mpi.Int, mpi.Sum, mpi.CommWorld) })
	waitBlocked()
	errs[0] = w.Rank(0).Abort(mpi.CommWorld, 7)
	wg.Wait()
	for i, err := range errs {
		var a *mpi.AbortError
		if !errors.As(err, &a) || a.Code != 7 || a.Rank != 0 {
			t.Errorf("rank %d: %v, want rank 0's abort with 7", i, err)
		}
	}
	if _, err := w.Rank(1).CommRank(mpi.CommWorld); !errors.As(err, new(*mpi.AbortError)) {
		t.Errorf("call after abort: %v", err)
	}
}

// Cancelling every rank of a world busy with collectives and messages
// leaves no goroutine behind.
func TestCancelBusyWorld(t *testing.T) {
	noLeaks(t)
	const n = 5
	w := newWorld(n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := w.Rank(i)
			buf := make([]byte, 8)
			for k := 0; ; k++ {
				var err error
				switch {
				case i == n-1 && k == 50:
					// The last rank stops joining and waits for a message
					// that never comes.
					_, err = r.Recv(ctx, buf, mpi.AnySource, 999, mpi.CommWorld)
				case k%2 == 0:
					err = r.Allreduce(ctx, nil, buf, mpi.Double, mpi.Sum, mpi.CommWorld)
				default:
					_, err = r.Sendrecv(ctx, buf, (i+1)%n, k, make([]byte, 8), (i+n-1)%n, k, mpi.CommWorld)
				}
				if err != nil {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("rank %d: %v", i, err)
					}
					return
				}
			}
		})
	}
	waitBlocked()
	cancel()
	wg.Wait()
}

func ExampleWorld() {
	w := mpi.NewWorld(3, mpi.Options{})
	var wg sync.WaitGroup
	sums := make([]int, 3)
	for i := range 3 {
		wg.Go(func() {
			r := w.Rank(i)
			out := make([]byte, 4)
			if err := r.Allreduce(context.Background(), u32(10*(i+1)), out, mpi.Int, mpi.Sum, mpi.CommWorld); err != nil {
				panic(err)
			}
			sums[i] = getU32(out)
		})
	}
	wg.Wait()
	fmt.Println(sums)
	// Output: [60 60 60]
}
