// Package wire is the stream store's TCP protocol: how requests and
// answers are framed and encoded (docs/formats/stream-wire.md). It is pure:
// it turns bytes into messages and back and does no I/O beyond reading and
// writing whole frames, so that the decoder can be fuzzed on its own.
// Package stream/tcp serves and dials it.
//
// A frame is a 9-byte header (payload length, type, request id) and a
// payload. Requests carry an id the client chooses; answers carry the id of
// the request they answer, so one connection carries many requests at once
// and answers come back in any order. Event data is binary; stream
// configurations and descriptions are JSON (the encoding of
// stream.StreamConfig and stream.StreamInfo), so that fields the store adds
// travel without the protocol changing.
//
// Why not gRPC: it would bring a code generator, protobuf and HTTP/2 framing
// for a dozen messages, and its flow control and per-stream headers cost
// more than the event itself for small events. Why not the HTTP API
// (stream/streamapi): one request per connection at a time, a header block
// per event, and a tail read holds its connection. The protocol here is what
// Kafka's and Pravega's wire protocols are at heart: length-prefixed binary
// frames with correlation ids.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// Version is the protocol version this package speaks. A hello with
// another version is refused. Version 2 added scaling (Scale, Segments),
// segment-store instances (ListInstances, SetInstances, Moves), the
// sealed flag and successors of an Events answer, and codes 14 and 15.
const Version = 2

// HeaderSize is the size of a frame's header: payload length (uint32),
// type (uint8) and request id (uint32), little endian.
const HeaderSize = 9

// MaxPayload bounds a frame's payload: room for an append of
// stream.MaxAppendBytes of events with many small events, and for a read
// answer of MaxReadBytes plus the 36-byte header of each event.
const MaxPayload = 16 << 20

// MaxReadBytes bounds the segment bytes one read asks for (the store's
// measure: each event and its 4-byte length).
const MaxReadBytes = stream.MaxAppendBytes

// MaxWait bounds how long one read waits for new events at the tail.
const MaxWait = time.Minute

// MaxGroupEvents bounds the events one reader-group read asks for.
const MaxGroupEvents = 10000

// Type is a frame's type. Requests are below 0x80, answers from 0x80 on.
type Type uint8

// Requests.
const (
	TypeHello          Type = 0x01
	TypeCancel         Type = 0x02
	TypeCreateScope    Type = 0x10
	TypeDeleteScope    Type = 0x11
	TypeListScopes     Type = 0x12
	TypeCreateStream   Type = 0x20
	TypeDescribeStream Type = 0x21
	TypeListStreams    Type = 0x22
	TypeDeleteStream   Type = 0x23
	TypeTruncate       Type = 0x24
	TypeScale          Type = 0x25
	TypeAppend         Type = 0x30
	TypeRead           Type = 0x31
	TypeCreateGroup    Type = 0x40
	TypeDeleteGroup    Type = 0x41
	TypeDescribeGroup  Type = 0x42
	TypeListGroups     Type = 0x43
	TypeJoinGroup      Type = 0x44
	TypeReadGroup      Type = 0x45
	TypeCheckpoint     Type = 0x46
	TypeLeaveGroup     Type = 0x47
	TypeListInstances  Type = 0x50
	TypeSetInstances   Type = 0x51
)

// Answers.
const (
	TypeWelcome  Type = 0x80
	TypeOK       Type = 0x81
	TypeError    Type = 0x82
	TypeNames    Type = 0x83
	TypeStream   Type = 0x84
	TypeAck      Type = 0x85
	TypeEvents   Type = 0x86
	TypeGroup    Type = 0x87
	TypeSegments Type = 0x88
	TypeMoves    Type = 0x89
)

var typeNames = map[Type]string{
	TypeHello: "hello", TypeCancel: "cancel",
	TypeCreateScope: "create-scope", TypeDeleteScope: "delete-scope", TypeListScopes: "list-scopes",
	TypeCreateStream: "create-stream", TypeDescribeStream: "describe-stream", TypeListStreams: "list-streams",
	TypeDeleteStream: "delete-stream", TypeTruncate: "truncate",
	TypeAppend: "append", TypeRead: "read",
	TypeCreateGroup: "create-group", TypeDeleteGroup: "delete-group", TypeDescribeGroup: "describe-group",
	TypeListGroups: "list-groups", TypeJoinGroup: "join-group", TypeReadGroup: "read-group",
	TypeCheckpoint: "checkpoint", TypeLeaveGroup: "leave-group",
	TypeScale: "scale", TypeListInstances: "list-instances", TypeSetInstances: "set-instances",
	TypeWelcome: "welcome", TypeOK: "ok", TypeError: "error", TypeNames: "names", TypeStream: "stream",
	TypeAck: "ack", TypeEvents: "events", TypeGroup: "group", TypeSegments: "segments", TypeMoves: "moves",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("unknown type 0x%02x", uint8(t))
}

// Known reports whether t is a type of this version of the protocol.
func (t Type) Known() bool {
	_, ok := typeNames[t]
	return ok
}

// IsRequest reports whether t is sent by clients.
func (t Type) IsRequest() bool { return t < 0x80 }

// Frame is one frame: its type, the request id and the payload.
type Frame struct {
	Type    Type
	ID      uint32
	Payload []byte
}

// ErrFrame is wrapped by errors about a frame that cannot be read: too
// large, or cut short. After one the connection cannot be trusted to be at
// a frame boundary and is closed.
var ErrFrame = errors.New("bad frame")

// ParseHeader reads a frame header: the payload length, the type and the
// request id. It refuses a payload longer than MaxPayload.
func ParseHeader(h [HeaderSize]byte) (n int, t Type, id uint32, err error) {
	size := binary.LittleEndian.Uint32(h[0:4])
	t, id = Type(h[4]), binary.LittleEndian.Uint32(h[5:9])
	if size > MaxPayload {
		return 0, t, id, fmt.Errorf("wire: %w: %s frame %d declares a %d-byte payload, at most %d are allowed", ErrFrame, t, id, size, MaxPayload)
	}
	return int(size), t, id, nil
}

// ReadFrame reads one whole frame from r into a new payload. It returns
// io.EOF only when r ends cleanly before a frame starts.
func ReadFrame(r io.Reader) (Frame, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Frame{}, fmt.Errorf("wire: %w: connection closed inside a frame header", ErrFrame)
		}
		return Frame{}, err
	}
	n, t, id, err := ParseHeader(h)
	if err != nil {
		return Frame{Type: t, ID: id}, err
	}
	f := Frame{Type: t, ID: id, Payload: make([]byte, n)}
	if _, err := io.ReadFull(r, f.Payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return f, fmt.Errorf("wire: %w: connection closed inside the payload of %s frame %d", ErrFrame, t, id)
		}
		return f, err
	}
	return f, nil
}

// AppendFrame appends the frame of message m with request id to dst.
func AppendFrame(dst []byte, id uint32, m Message) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(m.Type()), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(dst[start+5:], id)
	dst = m.appendPayload(dst)
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(dst)-start-HeaderSize))
	return dst
}

// Encode returns the frame of message m with request id, or an error if
// its payload would be longer than MaxPayload.
func Encode(id uint32, m Message) ([]byte, error) {
	b := AppendFrame(nil, id, m)
	if len(b)-HeaderSize > MaxPayload {
		return nil, fmt.Errorf("wire: %s message of %d bytes, at most %d fit in a frame", m.Type(), len(b)-HeaderSize, MaxPayload)
	}
	return b, nil
}
