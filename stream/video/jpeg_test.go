package video

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// encodeJPEG returns a real JPEG image of w×h made by Go's encoder.
func encodeJPEG(t testing.TB, w, h int, shade uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), shade, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// handMade is a JPEG-shaped image with what real encoders rarely write:
// FF D9 inside a comment, fill bytes before markers, and entropy-coded data
// with stuffed bytes (FF 00), restart markers and two scans.
var handMade = []byte{
	0xFF, 0xD8, // SOI
	0xFF, 0xFE, 0x00, 0x06, 'a', 0xFF, 0xD9, 'b', // COM holding FF D9
	0xFF, 0xFF, 0xC0, 0x00, 0x0B, 8, 0x00, 0x10, 0x00, 0x20, 1, 1, 0x11, 0, // fill byte, SOF0 32x16
	0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0, // SOS
	0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0x00, // entropy data
	0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, 0, 63, 0, // a second scan
	0x78, 0xFF, 0xFF, 0xFF, 0xD9, // data, fill bytes, EOI
}

func TestSplitterCutsBackToBackImagesWhateverTheReads(t *testing.T) {
	a, b := encodeJPEG(t, 64, 48, 0), encodeJPEG(t, 32, 16, 200)
	images := [][]byte{a, handMade, b, a}
	stream := bytes.Join(images, nil)
	readers := map[string]func() io.Reader{
		"whole":       func() io.Reader { return bytes.NewReader(stream) },
		"one byte":    func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half reads":  func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data on EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
	}
	sizes := [][2]int{{64, 48}, {32, 16}, {32, 16}, {64, 48}}
	for name, r := range readers {
		t.Run(name, func(t *testing.T) {
			s := NewSplitter(r(), 0)
			for i, want := range images {
				img, err := s.Next()
				if err != nil {
					t.Fatalf("image %d: %v", i, err)
				}
				if !bytes.Equal(img.Data, want) {
					t.Fatalf("image %d: got %d bytes, want %d", i, len(img.Data), len(want))
				}
				if img.Width != sizes[i][0] || img.Height != sizes[i][1] {
					t.Fatalf("image %d: size %dx%d, want %dx%d", i, img.Width, img.Height, sizes[i][0], sizes[i][1])
				}
			}
			if _, err := s.Next(); err != io.EOF {
				t.Fatalf("after the last image: %v, want io.EOF", err)
			}
		})
	}
}

func TestSplitterRefusesWhatIsNotJPEG(t *testing.T) {
	good := encodeJPEG(t, 16, 16, 0)
	cases := []struct {
		name  string
		input []byte
		max   int
		want  string
		is    error
	}{
		{"garbage", []byte("GIF89a, not a JPEG at all"), 0, "starts with 47 49", ErrNotJPEG},
		{"one stray byte", []byte{'x'}, 0, "starts with 78", ErrNotJPEG},
		{"garbage after an image", append(append([]byte{}, good...), "junk"...), 0, "image 1", ErrNotJPEG},
		{"truncated", good[:len(good)/2], 0, "before its end-of-image marker", io.ErrUnexpectedEOF},
		{"no EOI before the next SOI", append(append([]byte{}, good[:len(good)-2]...), good...), 0, "start-of-image marker inside an image", ErrNotJPEG},
		{"a marker of length 1", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01}, 0, "length 1", ErrNotJPEG},
		{"EOI before any scan", []byte{0xFF, 0xD8, 0xFF, 0xD9}, 0, "before any scan", ErrNotJPEG},
		{"a scan before a frame header", []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0x00, 0xFF, 0xD9}, 0, "scan before any frame header", ErrNotJPEG},
		{"bytes between segments", []byte{0xFF, 0xD8, 0x00}, 0, "want a marker", ErrNotJPEG},
		{"too large", good, 100, "more than 100", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSplitter(bytes.NewReader(c.input), c.max)
			var err error
			for err == nil {
				_, err = s.Next()
			}
			if err == io.EOF || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
				t.Fatalf("got %v, want an error saying %q (wrapping %v)", err, c.want, c.is)
			}
		})
	}
}

func TestSplitterReportsReadErrors(t *testing.T) {
	s := NewSplitter(iotest.TimeoutReader(bytes.NewReader(encodeJPEG(t, 16, 16, 0))), 0)
	// TimeoutReader fails its second read; a 1 MiB buffer reads the image at once.
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("got %v, want the reader's error", err)
	}
}

// FuzzSplitter feeds the splitter arbitrary bytes: it must not panic, what
// it returns must be JPEG-delimited pieces of the input in order, and
// reading the input one byte at a time must give the same answer.
func FuzzSplitter(f *testing.F) {
	f.Add(encodeJPEG(f, 16, 8, 0))
	f.Add(handMade)
	f.Add(append(append([]byte{}, handMade...), handMade[:20]...))
	f.Add([]byte{0xFF, 0xD8, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, wholeErr := splitAll(bytes.NewReader(data))
		bytewise, byteErr := splitAll(iotest.OneByteReader(bytes.NewReader(data)))
		if (wholeErr == nil) != (byteErr == nil) || len(whole) != len(bytewise) {
			t.Fatalf("whole: %d images, %v; byte by byte: %d images, %v", len(whole), wholeErr, len(bytewise), byteErr)
		}
		rest := data
		for i, img := range whole {
			if !bytes.Equal(img, bytewise[i]) || !bytes.HasPrefix(rest, img) {
				t.Fatalf("image %d is not the next piece of the input", i)
			}
			if len(img) < 4 || !bytes.HasPrefix(img, []byte{0xFF, 0xD8}) || !bytes.HasSuffix(img, []byte{0xFF, 0xD9}) {
				t.Fatalf("image %d is not delimited by SOI and EOI: % x", i, img)
			}
			rest = rest[len(img):]
		}
		if wholeErr == nil && len(rest) != 0 {
			t.Fatalf("%d bytes left without an error", len(rest))
		}
	})
}

func splitAll(r io.Reader) ([][]byte, error) {
	s := NewSplitter(r, 1<<16)
	var out [][]byte
	for {
		img, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(img.Data))
	}
}
