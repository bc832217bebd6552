package video

import (
	"context"
	"errors"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// Client is what the video path needs from a stream store client: five
// operations any transport can provide. TCPClient provides them over the
// store's TCP protocol; tests use an in-memory fake.
type Client interface {
	// EnsureStream creates the stream, and its scope, if they are missing.
	EnsureStream(ctx context.Context, name stream.StreamName) error
	// ListStreams lists every stream of every scope.
	ListStreams(ctx context.Context) ([]stream.StreamName, error)
	// Segments describes a stream's segments, predecessors before their
	// successors.
	Segments(ctx context.Context, name stream.StreamName) ([]Segment, error)
	// ReadSegment reads a segment's events from offset from, waiting up to
	// wait for new ones at its end. A read before the segment's start is
	// an error wrapping stream.ErrTruncated; a missing stream or segment,
	// one wrapping stream.ErrNotFound.
	ReadSegment(ctx context.Context, name stream.StreamName, segment uint64, from int64, wait time.Duration) (Batch, error)
	// AppendAsync queues one event with a routing key and returns at once;
	// the channel receives the outcome once the event is durable or has
	// failed. Events queued with one key are stored in the order they were
	// queued, and an event is not stored if one queued before it with the
	// same key failed (no gaps): once one fails, every later append with
	// its key fails, with ErrEarlierAppendFailed. ctx bounds the append.
	AppendAsync(ctx context.Context, name stream.StreamName, key string, event []byte) <-chan Appended
}

// Segment is one segment of a stream.
type Segment struct {
	ID uint64
	// Low and High bound the part [Low, High) of the routing-key space the
	// segment owns (stream.KeyPosition).
	Low, High float64
	// Start is the first offset kept; End is where the next event goes.
	Start, End int64
	// Sealed segments take no more events: their successors do.
	Sealed bool
}

// Owns reports whether the segment owns routing key.
func (s Segment) Owns(key string) bool {
	p := stream.KeyPosition(key)
	return p >= s.Low && p < s.High
}

// Batch is one segment read.
type Batch struct {
	Events []Event
	// Next is the offset to read on from.
	Next int64
	// Sealed says the segment ends at Next: read its successors.
	Sealed bool
}

// Event is one event read back.
type Event struct {
	Segment uint64
	// Offset is where the event starts in its segment; Next where the
	// following one does.
	Offset, Next int64
	// Stored is when the store accepted the event.
	Stored time.Time
	Data   []byte
}

// Appended is the outcome of an append.
type Appended struct {
	Segment uint64
	Offset  int64
	Err     error
}

// ErrEarlierAppendFailed is the outcome of an append that was not sent
// because one queued before it with the same key failed.
var ErrEarlierAppendFailed = errors.New("not sent: an earlier append with the same routing key failed")
