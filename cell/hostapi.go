package cell

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// The "cloudskin" host module: calls a cell makes to CloudSkin itself,
// declared in cloudskin.h (toolchain.CloudSkinHeader) and described in
// docs/formats/cloudskin-abi.md. Every one of them is a migration point of
// a migratable cell, like any host call, so none keeps state in the host
// that the cell needs to go on: a reader's position lives in the cell's
// memory and comes with every call.
const (
	cloudskinModule  = "cloudskin"
	forkFunc         = "fork"
	parallelismFunc  = "parallelism"
	metricFunc       = "metric"
	streamAppendFunc = "stream_append"
	streamReadFunc   = "stream_read"
)

// Streams is the stream store as cells see it: durable appends and reads
// of one segment's events by offset. Implementations are safe for
// concurrent use (every cell of an agent may share one) and wrap the
// ErrStream* errors below so that cells get the right code. StreamsFromAPI
// is the implementation over the stream store's REST API.
//
// Stream names are "scope/stream"; segment is a segment's number in the
// stream's first epoch (0 for a stream of one segment); offsets are the
// store's byte offsets of events.
type Streams interface {
	// Append stores data as one event under routing key key, durably,
	// before it returns. data aliases the cell's memory: it is valid only
	// during the call.
	Append(ctx context.Context, stream, key string, data []byte) error
	// ReadNext returns the event of a segment at offset, and the offset of
	// the event after it, waiting up to wait for one to arrive when offset
	// is the segment's end. Nothing within wait is (nil, offset, nil); an
	// empty event is a non-nil empty slice with next > offset. An offset
	// whose event was discarded (retention, truncation) is an error
	// wrapping ErrStreamTruncated with next the segment's first retained
	// offset.
	ReadNext(ctx context.Context, stream string, segment uint32, offset uint64, wait time.Duration) (event []byte, next uint64, err error)
}

// Errors a Streams implementation wraps; each is one code a cell sees
// (docs/formats/cloudskin-abi.md). Other errors are reported to the cell as
// ErrStreamUnavailable.
var (
	ErrStreamNotFound    = errors.New("stream or segment not found")
	ErrStreamUnavailable = errors.New("stream store unavailable")
	ErrEventTooLarge     = errors.New("event too large for one append")
	ErrStreamInvalid     = errors.New("invalid stream request")
	ErrStreamTruncated   = errors.New("stream data truncated")
)

// The codes the stream calls return (cloudskin.h, CLOUDSKIN_E*).
const (
	codeNoStreams   = -1 // the cell has no stream store (Spec.Streams is nil)
	codeNotFound    = -2
	codeUnavailable = -3
	codeTooLarge    = -4
	codeInvalid     = -5
	codeTruncated   = -6
	// codeBufferBase - n is stream_read's answer when the next event, of
	// n bytes, does not fit the cell's buffer: codes above it are errors.
	codeBufferBase = -4096
)

// Bounds on what a cell passes.
const (
	// maxMetricName bounds a metric name: short enough for any exporter.
	maxMetricName = 64
	// maxStreamName is "scope/stream" of two 63-character DNS labels.
	maxStreamName = 2*63 + 1
	// maxRoutingKey bounds a routing key, which travels in a URL.
	maxRoutingKey = 1024
	// WaitSlice is the longest a single stream_read call waits for an
	// event. cloudskin.h's cloudskin_stream_read repeats the call until the
	// cell's whole wait has passed, so a cell waiting for events passes a
	// migration point at least this often and a stop request (migration,
	// checkpoint) is honoured within it.
	WaitSlice = 100 * time.Millisecond
)

// cloudskinHost is the "cloudskin" module of one cell described by spec.
// fork returns forkResult: -1 where the cell cannot fork, or, in a cell
// that resumes from a fork, the child's number (parent) or 0 (child).
func cloudskinHost(spec Spec, forkResult int32) engine.HostModule {
	h := &hostAPI{streams: spec.Streams, metrics: spec.Metrics}
	return engine.HostModule{Name: cloudskinModule, Funcs: []engine.HostFunc{
		{
			Name:    forkFunc,
			Results: []engine.ValueType{engine.I32},
			Call: func(_ context.Context, _ engine.Memory, stack []uint64) {
				stack[0] = uint64(uint32(forkResult))
			},
		},
		{
			Name:    parallelismFunc,
			Results: []engine.ValueType{engine.I32},
			Call: func(_ context.Context, _ engine.Memory, stack []uint64) {
				n := 1
				if spec.Parallelism != nil {
					n = max(spec.Parallelism(), 1)
				}
				stack[0] = uint64(uint32(int32(n)))
			},
		},
		{
			Name:    metricFunc,
			Params:  []engine.ValueType{engine.I32, engine.F64},
			Results: []engine.ValueType{engine.I32},
			Call:    h.metric,
		},
		{
			Name:    streamAppendFunc,
			Params:  []engine.ValueType{engine.I32, engine.I32, engine.I32, engine.I32},
			Results: []engine.ValueType{engine.I32},
			Call:    h.streamAppend,
		},
		{
			Name:    streamReadFunc,
			Params:  []engine.ValueType{engine.I32, engine.I32, engine.I32, engine.I32, engine.I32, engine.I32},
			Results: []engine.ValueType{engine.I64},
			Call:    h.streamRead,
		},
	}}
}

