package stream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// Record types in the write-ahead log (docs/formats/stream-wal.md). Events
// are binary, since they are the hot path; everything else is JSON, since
// it is rare and worth being able to read.
const (
	recEvents       wal.Type = 1
	recCreateScope  wal.Type = 2
	recDeleteScope  wal.Type = 3
	recCreateStream wal.Type = 4
	recDeleteStream wal.Type = 5
	recTruncate     wal.Type = 6
	recGroup        wal.Type = 7
	recDeleteGroup  wal.Type = 8
	recCheckpoint   wal.Type = 9
	recTiered       wal.Type = 10
	recScale        wal.Type = 11
)

// spaceFreeingRecords may use the log's disk reserve (Options.MinFreeBytes):
// they are small and they let the store free space (a tiered record lets
// the log be truncated; deletions and truncations drop data), so a store
// whose disk filled up can still be emptied. Checkpoints are among them so
// that readers' progress is not lost while the disk is nearly full.
var spaceFreeingRecords = []wal.Type{recDeleteScope, recDeleteStream, recTruncate, recDeleteGroup, recCheckpoint, recTiered}

// eventsHeaderSize is the fixed part of an events record before the
// writer id.
const eventsHeaderSize = 38

// eventsRecord is a decoded events record. frames is exactly the bytes the
// events occupy in their segment, from offset on.
type eventsRecord struct {
	stream  uint32
	segment SegmentID
	offset  int64
	time    int64 // Unix nanoseconds
	seq     int64
	writer  string
	count   int
	frames  []byte
}

// frameSize is how many segment bytes an event of n bytes takes: a 4-byte
// length and the bytes.
func frameSize(n int) int64 { return 4 + int64(n) }

// appendEventsRecord encodes an events record:
//
//	0  4  stream number       4  8  segment id      12 8  offset
//	20 8  time (Unix ns)      28 8  writer's seq    36 2  writer id length n
//	38 n  writer id           38+n 4  event count
//	then per event: 4-byte length and the event's bytes (the segment bytes)
func appendEventsRecord(dst []byte, r eventsRecord, events [][]byte) []byte {
	var h [eventsHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:], r.stream)
	binary.LittleEndian.PutUint64(h[4:], uint64(r.segment))
	binary.LittleEndian.PutUint64(h[12:], uint64(r.offset))
	binary.LittleEndian.PutUint64(h[20:], uint64(r.time))
	binary.LittleEndian.PutUint64(h[28:], uint64(r.seq))
	binary.LittleEndian.PutUint16(h[36:], uint16(len(r.writer)))
	dst = append(dst, h[:]...)
	dst = append(dst, r.writer...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(events)))
	for _, e := range events {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(e)))
		dst = append(dst, e...)
	}
	return dst
}

// setEventsPlace fills in the stream, segment, offset and time of an
// encoded events record.
func setEventsPlace(b []byte, r eventsRecord) {
	binary.LittleEndian.PutUint32(b[0:], r.stream)
	binary.LittleEndian.PutUint64(b[4:], uint64(r.segment))
	binary.LittleEndian.PutUint64(b[12:], uint64(r.offset))
	binary.LittleEndian.PutUint64(b[20:], uint64(r.time))
}

// decodeEventsRecord decodes and checks an events record; frames aliases b.
func decodeEventsRecord(b []byte) (eventsRecord, error) {
	if len(b) < eventsHeaderSize {
		return eventsRecord{}, fmt.Errorf("events record: %d bytes, shorter than its %d-byte header", len(b), eventsHeaderSize)
	}
	r := eventsRecord{
		stream:  binary.LittleEndian.Uint32(b[0:]),
		segment: SegmentID(binary.LittleEndian.Uint64(b[4:])),
		offset:  int64(binary.LittleEndian.Uint64(b[12:])),
		time:    int64(binary.LittleEndian.Uint64(b[20:])),
		seq:     int64(binary.LittleEndian.Uint64(b[28:])),
	}
	n := int(binary.LittleEndian.Uint16(b[36:]))
	rest := b[eventsHeaderSize:]
	if len(rest) < n+4 {
		return eventsRecord{}, fmt.Errorf("events record: writer id of %d bytes and event count do not fit in %d bytes", n, len(rest))
	}
	r.writer = string(rest[:n])
	r.count = int(binary.LittleEndian.Uint32(rest[n:]))
	r.frames = rest[n+4:]
	if r.offset < 0 {
		return eventsRecord{}, fmt.Errorf("events record: negative offset %d", r.offset)
	}
	if r.seq < 0 || (r.writer == "") != (r.seq == 0) {
		return eventsRecord{}, fmt.Errorf("events record: writer %q with seq %d", r.writer, r.seq)
	}
	if r.count == 0 {
		return eventsRecord{}, fmt.Errorf("events record: no events")
	}
	count, err := countFrames(r.frames)
	if err != nil {
		return eventsRecord{}, fmt.Errorf("events record: %w", err)
	}
	if count != r.count {
		return eventsRecord{}, fmt.Errorf("events record: says %d events, holds %d", r.count, count)
	}
	return r, nil
}

