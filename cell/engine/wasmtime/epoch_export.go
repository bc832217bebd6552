//go:build cgo

package wasmtime

// The Go side of the epoch deadline callback (see epoch.go). A file with
// //export may only declare C functions in its preamble, hence this file.

import "C"

import (
	"runtime/cgo"
	"unsafe"
)

// cloudskinEpochCancelled reports whether the call running in a store that
// reached its epoch deadline should end: whether its context is done.
//
//export cloudskinEpochCancelled
func cloudskinEpochCancelled(data unsafe.Pointer) C.int {
	w := cgo.Handle(uintptr(data)).Value().(*watch)
	if w.ctx == nil || w.ctx.Err() == nil {
		return 0
	}
	w.interrupted = true
	return 1
}

// cloudskinEpochFinalize runs when a store is deleted.
//
//export cloudskinEpochFinalize
func cloudskinEpochFinalize(data unsafe.Pointer) {
	cgo.Handle(uintptr(data)).Delete()
}
