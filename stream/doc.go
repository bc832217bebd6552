// Package stream is the stream store (L1) in the Pravega model.
//
// A scope is a namespace of streams. A stream's routing-key space [0, 1) is
// split into segments; an event goes to the segment whose key range holds
// the hash of its routing key (KeyPosition), so events with one key stay in
// one segment and keep their order. Segment ids carry an epoch so that
// later splits and merges name new segments without reusing old ids.
//
// Writers append events; Append returns only once the event is durable in
// the write-ahead log (package stream/wal), which commits concurrent appends
// together. A writer with an id and sequence numbers is idempotent: a retry
// of an event that was already stored is dropped, also across a crash.
// Readers read a segment from an offset, in batches, waiting at the tail;
// reader groups share a stream's segments among their readers, hand
// segments over when readers join or leave (Assign), and checkpoint their
// positions durably. Truncate and the retention policy (RetentionCut)
// discard old data.
//
// Everything durable is a record in the log: events, metadata changes, and
// metadata checkpoints that let the log be truncated. Segment data is served
// from the log through an in-memory index and a cache; tiering to long-term
// storage will coalesce segment bytes into chunks, write them out and then
// truncate the log, and elasticity will add epochs. See
// docs/formats/stream-wal.md and docs/rationale/stream.md.
package stream
