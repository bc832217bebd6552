// Package raster is the raster format CloudSkin hands to C programs, CSR1,
// with conversion from GeoTIFF, a synthetic generator for large benchmark
// inputs, and NDVI, the Go reference for the ndvi example.
//
// We use a format of our own because the C programs, which run as cells,
// should stay free of a TIFF library: libtiff is not part of wasi-libc, and
// a 16-byte header followed by a plain array is read with fread and checked
// in a dozen lines of C. GeoTIFF is converted on the host, in Go, before
// the cell runs (FromTIFF).
//
// # The CSR1 format
//
// A CSR1 file is a 16-byte header followed by the samples. All integers are
// little-endian.
//
//	offset  size  field
//	0       4     magic: the ASCII bytes "CSR1"
//	4       4     width: uint32, samples per row, at least 1
//	8       4     height: uint32, rows, at least 1
//	12      2     sample type: uint16, 1 = uint16, 2 = float32 (IEEE 754 binary32)
//	14      2     reserved: uint16, 0
//	16      ...   width*height samples, row-major (the first row first, left
//	              to right within a row), each little-endian: 2 bytes for
//	              uint16, 4 bytes for float32
//
// The samples take width*height*size bytes, which must not exceed
// 4294967295 (2^32 - 1), so that a 32-bit program (a wasm32 cell) can
// compute the size without overflow. A file holds exactly one raster: no
// bytes follow the last sample. Other sample types and a non-zero reserved
// field are errors, kept for later versions. The format carries no
// georeferencing and no nodata value; CloudSkin's programs treat 0 as
// nodata where that matters (NDVI's zero rule).
package raster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Magic starts every CSR1 file.
const Magic = "CSR1"

// HeaderSize is the size of the CSR1 header in bytes.
const HeaderSize = 16

// MaxPayload is the largest size of the samples of one raster, in bytes.
const MaxPayload = 1<<32 - 1

// SampleType says how samples are stored.
type SampleType uint16

// The sample types.
const (
	Uint16  SampleType = 1
	Float32 SampleType = 2
)

// Size returns the size of one sample in bytes, or 0 for an unknown type.
func (t SampleType) Size() int {
	switch t {
	case Uint16:
		return 2
	case Float32:
		return 4
	}
	return 0
}

func (t SampleType) String() string {
	switch t {
	case Uint16:
		return "uint16"
	case Float32:
		return "float32"
	}
	return fmt.Sprintf("SampleType(%d)", uint16(t))
}

// Raster is a width x height grid of samples in row-major order. Exactly
// one of U16 and F32 holds the samples, as Type says.
type Raster struct {
	Width, Height int
	Type          SampleType
	U16           []uint16  // Width*Height samples when Type is Uint16
	F32           []float32 // Width*Height samples when Type is Float32
}

// New returns a zeroed raster.
func New(width, height int, t SampleType) (*Raster, error) {
	if width < 1 || height < 1 {
		return nil, fmt.Errorf("raster: size %dx%d: width and height must be at least 1", width, height)
	}
	if err := checkSize(uint64(width), uint64(height), t); err != nil {
		return nil, err
	}
	r := &Raster{Width: width, Height: height, Type: t}
	switch t {
	case Uint16:
		r.U16 = make([]uint16, width*height)
	case Float32:
		r.F32 = make([]float32, width*height)
	}
	return r, nil
}

// checkSize checks the sample type and that the samples fit MaxPayload.
func checkSize(width, height uint64, t SampleType) error {
	size := t.Size()
	if size == 0 {
		return fmt.Errorf("raster: unknown sample type %d (want 1 for uint16 or 2 for float32)", uint16(t))
	}
	if width == 0 || height == 0 {
		return fmt.Errorf("raster: size %dx%d: width and height must be at least 1", width, height)
	}
	// width and height are below 2^32 (or rejected first), so this does not overflow.
	if width > math.MaxUint32 || height > math.MaxUint32 || width*height > MaxPayload/uint64(size) {
		return fmt.Errorf("raster: size %dx%d of %s is more than %d bytes", width, height, t, uint64(MaxPayload))
	}
	return nil
}

// Validate checks that r describes a raster that can be written.
func (r *Raster) Validate() error {
	if r.Width < 1 || r.Height < 1 {
		return fmt.Errorf("raster: size %dx%d: width and height must be at least 1", r.Width, r.Height)
	}
	if err := checkSize(uint64(r.Width), uint64(r.Height), r.Type); err != nil {
		return err
	}
	n, have := r.Width*r.Height, 0
	switch r.Type {
	case Uint16:
		have = len(r.U16)
	case Float32:
		have = len(r.F32)
	}
	if have != n {
		return fmt.Errorf("raster: %dx%d raster of %s has %d samples, want %d", r.Width, r.Height, r.Type, have, n)
	}
	return nil
}

// chunk is how many bytes of samples Read and Write handle at a time. Read
// never allocates much more than it has actually read, so a header that
// claims 4 GiB costs nothing when the data is not there.
const chunk = 1 << 20

