// Package snapshot is the portable, engine-neutral snapshot of a cell: what
// it takes to stop a cell at a migration point (a call into the host) and
// continue it elsewhere, on either engine: linear memory, exported globals
// (including __stack_pointer and the Asyncify state that holds the call
// stack), the WASI state, and the MPI state of a rank.
//
// The on-disk form (Encode, Decode) is ours and documented in
// docs/formats/snapshot.md.
package snapshot

import "github.com/cloudskin/cloudskin/cell/wasi"

// PageSize is the WebAssembly page size; memory travels in whole pages.
const PageSize = 64 << 10

// Snapshot is a stopped cell.
type Snapshot struct {
	// ModuleHash is the SHA-256 of the module the cell runs; a snapshot is
	// refused for any other module.
	ModuleHash [32]byte
	// Engine names the engine the snapshot was taken on (informational: it
	// resumes on either).
	Engine string
	// HostCalls counts the calls into the host before the migration point,
	// the one that was interrupted included.
	HostCalls uint64
	// MemoryPages is the size of linear memory in pages.
	MemoryPages uint32
	// Pages holds every page that differs from the module's initial memory
	// image, in ascending index order. Pages not listed are as the module's
	// data segments make them (zero where no segment writes).
	Pages []Page
	// Globals are the module's exported mutable globals by name.
	Globals []Global
	// WASI is the cell's WASI state (fds with offsets, preopens, args, env,
	// monotonic clock).
	WASI wasi.State
	// MPI is the rank's MPI state, nil for a cell outside an MPI world:
	// opaque here, written and read by package cell/mpi (RankState).
	MPI []byte
}

// Page is one 64 KiB page of linear memory.
type Page struct {
	Index uint32
	Data  []byte // PageSize bytes
}

// Global is an exported global's raw bits.
type Global struct {
	Name  string
	Value uint64
}
