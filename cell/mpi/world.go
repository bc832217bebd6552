package mpi

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a World. The zero value is usable.
type Options struct {
	// Transport carries point-to-point messages; nil means in-process
	// delivery, the only transport so far.
	Transport Transport
	// ProcessorName is what MPI_Get_processor_name reports; empty means the
	// host name.
	ProcessorName string
	// Now is the clock behind MPI_Wtime; nil means time.Now.
	Now func() time.Time
}

// World is one MPI job: MPI_COMM_WORLD and everything derived from it. Its
// ranks run concurrently, each on its own goroutine (a cell's); a Rank's
// methods must be called by one goroutine at a time (MPI_THREAD_FUNNELED).
type World struct {
	ranks     []*Rank
	transport Transport
	name      string
	now       func() time.Time
	epoch     time.Time
	spin      time.Duration // how long a waiting rank polls

	bufs bufPool // input copies of collectives

	// nextContext numbers communicators: each gets a context id that
	// separates its messages from every other communicator's.
	nextContext atomic.Uint32

	// down is closed when the world ends early, by MPI_Abort or a failed
	// rank; every call in progress or to come then returns downErr.
	downOnce sync.Once
	down     chan struct{}
	downErr  error

	// stopMu guards stop, where ranks stop for migration (state.go), and
	// moved, the ranks offered to or moved to another process (home.go):
	// a world with a moved rank cannot stop as a whole, and a rank cannot
	// move out of a world that is stopping.
	stopMu sync.Mutex
	stop   stopState
	moved  map[int]bool
}

// Context ids of the predefined communicators. SELF's context is shared by
// the per-rank SELF communicators: their messages never leave the rank.
const (
	worldContext = 1
	selfContext  = 2
)

// NewWorld makes a world of size ranks.
func NewWorld(size int, opts Options) *World {
	if size < 1 {
		panic(fmt.Sprintf("mpi: world size %d", size))
	}
	w := &World{
		spin:      spinDuration(size),
		transport: opts.Transport,
		name:      opts.ProcessorName,
		now:       opts.Now,
		down:      make(chan struct{}),
	}
	if w.transport == nil {
		w.transport = inProcess{w}
	}
	if w.name == "" {
		w.name, _ = os.Hostname()
		if w.name == "" {
			w.name = "localhost"
		}
	}
	if w.now == nil {
		w.now = time.Now
	}
	w.epoch = w.now()
	w.nextContext.Store(selfContext)
	w.stop.entered = make([]uint64, size)

	ranks := make([]int, size)
	for i := range ranks {
		ranks[i] = i
	}
	world := newComm(worldContext, ranks)
	w.ranks = make([]*Rank, size)
	for i := range w.ranks {
		r := &Rank{w: w, rank: i, wake: make(chan struct{}, 1)}
		r.comms = []*commRef{
			CommNull:  nil,
			CommWorld: {c: world, rank: i},
			CommSelf:  {c: newComm(selfContext, []int{i}), rank: 0},
		}
		w.ranks[i] = r
	}
	return w
}

// Size is the number of ranks.
func (w *World) Size() int { return len(w.ranks) }

// Rank returns rank i (0 <= i < Size).
func (w *World) Rank(i int) *Rank { return w.ranks[i] }

// Fail ends the world because rank's cell stopped with err (a trap, an
// exit without MPI_Finalize while others may wait for it, ...). Every MPI
// call blocked on any rank returns, and every later one fails, with a
// *FailedError naming the rank. The first Fail or Abort wins.
func (w *World) Fail(rank int, err error) {
	w.end(&FailedError{Rank: rank, Err: err})
}

// Err is why the world ended early (*FailedError or *AbortError), or nil.
func (w *World) Err() error {
	select {
	case <-w.down:
		return w.downErr
	default:
		return nil
	}
}

func (w *World) end(err error) {
	w.downOnce.Do(func() {
		w.downErr = err
		close(w.down)
	})
}

// wtime is MPI_Wtime: seconds since the world began, on Options.Now.
// Counting from the world's start rather than 1970 keeps nanosecond
// resolution in a float64.
func (w *World) wtime() float64 {
	return w.now().Sub(w.epoch).Seconds()
}

// FailedError is the error of every MPI call after a rank failed.
type FailedError struct {
	Rank int
	Err  error
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("mpi: rank %d failed: %v", e.Rank, e.Err)
}

