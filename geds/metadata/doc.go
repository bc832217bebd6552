// Package metadata is GEDS's metadata service: the one server of the
// ephemeral data store. It knows the buckets, every object's size, state
// (open, sealed, lost) and tier (local, s3, both), and which node holds it;
// it knows the holders, their peer addresses and their heartbeats. Object
// bytes never pass through it: readers ask it where an object is and fetch
// the bytes from the holder (package geds/peer) or the persistency tier.
//
// State lives in the control plane's store.Store (bbolt under `cloudskin
// up`), so the service restarts with nothing lost. The decisions that
// matter for correctness (is a holder alive, what becomes of the objects of
// a holder that died) are pure functions of their inputs and of `now`
// (HolderAlive, AfterHolderLoss, ApplyTier), tested without I/O or clocks.
//
// The service is a component.Component: Setup mounts its JSON API under
// /geds/v1 on the shared server, Run sweeps for silent holders. Client is
// its Go client. The wire format is in docs/formats/geds-metadata.md.
package metadata
