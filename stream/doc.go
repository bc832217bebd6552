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
// metadata checkpoints that let the log be truncated. Recent segment data is
// served from the log through an in-memory index and a cache. Tiering (Tier,
// run by Run) coalesces a segment's records into chunks of ChunkBytes,
// writes them to long-term storage (package stream/lts: a directory or S3),
// logs that they are there and truncates the log; readers then get old data
// from LTS transparently, a chunk at a time with the next one prefetched.
// When LTS is unreachable the data stays in the log, up to
// LocalBudgetBytes; beyond that appends fail with ErrBackPressure until LTS
// is back and the store has caught up.
//
// Streams are elastic (elastic.go, scaling.go): Scale seals adjacent
// active segments and replaces them with segments of the next epoch that
// cover the same keys, each knowing its predecessors; a sealed segment's
// end is final, and reads at it say so and name the successors. Reader
// groups read a successor only after all its predecessors, so each key's
// order holds across scales. A stream's ScalingPolicy lets AutoScale
// (run by Run) split segments whose event or byte rate stays above a
// target and merge cold neighbours. See docs/formats/stream-wal.md,
// docs/formats/stream-lts.md, docs/rationale/stream-2.md and
// docs/rationale/stream-elastic.md.
package stream
