package video

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// From is where a Reader starts: the start of the retained data, the tail
// (only frames appended from now on), the first frame captured at or
// after a time, or a position in a segment.
type From struct {
	Kind FromKind
	// Time is the capture time to start at (FromTime).
	Time time.Time
	// Segment and Offset are the position to start at (FromPosition): an
	// event boundary, as the store reported it.
	Segment uint64
	Offset  int64
}

// FromKind says which kind of start a From is.
type FromKind int

// The kinds of From.
const (
	FromTail FromKind = iota
	FromStart
	FromTime
	FromPosition
)

var positionPattern = regexp.MustCompile(`^(\d+):(\d+)$`)

// ParseFrom parses "tail" (also the empty string), "start", an RFC 3339
// time, or SEGMENT:OFFSET.
func ParseFrom(s string) (From, error) {
	switch s {
	case "", "tail":
		return From{Kind: FromTail}, nil
	case "start":
		return From{Kind: FromStart}, nil
	}
	if m := positionPattern.FindStringSubmatch(s); m != nil {
		seg, err1 := strconv.ParseUint(m[1], 10, 64)
		off, err2 := strconv.ParseInt(m[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return From{}, fmt.Errorf("from %q: %w", s, err)
		}
		return From{Kind: FromPosition, Segment: seg, Offset: off}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return From{Kind: FromTime, Time: t}, nil
	}
	return From{}, fmt.Errorf("from %q: want tail, start, an RFC 3339 time (2026-05-01T12:00:00Z) or SEGMENT:OFFSET", s)
}

// String is the form ParseFrom reads.
func (f From) String() string {
	switch f.Kind {
	case FromStart:
		return "start"
	case FromTime:
		return f.Time.Format(time.RFC3339Nano)
	case FromPosition:
		return fmt.Sprintf("%d:%d", f.Segment, f.Offset)
	}
	return "tail"
}

// ErrBadStart is wrapped by a Reader's errors about a start that the
// stream does not have: a position outside a segment, or a segment that
// does not hold the camera.
var ErrBadStart = errors.New("no such start")

// StoredFrame is a frame read back, with where it is stored.
type StoredFrame struct {
	Frame
	Segment uint64
	Offset  int64
	// Stored is when the store accepted it.
	Stored time.Time
}

// DefaultReadWait is how long one read waits at the tail before asking
// again.
const DefaultReadWait = 10 * time.Second

// Reader reads one camera's frames from a stream, in order. It reads the
// segments that own the camera's routing key in the order the stream
// lists them, and moves to the next one when a segment reports it is
// sealed; events that are not frames are skipped and reported to OnSkip,
// frames of other cameras sharing a segment are skipped silently.
type Reader struct {
	client Client
	name   stream.StreamName
	camera string
	from   From

	// Wait bounds one read at the tail; 0 means DefaultReadWait.
	Wait time.Duration
	// OnSkip, if set, is told about each event that is not a frame.
	OnSkip func(e Event, err error)

	listed  bool
	segs    []Segment
	initial map[uint64]int64 // where to start in each segment
	idx     int              // segs[idx] is being read
	offset  int64
	pending []Event
	// atSealedEnd says offset is the end of a sealed segment.
	atSealedEnd bool
}

// NewReader returns a reader of camera's frames in a stream, from from.
func NewReader(c Client, name stream.StreamName, camera string, from From) *Reader {
	if camera == "" {
		camera = DefaultCamera
	}
	return &Reader{client: c, name: name, camera: camera, from: from}
}

// Next returns the next frame, waiting for one at the tail until ctx ends.
func (r *Reader) Next(ctx context.Context) (StoredFrame, error) {
	if err := r.Open(ctx); err != nil {
		return StoredFrame{}, err
	}
	for {
		for len(r.pending) > 0 {
			e := r.pending[0]
			r.pending = r.pending[1:]
			f, err := DecodeFrame(e.Data)
			if err != nil {
				if r.OnSkip != nil {
					r.OnSkip(e, err)
				}
				continue
			}
			if f.Camera != r.camera || (r.from.Kind == FromTime && f.Captured.Before(r.from.Time)) {
				continue
			}
			return StoredFrame{Frame: f, Segment: e.Segment, Offset: e.Offset, Stored: e.Stored}, nil
		}
		if err := r.read(ctx); err != nil {
			return StoredFrame{}, err
		}
	}
}

// read fetches the next batch of the current segment into pending, moving
// on to the next segment when this one is sealed.
func (r *Reader) read(ctx context.Context) error {
	if r.atSealedEnd {
		// The last batch ended the segment: go on with its successor.
		r.atSealedEnd = false
		return r.nextSegment(ctx)
	}
	seg := r.segs[r.idx]
	b, err := r.client.ReadSegment(ctx, r.name, seg.ID, r.offset, orDefault(r.Wait, DefaultReadWait))
	switch {
	case errors.Is(err, stream.ErrTruncated):
		// Retention took what we were about to read: go on from what is left.
		return r.skipTruncated(ctx, seg.ID)
	case err != nil:
		return err
	}
	r.pending, r.offset, r.atSealedEnd = b.Events, b.Next, b.Sealed
	return nil
}

func (r *Reader) skipTruncated(ctx context.Context, id uint64) error {
	segs, err := r.client.Segments(ctx, r.name)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.ID == id {
			r.offset = max(r.offset, s.Start)
			return nil
		}
	}
	return fmt.Errorf("video: segment %d of %s is gone", id, r.name)
}

