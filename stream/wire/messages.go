package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// Message is a frame's payload, decoded.
type Message interface {
	Type() Type
	appendPayload(dst []byte) []byte
	decode(d *decoder)
}

// Hello opens a connection: the client's protocol version and an optional
// bearer token. It is the first frame a client sends, with id 0.
type Hello struct {
	Version uint16
	Token   string
}

// Welcome answers a hello: the server's version and how many requests the
// client may have in flight on the connection at once.
type Welcome struct {
	Version     uint16
	MaxInFlight uint32
}

// Cancel asks the server to stop waiting on the request whose id the
// frame carries (a tail read). It has no payload and no answer of its own;
// the request is answered as usual, with an error if it was cut short.
type Cancel struct{}

// CreateScope, DeleteScope and ListStreams name a scope.
type (
	CreateScope struct{ Scope string }
	DeleteScope struct{ Scope string }
	ListStreams struct{ Scope string }
)

// ListScopes and ListGroups have no payload; they are answered by Names.
type (
	ListScopes struct{}
	ListGroups struct{}
)

// CreateStream creates a stream; Config is the JSON of a
// stream.StreamConfig. It is answered by Stream.
type CreateStream struct {
	Stream stream.StreamName
	Config []byte
}

// DescribeStream and DeleteStream name a stream.
type (
	DescribeStream struct{ Stream stream.StreamName }
	DeleteStream   struct{ Stream stream.StreamName }
)

// Truncate discards a stream's data before Cut.
type Truncate struct {
	Stream stream.StreamName
	Cut    stream.StreamCut
}

// ScaleForm says which of its three forms a Scale takes, the forms of
// the REST API's scale request.
type ScaleForm uint8

// The forms of a Scale.
const (
	// ScaleSealRanges seals the adjacent active segments Seal and creates
	// one segment per range of Ranges, which must tile their key range
	// exactly, in order (stream.Service.Scale).
	ScaleSealRanges ScaleForm = 1
	// ScaleSplit splits the active segment Segment into Parts segments of
	// equal key ranges; 0 parts means 2 (stream.Service.SplitSegment).
	ScaleSplit ScaleForm = 2
	// ScaleMerge merges the adjacent active segments Merge, at least two,
	// into one (stream.Service.MergeSegments).
	ScaleMerge ScaleForm = 3
)

// Scale changes a stream's segments in one of the three forms; only the
// form's fields travel. It is answered by Segments: the segments it
// created, in key order.
type Scale struct {
	Stream  stream.StreamName
	Form    ScaleForm
	Seal    []stream.SegmentID
	Ranges  []stream.KeyRange
	Segment stream.SegmentID
	Parts   uint32
	Merge   []stream.SegmentID
}

// ListInstances asks for the server's segment-store instances; it is
// answered by Names.
type ListInstances struct{}

// SetInstances makes the server run Count segment-store instances (1 or
// more); it is answered by Moves once the containers have moved.
type SetInstances struct{ Count uint32 }

// Append is stream.AppendRequest: one or more events with one routing key,
// stored atomically, optionally with a writer id and sequence number. It
// is answered by Ack once durable.
type Append struct {
	Stream     stream.StreamName
	RoutingKey string
	WriterID   string
	Seq        int64
	Events     [][]byte
}

// Read reads a segment from Offset: at most MaxBytes (0: 1 MiB) of segment
// bytes, waiting up to Wait (0: not at all) at the tail. It is answered by
// Events.
type Read struct {
	Stream   stream.StreamName
	Segment  stream.SegmentID
	Offset   int64
	MaxBytes uint32
	Wait     time.Duration
}

// Reader-group requests name a group, and some a reader in it.
type (
	CreateGroup struct {
		Group  string
		Stream stream.StreamName
	}
	DeleteGroup   struct{ Group string }
	DescribeGroup struct{ Group string }
	Checkpoint    struct{ Group string }
	JoinGroup     struct{ Group, Reader string }
	LeaveGroup    struct{ Group, Reader string }
	// ReadGroup returns up to MaxEvents (0: 100) of the reader's events,
	// waiting up to Wait for the first.
	ReadGroup struct {
		Group, Reader string
		MaxEvents     uint32
		Wait          time.Duration
	}
)

