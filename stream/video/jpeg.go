package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// JPEG markers the splitter cares about (ITU T.81, table B.1).
const (
	markerSOI  = 0xD8 // start of image
	markerEOI  = 0xD9 // end of image
	markerSOS  = 0xDA // start of scan: entropy-coded data follows its header
	markerTEM  = 0x01 // standalone, no length
	markerRST0 = 0xD0 // RST0..RST7: restart markers inside entropy-coded data
	markerRST7 = 0xD7
)

// DefaultMaxFrameBytes bounds one JPEG image: a frame event must fit in one
// append of the store (stream.MaxAppendBytes) with its header.
const DefaultMaxFrameBytes = 8<<20 - 1024

// ErrNotJPEG is wrapped by the splitter's errors about bytes that are not a
// JPEG image where one should be.
var ErrNotJPEG = errors.New("not a JPEG image")

// Splitter cuts a byte stream of JPEG images written back to back (what
// ffmpeg's mjpeg muxer writes) into images. It walks the markers instead of
// searching for FF D9, which may occur inside a segment's payload (a
// thumbnail, a comment) and never occurs in entropy-coded data only
// because that is byte-stuffed: FF is written FF 00 there, and FF D0..D7
// are restart markers, so the first other marker after a scan ends it.
type Splitter struct {
	r        io.Reader
	max      int
	buf      []byte // buf[start:] is the unread part of the stream
	start    int
	eof      bool
	frames   int64 // images returned so far
	consumed int64 // stream bytes before buf[start]
	scan     scanState
}

// NewSplitter returns a splitter reading r that refuses images larger than
// maxBytes (0 means DefaultMaxFrameBytes).
func NewSplitter(r io.Reader, maxBytes int) *Splitter {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFrameBytes
	}
	return &Splitter{r: r, max: maxBytes, buf: make([]byte, 0, min(maxBytes+1, 1<<20))}
}

// Image is one JPEG image cut from the stream.
type Image struct {
	// Data is the image from its SOI to its EOI marker. It is valid until
	// the next call to Next.
	Data []byte
	// Width and Height come from the image's frame header (SOFn).
	Width, Height int
}

// Next returns the next image, io.EOF at a clean end of the stream (between
// images), or an error naming what is wrong and where; after an error the
// splitter is not usable.
func (s *Splitter) Next() (Image, error) {
	for {
		frame := s.buf[s.start:]
		n, err := s.scan.next(frame)
		if err != nil {
			return Image{}, fmt.Errorf("video: image %d (stream byte %d): %w", s.frames, s.consumed, err)
		}
		if n > s.max {
			return Image{}, fmt.Errorf("video: image %d (stream byte %d): %d bytes, more than the %d allowed", s.frames, s.consumed, n, s.max)
		}
		if n > 0 {
			img := Image{Data: frame[:n:n], Width: s.scan.width, Height: s.scan.height}
			s.start += n
			s.consumed += int64(n)
			s.frames++
			s.scan = scanState{}
			return img, nil
		}
		if len(frame) > s.max {
			return Image{}, fmt.Errorf("video: image %d (stream byte %d): more than %d bytes without an end-of-image marker", s.frames, s.consumed, s.max)
		}
		if s.eof {
			if len(frame) == 0 {
				return Image{}, io.EOF
			}
			return Image{}, fmt.Errorf("video: image %d (stream byte %d): the stream ends %d bytes into it, before its end-of-image marker: %w", s.frames, s.consumed, len(frame), io.ErrUnexpectedEOF)
		}
		if err := s.fill(); err != nil {
			return Image{}, fmt.Errorf("video: reading image %d: %w", s.frames, err)
		}
	}
}

// fill reads more of the stream, first moving the unread part to the front
// of the buffer and growing it if it is full.
func (s *Splitter) fill() error {
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:])
		s.buf = s.buf[:n]
		s.start = 0
	}
	if len(s.buf) == cap(s.buf) {
		grown := make([]byte, len(s.buf), min(2*cap(s.buf), s.max+1))
		copy(grown, s.buf)
		s.buf = grown
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if errors.Is(err, io.EOF) {
		s.eof = true
		return nil
	}
	return err
}

// scanState is how far the walk through one image has got, so that a
// partial image is not walked again from its start when more bytes come.
type scanState struct {
	pos       int  // next byte to look at, relative to the image's start
	inEntropy bool // pos is inside entropy-coded data
	sawFrame  bool // a frame header (SOFn) was seen
	sawScan   bool // a scan (SOS) was seen
	width     int
	height    int
}

