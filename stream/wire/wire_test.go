package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

var name = stream.StreamName{Scope: "surgery", Stream: "cams"}

// examples holds one message of every type, with every field set.
func examples() []Message {
	at := time.Unix(0, 1_700_000_000_123_456_789)
	return []Message{
		&Hello{Version: Version, Token: "cs_secret"},
		&Welcome{Version: Version, MaxInFlight: 256},
		&Cancel{},
		&CreateScope{Scope: "surgery"},
		&DeleteScope{Scope: "surgery"},
		&ListScopes{},
		&ListStreams{Scope: "surgery"},
		&ListGroups{},
		&CreateStream{Stream: name, Config: []byte(`{"segments":4}`)},
		&DescribeStream{Stream: name},
		&DeleteStream{Stream: name},
		&Truncate{Stream: name, Cut: stream.StreamCut{0: 40, stream.NewSegmentID(1, 3): 7}},
		&Append{Stream: name, RoutingKey: "camera-1", WriterID: "w1", Seq: 9, Events: [][]byte{[]byte("frame-1"), {}, []byte("frame-3")}},
		&Read{Stream: name, Segment: 1, Offset: 4096, MaxBytes: 1 << 20, Wait: 1500 * time.Millisecond},
		&Scale{Stream: name, Form: ScaleSealRanges, Seal: []stream.SegmentID{1, 2}, Ranges: []stream.KeyRange{{Low: 0.25, High: 0.5}, {Low: 0.5, High: 0.75}}},
		&Scale{Stream: name, Form: ScaleSplit, Segment: stream.NewSegmentID(1, 3), Parts: 4},
		&Scale{Stream: name, Form: ScaleMerge, Merge: []stream.SegmentID{stream.NewSegmentID(1, 3), stream.NewSegmentID(1, 4)}},
		&ListInstances{},
		&SetInstances{Count: 3},
		&CreateGroup{Group: "viewers", Stream: name},
		&DeleteGroup{Group: "viewers"},
		&DescribeGroup{Group: "viewers"},
		&Checkpoint{Group: "viewers"},
		&JoinGroup{Group: "viewers", Reader: "a"},
		&LeaveGroup{Group: "viewers", Reader: "a"},
		&ReadGroup{Group: "viewers", Reader: "a", MaxEvents: 50, Wait: time.Second},
		&OK{},
		&Names{Names: []string{"cams", "mics", ""}},
		&Stream{Info: []byte(`{"name":{"scope":"surgery","stream":"cams"}}`)},
		&Group{Info: []byte(`{"name":"viewers"}`)},
		&Ack{Segment: stream.NewSegmentID(2, 5), Offset: 77, Duplicate: true},
		&Segments{Info: []byte(`[{"id":4294967298,"range":{"low":0,"high":0.5},"start":0,"end":0,"epoch":1}]`)},
		&Moves{Moves: []stream.ContainerMove{
			{Container: 3, From: "segment-store-0", To: "segment-store-1", Took: 12 * time.Millisecond, Replayed: 40},
			{Container: 7, From: "segment-store-0", To: "segment-store-2"},
		}},
		&Events{Next: 4200, Events: []stream.Event{
			{Segment: 1, Offset: 4096, Next: 4107, Time: at, Data: []byte("frame-1")},
			{Segment: 1, Offset: 4107, Next: 4111, Time: at.Add(time.Millisecond), Data: []byte{}},
		}, Sealed: true, Successors: []stream.SegmentID{stream.NewSegmentID(1, 2), stream.NewSegmentID(1, 3)}},
		&Error{Code: CodeNotFound, Message: "stream: stream surgery/nope: not found"},
	}
}