// countFrames checks that b is a whole number of event frames.
func countFrames(b []byte) (int, error) {
	n := 0
	for off := 0; off < len(b); n++ {
		if len(b)-off < 4 {
			return 0, fmt.Errorf("event %d: %d bytes left, too few for a length", n, len(b)-off)
		}
		size := int(binary.LittleEndian.Uint32(b[off:]))
		if size > len(b)-off-4 {
			return 0, fmt.Errorf("event %d: length %d but %d bytes left", n, size, len(b)-off-4)
		}
		off += 4 + size
	}
	return n, nil
}

// eventsFrom appends to out the events of a record's frames (which start
// at segment offset base) from offset from on. from must be an event
// boundary within or at the end of the frames.
func eventsFrom(out []Event, seg SegmentID, frames []byte, base, from int64, t time.Time) ([]Event, error) {
	off := base
	for i := 0; i < len(frames); {
		size := int(binary.LittleEndian.Uint32(frames[i:]))
		next := off + frameSize(size)
		if off >= from {
			out = append(out, Event{Segment: seg, Offset: off, Next: next, Time: t, Data: frames[i+4 : i+4+size : i+4+size]})
		} else if next > from {
			return out, fmt.Errorf("offset %d is inside the event at %d, not at the start of an event", from, off)
		}
		i += 4 + size
		off = next
	}
	return out, nil
}

// Metadata records, JSON encoded.

type scopeRecord struct {
	Name string `json:"name"`
}

type segmentRecord struct {
	ID    SegmentID `json:"id"`
	Range KeyRange  `json:"range"`
	Start int64     `json:"start"`
	End   int64     `json:"end"`
	// Writers is the last seq stored per writer id, WritersSeen when each
	// last appended, in Unix nanoseconds (checkpoints only; a writer
	// missing from WritersSeen, in checkpoints written before it existed,
	// counts as seen when the store opens).
	Writers     map[string]int64 `json:"writers,omitempty"`
	WritersSeen map[string]int64 `json:"writersSeen,omitempty"`
	// Tiered and Chunks say which data is in long-term storage
	// (checkpoints only).
	Tiered int64          `json:"tiered,omitempty"`
	Chunks []tieredRecord `json:"chunks,omitempty"`
	// The rest is set only for streams that were scaled (checkpoints
	// only): when a scale made the segment, which segments it replaced,
	// whether it is sealed and what replaced it.
	Created      time.Time   `json:"created,omitzero"`
	Predecessors []SegmentID `json:"predecessors,omitempty"`
	Sealed       bool        `json:"sealed,omitempty"`
	Successors   []SegmentID `json:"successors,omitempty"`
}

type streamRecord struct {
	No       uint32          `json:"no"`
	Name     StreamName      `json:"name"`
	Config   StreamConfig    `json:"config"`
	Created  time.Time       `json:"created"`
	Segments []segmentRecord `json:"segments"`
	// Epoch and NextSegment are the current epoch and the number the next
	// new segment gets (checkpoints of scaled streams only; otherwise 0
	// and the number of segments).
	Epoch       uint32 `json:"epoch,omitempty"`
	NextSegment uint32 `json:"nextSegment,omitempty"`
}

// scaleRecord is one scale of a stream (type 11): the segments sealed,
// with their final ends, and the segments that replace them, all of epoch
// Epoch.
type scaleRecord struct {
	No       uint32          `json:"no"`
	Epoch    uint32          `json:"epoch"`
	Time     time.Time       `json:"time"`
	Sealed   StreamCut       `json:"sealed"`
	Segments []scaledSegment `json:"segments"`
}

// scaledSegment is a segment a scale creates.
type scaledSegment struct {
	ID           SegmentID   `json:"id"`
	Range        KeyRange    `json:"range"`
	Predecessors []SegmentID `json:"predecessors"`
}

type deleteStreamRecord struct {
	No uint32 `json:"no"`
}

type truncateRecord struct {
	No  uint32    `json:"no"`
	Cut StreamCut `json:"cut"`
}

type groupRecord struct {
	Name      string     `json:"name"`
	Stream    StreamName `json:"stream"`
	StreamNo  uint32     `json:"streamNo"`
	Created   time.Time  `json:"created"`
	Positions StreamCut  `json:"positions"`
}

type deleteGroupRecord struct {
	Name string `json:"name"`
}

// checkpointRecord is the whole metadata state at its place in the log;
// replay can start from it, which is what allows truncating the log.
type checkpointRecord struct {
	NextStream uint32         `json:"nextStream"`
	Scopes     []string       `json:"scopes"`
	Streams    []streamRecord `json:"streams"`
	Groups     []groupRecord  `json:"groups"`
}

func jsonRecord(t wal.Type, v any) (wal.Record, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return wal.Record{}, fmt.Errorf("stream: encode record type %d: %w", t, err)
	}
	return wal.Record{Type: t, Data: b}, nil
}

// decodeJSON decodes a metadata record strictly: a field this build does
// not know means a newer format, which it must not half-understand.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
