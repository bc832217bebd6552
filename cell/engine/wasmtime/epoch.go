//go:build cgo

package wasmtime

// Cancellation. wasmtime stops running guest code through epoch
// interruption: compiled code checks, at function entries and loop back
// edges, whether the engine's epoch has reached its store's deadline. The
// epoch is one counter per engine, so a tick meant to stop one instance
// reaches every store. What makes it per instance is the store's epoch
// deadline callback, which wasmtime runs instead of trapping: it looks at
// this instance's context only and either ends the call (cancelled) or
// extends the deadline by one tick and lets the guest go on.
//
// The engine ticks the epoch every epochInterval, and only while at least
// one call with a cancellable context is running, so an idle engine costs
// nothing. A running store thus gets one callback per tick; the cost of a
// callback (a cgo round trip) every few milliseconds is negligible next to
// the checks in the compiled code, which TestEpochOverhead and BenchmarkLoop
// measure.
//
// The Go bindings do not expose wasmtime_store_epoch_deadline_callback, so
// this file declares the C API functions it needs itself, with opaque
// types as in wasmtime.h; they link from the libwasmtime.a that the
// wasmtime-go package links. The callback needs the store's C pointer,
// which the bindings keep in an unexported field; checkStoreLayout makes
// sure that field is where storePointer reads it.

/*
#include <stdint.h>

typedef struct wasmtime_store wasmtime_store_t;
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;

extern void wasmtime_store_epoch_deadline_callback(
	wasmtime_store_t *store,
	wasmtime_error_t *(*func)(wasmtime_context_t *context, void *data,
		uint64_t *epoch_deadline_delta, uint8_t *update_kind),
	void *data, void (*finalizer)(void *));
extern wasmtime_error_t *wasmtime_error_new(const char *message);

// Defined in Go, in epoch_export.go.
extern int cloudskinEpochCancelled(void *data);
extern void cloudskinEpochFinalize(void *data);

// cloudskin_epoch_deadline runs when a store's guest reaches its epoch
// deadline: it ends the call if the call's context is done, and otherwise
// lets the guest run until the next tick.
static wasmtime_error_t *cloudskin_epoch_deadline(wasmtime_context_t *context, void *data,
		uint64_t *epoch_deadline_delta, uint8_t *update_kind) {
	if (cloudskinEpochCancelled(data)) {
		return wasmtime_error_new("interrupted: context done");
	}
	*epoch_deadline_delta = 1;
	*update_kind = 0; // WASMTIME_UPDATE_DEADLINE_CONTINUE
	return NULL;
}

static void cloudskin_set_epoch_callback(void *store, uintptr_t handle) {
	wasmtime_store_epoch_deadline_callback((wasmtime_store_t *)store,
		cloudskin_epoch_deadline, (void *)handle, cloudskinEpochFinalize);
}
*/
import "C"

import (
	"context"
	"errors"
	"reflect"
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// epochInterval is how often the epoch ticks while cancellable calls run:
// the bound on how long a cancelled guest keeps running.
const epochInterval = 2 * time.Millisecond

// watch is what a store's epoch deadline callback sees: the context of the
// call running in the store. It holds no reference to the store, so that
// the cgo.Handle pointing at it does not keep the store alive.
type watch struct {
	// ctx is the context of the running call, set before entering the
	// guest. The callback runs on the goroutine that entered the guest,
	// so no synchronisation is needed.
	ctx context.Context
	// interrupted says the callback ended the call because ctx was done.
	interrupted bool
}

// watchStore makes the store's epoch deadline callback consult w.
func watchStore(store *wasmtime.Store, w *watch) {
	// The handle is deleted by cloudskinEpochFinalize when the store is.
	C.cloudskin_set_epoch_callback(storePointer(store), C.uintptr_t(cgo.NewHandle(w)))
}

// storePointer returns the *wasmtime_store_t of a Store: the first field.
func storePointer(store *wasmtime.Store) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Pointer(store))
}

// checkStoreLayout makes sure storePointer reads the right field of this
// version of the bindings.
func checkStoreLayout() error {
	t := reflect.TypeFor[wasmtime.Store]()
	if f := t.Field(0); f.Name != "_ptr" || f.Offset != 0 || f.Type.Kind() != reflect.Pointer {
		return errors.New("wasmtime: unsupported wasmtime-go version: Store layout changed")
	}
	return nil
}

// epochTicker increments an engine's epoch while calls need it.
type epochTicker struct {
	eng     *wasmtime.Engine
	active  atomic.Int64  // calls with a cancellable context running
	wake    chan struct{} // active became non-zero
	done    chan struct{} // closed by stop
	stopped chan struct{} // closed when the goroutine has ended
}

func newEpochTicker(eng *wasmtime.Engine) *epochTicker {
	t := &epochTicker{
		eng:     eng,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go t.run()
	return t
}

func (t *epochTicker) run() {
	defer close(t.stopped)
	for {
		select {
		case <-t.done:
			return
		case <-t.wake:
		}
		tick := time.NewTicker(epochInterval)
		for t.active.Load() > 0 {
			select {
			case <-t.done:
				tick.Stop()
				return
			case <-tick.C:
				t.eng.IncrementEpoch()
			}
		}
		tick.Stop()
	}
}

// enter starts ticking if ctx can be cancelled; the returned func ends it.
func (t *epochTicker) enter(ctx context.Context) (leave func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	if t.active.Add(1) == 1 {
		select {
		case t.wake <- struct{}{}:
		default: // already woken
		}
	}
	return func() { t.active.Add(-1) }
}

func (t *epochTicker) stop() {
	close(t.done)
	<-t.stopped
}
