// Package cluster runs several segment-store instances under one
// controller: the elastic part of the stream store (issue 6, item 5).
//
// It is shaped like Pravega's segment containers. The cluster has a fixed
// number of containers (8 by default), chosen at creation and recorded in
// Dir/cluster.json so it never changes silently. A container is one
// *stream.Store in its own directory, Dir/containers/<n>, with its own
// write-ahead log and its own LTS prefix. A stream lives in the container
// given by a stable hash of its scoped name (ContainerOf, part of the
// on-disk format, docs/formats/stream-cluster.md). Instances (segment
// stores) host containers; in one process an instance is a name and the
// set of containers open under it.
//
// Why containers rather than single segments: a store's durability (its
// log, its replay, its idempotent writers' sequence numbers, its reader
// groups' checkpoints) is per store, so the cheapest thing that can move
// without copying data is a whole store. Moving one segment would mean
// splitting a log. The honest cost: all segments of one stream share a
// container, so the unit that moves between instances is a container of
// streams, not one segment, and one hot stream cannot be spread over
// instances (as in Pravega, where segments hash to containers, but there
// a stream's segments hash separately). Streams scale within a container
// by splitting segments; instances scale the store as a whole.
//
// The controller assigns containers to instances with Assign, a pure
// function (stream.Balance, which also shares segments among readers) that
// keeps the counts within one of each other and moves as few containers as
// any balanced assignment can. SetInstances (what the Learning Plane
// calls), AddInstance and RemoveInstance carry out the moves it plans. A
// moving container stops admitting requests (they wait, bounded by their
// context), wakes the requests waiting inside its store (tail reads,
// reader-group reads), waits for the rest to finish, checkpoints its
// reader groups and closes its store (queued appends become durable and
// are acknowledged first). The target then opens it from the same
// directory (replay), readers that joined through the cluster join their
// groups again, and the waiting requests go on against it. Nothing is lost
// or delivered twice because nothing is ever in doubt: no request meets a
// closed store.
//
// The front door (Cluster's methods, Writer, ReaderGroup, Reader) mirrors
// *stream.Store's, routed by container: scopes exist in every container,
// streams and reader groups live in their stream's container, and reader
// group names are global. Errors wrap the store's sentinels. Service
// adapts it to stream.Service, which the network front ends (REST and TCP)
// serve in `cloudskin up --stream-instances N` and `cloudskin stream serve
// --instances N` (both run one Store otherwise), and is also a
// stream.InstanceScaler, which the instance API and the Learning Plane's
// stream actuator call.
//
// Separate processes are not built. They would work the same way with the
// open and close done by different processes: an instance process opens the
// containers the controller assigns it, from a shared file system or, better,
// from the replicated log that package stream/wal anticipates (the wal.Log
// interface), and the controller persists the assignment and hands out
// leases so that two instances never open one container. The controller's
// front door would then be a router that forwards each request to the
// instance of its stream's container and retries, on a move, with the
// writer id and sequence number it sent, which the target drops as a
// duplicate if the first attempt was stored (see Append).
package cluster
