// Package cell runs C-Cells: unmodified C/C++ and MPI programs compiled to
// wasm32-wasi, each in its own WebAssembly sandbox with a memory limit, a
// time limit, a filesystem view, args, env and stdio, many side by side in
// one process.
//
// A Runtime owns the engines (wasmtime for compute speed, wazero for
// start-up and pure-Go builds; see package cell/engine) and their on-disk
// caches of compiled code. Load compiles a module once; a Program then runs
// as many cells as asked, alone (Run) or as the ranks of an MPI world
// (RunMPI). The host side of every cell (WASI in cell/wasi, MPI in cell/mpi)
// is ours and engine-neutral, so the next step, snapshots and live
// migration, can move a cell between engines.
//
// Layering: cell imports its subpackages and the foundation packages, never
// the orchestrator or the learning plane.
package cell
