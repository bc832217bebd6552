package stream

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// A chunk is a run of whole events records of one segment, coalesced and
// written to long-term storage as one object (docs/formats/stream-lts.md):
//
//	0  8  magic "CSKCHUNK"     8  4  version (1)       12 4  stream number
//	16 8  segment id           24 8  start offset      32 8  end offset
//	40 4  record count n
//	44 16n  per record: segment offset of its first event, append time
//	then end-start bytes: the segment's bytes [start, end), unchanged
//	then 4 bytes: CRC-32C of everything before
type chunk struct {
	stream     uint32
	segment    SegmentID
	start, end int64
	marks      []chunkMark
	frames     []byte // the segment's bytes [start, end)
}

// chunkMark is where one of a chunk's records starts and when it was
// appended, so that events read from long-term storage keep their times.
type chunkMark struct {
	offset int64
	time   int64 // Unix nanoseconds
}

const (
	chunkMagic      = "CSKCHUNK"
	chunkVersion    = 1
	chunkHeaderSize = 44
	chunkMarkSize   = 16
	chunkTrailer    = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// chunkKey names a chunk's object: the stream number, the segment id and
// the start offset, so that a chunk written again after a crash (same
// start) replaces the old copy instead of leaving an orphan.
func chunkKey(prefix string, stream uint32, seg SegmentID, start int64) string {
	return fmt.Sprintf("%s%d/%d/%020d.chunk", prefix, stream, uint64(seg), start)
}

// encodeChunk lays out a chunk.
func encodeChunk(c *chunk) []byte {
	b := make([]byte, 0, chunkHeaderSize+chunkMarkSize*len(c.marks)+len(c.frames)+chunkTrailer)
	b = append(b, chunkMagic...)
	b = binary.LittleEndian.AppendUint32(b, chunkVersion)
	b = binary.LittleEndian.AppendUint32(b, c.stream)
	b = binary.LittleEndian.AppendUint64(b, uint64(c.segment))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.start))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.end))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.marks)))
	for _, m := range c.marks {
		b = binary.LittleEndian.AppendUint64(b, uint64(m.offset))
		b = binary.LittleEndian.AppendUint64(b, uint64(m.time))
	}
	b = append(b, c.frames...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeChunk parses and checks a chunk; frames alias b.
func decodeChunk(b []byte) (*chunk, error) {
	if len(b) < chunkHeaderSize+chunkTrailer {
		return nil, fmt.Errorf("chunk: %d bytes, shorter than its header", len(b))
	}
	if string(b[:8]) != chunkMagic {
		return nil, fmt.Errorf("chunk: bad magic %q", b[:8])
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != chunkVersion {
		return nil, fmt.Errorf("chunk: version %d, this build reads %d", v, chunkVersion)
	}
	body := b[:len(b)-chunkTrailer]
	if want, got := binary.LittleEndian.Uint32(b[len(body):]), crc32.Checksum(body, castagnoli); want != got {
		return nil, fmt.Errorf("chunk: checksum %08x, the chunk says %08x (damaged)", got, want)
	}
	c := &chunk{
		stream:  binary.LittleEndian.Uint32(b[12:]),
		segment: SegmentID(binary.LittleEndian.Uint64(b[16:])),
		start:   int64(binary.LittleEndian.Uint64(b[24:])),
		end:     int64(binary.LittleEndian.Uint64(b[32:])),
	}
	n := int64(binary.LittleEndian.Uint32(b[40:]))
	if c.start < 0 || c.end <= c.start {
		return nil, fmt.Errorf("chunk: bounds [%d, %d)", c.start, c.end)
	}
	if n == 0 || n > int64(len(body)) || chunkHeaderSize+chunkMarkSize*n+(c.end-c.start) != int64(len(body)) {
		return nil, fmt.Errorf("chunk: %d records and %d segment bytes do not fill %d bytes", n, c.end-c.start, len(body))
	}
	c.marks = make([]chunkMark, n)
	for i := range c.marks {
		at := chunkHeaderSize + chunkMarkSize*i
		c.marks[i] = chunkMark{offset: int64(binary.LittleEndian.Uint64(body[at:])), time: int64(binary.LittleEndian.Uint64(body[at+8:]))}
		prev := c.start - 1
		if i > 0 {
			prev = c.marks[i-1].offset
		}
		if m := c.marks[i].offset; m <= prev || m >= c.end || (i == 0 && m != c.start) {
			return nil, fmt.Errorf("chunk: record %d at offset %d is out of order in [%d, %d)", i, m, c.start, c.end)
		}
	}
	c.frames = body[chunkHeaderSize+chunkMarkSize*n:]
	if _, err := countFrames(c.frames); err != nil {
		return nil, fmt.Errorf("chunk: %w", err)
	}
	if err := c.checkMarks(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkMarks checks that every record starts at an event boundary. The
// frames are known to be whole.
func (c *chunk) checkMarks() error {
	m := 0
	for off := 0; off < len(c.frames) && m < len(c.marks); {
		at := c.start + int64(off)
		if c.marks[m].offset < at {
			return fmt.Errorf("chunk: record %d at offset %d is inside an event", m, c.marks[m].offset)
		}
		if c.marks[m].offset == at {
			m++
		}
		off += 4 + int(binary.LittleEndian.Uint32(c.frames[off:]))
	}
	if m < len(c.marks) {
		return fmt.Errorf("chunk: record %d at offset %d is inside an event", m, c.marks[m].offset)
	}
	return nil
}

// events appends to out the chunk's events from offset from on, stopping
// before maxBytes of segment bytes are exceeded (at least one event is
// returned). from must be an event boundary in [start, end).
func (c *chunk) events(out []Event, from, maxBytes int64) ([]Event, error) {
	taken := int64(0)
	for i, m := range c.marks {
		recEnd := c.end
		if i+1 < len(c.marks) {
			recEnd = c.marks[i+1].offset
		}
		if recEnd <= from {
			continue
		}
		frames := c.frames[m.offset-c.start : recEnd-c.start]
		evs, err := eventsFrom(nil, c.segment, frames, m.offset, max(from, m.offset), time.Unix(0, m.time))
		if err != nil {
			return out, err
		}
		for _, ev := range evs {
			size := ev.Next - ev.Offset
			if taken > 0 && taken+size > maxBytes {
				return out, nil
			}
			out = append(out, ev)
			taken += size
		}
	}
	return out, nil
}