// TestRoundTrip encodes a message of every type, reads the frame back and
// decodes it to the same message.
func TestRoundTrip(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range examples() {
		seen[m.Type()] = true
		b, err := Encode(42, m)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ReadFrame(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		if f.Type != m.Type() || f.ID != 42 {
			t.Fatalf("%s: frame has type %s id %d", m.Type(), f.Type, f.ID)
		}
		got, err := Decode(f)
		if err != nil {
			t.Fatalf("%s: %v", m.Type(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: decoded\n%#v\nwant\n%#v", m.Type(), got, m)
		}
	}
	for typ := range typeNames {
		if !seen[typ] {
			t.Errorf("no example of %s", typ)
		}
	}
}

// TestFrameLayout pins the header's bytes: a change here breaks every
// client in the field.
func TestFrameLayout(t *testing.T) {
	b := AppendFrame(nil, 0x01020304, &CreateScope{Scope: "ab"})
	want := []byte{4, 0, 0, 0, 0x10, 4, 3, 2, 1, 2, 0, 'a', 'b'}
	if !bytes.Equal(b, want) {
		t.Fatalf("frame % x, want % x", b, want)
	}
}

// TestDecodeRefuses checks that bad payloads are errors that say what is
// wrong.
func TestDecodeRefuses(t *testing.T) {
	appendOf := func(events ...[]byte) []byte {
		return (&Append{Stream: name, Events: events}).appendPayload(nil)
	}
	hugeCount := binary.LittleEndian.AppendUint32(appendName(nil, name), 0) // truncate: count follows the name
	hugeCount = binary.LittleEndian.AppendUint32(hugeCount[:len(hugeCount)-4], 1<<30)
	cases := []struct {
		what string
		f    Frame
		want string
	}{
		{"an unknown type", Frame{Type: 0x7f, ID: 3}, "unknown type 0x7f"},
		{"a payload cut short", Frame{Type: TypeCreateScope, Payload: []byte{5, 0, 'a'}}, "want 5 bytes, 1 are left"},
		{"bytes left over", Frame{Type: TypeListScopes, Payload: []byte{1}}, "1 bytes after the message"},
		{"an append without events", Frame{Type: TypeAppend, Payload: appendOf()}, "at least one event"},
		{"an append too large", Frame{Type: TypeAppend, Payload: appendOf(make([]byte, stream.MaxAppendBytes), []byte{1})}, "at most 8388608 are allowed"},
		{"a forged count", Frame{Type: TypeTruncate, Payload: hugeCount}, "cut count 1073741824"},
		{"a wait too long", Frame{Type: TypeRead, Payload: (&Read{Stream: name, Wait: 2 * MaxWait}).appendPayload(nil)}, "wait of 120000 ms"},
		{"a read too large", Frame{Type: TypeRead, Payload: (&Read{Stream: name, MaxBytes: MaxReadBytes + 1}).appendPayload(nil)}, "max bytes"},
		{"a bad duplicate flag", Frame{Type: TypeAck, Payload: append(make([]byte, 16), 2)}, "duplicate flag 2"},
		{"a segment twice in a cut", Frame{Type: TypeTruncate, Payload: append(appendU32(appendName(nil, name), 2), make([]byte, 32)...)}, "twice in the cut"},
		{"an unknown scale form", Frame{Type: TypeScale, Payload: append(appendName(nil, name), 9)}, "scale form 9"},
		{"a scale range not a number, too", Frame{Type: TypeScale, Payload: (&Scale{Stream: name, Form: ScaleSealRanges, Seal: []stream.SegmentID{1}, Ranges: []stream.KeyRange{{Low: math.NaN(), High: 1}}}).appendPayload(nil)}, "range low NaN"},
		{"a scale without ranges, too few", Frame{Type: TypeScale, Payload: (&Scale{Stream: name, Form: ScaleSealRanges, Seal: []stream.SegmentID{1}}).appendPayload(nil)}, "needs at least one of each"},
		{"a merge of one segment, too few", Frame{Type: TypeScale, Payload: (&Scale{Stream: name, Form: ScaleMerge, Merge: []stream.SegmentID{1}}).appendPayload(nil)}, "needs at least 2"},
		{"zero instances, too few", Frame{Type: TypeSetInstances, Payload: []byte{0, 0, 0, 0}}, "0 instances"},
		{"a bad sealed flag", Frame{Type: TypeEvents, Payload: append(make([]byte, 12), 7)}, "sealed flag 7"},
		{"events without the sealed flag (version 1)", Frame{Type: TypeEvents, Payload: make([]byte, 12)}, "sealed"},
		{"a forged move count", Frame{Type: TypeMoves, Payload: []byte{0xff, 0xff, 0, 0}}, "move count 65535"},
	}
	for _, c := range cases {
		_, err := Decode(c.f)
		kind := ErrBadMessage
		if strings.Contains(c.what, "too") || strings.Contains(c.what, "without events") || strings.Contains(c.what, "twice") {
			kind = ErrInvalid // decodes, but a value is out of range
		}
		if err == nil || !errors.Is(err, kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v saying %q", c.what, err, kind, c.want)
		}
	}
}

func TestReadFrameRefuses(t *testing.T) {
	big := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint32(big, MaxPayload+1)
	big[4] = byte(TypeAppend)
	if _, err := ReadFrame(bytes.NewReader(big)); !errors.Is(err, ErrFrame) || !strings.Contains(err.Error(), "at most 16777216") {
		t.Errorf("an oversized frame: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{1, 0})); !errors.Is(err, ErrFrame) {
		t.Errorf("a header cut short: %v", err)
	}
	short := AppendFrame(nil, 1, &CreateScope{Scope: "abc"})
	if _, err := ReadFrame(bytes.NewReader(short[:len(short)-1])); !errors.Is(err, ErrFrame) {
		t.Errorf("a payload cut short: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Errorf("a clean end: %v, want io.EOF", err)
	}
}

func TestEncodeRefusesOversizedMessages(t *testing.T) {
	m := &Events{Events: []stream.Event{{Data: make([]byte, MaxPayload)}}}
	if _, err := Encode(1, m); err == nil {
		t.Fatal("an answer larger than a frame was encoded")
	}
	if n := EventsSize(m.Events); n != 17+EventHeaderSize+MaxPayload || n != len(AppendFrame(nil, 0, m))-HeaderSize {
		t.Fatalf("EventsSize = %d", n)
	}
}

// TestErrorsMapBack checks that an error of the store, sent as an Error
// frame and decoded, is still recognised with errors.Is.
func TestErrorsMapBack(t *testing.T) {
	for _, sentinel := range []error{stream.ErrNotFound, stream.ErrExists, stream.ErrTruncated, stream.ErrBackPressure,
		stream.ErrClosed, stream.ErrReaderClosed, lts.ErrUnavailable, ErrConflict, ErrUnauthorized, ErrVersion,
		stream.ErrSealed, ErrUnsupported} {
		storeErr := errors.Join(errors.New("stream: surgery/cams"), sentinel)
		b, err := Encode(7, ErrorOf(storeErr))
		if err != nil {
			t.Fatal(err)
		}
		f, _ := ReadFrame(bytes.NewReader(b))
		m, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		got := m.(*Error)
		if !errors.Is(got, sentinel) || got.Error() != storeErr.Error() {
			t.Errorf("%v came back as %q (code %d)", sentinel, got, got.Code)
		}
	}
	if c := CodeOf(errors.New("stream: offset 3 is not an event boundary")); c != CodeBadRequest {
		t.Errorf("an unmarked error has code %d, want bad request", c)
	}
	if got := (&Error{Code: 200, Message: "from the future"}); got.Unwrap() != nil || got.Error() != "from the future" {
		t.Errorf("an unknown code: %v", got)
	}
}
