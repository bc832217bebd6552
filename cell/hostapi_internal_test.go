package cell

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
)

type sliceMemory []byte

func (m sliceMemory) Bytes() []byte { return m }

// fixedStreams answers every read with one event and takes every append.
type fixedStreams struct {
	event    []byte
	appended []byte
}

func (f *fixedStreams) Append(_ context.Context, _, _ string, data []byte) error {
	f.appended = bytes.Clone(data)
	return nil
}

func (f *fixedStreams) ReadNext(_ context.Context, _ string, _ uint32, offset uint64, _ time.Duration) ([]byte, uint64, error) {
	return f.event, offset + uint64(len(f.event)) + 4, nil
}

func hostFunc(t testing.TB, m engine.HostModule, name string) engine.HostFunc {
	for _, f := range m.Funcs {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no host function %s", name)
	return engine.HostFunc{}
}

// The host side of stream_read and stream_append, given any arguments,
// never panics and never writes outside the buffer and the offset the
// cell passed; stream_read returns what it wrote.
func FuzzStreamCalls(f *testing.F) {
	f.Add(uint32(0), uint32(64), uint32(8), uint32(100), uint32(16), []byte("an event"), []byte("test/s\x00"))
	f.Add(uint32(0), uint32(65530), uint32(65000), uint32(1000), uint32(4), []byte("x"), []byte("a/b\x00"))
	f.Add(uint32(0xffffffff), uint32(0), uint32(0), uint32(0xffffffff), uint32(0), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, name, offsetPtr, buf, capacity, length uint32, event, text []byte) {
		mem := make(sliceMemory, 1<<16)
		copy(mem, text)
		orig := bytes.Clone(mem)
		s := &fixedStreams{event: event}
		h := cloudskinHost(Spec{Streams: s}, -1)

		stack := []uint64{uint64(name), 0, uint64(offsetPtr), uint64(buf), uint64(capacity), 500}
		hostFunc(t, h, streamReadFunc).Call(context.Background(), mem, stack)
		r := int64(stack[0])
		for i := range mem {
			inBuf := uint64(i) >= uint64(buf) && uint64(i) < uint64(buf)+uint64(r)
			inOffset := uint64(i) >= uint64(offsetPtr) && uint64(i) < uint64(offsetPtr)+8
			if mem[i] != orig[i] && !(r > 0 && inBuf || r >= 0 && inOffset) {
				t.Fatalf("stream_read returned %d and changed byte %d (buf %d cap %d offset at %d)", r, i, buf, capacity, offsetPtr)
			}
		}
		switch {
		case r > 0:
			// The offset is written after the event, over it where the
			// cell made them overlap.
			overlap := uint64(offsetPtr) < uint64(buf)+uint64(r) && uint64(buf) < uint64(offsetPtr)+8
			if r != int64(len(event)) || !overlap && !bytes.Equal(mem[buf:uint64(buf)+uint64(r)], event) {
				t.Fatalf("stream_read returned %d for an event of %d bytes", r, len(event))
			}
		case r <= codeBufferBase:
			if uint64(codeBufferBase-r) != uint64(len(event)) || uint64(len(event)) <= uint64(capacity) {
				t.Fatalf("stream_read returned %d (too big) for an event of %d bytes and a buffer of %d", r, len(event), capacity)
			}
		}

		stack = []uint64{uint64(name), uint64(offsetPtr), uint64(buf), uint64(length)}
		hostFunc(t, h, streamAppendFunc).Call(context.Background(), sliceMemory(orig), stack)
		if code := int32(stack[0]); code == 0 && !bytes.Equal(s.appended, orig[buf:uint64(buf)+uint64(length)]) {
			t.Fatalf("stream_append sent %d bytes, want the %d at %d", len(s.appended), length, buf)
		}
	})
}

func FuzzMetricName(f *testing.F) {
	for _, s := range []string{"fps", "latency_ms", "_x9", "9x", "a b", "", "üñí", string(make([]byte, 70))} {
		f.Add([]byte(s + "\x00"))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		mem := make(sliceMemory, 256)
		copy(mem, text)
		var got []string
		h := cloudskinHost(Spec{Metrics: func(name string, v float64) {
			if v != 1.5 {
				t.Fatalf("value %v, want 1.5", v)
			}
			got = append(got, name)
		}}, -1)
		stack := []uint64{0, math.Float64bits(1.5)}
		hostFunc(t, h, metricFunc).Call(context.Background(), mem, stack)
		name, _, _ := bytes.Cut(mem, []byte{0})
		valid := len(name) <= maxMetricName && validMetricName(string(name)) && bytes.IndexByte(mem, 0) >= 0
		switch code := int32(stack[0]); {
		case valid && (code != 0 || len(got) != 1 || got[0] != string(name)):
			t.Fatalf("valid name %q: code %d, reported %q", name, code, got)
		case !valid && (code != -1 || len(got) != 0):
			t.Fatalf("invalid name %q: code %d, reported %q", name, code, got)
		}
		for _, c := range got {
			for i := 0; i < len(c); i++ {
				ch := c[i]
				if !(ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
					t.Fatalf("reported name %q has %q", c, ch)
				}
			}
		}
	})
}

func TestOffsetIsLittleEndianAndAdvances(t *testing.T) {
	mem := make(sliceMemory, 1024)
	copy(mem, "test/s\x00")
	binary.LittleEndian.PutUint64(mem[64:], 1000)
	h := cloudskinHost(Spec{Streams: &fixedStreams{event: []byte("hello")}}, -1)
	stack := []uint64{0, 0, 64, 128, 16, 0}
	hostFunc(t, h, streamReadFunc).Call(context.Background(), mem, stack)
	if int64(stack[0]) != 5 || string(mem[128:133]) != "hello" || binary.LittleEndian.Uint64(mem[64:]) != 1009 {
		t.Fatalf("read returned %d, buffer %q, offset %d", int64(stack[0]), mem[128:133], binary.LittleEndian.Uint64(mem[64:]))
	}
}
