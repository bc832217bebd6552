// Package streamapi serves the stream store over HTTP and is its Go client:
// JSON under /streams/v1 on the shared CloudSkin server, errors as a
// Kubernetes-style Status like the control plane's (internal/httpapi).
// Component runs a store inside `cloudskin up`.
//
// The wire format is in docs/formats/stream-api.md. It is JSON over HTTP,
// not a binary protocol, because the store shares `up`'s one server, the
// CLI and dashboards need nothing but an HTTP client, and a durable append
// costs an fdatasync (hundreds of microseconds), which JSON parsing does not
// dominate for events of kilobytes.
package streamapi

import (
	"fmt"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// Base is the path every route starts with.
const Base = "/streams/v1"

// MaxWait bounds how long a read may wait for new events.
const MaxWait = time.Minute

// StreamSpec is what a stream is created with.
type StreamSpec struct {
	// Segments is the number of segments, 1 to stream.MaxSegments; 0 means 1.
	Segments int `json:"segments,omitempty"`
	// Retention discards old data; empty keeps everything.
	Retention Retention `json:"retention,omitzero"`
	// Scaling lets the store split and merge segments by itself; empty is
	// a fixed set of segments.
	Scaling Scaling `json:"scaling,omitzero"`
}

// Scaling is a stream's scaling policy on the wire (stream.ScalingPolicy).
type Scaling struct {
	// Kind is "fixed" (or empty), "eventsPerSecond" or "bytesPerSecond".
	Kind string `json:"kind,omitempty"`
	// TargetRate is the events or bytes per second a segment should take.
	TargetRate float64 `json:"targetRate,omitempty"`
	// ScaleFactor is how many parts a split makes (default 2).
	ScaleFactor int `json:"scaleFactor,omitempty"`
	// MinSegments is the fewest segments merges leave (default: the
	// initial count).
	MinSegments int `json:"minSegments,omitempty"`
}

// Retention is a stream's retention policy on the wire.
type Retention struct {
	// MaxAge is a Go duration ("36h"); events older are discarded.
	MaxAge string `json:"maxAge,omitempty"`
	// MaxBytes discards the oldest events while the stream holds more.
	MaxBytes int64 `json:"maxBytes,omitempty"`
}

func (s StreamSpec) config() (stream.StreamConfig, error) {
	cfg := stream.StreamConfig{
		Segments: s.Segments, Retention: stream.RetentionPolicy{MaxBytes: s.Retention.MaxBytes},
		Scaling: stream.ScalingPolicy{
			Kind: stream.ScalingKind(s.Scaling.Kind), TargetRate: s.Scaling.TargetRate,
			ScaleFactor: s.Scaling.ScaleFactor, MinSegments: s.Scaling.MinSegments,
		},
	}
	if s.Retention.MaxAge != "" {
		d, err := time.ParseDuration(s.Retention.MaxAge)
		if err != nil {
			return cfg, fmt.Errorf("retention.maxAge %q: %w", s.Retention.MaxAge, err)
		}
		cfg.Retention.MaxAge = d
	}
	return cfg, nil
}

// Stream describes a stream.
type Stream struct {
	Scope   string     `json:"scope"`
	Name    string     `json:"name"`
	Spec    StreamSpec `json:"spec"`
	Created time.Time  `json:"created"`
	// Epoch is 0 at creation and one more after every scale.
	Epoch uint32 `json:"epoch"`
	// Segments are the active segments and the sealed ones still kept, in
	// id order: every predecessor before its successors, the order to read
	// them in from the start.
	Segments []Segment `json:"segments"`
}

// Segment is one segment of a stream: the part [Low, High) of the
// routing-key space, and the offsets of its retained events.
type Segment struct {
	// ID is the segment id as a number, as in URLs; Name is its readable
	// form ("1.#epoch.0").
	ID    uint64  `json:"id"`
	Name  string  `json:"name"`
	Epoch uint32  `json:"epoch"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
	Start int64   `json:"start"`
	End   int64   `json:"end"`
	// Sealed segments take no more events; End is final and the key range
	// goes on in Successors. Predecessors are the segments this one
	// replaced.
	Sealed       bool     `json:"sealed,omitempty"`
	Predecessors []uint64 `json:"predecessors,omitempty"`
	Successors   []uint64 `json:"successors,omitempty"`
}

func segmentFrom(s stream.SegmentInfo) Segment {
	return Segment{
		ID: uint64(s.ID), Name: s.ID.String(), Epoch: s.ID.Epoch(), Low: s.Range.Low, High: s.Range.High, Start: s.Start, End: s.End,
		Sealed: s.Sealed, Predecessors: ids(s.Predecessors), Successors: ids(s.Successors),
	}
}

func ids(in []stream.SegmentID) []uint64 {
	if len(in) == 0 {
		return nil
	}
	out := make([]uint64, len(in))
	for i, id := range in {
		out[i] = uint64(id)
	}
	return out
}

// ScaleRequest changes a stream's segments, in one of three forms:
// Seal and Ranges (the general scale: seal adjacent active segments, create
// segments for ranges that tile their key range exactly, in order); Split
// and Parts (split one segment into Parts equal ranges, default 2); or
// Merge (merge adjacent segments into one).
type ScaleRequest struct {
	Seal   []uint64          `json:"seal,omitempty"`
	Ranges []stream.KeyRange `json:"ranges,omitempty"`
	Split  *uint64           `json:"split,omitempty"`
	Parts  int               `json:"parts,omitempty"`
	Merge  []uint64          `json:"merge,omitempty"`
}

// ScaleResult is the stream's new epoch and the segments a scale created,
// in key order.
type ScaleResult struct {
	Epoch    uint32    `json:"epoch"`
	Segments []Segment `json:"segments"`
}

func streamFrom(info stream.StreamInfo) Stream {
	out := Stream{
		Scope: info.Name.Scope, Name: info.Name.Stream, Created: info.Created, Epoch: info.Epoch,
		Spec: StreamSpec{Segments: info.Config.Segments, Retention: Retention{MaxBytes: info.Config.Retention.MaxBytes}},
	}
	if p := info.Config.Scaling; !p.IsFixed() {
		out.Spec.Scaling = Scaling{Kind: string(p.Kind), TargetRate: p.TargetRate, ScaleFactor: p.ScaleFactor, MinSegments: p.MinSegments}
	}
	if d := info.Config.Retention.MaxAge; d > 0 {
		out.Spec.Retention.MaxAge = d.String()
	}
	for _, s := range info.Segments {
		out.Segments = append(out.Segments, segmentFrom(s))
	}
	return out
}

// AppendRequest appends events with one routing key, atomically and in
// order. Events are base64 in JSON.
type AppendRequest struct {
	RoutingKey string   `json:"routingKey"`
	Events     [][]byte `json:"events"`
	// WriterID and Seq make the append idempotent (see stream.AppendRequest).
	WriterID string `json:"writerId,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
}

// AppendResult says where an append went; Offset is -1 for a duplicate.
type AppendResult struct {
	Segment   uint64 `json:"segment"`
	Offset    int64  `json:"offset"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// Event is one event read back. Data is base64 in JSON.
type Event struct {
	Segment uint64    `json:"segment"`
	Offset  int64     `json:"offset"`
	Next    int64     `json:"next"`
	Time    time.Time `json:"time"`
	Data    []byte    `json:"data"`
}

// Events is a batch of a segment's events or a reader's.
type Events struct {
	Events []Event `json:"events"`
	// Next is the offset to read the segment on from (segment reads only).
	Next int64 `json:"next,omitempty"`
	// Sealed says Next is the end of a sealed segment: nothing more will
	// come; read on in Successors (segment reads only).
	Sealed     bool     `json:"sealed,omitempty"`
	Successors []uint64 `json:"successors,omitempty"`
}

func eventFrom(e stream.Event) Event {
	return Event{Segment: uint64(e.Segment), Offset: e.Offset, Next: e.Next, Time: e.Time, Data: e.Data}
}

// TruncateRequest discards each named segment's events before its offset.
type TruncateRequest struct {
	Cut map[uint64]int64 `json:"cut"`
}

// Group is a reader group.
type Group struct {
	Name string `json:"name"`
	// Stream is "scope/stream".
	Stream string `json:"stream"`
	// Positions are the group's checkpointed offsets by segment id.
	Positions map[uint64]int64 `json:"positions"`
	// Readers are the readers that joined through this server.
	Readers []string `json:"readers"`
}

// CreateGroupRequest creates a reader group over a stream ("scope/stream").
type CreateGroupRequest struct {
	Stream string `json:"stream"`
}

// List is a list of names.
type List struct {
	Items []string `json:"items"`
}

// ParseStreamName parses "scope/stream".
func ParseStreamName(s string) (stream.StreamName, error) {
	for i := range len(s) {
		if s[i] == '/' {
			n := stream.StreamName{Scope: s[:i], Stream: s[i+1:]}
			if err := n.Validate(); err != nil {
				return n, err
			}
			return n, nil
		}
	}
	return stream.StreamName{}, fmt.Errorf("stream name %q: want SCOPE/STREAM", s)
}

// Instances are the segment-store instances of a cluster (stream/cluster)
// and the containers each hosts.
type Instances struct {
	// Count is the number of instances.
	Count int `json:"count"`
	// Containers is the cluster's number of containers: the most
	// instances that can host something.
	Containers int `json:"containers"`
	// Items are the instances in the order they were added.
	Items []Instance `json:"items"`
}

// Instance is one segment-store instance.
type Instance struct {
	Name string `json:"name"`
	// Containers are the containers it hosts, in order.
	Containers []int `json:"containers"`
}

// SetInstancesRequest asks for a number of instances.
type SetInstancesRequest struct {
	Count int `json:"count"`
}

// InstancesChange is the answer to setting the number of instances: the
// container moves it took and the instances after.
type InstancesChange struct {
	Moves     []Move    `json:"moves"`
	Instances Instances `json:"instances"`
}

// Move is one container moved from one instance to another
// (stream.ContainerMove).
type Move struct {
	Container int    `json:"container"`
	From      string `json:"from"`
	To        string `json:"to"`
	// Took is how long the container refused requests, a Go duration
	// ("12.5ms").
	Took string `json:"took"`
	// Replayed is the number of log records the target replayed.
	Replayed int `json:"replayed"`
}
