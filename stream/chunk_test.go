package stream

import (
	"bytes"
	"strings"
	"testing"
)

func testChunk() *chunk {
	frames := appendEventsRecord(nil, eventsRecord{}, [][]byte{[]byte("one"), []byte("two")})[eventsHeaderSize+4:]
	more := appendEventsRecord(nil, eventsRecord{}, [][]byte{[]byte("three")})[eventsHeaderSize+4:]
	return &chunk{
		stream: 2, segment: NewSegmentID(1, 3), start: 100, end: 100 + int64(len(frames)+len(more)),
		marks:  []chunkMark{{100, 5000}, {100 + int64(len(frames)), 6000}},
		frames: append(append([]byte(nil), frames...), more...),
	}
}

func TestChunkRoundTrip(t *testing.T) {
	in := testChunk()
	out, err := decodeChunk(encodeChunk(in))
	if err != nil {
		t.Fatal(err)
	}
	if out.stream != in.stream || out.segment != in.segment || out.start != in.start || out.end != in.end ||
		len(out.marks) != 2 || out.marks[1] != in.marks[1] || !bytes.Equal(out.frames, in.frames) {
		t.Fatalf("decoded %+v, want %+v", out, in)
	}
	evs, err := out.events(nil, 107, 1<<20) // from the second event on
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || string(evs[0].Data) != "two" || string(evs[1].Data) != "three" || evs[1].Time.UnixNano() != 6000 || evs[0].Time.UnixNano() != 5000 {
		t.Fatalf("events from 107: %+v", evs)
	}
	if _, err := out.events(nil, 108, 1<<20); err == nil {
		t.Fatal("reading from inside an event succeeded")
	}
	if evs, _ := out.events(nil, 100, 1); len(evs) != 1 {
		t.Fatalf("a 1-byte read returned %d events, want exactly 1", len(evs))
	}
}

func TestChunkRejectsDamage(t *testing.T) {
	good := encodeChunk(testChunk())
	cases := map[string]func([]byte) []byte{
		"checksum":    func(b []byte) []byte { b[60] ^= 1; return b },
		"magic":       func(b []byte) []byte { b[0] = 'X'; return b },
		"shorter":     func(b []byte) []byte { return b[:20] },
		"truncated":   func(b []byte) []byte { return b[:len(b)-5] },
		"version 2":   func(b []byte) []byte { b[8] = 2; return b },
		"empty input": func([]byte) []byte { return nil },
		"mark inside an event": func([]byte) []byte {
			c := testChunk()
			c.marks[1].offset++
			return encodeChunk(c)
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeChunk(damage(bytes.Clone(good)))
			if err == nil || !strings.HasPrefix(err.Error(), "chunk: ") {
				t.Fatalf("decoding a chunk with damage %q: %v", name, err)
			}
		})
	}
}

func FuzzDecodeChunk(f *testing.F) {
	f.Add(encodeChunk(testChunk()))
	f.Add([]byte(chunkMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeChunk(b)
		if err != nil {
			return
		}
		// A chunk that decodes reads back whole and re-encodes the same.
		if !bytes.Equal(encodeChunk(c), b) {
			t.Fatal("re-encoding a decoded chunk changed it")
		}
		evs, err := c.events(nil, c.start, 1<<62)
		if err != nil {
			t.Fatalf("events of a valid chunk: %v", err)
		}
		if len(evs) == 0 || evs[len(evs)-1].Next != c.end {
			t.Fatalf("events of [%d, %d) end at %d", c.start, c.end, evs[len(evs)-1].Next)
		}
	})
}
