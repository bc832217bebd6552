// Package wal is the stream store's write-ahead log: records are appended,
// made durable, and read back after a crash.
//
// Log is the interface the stream store depends on, so that a replicated log
// (the role BookKeeper plays for Pravega) can take the local one's place.
// FileLog is the local implementation: a directory of files holding framed,
// checksummed records, written by a single committer goroutine that
// coalesces concurrent appends into one write and one fdatasync (group
// commit) and acknowledges them only after the sync.
//
// It is written by hand rather than taken from a library because the parts
// that matter here are exactly the ones libraries decide differently: the
// acknowledgement callback order the stream store relies on, the group
// commit, and the rule that tells a torn final write (cut it) from damage to
// acknowledged data (refuse to open). The format is in
// docs/formats/stream-wal.md.
package wal

import (
	"context"
	"errors"
	"iter"
)

// ErrClosed is returned by operations on a closed log.
var ErrClosed = errors.New("wal: log is closed")

// ErrTruncated is wrapped when a read starts before the log's first record.
var ErrTruncated = errors.New("wal: address was truncated")

// Entry is a record read back with its place in the log.
type Entry struct {
	Record
	// Addr is where the record starts; Next is where the following one does.
	Addr, Next Address
}

// Log is a durable, ordered sequence of records.
type Log interface {
	// Append queues recs after every record appended before and returns at
	// once. If it returns nil, done is called exactly once, later and on
	// another goroutine: with the records' addresses once they are durable,
	// or with the error that stopped the log. Calls to done happen one at a
	// time in append order, so a caller can apply acknowledged records in
	// log order; done must not block. An append with no records is a
	// barrier: done is called once everything appended before is durable.
	// If Append returns an error (closed or failed log), done is never called.
	Append(recs []Record, done func(addrs []Address, err error)) error
	// Read yields the durable records from the record at from up to the end
	// of the log as it was when the read started. from must be the address
	// of a record, or the log's end. It yields an error wrapping
	// ErrTruncated if from was truncated, and one wrapping ErrCorrupt for
	// damaged bytes, then stops.
	Read(from Address) iter.Seq2[Entry, error]
	// Bounds returns the address of the first record kept and the end of
	// the durable records.
	Bounds() (first, end Address)
	// Truncate discards records before the address before. It may keep some
	// of them (a log works in whole files or ledgers); it never discards a
	// record at or after before.
	Truncate(before Address) error
	// Close stops the log after committing what was queued.
	Close() error
}

// AppendSync appends recs and waits until they are durable or ctx ends. If
// ctx ends first the records may still become durable.
func AppendSync(ctx context.Context, l Log, recs ...Record) ([]Address, error) {
	type result struct {
		addrs []Address
		err   error
	}
	ch := make(chan result, 1)
	if err := l.Append(recs, func(a []Address, err error) { ch <- result{a, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.addrs, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
