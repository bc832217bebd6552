package stream

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// MaxSegments bounds a stream's initial segment count.
const MaxSegments = 1024

// MaxAppendBytes bounds the event data of one append (one event or an
// atomic batch), as Pravega bounds an event to 8 MiB.
const MaxAppendBytes = 8 << 20

// StreamConfig is chosen when a stream is created.
type StreamConfig struct {
	// Segments is the fixed number of segments the key space starts split
	// into, 1 to MaxSegments; 0 means 1.
	Segments int `json:"segments"`
	// Retention discards old data; the zero value keeps everything.
	Retention RetentionPolicy `json:"retention"`
	// Scaling says when the store splits and merges the stream's segments
	// by itself; the zero value is a fixed set of segments (see
	// ScalingPolicy).
	Scaling ScalingPolicy `json:"scaling,omitzero"`
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.Segments == 0 {
		c.Segments = 1
	}
	c.Scaling = c.Scaling.withDefaults(c.Segments)
	return c
}

func (c StreamConfig) validate() error {
	if c.Segments < 1 || c.Segments > MaxSegments {
		return fmt.Errorf("stream: config: segments %d: want 1 to %d", c.Segments, MaxSegments)
	}
	if err := c.Scaling.validate(); err != nil {
		return err
	}
	return c.Retention.validate()
}

// RetentionPolicy says how much of a stream to keep. Both limits apply;
// zero means no limit.
type RetentionPolicy struct {
	// MaxAge discards events appended longer ago than this.
	MaxAge time.Duration `json:"maxAge,omitempty"`
	// MaxBytes discards the oldest events while the stream holds more
	// segment bytes than this.
	MaxBytes int64 `json:"maxBytes,omitempty"`
}

func (p RetentionPolicy) validate() error {
	if p.MaxAge < 0 {
		return fmt.Errorf("stream: retention: maxAge %s is negative", p.MaxAge)
	}
	if p.MaxBytes < 0 {
		return fmt.Errorf("stream: retention: maxBytes %d is negative", p.MaxBytes)
	}
	return nil
}

// IsZero reports whether the policy keeps everything.
func (p RetentionPolicy) IsZero() bool { return p.MaxAge == 0 && p.MaxBytes == 0 }

// StreamCut is a position in every segment of a stream: for each segment,
// the offset of an event boundary.
type StreamCut map[SegmentID]int64

// SegmentInfo describes one segment as readers see it.
type SegmentInfo struct {
	ID    SegmentID `json:"id"`
	Range KeyRange  `json:"range"`
	// Start is the first offset kept (after truncation); End is where the
	// next event will go. Only durable events lie between them. Once the
	// segment is sealed, End is final.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Epoch is the epoch the segment was created in (ID.Epoch()).
	Epoch uint32 `json:"epoch,omitempty"`
	// Sealed segments take no more appends: a scale replaced them by their
	// Successors. Predecessors are the segments this one replaced (some
	// may be gone, once their data was truncated).
	Sealed       bool        `json:"sealed,omitempty"`
	Predecessors []SegmentID `json:"predecessors,omitempty"`
	Successors   []SegmentID `json:"successors,omitempty"`
}

// StreamInfo describes a stream.
type StreamInfo struct {
	Name    StreamName   `json:"name"`
	Config  StreamConfig `json:"config"`
	Created time.Time    `json:"created"`
	// Epoch is the stream's current epoch: 0 at creation, one more after
	// every scale.
	Epoch uint32 `json:"epoch,omitempty"`
	// Segments are the active segments and the sealed ones the store still
	// keeps (until their data is truncated), in id order, which is also an
	// order in which every predecessor comes before its successors.
	Segments []SegmentInfo `json:"segments"`
}

// Active returns the segments that take appends, in key-range order.
func (i StreamInfo) Active() []SegmentInfo {
	var out []SegmentInfo
	for _, s := range i.Segments {
		if !s.Sealed {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b SegmentInfo) int { return cmp.Compare(a.Range.Low, b.Range.Low) })
	return out
}

// Head returns the stream cut at every segment's start.
func (i StreamInfo) Head() StreamCut {
	cut := StreamCut{}
	for _, s := range i.Segments {
		cut[s.ID] = s.Start
	}
	return cut
}

// Tail returns the stream cut at every segment's end.
func (i StreamInfo) Tail() StreamCut {
	cut := StreamCut{}
	for _, s := range i.Segments {
		cut[s.ID] = s.End
	}
	return cut
}

// Event is one event read back.
type Event struct {
	Segment SegmentID
	// Offset is where the event starts in its segment; Next is where the
	// following one starts, the position to read on from.
	Offset, Next int64
	// Time is when the store accepted the event.
	Time time.Time
	// Data is the event's bytes. It is shared with the store's cache and
	// must not be modified.
	Data []byte
}

// AppendRequest is one append: one or more events with one routing key,
// stored together (all or none, in order, in one segment).
type AppendRequest struct {
	Stream     StreamName
	RoutingKey string
	Events     [][]byte
	// WriterID and Seq make the append idempotent: an append whose Seq is
	// at most the last one stored for this writer in the target segment is
	// a duplicate and is dropped. Seqs of one writer must grow in the order
	// its appends are made. An empty WriterID appends without this check.
	WriterID string
	Seq      int64
}

// AppendResult says where an append went.
type AppendResult struct {
	Segment SegmentID
	// Offset is where the first event went, or -1 for a duplicate.
	Offset int64
	// Duplicate is set when the append was dropped as a retry of one
	// already stored.
	Duplicate bool
}