// next walks data, the start of an image, from where the last call
// stopped. It returns the image's length once its EOI marker is in data,
// 0 if more bytes are needed, or an error.
func (st *scanState) next(data []byte) (int, error) {
	p := st.pos
	if p == 0 {
		if len(data) < 2 {
			if len(data) == 1 && data[0] != 0xFF {
				return 0, fmt.Errorf("%w: starts with %02X, want the start-of-image marker FF D8", ErrNotJPEG, data[0])
			}
			return 0, nil
		}
		if data[0] != 0xFF || data[1] != markerSOI {
			return 0, fmt.Errorf("%w: starts with %02X %02X, want the start-of-image marker FF D8", ErrNotJPEG, data[0], data[1])
		}
		p = 2
	}
	for {
		if st.inEntropy {
			end, marker := entropyEnd(data, p)
			if !marker {
				st.pos = end
				return 0, nil
			}
			st.inEntropy = false
			p = end
		}
		n, need, err := st.segment(data, p)
		if err != nil {
			return 0, fmt.Errorf("byte %d: %w", p, err)
		}
		if need {
			st.pos = p
			return 0, nil
		}
		if n < 0 {
			return -n, nil // EOI: -n is the image's length
		}
		p = n
	}
}

// entropyEnd scans entropy-coded data from p for the marker that ends it.
// It returns that marker's position and true, or, if data ends first, the
// position to resume from and false.
func entropyEnd(data []byte, p int) (int, bool) {
	for {
		i := bytes.IndexByte(data[p:], 0xFF)
		if i < 0 {
			return len(data), false
		}
		p += i
		if p+1 >= len(data) {
			return p, false
		}
		switch b := data[p+1]; {
		case b == 0x00, b >= markerRST0 && b <= markerRST7:
			p += 2 // a stuffed FF, or a restart marker: still data
		case b == 0xFF:
			p++ // fill byte before a marker
		default:
			return p, true
		}
	}
}

// segment reads the marker at p and its segment. It returns where the next
// one starts; minus the image's length for EOI; need if data ends first.
func (st *scanState) segment(data []byte, p int) (next int, need bool, err error) {
	if p >= len(data) {
		return 0, true, nil
	}
	if data[p] != 0xFF {
		return 0, false, fmt.Errorf("%w: want a marker (FF xx), got %02X", ErrNotJPEG, data[p])
	}
	q := p + 1
	for q < len(data) && data[q] == 0xFF {
		q++ // fill bytes
	}
	if q >= len(data) {
		return 0, true, nil
	}
	switch m := data[q]; {
	case m == 0x00:
		return 0, false, fmt.Errorf("%w: stuffed byte FF 00 outside entropy-coded data", ErrNotJPEG)
	case m == markerSOI:
		return 0, false, fmt.Errorf("%w: a start-of-image marker inside an image (the one before has no end-of-image marker)", ErrNotJPEG)
	case m == markerEOI:
		if !st.sawScan {
			return 0, false, fmt.Errorf("%w: end-of-image marker before any scan (no image data)", ErrNotJPEG)
		}
		return -(q + 1), false, nil
	case m == markerTEM, m >= markerRST0 && m <= markerRST7:
		return q + 1, false, nil // standalone markers have no length
	default:
		if q+3 > len(data) {
			return 0, true, nil
		}
		length := int(binary.BigEndian.Uint16(data[q+1:]))
		if length < 2 {
			return 0, false, fmt.Errorf("%w: marker FF %02X has length %d, less than its own 2 bytes", ErrNotJPEG, m, length)
		}
		end := q + 1 + length
		if end > len(data) {
			return 0, true, nil
		}
		if err := st.header(m, data[q+3:end]); err != nil {
			return 0, false, err
		}
		return end, false, nil
	}
}

// header takes what the splitter needs from a marker segment's payload:
// the size from a frame header, and the start of entropy-coded data after
// a scan header.
func (st *scanState) header(m byte, payload []byte) error {
	switch {
	case isFrameHeader(m):
		if len(payload) < 6 {
			return fmt.Errorf("%w: frame header FF %02X of %d bytes, want at least 6", ErrNotJPEG, m, len(payload))
		}
		st.height = int(binary.BigEndian.Uint16(payload[1:3]))
		st.width = int(binary.BigEndian.Uint16(payload[3:5]))
		st.sawFrame = true
	case m == markerSOS:
		if !st.sawFrame {
			return fmt.Errorf("%w: a scan before any frame header", ErrNotJPEG)
		}
		st.sawScan = true
		st.inEntropy = true
	}
	return nil
}

// isFrameHeader reports whether m is one of SOF0..SOF15 (C0..CF except
// DHT C4, JPG C8 and DAC CC, which share the range).
func isFrameHeader(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}
