package raster

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    *Raster
		want string // hex of the file
	}{{
		name: "uint16",
		r:    &Raster{Width: 3, Height: 2, Type: Uint16, U16: []uint16{1, 2, 0x0300, 0, 0xffff, 0x1234}},
		want: "43535231" + "03000000" + "02000000" + "0100" + "0000" +
			"0100" + "0200" + "0003" + "0000" + "ffff" + "3412",
	}, {
		name: "float32",
		r:    &Raster{Width: 1, Height: 3, Type: Float32, F32: []float32{1, -0.5, float32(math.Inf(1))}},
		want: "43535231" + "01000000" + "03000000" + "0200" + "0000" +
			"0000803f" + "000000bf" + "0000807f",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, tt.r); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(buf.Bytes()); got != tt.want {
				t.Errorf("Write:\n got %s\nwant %s", got, tt.want)
			}
			back, err := Read(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := Diff(back, tt.r); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWriteReadLarge crosses Read's and Write's chunk boundaries.
func TestWriteReadLarge(t *testing.T) {
	r, err := New(1031, 517, Float32) // 533027 samples, 2.1 MB
	if err != nil {
		t.Fatal(err)
	}
	for i := range r.F32 {
		r.F32[i] = float32(i) * 0.25
	}
	var buf bytes.Buffer
	if err := Write(&buf, r); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != HeaderSize+4*1031*517 {
		t.Errorf("wrote %d bytes", buf.Len())
	}
	back, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := Diff(back, r); err != nil {
		t.Error(err)
	}
}

func header(magic string, w, h uint32, typ, reserved uint16) []byte {
	b := []byte(magic)
	b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	b = append(b, byte(h), byte(h>>8), byte(h>>16), byte(h>>24))
	return append(b, byte(typ), byte(typ>>8), byte(reserved), byte(reserved>>8))
}

func TestReadErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty input"},
		{"short header", []byte("CSR1\x01\x00"), "truncated header"},
		{"bad magic", header("TIFF", 1, 1, 1, 0), `bad magic "TIFF"`},
		{"unknown type", header("CSR1", 1, 1, 3, 0), "unknown sample type 3"},
		{"reserved", header("CSR1", 1, 1, 1, 7), "reserved header field is 7"},
		{"zero width", header("CSR1", 0, 5, 1, 0), "size 0x5"},
		{"zero height", header("CSR1", 5, 0, 2, 0), "size 5x0"},
		{"overflow", header("CSR1", math.MaxUint32, math.MaxUint32, 2, 0), "is more than 4294967295 bytes"},
		{"just over", header("CSR1", 1<<16, 1<<14, 2, 0), "size 65536x16384 of float32 is more than"},
		{"no samples", header("CSR1", 2, 2, 1, 0), "needs 8 bytes of samples, got 0"},
		{"truncated samples", append(header("CSR1", 2, 2, 2, 0), make([]byte, 15)...), "needs 16 bytes of samples, got 15"},
		{"huge and truncated", append(header("CSR1", 65535, 32767, 1, 0), 1, 2, 3), "needs 4294770690 bytes of samples, got 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Read(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read = %v, %v; want an error containing %q", r, err, tt.want)
			}
		})
	}
}

func TestReadLimits(t *testing.T) {
	// The largest uint16 raster the format allows has an odd byte short of 4 GiB.
	if err := checkSize(1<<16, 1<<15-1, Uint16); err != nil {
		t.Error(err)
	}
	if err := checkSize(MaxPayload/2, 1, Uint16); err != nil {
		t.Error(err)
	}
	if err := checkSize(MaxPayload/2+1, 1, Uint16); err == nil {
		t.Error("accepted 2^32 bytes of samples")
	}
	// An I/O error is not reported as truncation.
	boom := errors.New("boom")
	_, err := Read(io.MultiReader(bytes.NewReader(header("CSR1", 4, 4, 1, 0)), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Errorf("Read = %v, want it to wrap %v", err, boom)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	r := &Raster{Width: 2, Height: 1, Type: Uint16, U16: []uint16{7, 9}}
	path := filepath.Join(dir, "a.csr")
	if err := WriteFile(path, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Diff(back, r); err != nil {
		t.Error(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte{0})
	f.Close()
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "trailing data") {
		t.Errorf("ReadFile with a trailing byte = %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none.csr")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file = %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, r := range []*Raster{
		{Width: 2, Height: 2, Type: Uint16, U16: make([]uint16, 3)},
		{Width: 2, Height: 2, Type: Float32, U16: make([]uint16, 4)},
		{Width: 0, Height: 2, Type: Uint16},
		{Width: 1, Height: 1, Type: 9},
	} {
		if err := Write(io.Discard, r); err == nil {
			t.Errorf("Write(%+v) succeeded", r)
		}
	}
	if _, err := New(-1, 2, Uint16); err == nil {
		t.Error("New(-1, 2) succeeded")
	}
}

func TestDiff(t *testing.T) {
	a := &Raster{Width: 2, Height: 2, Type: Float32, F32: []float32{0, 1, 2, 3}}
	b := &Raster{Width: 2, Height: 2, Type: Float32, F32: []float32{0, 1, 2.5, float32(math.Copysign(0, -1))}}
	if err := Diff(a, a); err != nil {
		t.Error(err)
	}
	err := Diff(a, b)
	if err == nil || !strings.Contains(err.Error(), "2 of 4 samples differ; the first at x=0 y=1: 2 vs 2.5") {
		t.Errorf("Diff = %v", err)
	}
	// 0 and -0 compare equal as floats but not as bits.
	z := &Raster{Width: 1, Height: 1, Type: Float32, F32: []float32{0}}
	nz := &Raster{Width: 1, Height: 1, Type: Float32, F32: []float32{float32(math.Copysign(0, -1))}}
	if Diff(z, nz) == nil {
		t.Error("Diff(0, -0) = nil")
	}
	if err := Diff(a, &Raster{Width: 4, Height: 1, Type: Float32, F32: a.F32}); err == nil {
		t.Error("Diff of different sizes = nil")
	}
}

// FuzzRead checks that Read never panics and that whatever it accepts it
// writes back byte for byte.
func FuzzRead(f *testing.F) {
	f.Add(header("CSR1", 2, 1, 1, 0))
	f.Add(append(header("CSR1", 2, 1, 1, 0), 1, 0, 2, 0))
	f.Add(append(header("CSR1", 1, 1, 2, 0), 0, 0, 0x80, 0x3f))
	f.Add(header("CSR1", math.MaxUint32, 3, 2, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := Read(bytes.NewReader(in))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, r); err != nil {
			t.Fatalf("Write of what Read accepted: %v", err)
		}
		if !bytes.HasPrefix(in, buf.Bytes()) {
			t.Fatalf("round trip changed the raster:\n in %x\nout %x", in, buf.Bytes())
		}
	})
}