func (e *FailedError) Unwrap() error { return e.Err }

// AbortError is the error of every MPI call after a rank called MPI_Abort.
// The host bindings turn it into *engine.Exit{Code: Code}.
type AbortError struct {
	Rank int
	Code int
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("mpi: rank %d called MPI_Abort with error code %d", e.Rank, e.Code)
}

// Rank is one process of a World.
type Rank struct {
	w    *World
	rank int

	// mu guards the matching state, which other ranks' sends change.
	mu         sync.Mutex
	posted     []*Request // receives waiting for a message, in posting order
	unexpected []*message // messages waiting for a receive, in arrival order
	// parked counts this rank's calls blocked in a receive wait. While it
	// is non-zero the rank's guest cannot run, so its linear memory cannot
	// move, and the posted receives hold their buffers' current addresses
	// (buffer.live), into which senders copy directly. To unpark, the rank
	// takes mu, which it cannot get in the middle of such a copy.
	parked int
	// wake has a token when one of this rank's requests completed.
	wake chan struct{}

	// comms maps this rank's communicator handles; only the rank's own
	// goroutine uses it.
	comms []*commRef
	// host is the binding state of the rank's cell (Module), kept so that
	// State can capture it and RestoreWorld can prepare it.
	host *host

	// initialized and finalized record MPI_Init and MPI_Finalize, so the
	// runner can tell a rank that ended without finalizing.
	initialized, finalized atomic.Bool
}

// Unfinished reports whether the rank called MPI_Init but not
// MPI_Finalize: if its cell has ended, ranks waiting for it would wait
// forever, so the runner fails the world (as mpirun aborts such a job).
func (r *Rank) Unfinished() bool {
	return r.initialized.Load() && !r.finalized.Load()
}

// Index is the rank's number in MPI_COMM_WORLD.
func (r *Rank) Index() int { return r.rank }

// World is the rank's world.
func (r *Rank) World() *World { return r.w }

// check fails every call once the world is down.
func (r *Rank) check() error {
	select {
	case <-r.w.down:
		return r.w.downErr
	default:
		return nil
	}
}

// How long a waiting rank polls before it blocks. Under wasmtime a rank's
// goroutine waits inside a cgo callback, locked to its OS thread, and
// waking a blocked locked goroutine costs a thread hand-off of tens of
// microseconds; polling first, as MPI implementations do, takes a message
// that arrives soon without it (wasmtime ping-pong: 34 µs without polling,
// 9 µs polling 20 µs, 3 µs polling 200 µs). Polling steals the core from
// the rank we wait for when there are more ranks than cores, so then the
// poll is short.
const (
	spinFor            = 200 * time.Microsecond
	spinOversubscribed = 5 * time.Microsecond
)

// spinDuration is how long ranks of a world of size poll.
func spinDuration(size int) time.Duration {
	if size > runtime.GOMAXPROCS(0) {
		return spinOversubscribed
	}
	return spinFor
}

// spin polls ready until it reports true or the rank's poll time has passed.
func (r *Rank) spin(ready func() bool) bool {
	deadline := time.Now().Add(r.w.spin)
	for i := 0; ; i++ {
		if ready() {
			return true
		}
		if i%64 == 63 && time.Now().After(deadline) {
			return false
		}
	}
}

// received reports whether a receive from ch succeeds without blocking:
// ch is closed, or held a token (which is taken).
func received(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// await blocks until ch is closed, ctx is done or the world is down.
func (r *Rank) await(ctx context.Context, ch <-chan struct{}) error {
	if r.spin(func() bool { return received(ch) }) {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mpi: rank %d: %w", r.rank, ctx.Err())
	case <-r.w.down:
		return r.w.downErr
	}
}

// Abort ends the world (MPI_Abort): every rank's current or next MPI call
// returns an *AbortError with code, and so does this one. MPI lets Abort
// end only comm's group; like most implementations this ends them all.
func (r *Rank) Abort(comm Comm, code int) error {
	r.w.end(&AbortError{Rank: r.rank, Code: code})
	return r.w.downErr
}

// ProcessorName is MPI_Get_processor_name's answer.
func (r *Rank) ProcessorName() string { return r.w.name }

// Wtime is MPI_Wtime.
func (r *Rank) Wtime() float64 { return r.w.wtime() }
