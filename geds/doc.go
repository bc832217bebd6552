// Package geds is the ephemeral data store (L1): a client library holding
// objects in a node-local tier 0 (tmpfs/NVMe, memory-mapped), served peer to
// peer, with a small metadata server and an S3 persistency tier.
//
// This room is empty: issue 5 builds it. It may import only the foundation
// packages (api, config, store, internal/...).
package geds