// OK answers a request that returns nothing.
type OK struct{}

// Names answers a list request.
type Names struct{ Names []string }

// Stream answers CreateStream and DescribeStream: Info is the JSON of a
// stream.StreamInfo.
type Stream struct{ Info []byte }

// Group answers reader-group requests: Info is the JSON of a GroupInfo.
type Group struct{ Info []byte }

// Segments answers Scale: Info is the JSON of the []stream.SegmentInfo
// the scale created.
type Segments struct{ Info []byte }

// Moves answers SetInstances: the containers that moved, each from one
// instance to another, and how long it refused requests.
type Moves struct{ Moves []stream.ContainerMove }

// Ack answers an append once its events are durable.
type Ack struct {
	Segment   stream.SegmentID
	Offset    int64
	Duplicate bool
}

// Events answers a read: the events and the offset to read on from (for a
// segment read; 0 for a reader-group read). Sealed says that Next is the
// end of a sealed segment, whose key range goes on in Successors
// (stream.Batch).
type Events struct {
	Next       int64
	Events     []stream.Event
	Sealed     bool
	Successors []stream.SegmentID
}

// GroupInfo describes a reader group (the JSON in Group).
type GroupInfo struct {
	Name      string           `json:"name"`
	Stream    string           `json:"stream"`
	Positions stream.StreamCut `json:"positions"`
	Readers   []string         `json:"readers"`
}

func (Hello) Type() Type          { return TypeHello }
func (Welcome) Type() Type        { return TypeWelcome }
func (Cancel) Type() Type         { return TypeCancel }
func (CreateScope) Type() Type    { return TypeCreateScope }
func (DeleteScope) Type() Type    { return TypeDeleteScope }
func (ListScopes) Type() Type     { return TypeListScopes }
func (ListStreams) Type() Type    { return TypeListStreams }
func (ListGroups) Type() Type     { return TypeListGroups }
func (CreateStream) Type() Type   { return TypeCreateStream }
func (DescribeStream) Type() Type { return TypeDescribeStream }
func (DeleteStream) Type() Type   { return TypeDeleteStream }
func (Truncate) Type() Type       { return TypeTruncate }
func (Scale) Type() Type          { return TypeScale }
func (ListInstances) Type() Type  { return TypeListInstances }
func (SetInstances) Type() Type   { return TypeSetInstances }
func (Segments) Type() Type       { return TypeSegments }
func (Moves) Type() Type          { return TypeMoves }
func (Append) Type() Type         { return TypeAppend }
func (Read) Type() Type           { return TypeRead }
func (CreateGroup) Type() Type    { return TypeCreateGroup }
func (DeleteGroup) Type() Type    { return TypeDeleteGroup }
func (DescribeGroup) Type() Type  { return TypeDescribeGroup }
func (Checkpoint) Type() Type     { return TypeCheckpoint }
func (JoinGroup) Type() Type      { return TypeJoinGroup }
func (LeaveGroup) Type() Type     { return TypeLeaveGroup }
func (ReadGroup) Type() Type      { return TypeReadGroup }
func (OK) Type() Type             { return TypeOK }
func (Names) Type() Type          { return TypeNames }
func (Stream) Type() Type         { return TypeStream }
func (Group) Type() Type          { return TypeGroup }
func (Ack) Type() Type            { return TypeAck }
func (Events) Type() Type         { return TypeEvents }
func (*Error) Type() Type         { return TypeError }

