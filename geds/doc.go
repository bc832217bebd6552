// Package geds is the ephemeral data store (L1), the library applications
// load in-process: objects in buckets, written once then sealed
// (immutable), read by range, listed by prefix. There is no storage daemon:
// each process that opens a Client keeps the objects it writes in its own
// tier 0 (package geds/tier0: files on tmpfs or NVMe, memory-mapped for
// reads) and serves them to the other Clients (package geds/peer, HTTP/2
// cleartext). One metadata server (package geds/metadata, part of
// `cloudskin up`) knows where every object is.
//
// Behind tier 0 sits a persistency tier, any S3 (the Persistent interface;
// package geds/s3tier implements it). Objects move there when the
// application asks (Persist keeps the local copy, Spill drops it) and
// automatically when tier 0 passes its spill threshold, coldest first, by a
// background spiller that retries with backoff while S3 is unreachable and
// never drops a local copy before S3 has the bytes. When tier 0 is full and
// spilling cannot make room, writes fail with ErrTierFull instead of
// blocking forever. Objects only in S3 are read through; an existing S3
// bucket can be mounted into the namespace. When a holder dies, its objects
// that reached S3 stay readable and the others fail with ErrLost; readers
// never get stale bytes.
//
// Reads from another node or from S3 cache nothing unless asked:
// OpenCached copies the object into this node's tier 0 first, as a copy
// of that life (id) of the object, which later Opens here use and which is
// dropped first when room is needed. Rename moves a sealed object over a
// key in one step, which is how the S3 gateway overwrites keys.
//
// Every life of a key is kept in S3 under the key itself, so other S3
// tools find it there. Copies are written on condition of what they
// replace (If-None-Match, If-Match by ETag), so an old life's late upload
// never overwrites a newer life's copy, and reads of a life from S3 name
// its copy's ETag, so a reader whose life was replaced there fails with
// ErrReplaced rather than read the new bytes.
//
// It may import only the foundation packages (api, config, store,
// internal/...) and its own subpackages.
package geds
