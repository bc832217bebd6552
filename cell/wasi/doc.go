// Package wasi is CloudSkin's own implementation of WASI preview1
// (wasi_snapshot_preview1): the system interface that unmodified C programs
// compiled with clang --target=wasm32-wasi and wasi-libc call for files,
// clocks, args, environment and randomness.
//
// # Why not the engines' built-in WASI
//
// wazero and wasmtime each ship a WASI implementation, but each keeps its
// state (the fd table with file offsets, the preopened directories, args
// and environment, the clocks) inside the engine, in its own types. A cell
// must be snapshotted on one engine and resumed on the other with the same
// fd numbers, offsets and clock, so that state has to be ours, engine
// neutral and reachable. Here it lives in a System: one per cell, exposed
// to the guest as an engine.HostModule whose closures hold that System, and
// described as plain data by System.State and rebuilt from it by Restore.
//
// # Files
//
// fds 0, 1 and 2 are stdin, stdout and stderr; the preopened directories
// follow as 3, 4, ... in Config order; new fds take the lowest free number.
// Every path a guest names is resolved through the os.Root of the preopen
// it falls in, so no path escapes it, whether by "..", an absolute path or
// a symlink; such attempts fail with EPERM. A read-only preopen refuses
// anything that would change it with EROFS ("Read-only file system" in C).
//
// A file's offset is ours, not the host file's: reads and writes use
// ReadAt/WriteAt at the offset kept in the fd table, so State can record it
// and a resumed cell continues where it was. O_APPEND is done the same way
// (each write goes to the current end of the file).
//
// Rights are recorded, narrowed and reported as the spec says, but only
// the ones that decide the access mode (read, write, readdir) are enforced;
// a read on a file opened without read access is EBADF, as in POSIX.
package wasi