// newMessage returns an empty message of type t, or nil for an unknown one.
func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return &Hello{}
	case TypeWelcome:
		return &Welcome{}
	case TypeCancel:
		return &Cancel{}
	case TypeCreateScope:
		return &CreateScope{}
	case TypeDeleteScope:
		return &DeleteScope{}
	case TypeListScopes:
		return &ListScopes{}
	case TypeListStreams:
		return &ListStreams{}
	case TypeListGroups:
		return &ListGroups{}
	case TypeCreateStream:
		return &CreateStream{}
	case TypeDescribeStream:
		return &DescribeStream{}
	case TypeDeleteStream:
		return &DeleteStream{}
	case TypeTruncate:
		return &Truncate{}
	case TypeScale:
		return &Scale{}
	case TypeListInstances:
		return &ListInstances{}
	case TypeSetInstances:
		return &SetInstances{}
	case TypeSegments:
		return &Segments{}
	case TypeMoves:
		return &Moves{}
	case TypeAppend:
		return &Append{}
	case TypeRead:
		return &Read{}
	case TypeCreateGroup:
		return &CreateGroup{}
	case TypeDeleteGroup:
		return &DeleteGroup{}
	case TypeDescribeGroup:
		return &DescribeGroup{}
	case TypeCheckpoint:
		return &Checkpoint{}
	case TypeJoinGroup:
		return &JoinGroup{}
	case TypeLeaveGroup:
		return &LeaveGroup{}
	case TypeReadGroup:
		return &ReadGroup{}
	case TypeOK:
		return &OK{}
	case TypeNames:
		return &Names{}
	case TypeStream:
		return &Stream{}
	case TypeGroup:
		return &Group{}
	case TypeAck:
		return &Ack{}
	case TypeEvents:
		return &Events{}
	case TypeError:
		return &Error{}
	}
	return nil
}

// Decode decodes a frame's payload into its message (a pointer to one of
// this package's message types). Unknown types, payloads cut short or
// with bytes left over, and values out of range are errors wrapping
// ErrBadMessage; it never panics.
func Decode(f Frame) (Message, error) {
	m := newMessage(f.Type)
	if m == nil {
		return nil, fmt.Errorf("wire: %w: %s (frame %d); this server speaks protocol version %d", ErrBadMessage, f.Type, f.ID, Version)
	}
	d := &decoder{b: f.Payload}
	m.decode(d)
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the message", len(d.b))
	}
	if d.err != nil {
		kind := ErrBadMessage
		if d.invalidValue {
			kind = ErrInvalid
		}
		return nil, fmt.Errorf("wire: %w: %s frame %d: %v", kind, f.Type, f.ID, d.err)
	}
	return m, nil
}

// ErrBadMessage is wrapped by errors about a frame that was read whole but
// does not decode: cut short, bytes left over, an unknown type. A server
// answers it and closes the connection: the client is broken.
var ErrBadMessage = errors.New("bad message")

// ErrInvalid is wrapped by errors about a message that decodes but holds a
// value out of range (too many event bytes, too long a wait). It is an
// error about that request only.
var ErrInvalid = errors.New("invalid request")

// Encoding: integers little endian; a string is a uint16 length and its
// bytes; a blob (JSON, event data) a uint32 length and its bytes; a stream
// name two strings.

func appendU16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
func appendI64(b []byte, v int64) []byte  { return appendU64(b, uint64(v)) }

// appendString truncates strings longer than a uint16 can say; no valid
// name comes near it, and the store refuses the truncated one.
func appendString(b []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		s = s[:math.MaxUint16]
	}
	return append(appendU16(b, uint16(len(s))), s...)
}

