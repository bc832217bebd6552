// Package stream is the stream store (L1) in the Pravega model: scopes,
// streams split into segments, a write-ahead log with group commit, tiering
// to long-term storage, reader groups, and elastic segments.
//
// This room is empty: issue 6 builds it. It may import the foundation
// packages and geds (as a long-term storage tier).
package stream
