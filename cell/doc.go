// Package cell is the C-Cells runtime (L2): WebAssembly sandboxes that run
// unmodified C/C++ and MPI programs compiled to wasm32-wasi, each with its
// own memory, CPU/time limit, filesystem view, args and env, on two engines
// behind one interface (wasmtime for speed, wazero for start-up and pure Go).
//
// This room is empty: issue 3 builds the runtime and issue 4 its snapshots
// and live migration. It may import the foundation packages and L1 (geds,
// stream), never the orchestrator or the learning plane.
package cell
