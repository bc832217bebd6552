package cell

import (
	"context"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Usage measures, while a cell (or every rank of an MPI world) runs, the
// CPU time it takes and the linear memory it holds, for the agent's
// per-cell metrics. Cells are goroutines of one process, and Go has no
// per-goroutine CPU clock, so each running stretch locks its goroutine to
// an OS thread (runtime.LockOSThread) and reads that thread's CPU clock
// (Linux, CLOCK_THREAD_CPUTIME_ID of the thread): the cell's guest code
// and its host functions, nothing else, run on it. Memory is the size of
// linear memory, recorded at each host call. Read it from any goroutine.
type Usage struct {
	mu       sync.Mutex
	finished time.Duration // CPU of stretches that ended
	running  map[int]int64 // thread id → its CPU clock when its stretch began
	memory   map[int]int64 // thread id → linear memory bytes of the cell on it
	clock    func(tid int) (int64, bool)
}

// CPU returns the CPU time the cell has taken so far.
func (u *Usage) CPU() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	total := u.finished
	for tid, start := range u.running {
		if now, ok := u.threadCPU(tid); ok && now > start {
			total += time.Duration(now - start)
		}
	}
	return total
}

// Memory returns the linear memory, in bytes, of the running cells (all
// ranks of a world): 0 between stretches, when the cell is a snapshot.
func (u *Usage) Memory() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var total int64
	for _, b := range u.memory {
		total += b
	}
	return total
}

// begin starts a stretch on the calling goroutine, locked to its thread
// until the returned end is called.
func (u *Usage) begin() (end func()) {
	if u == nil {
		return func() {}
	}
	runtime.LockOSThread()
	tid := unix.Gettid()
	start, _ := u.threadCPU(tid)
	u.mu.Lock()
	if u.running == nil {
		u.running, u.memory = map[int]int64{}, map[int]int64{}
	}
	u.running[tid] = start
	u.mu.Unlock()
	return func() {
		now, ok := u.threadCPU(tid)
		u.mu.Lock()
		if ok && now > start {
			u.finished += time.Duration(now - start)
		}
		delete(u.running, tid)
		delete(u.memory, tid)
		u.mu.Unlock()
		runtime.UnlockOSThread()
	}
}

// observe records the memory of the cell running on the calling thread;
// it is called at every host call, on the cell's own goroutine.
func (u *Usage) observe(mem engine.Memory) {
	if u == nil || mem == nil {
		return
	}
	n := int64(len(mem.Bytes()))
	tid := unix.Gettid()
	u.mu.Lock()
	if _, ok := u.running[tid]; ok {
		u.memory[tid] = n
	}
	u.mu.Unlock()
}

// threadCPU reads a thread's CPU clock in nanoseconds.
func (u *Usage) threadCPU(tid int) (int64, bool) {
	if u.clock != nil {
		return u.clock(tid)
	}
	var ts unix.Timespec
	// The kernel's per-thread CPU clock id: MAKE_THREAD_CPUCLOCK(tid,
	// CPUCLOCK_SCHED), see clock_getcpuclockid(3) and posix-cpu-timers.c.
	id := int32((^tid)<<3 | 6)
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}

// observing wraps every host function to record memory in u first.
func observing(hosts []engine.HostModule, u *Usage) []engine.HostModule {
	if u == nil {
		return hosts
	}
	out := make([]engine.HostModule, len(hosts))
	for i, h := range hosts {
		funcs := make([]engine.HostFunc, len(h.Funcs))
		for j, f := range h.Funcs {
			call := f.Call
			f.Call = func(ctx context.Context, mem engine.Memory, stack []uint64) {
				u.observe(mem)
				call(ctx, mem, stack)
			}
			funcs[j] = f
		}
		out[i] = engine.HostModule{Name: h.Name, Funcs: funcs}
	}
	return out
}