// Open finds the segments that own the camera's key and where to start in
// them (for the tail: their ends now). Next calls it if it was not called.
func (r *Reader) Open(ctx context.Context) error {
	if r.listed {
		return nil
	}
	segs, err := r.client.Segments(ctx, r.name)
	if err != nil {
		return err
	}
	r.initial = map[uint64]int64{}
	for _, s := range segs {
		if !s.Owns(r.camera) {
			continue
		}
		r.segs = append(r.segs, s)
		switch r.from.Kind {
		case FromTail:
			r.initial[s.ID] = s.End
		default:
			r.initial[s.ID] = s.Start
		}
	}
	if len(r.segs) == 0 {
		return fmt.Errorf("video: no segment of %s owns camera %q", r.name, r.camera)
	}
	if r.from.Kind == FromPosition {
		found := false
		for i, s := range r.segs {
			if s.ID == r.from.Segment {
				if r.from.Offset < s.Start || r.from.Offset > s.End {
					return fmt.Errorf("video: %w: position %s: segment %d of %s holds offsets %d to %d", ErrBadStart, r.from, s.ID, r.name, s.Start, s.End)
				}
				r.idx, r.initial[s.ID], found = i, r.from.Offset, true
			}
		}
		if !found {
			return fmt.Errorf("video: %w: position %s: %s has no segment %d that owns camera %q", ErrBadStart, r.from, r.name, r.from.Segment, r.camera)
		}
	}
	r.offset = r.initial[r.segs[r.idx].ID]
	r.listed = true
	return nil
}

// nextSegment moves to the segment after a sealed one, asking the store
// for successors that did not exist when the reader started.
func (r *Reader) nextSegment(ctx context.Context) error {
	sealed := r.segs[r.idx].ID
	if r.idx+1 == len(r.segs) {
		segs, err := r.client.Segments(ctx, r.name)
		if err != nil {
			return err
		}
		for _, s := range segs {
			if _, known := r.initial[s.ID]; !known && s.Owns(r.camera) {
				r.segs = append(r.segs, s)
				r.initial[s.ID] = s.Start
			}
		}
		if r.idx+1 == len(r.segs) {
			return fmt.Errorf("video: segment %d of %s is sealed and no successor owns camera %q", sealed, r.name, r.camera)
		}
	}
	r.idx++
	r.offset = r.initial[r.segs[r.idx].ID]
	return nil
}
