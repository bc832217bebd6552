// Package mpi is the MPI runtime of C-Cells: the host side of the "mpi"
// import module that C programs compiled against include/mpi.h call. Each
// MPI rank is a cell (a wasm32-wasi instance); all ranks of a World live in
// one Go process, so a message moves by copying bytes from one linear memory
// to another, and a collective is a rendezvous on shared Go state.
//
// The package has two layers:
//
//   - World and Rank implement MPI semantics over byte slices and know
//     nothing about engines: point-to-point matching (source, tag,
//     communicator, with wildcards and non-overtaking order), requests,
//     communicators and collectives. Tests drive them from goroutines.
//   - Rank.Module binds a rank to a cell: one engine.HostFunc per function
//     declared in include/mpi.h, which decodes the guest's arguments,
//     bounds-checks every pointer against the cell's linear memory and
//     turns Go errors into MPI error codes.
//
// No library fit. Go MPI packages wrap a native MPI over cgo, one process
// per rank, so they cannot move bytes between the linear memories of ranks
// that share a process, and native MPI in turn cannot be told that a
// "process" is a wasm instance whose memory may move when it grows. What is
// needed here is small (blocking and immediate point-to-point, ten
// collectives over eight basic types), and doing it in-process is what makes
// one-host MPI fast: an eager message is copied once, a matched one once, a
// collective synchronises without any message at all.
//
// The Go API mirrors MPI's with byte slices for buffers: counts are
// implied by lengths (v-collectives take counts and displacements in
// bytes), Status.Count is in bytes, datatypes matter only to reductions,
// and a nil send buffer (a nil receive buffer for Scatter's root) is
// MPI_IN_PLACE where MPI allows it.
//
// Semantics follow MPI 3.1 for the subset in mpi.h, with these choices:
//
//   - Every send is eager (buffered): Send, Isend and Sendrecv copy the data
//     out of the sender's memory before they return, straight into a posted
//     receive or else into a Go buffer, so a send never waits for its
//     receive and an Isend is complete at once. This is a valid
//     implementation of MPI's standard mode, and the simple one here: once
//     a call returns the guest may grow its memory, which may move it.
//     Buffering has no limit: a rank that sends without anyone receiving
//     grows the host's heap.
//   - Rooted collectives do not synchronise more than MPI requires: Bcast's
//     and Scatter's root and Reduce's and Gather's non-roots return as soon
//     as their data is copied into the rendezvous.
//   - Errors are returned, as with MPI_ERRORS_RETURN (mpi.h has no error
//     handlers), except that MPI_Abort and a failed rank end the whole
//     world, which is what MPI_ERRORS_ARE_FATAL would do.
//
// A world lives in one process, its home. One of its ranks can move to
// another process while the others run on (home.go, remote.go): its MPI
// state stays at the home and the moved cell's calls are made there, over
// a TCP connection (docs/formats/mpi-remote.md). Transport is the seam for
// a world whose ranks live in several processes from the start;
// communicator creation and collectives would need a distributed
// implementation to go with it.
package mpi
