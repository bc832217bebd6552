// Package tier0 is GEDS's node-local tier: one file per object in a
// directory on tmpfs or NVMe, with a byte limit and a last-access time per
// object so the layer above can spill the coldest objects first.
//
// Objects are created, appended to, then sealed (immutable). Sealed objects
// are read through a read-only shared memory mapping (mmap), so ReadAt is a
// copy from the page cache with no system call and Bytes gives the mapping
// itself, valid until the Reader is closed. An object still being written
// can be read by the writer's own process up to what was written, through
// pread on the file.
//
// File names are derived from the bucket and a SHA-256 of the object's id,
// never from the key: keys may hold 1024 bytes, slashes and any UTF-8,
// while a file name holds 255 bytes and a slash would need directories that
// can collide ("a" and "a/b"). Names are validated anyway
// (metadata.ValidateObjectName) so a bad one is refused with a clear error.
// Each life of a key (id) has its own file, and Rename gives a sealed life
// another name the way rename(2) does a file: the replaced life stays
// readable by its id until it is removed, which is how GEDS overwrites a
// key atomically.
//
// Tier 0 is ephemeral: New clears what a previous process left, because
// the metadata server has already declared that process's objects lost or
// moved to the persistency tier when it came back with a new incarnation.
// A lock file keeps two processes from sharing one directory.
package tier0