// Read reads one CSR1 raster from r. It reads exactly the header and the
// samples, nothing after them.
func Read(r io.Reader) (*Raster, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return nil, errors.New("raster: empty input, want a CSR1 header")
		}
		return nil, fmt.Errorf("raster: truncated header: %w", err)
	}
	if string(h[:4]) != Magic {
		return nil, fmt.Errorf("raster: bad magic %q, want %q", h[:4], Magic)
	}
	width := binary.LittleEndian.Uint32(h[4:])
	height := binary.LittleEndian.Uint32(h[8:])
	typ := SampleType(binary.LittleEndian.Uint16(h[12:]))
	if reserved := binary.LittleEndian.Uint16(h[14:]); reserved != 0 {
		return nil, fmt.Errorf("raster: reserved header field is %d, want 0", reserved)
	}
	if err := checkSize(uint64(width), uint64(height), typ); err != nil {
		return nil, err
	}

	n := int(width) * int(height)
	size := typ.Size()
	ras := &Raster{Width: int(width), Height: int(height), Type: typ}
	// Start with what fits a few chunks and let append grow from there.
	switch initial := min(n, 16*chunk/size); typ {
	case Uint16:
		ras.U16 = make([]uint16, 0, initial)
	case Float32:
		ras.F32 = make([]float32, 0, initial)
	}
	buf := make([]byte, min(n*size, chunk))
	for done := 0; done < n; {
		k := min(n-done, chunk/size)
		b := buf[:k*size]
		if got, err := io.ReadFull(r, b); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("raster: truncated: %dx%d of %s needs %d bytes of samples, got %d",
					width, height, typ, n*size, done*size+got)
			}
			return nil, fmt.Errorf("raster: reading samples: %w", err)
		}
		switch typ {
		case Uint16:
			for i := 0; i < len(b); i += 2 {
				ras.U16 = append(ras.U16, binary.LittleEndian.Uint16(b[i:]))
			}
		case Float32:
			for i := 0; i < len(b); i += 4 {
				ras.F32 = append(ras.F32, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
			}
		}
		done += k
	}
	return ras, nil
}

// ReadFile reads the CSR1 file at path, which must hold one raster and
// nothing after it.
func ReadFile(path string) (*Raster, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var one [1]byte
	if n, _ := f.Read(one[:]); n > 0 {
		return nil, fmt.Errorf("%s: raster: trailing data after %dx%d samples", path, r.Width, r.Height)
	}
	return r, nil
}

// Write writes r to w in the CSR1 format.
func Write(w io.Writer, r *Raster) error {
	if err := r.Validate(); err != nil {
		return err
	}
	h := make([]byte, HeaderSize, chunk)
	copy(h, Magic)
	binary.LittleEndian.PutUint32(h[4:], uint32(r.Width))
	binary.LittleEndian.PutUint32(h[8:], uint32(r.Height))
	binary.LittleEndian.PutUint16(h[12:], uint16(r.Type))
	buf := h // the header goes out with the first samples
	flush := func() error {
		_, err := w.Write(buf)
		buf = buf[:0]
		return err
	}
	for i := range r.Width * r.Height {
		switch r.Type {
		case Uint16:
			buf = binary.LittleEndian.AppendUint16(buf, r.U16[i])
		case Float32:
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(r.F32[i]))
		}
		if len(buf) > chunk-4 {
			if err := flush(); err != nil {
				return fmt.Errorf("raster: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("raster: %w", err)
	}
	return nil
}

// WriteFile writes r to the file at path, replacing it.
func WriteFile(path string, r *Raster) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = Write(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Diff returns nil when a and b have the same size and type and
// bit-identical samples, and otherwise an error that says how many samples
// differ and where the first one is. It is how the output of a C program
// is compared with the Go reference.
func Diff(a, b *Raster) error {
	if a.Width != b.Width || a.Height != b.Height || a.Type != b.Type {
		return fmt.Errorf("raster: %dx%d of %s vs %dx%d of %s", a.Width, a.Height, a.Type, b.Width, b.Height, b.Type)
	}
	if err := a.Validate(); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return err
	}
	first, count := -1, 0
	for i := range a.Width * a.Height {
		var same bool
		switch a.Type {
		case Uint16:
			same = a.U16[i] == b.U16[i]
		case Float32:
			same = math.Float32bits(a.F32[i]) == math.Float32bits(b.F32[i])
		}
		if !same {
			if first < 0 {
				first = i
			}
			count++
		}
	}
	if count == 0 {
		return nil
	}
	x, y := first%a.Width, first/a.Width
	var va, vb any
	switch a.Type {
	case Uint16:
		va, vb = a.U16[first], b.U16[first]
	case Float32:
		va, vb = a.F32[first], b.F32[first]
	}
	return fmt.Errorf("raster: %d of %d samples differ; the first at x=%d y=%d: %v vs %v", count, a.Width*a.Height, x, y, va, vb)
}