func appendBlob(b, v []byte) []byte { return append(appendU32(b, uint32(len(v))), v...) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendSegmentIDs(b []byte, ids []stream.SegmentID) []byte {
	b = appendU32(b, uint32(len(ids)))
	for _, id := range ids {
		b = appendU64(b, uint64(id))
	}
	return b
}

func appendName(b []byte, n stream.StreamName) []byte {
	return appendString(appendString(b, n.Scope), n.Stream)
}

func appendMillis(b []byte, d time.Duration) []byte {
	return appendU32(b, uint32(min(max(d.Milliseconds(), 0), math.MaxUint32)))
}

// decoder reads a payload; after the first error every read returns zero.
type decoder struct {
	b   []byte
	err error
	// invalidValue says err is about a value, not the encoding.
	invalidValue bool
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.b = nil
}

// invalid records a value out of range; the message decoded whole.
func (d *decoder) invalid(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
		d.invalidValue = true
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("%s: want %d bytes, %d are left", what, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) uint8 {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16(what string) uint16 {
	if v := d.take(2, what); v != nil {
		return binary.LittleEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) i64(what string) int64 { return int64(d.u64(what)) }

func (d *decoder) flag(what string) bool {
	switch v := d.u8(what); v {
	case 0, 1:
		return v == 1
	default:
		d.fail("%s flag %d, want 0 or 1", what, v)
		return false
	}
}

// keyBound reads a key-range bound; one that is not a finite number is
// out of range (the store would refuse it anyway, and NaN would not
// compare equal to itself).
func (d *decoder) keyBound(what string) float64 {
	v := math.Float64frombits(d.u64(what))
	if d.err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		d.invalid("%s %v: want a finite number", what, v)
	}
	return v
}

// segmentIDs reads a count and that many segment ids.
func (d *decoder) segmentIDs(what string) []stream.SegmentID {
	n := d.count(what, 8)
	ids := make([]stream.SegmentID, n)
	for i := range ids {
		ids[i] = stream.SegmentID(d.u64(what))
	}
	return ids
}

func (d *decoder) str(what string) string { return string(d.take(int(d.u16(what+" length")), what)) }

func (d *decoder) blob(what string) []byte { return d.take(int(d.u32(what+" length")), what) }

func (d *decoder) name() stream.StreamName {
	return stream.StreamName{Scope: d.str("scope"), Stream: d.str("stream")}
}

// count reads a uint32 count of items of at least minSize bytes each and
// checks that the payload can hold them, so that a forged count cannot
// make the decoder allocate more than the payload's size.
func (d *decoder) count(what string, minSize int) int {
	n := int(d.u32(what + " count"))
	if d.err == nil && n > len(d.b)/minSize {
		d.fail("%s count %d: the %d bytes left hold at most %d", what, n, len(d.b), len(d.b)/minSize)
		return 0
	}
	return n
}

// wait reads a wait in milliseconds, at most MaxWait.
func (d *decoder) wait() time.Duration {
	ms := d.u32("wait")
	w := time.Duration(ms) * time.Millisecond
	if w > MaxWait {
		d.invalid("wait of %d ms, at most %d are allowed", ms, MaxWait.Milliseconds())
	}
	return w
}

func (m Hello) appendPayload(b []byte) []byte { return appendString(appendU16(b, m.Version), m.Token) }
func (m *Hello) decode(d *decoder)            { m.Version, m.Token = d.u16("version"), d.str("token") }

func (m Welcome) appendPayload(b []byte) []byte {
	return appendU32(appendU16(b, m.Version), m.MaxInFlight)
}
func (m *Welcome) decode(d *decoder) {
	m.Version, m.MaxInFlight = d.u16("version"), d.u32("max in flight")
}

func (Cancel) appendPayload(b []byte) []byte { return b }
func (*Cancel) decode(*decoder)              {}

func (m CreateScope) appendPayload(b []byte) []byte { return appendString(b, m.Scope) }
func (m *CreateScope) decode(d *decoder)            { m.Scope = d.str("scope") }
func (m DeleteScope) appendPayload(b []byte) []byte { return appendString(b, m.Scope) }
func (m *DeleteScope) decode(d *decoder)            { m.Scope = d.str("scope") }
func (m ListStreams) appendPayload(b []byte) []byte { return appendString(b, m.Scope) }
func (m *ListStreams) decode(d *decoder)            { m.Scope = d.str("scope") }

func (ListScopes) appendPayload(b []byte) []byte { return b }
func (*ListScopes) decode(*decoder)              {}
func (ListGroups) appendPayload(b []byte) []byte { return b }
func (*ListGroups) decode(*decoder)              {}

func (m CreateStream) appendPayload(b []byte) []byte {
	return appendBlob(appendName(b, m.Stream), m.Config)
}
func (m *CreateStream) decode(d *decoder) { m.Stream, m.Config = d.name(), d.blob("config") }

func (m DescribeStream) appendPayload(b []byte) []byte { return appendName(b, m.Stream) }
func (m *DescribeStream) decode(d *decoder)            { m.Stream = d.name() }
func (m DeleteStream) appendPayload(b []byte) []byte   { return appendName(b, m.Stream) }
func (m *DeleteStream) decode(d *decoder)              { m.Stream = d.name() }

// A cut is a count and (segment id, offset) pairs, in no particular order.
func (m Truncate) appendPayload(b []byte) []byte {
	b = appendU32(appendName(b, m.Stream), uint32(len(m.Cut)))
	for id, off := range m.Cut {
		b = appendI64(appendU64(b, uint64(id)), off)
	}
	return b
}

func (m *Truncate) decode(d *decoder) {
	m.Stream = d.name()
	n := d.count("cut", 16)
	m.Cut = make(stream.StreamCut, n)
	for range n {
		id := stream.SegmentID(d.u64("segment"))
		if _, dup := m.Cut[id]; dup && d.err == nil {
			d.invalid("segment %s twice in the cut", id)
		}
		m.Cut[id] = d.i64("offset")
	}
}

// An append's events are a count and, for each, a blob.
func (m Append) appendPayload(b []byte) []byte {
	b = appendName(b, m.Stream)
	b = appendString(b, m.RoutingKey)
	b = appendString(b, m.WriterID)
	b = appendI64(b, m.Seq)
	b = appendU32(b, uint32(len(m.Events)))
	for _, e := range m.Events {
		b = appendBlob(b, e)
	}
	return b
}

func (m *Append) decode(d *decoder) {
	m.Stream, m.RoutingKey, m.WriterID, m.Seq = d.name(), d.str("routing key"), d.str("writer id"), d.i64("seq")
	n := d.count("event", 4)
	if d.err == nil && n == 0 {
		d.invalid("an append needs at least one event")
	}
	m.Events = make([][]byte, n)
	total := 0
	for i := range n {
		m.Events[i] = d.blob("event")
		total += len(m.Events[i])
	}
	if d.err == nil && total > stream.MaxAppendBytes {
		d.invalid("%d bytes of events, at most %d are allowed in one append", total, stream.MaxAppendBytes)
	}
}

func (m Read) appendPayload(b []byte) []byte {
	b = appendI64(appendU64(appendName(b, m.Stream), uint64(m.Segment)), m.Offset)
	return appendMillis(appendU32(b, m.MaxBytes), m.Wait)
}

func (m *Read) decode(d *decoder) {
	m.Stream, m.Segment, m.Offset = d.name(), stream.SegmentID(d.u64("segment")), d.i64("offset")
	m.MaxBytes, m.Wait = d.u32("max bytes"), d.wait()
	if d.err == nil && m.MaxBytes > MaxReadBytes {
		d.invalid("max bytes %d, at most %d are allowed", m.MaxBytes, MaxReadBytes)
	}
}

func (m CreateGroup) appendPayload(b []byte) []byte {
	return appendName(appendString(b, m.Group), m.Stream)
}
func (m *CreateGroup) decode(d *decoder)            { m.Group, m.Stream = d.str("group"), d.name() }
func (m DeleteGroup) appendPayload(b []byte) []byte { return appendString(b, m.Group) }
func (m *DeleteGroup) decode(d *decoder)            { m.Group = d.str("group") }
func (m DescribeGroup) appendPayload(b []byte) []byte {
	return appendString(b, m.Group)
}
func (m *DescribeGroup) decode(d *decoder)         { m.Group = d.str("group") }
func (m Checkpoint) appendPayload(b []byte) []byte { return appendString(b, m.Group) }
func (m *Checkpoint) decode(d *decoder)            { m.Group = d.str("group") }
func (m JoinGroup) appendPayload(b []byte) []byte {
	return appendString(appendString(b, m.Group), m.Reader)
}
func (m *JoinGroup) decode(d *decoder) { m.Group, m.Reader = d.str("group"), d.str("reader") }
func (m LeaveGroup) appendPayload(b []byte) []byte {
	return appendString(appendString(b, m.Group), m.Reader)
}
func (m *LeaveGroup) decode(d *decoder) { m.Group, m.Reader = d.str("group"), d.str("reader") }

func (m ReadGroup) appendPayload(b []byte) []byte {
	return appendMillis(appendU32(appendString(appendString(b, m.Group), m.Reader), m.MaxEvents), m.Wait)
}

func (m *ReadGroup) decode(d *decoder) {
	m.Group, m.Reader, m.MaxEvents, m.Wait = d.str("group"), d.str("reader"), d.u32("max events"), d.wait()
	if d.err == nil && m.MaxEvents > MaxGroupEvents {
		d.invalid("max events %d, at most %d are allowed", m.MaxEvents, MaxGroupEvents)
	}
}

func (OK) appendPayload(b []byte) []byte { return b }
func (*OK) decode(*decoder)              {}

func (m Names) appendPayload(b []byte) []byte {
	b = appendU32(b, uint32(len(m.Names)))
	for _, n := range m.Names {
		b = appendString(b, n)
	}
	return b
}

func (m *Names) decode(d *decoder) {
	n := d.count("name", 2)
	m.Names = make([]string, n)
	for i := range n {
		m.Names[i] = d.str("name")
	}
}

func (m Stream) appendPayload(b []byte) []byte { return appendBlob(b, m.Info) }
func (m *Stream) decode(d *decoder)            { m.Info = d.blob("stream info") }
func (m Group) appendPayload(b []byte) []byte  { return appendBlob(b, m.Info) }
func (m *Group) decode(d *decoder)             { m.Info = d.blob("group info") }

func (m Ack) appendPayload(b []byte) []byte {
	return appendBool(appendI64(appendU64(b, uint64(m.Segment)), m.Offset), m.Duplicate)
}

func (m *Ack) decode(d *decoder) {
	m.Segment, m.Offset, m.Duplicate = stream.SegmentID(d.u64("segment")), d.i64("offset"), d.flag("duplicate")
}

// EventHeaderSize is the fixed part of each event in Events: segment id,
// offset, next offset and time (Unix nanoseconds), 8 bytes each, and the
// data length, 4.
const EventHeaderSize = 8*4 + 4

// Events end with the sealed flag and the successors (a count and ids),
// after the events.
func (m Events) appendPayload(b []byte) []byte {
	b = appendU32(appendI64(b, m.Next), uint32(len(m.Events)))
	for _, e := range m.Events {
		b = appendI64(appendI64(appendU64(b, uint64(e.Segment)), e.Offset), e.Next)
		b = appendBlob(appendI64(b, e.Time.UnixNano()), e.Data)
	}
	return appendSegmentIDs(appendBool(b, m.Sealed), m.Successors)
}

func (m *Events) decode(d *decoder) {
	m.Next = d.i64("next")
	n := d.count("event", EventHeaderSize)
	m.Events = make([]stream.Event, n)
	for i := range n {
		e := &m.Events[i]
		e.Segment, e.Offset, e.Next = stream.SegmentID(d.u64("segment")), d.i64("offset"), d.i64("next")
		e.Time, e.Data = time.Unix(0, d.i64("time")), d.blob("event data")
	}
	m.Sealed = d.flag("sealed")
	if m.Successors = d.segmentIDs("successor"); len(m.Successors) == 0 {
		m.Successors = nil
	}
}

// EventsFixedSize is the part of an Events answer that does not depend
// on its events: next, the event count, the sealed flag and the successor
// count.
const EventsFixedSize = 8 + 4 + 1 + 4

// EventsSize is the payload size of an Events answer with these events
// and no successors.
func EventsSize(events []stream.Event) int {
	n := EventsFixedSize
	for _, e := range events {
		n += EventHeaderSize + len(e.Data)
	}
	return n
}

// A scale is its name, its form and the form's fields: for seal and
// ranges, the segment ids (a count and ids) and the ranges (a count and,
// for each, low and high as IEEE 754 doubles); for a split, the segment
// and the parts; for a merge, the segment ids.
func (m Scale) appendPayload(b []byte) []byte {
	b = append(appendName(b, m.Stream), byte(m.Form))
	switch m.Form {
	case ScaleSealRanges:
		b = appendU32(appendSegmentIDs(b, m.Seal), uint32(len(m.Ranges)))
		for _, r := range m.Ranges {
			b = appendU64(appendU64(b, math.Float64bits(r.Low)), math.Float64bits(r.High))
		}
	case ScaleSplit:
		b = appendU32(appendU64(b, uint64(m.Segment)), m.Parts)
	case ScaleMerge:
		b = appendSegmentIDs(b, m.Merge)
	}
	return b
}

func (m *Scale) decode(d *decoder) {
	m.Stream, m.Form = d.name(), ScaleForm(d.u8("form"))
	if d.err != nil {
		return
	}
	switch m.Form {
	case ScaleSealRanges:
		m.Seal = d.segmentIDs("sealed segment")
		m.Ranges = make([]stream.KeyRange, d.count("range", 16))
		for i := range m.Ranges {
			m.Ranges[i] = stream.KeyRange{Low: d.keyBound("range low"), High: d.keyBound("range high")}
		}
		if d.err == nil && (len(m.Seal) == 0 || len(m.Ranges) == 0) {
			d.invalid("a scale of %d segments into %d ranges: it needs at least one of each", len(m.Seal), len(m.Ranges))
		}
	case ScaleSplit:
		m.Segment, m.Parts = stream.SegmentID(d.u64("segment")), d.u32("parts")
	case ScaleMerge:
		m.Merge = d.segmentIDs("merged segment")
		if d.err == nil && len(m.Merge) < 2 {
			d.invalid("a merge of %d segments: it needs at least 2", len(m.Merge))
		}
	default:
		d.fail("scale form %d, want 1 (seal and ranges), 2 (split) or 3 (merge)", m.Form)
	}
}

func (ListInstances) appendPayload(b []byte) []byte { return b }
func (*ListInstances) decode(*decoder)              {}

func (m SetInstances) appendPayload(b []byte) []byte { return appendU32(b, m.Count) }
func (m *SetInstances) decode(d *decoder) {
	if m.Count = d.u32("instances"); d.err == nil && m.Count == 0 {
		d.invalid("0 instances: want 1 or more")
	}
}

func (m Segments) appendPayload(b []byte) []byte { return appendBlob(b, m.Info) }
func (m *Segments) decode(d *decoder)            { m.Info = d.blob("segments") }

// A move is the container (i64), the instances it left and joined
// (strings), how long it took (i64 nanoseconds) and the log records
// replayed (i64).
func (m Moves) appendPayload(b []byte) []byte {
	b = appendU32(b, uint32(len(m.Moves)))
	for _, mv := range m.Moves {
		b = appendString(appendString(appendI64(b, int64(mv.Container)), mv.From), mv.To)
		b = appendI64(appendI64(b, int64(mv.Took)), int64(mv.Replayed))
	}
	return b
}

func (m *Moves) decode(d *decoder) {
	m.Moves = make([]stream.ContainerMove, d.count("move", 28))
	for i := range m.Moves {
		mv := &m.Moves[i]
		mv.Container, mv.From, mv.To = int(d.i64("container")), d.str("from"), d.str("to")
		mv.Took, mv.Replayed = time.Duration(d.i64("took")), int(d.i64("replayed"))
	}
}