// hostAPI serves one cell's metric and stream calls.
type hostAPI struct {
	streams Streams
	metrics func(name string, value float64)
}

// metric is cloudskin_metric(name, value): 0, or -1 for a bad name.
func (h *hostAPI) metric(_ context.Context, mem engine.Memory, stack []uint64) {
	name, ok := cString(mem, uint32(stack[0]), maxMetricName)
	if !ok || !validMetricName(name) {
		stack[0] = i32(-1)
		return
	}
	if h.metrics != nil {
		h.metrics(name, math.Float64frombits(stack[1]))
	}
	stack[0] = 0
}

// validMetricName checks [a-zA-Z_][a-zA-Z0-9_]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// streamAppend is cloudskin_stream_append(stream, key, data, len).
func (h *hostAPI) streamAppend(ctx context.Context, mem engine.Memory, stack []uint64) {
	result := func(code int32) { stack[0] = i32(code) }
	if h.streams == nil {
		result(codeNoStreams)
		return
	}
	stream, ok1 := cString(mem, uint32(stack[0]), maxStreamName)
	key, ok2 := cString(mem, uint32(stack[1]), maxRoutingKey)
	data, ok3 := guestBytes(mem, uint32(stack[2]), uint32(stack[3]))
	if !ok1 || !ok2 || !ok3 {
		result(codeInvalid)
		return
	}
	err := h.streams.Append(ctx, stream, key, data)
	stopIfDone(ctx, streamAppendFunc)
	result(streamCode(err))
}

// streamRead is the raw stream_read(stream, segment, offset*, buf, cap,
// wait_ms): it waits at most WaitSlice; cloudskin.h's
// cloudskin_stream_read loops over it for longer waits.
func (h *hostAPI) streamRead(ctx context.Context, mem engine.Memory, stack []uint64) {
	result := func(code int64) { stack[0] = uint64(code) }
	if h.streams == nil {
		result(codeNoStreams)
		return
	}
	stream, ok1 := cString(mem, uint32(stack[0]), maxStreamName)
	segment, offsetPtr := uint32(stack[1]), uint32(stack[2])
	offsetBytes, ok2 := guestBytes(mem, offsetPtr, 8)
	buf, capacity := uint32(stack[3]), uint32(stack[4])
	_, ok3 := guestBytes(mem, buf, capacity)
	if !ok1 || !ok2 || !ok3 {
		result(codeInvalid)
		return
	}
	offset := binary.LittleEndian.Uint64(offsetBytes)
	wait := min(time.Duration(uint32(stack[5]))*time.Millisecond, WaitSlice)

	event, next, err := h.streams.ReadNext(ctx, stream, segment, offset, wait)
	stopIfDone(ctx, streamReadFunc)
	// Memory cannot grow during a host call; it is looked up afresh only
	// so that nothing here depends on that.
	b := mem.Bytes()
	switch {
	case errors.Is(err, ErrStreamTruncated):
		binary.LittleEndian.PutUint64(b[offsetPtr:], next)
		result(codeTruncated)
	case err != nil:
		result(int64(streamCode(err)))
	case event == nil && next == offset:
		result(0) // nothing arrived within the wait
	case next <= offset:
		result(codeUnavailable) // an implementation that does not advance
	case uint64(len(event)) > uint64(capacity):
		result(codeBufferBase - int64(len(event)))
	default:
		copy(b[buf:], event)
		binary.LittleEndian.PutUint64(b[offsetPtr:], next)
		result(int64(len(event)))
	}
}

// i32 is an i32 result as it goes on the stack.
func i32(v int32) uint64 { return uint64(uint32(v)) }

// stopIfDone ends the cell when its context ended during a host call,
// even an uninterruptible one, which would otherwise go on, see an error
// code and perhaps call again at once (see engine.InstanceConfig).
func stopIfDone(ctx context.Context, call string) {
	if err := ctx.Err(); err != nil {
		panic(&engine.Trap{Reason: fmt.Sprintf("cell stopped in cloudskin %s: %v", call, err)})
	}
}

// streamCode is the code a cell gets for a Streams error.
func streamCode(err error) int32 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrStreamNotFound):
		return codeNotFound
	case errors.Is(err, ErrEventTooLarge):
		return codeTooLarge
	case errors.Is(err, ErrStreamInvalid):
		return codeInvalid
	case errors.Is(err, ErrStreamTruncated):
		return codeTruncated
	}
	return codeUnavailable
}

// cString reads a NUL-terminated string of at most max bytes at ptr; false
// when it runs off memory or is longer.
func cString(mem engine.Memory, ptr uint32, max int) (string, bool) {
	if mem == nil {
		return "", false
	}
	b := mem.Bytes()
	if uint64(ptr) >= uint64(len(b)) {
		return "", false
	}
	end := min(len(b), int(ptr)+max+1)
	for i := int(ptr); i < end; i++ {
		if b[i] == 0 {
			return string(b[ptr:i]), true
		}
	}
	return "", false
}

// guestBytes returns the n bytes of memory at ptr; false when they do not
// all lie inside it.
func guestBytes(mem engine.Memory, ptr, n uint32) ([]byte, bool) {
	if mem == nil {
		return nil, false
	}
	b := mem.Bytes()
	if uint64(ptr)+uint64(n) > uint64(len(b)) {
		return nil, false
	}
	return b[ptr : ptr+n : ptr+n], true
}
