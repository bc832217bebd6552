package raster

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The Landsat 8 crop in testdata (see its README). Known values were read
// with an independent parser of the TIFF strips (a few lines of Python's
// struct module), not with golang.org/x/image.
const landsat = "testdata/landsat8-016037"

func readTIFF(t *testing.T, name string) *Raster {
	t.Helper()
	f, err := os.Open(filepath.Join(landsat, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := FromTIFF(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestFromTIFF(t *testing.T) {
	for _, tt := range []struct {
		name          string
		sum           uint64
		maxv          uint16
		zeros         int
		at100, at128  uint16 // (100,100) and (128,37)
		atCornerBlank uint16 // (254,258)
	}{
		{"B4.TIF", 516128569, 65035, 19945, 7142, 7406, 0},
		{"B5.TIF", 802243403, 65535, 19944, 11775, 20035, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := readTIFF(t, tt.name)
			if r.Width != 255 || r.Height != 259 || r.Type != Uint16 || len(r.U16) != 255*259 {
				t.Fatalf("got %dx%d %s with %d samples, want 255x259 uint16", r.Width, r.Height, r.Type, len(r.U16))
			}
			var sum uint64
			var maxv uint16
			zeros := 0
			for _, v := range r.U16 {
				sum += uint64(v)
				maxv = max(maxv, v)
				if v == 0 {
					zeros++
				}
			}
			if sum != tt.sum || maxv != tt.maxv || zeros != tt.zeros {
				t.Errorf("sum %d max %d zeros %d, want %d %d %d", sum, maxv, zeros, tt.sum, tt.maxv, tt.zeros)
			}
			at := func(x, y int) uint16 { return r.U16[y*r.Width+x] }
			if at(100, 100) != tt.at100 || at(128, 37) != tt.at128 || at(254, 258) != tt.atCornerBlank || at(0, 0) != 0 {
				t.Errorf("(100,100)=%d (128,37)=%d (254,258)=%d (0,0)=%d", at(100, 100), at(128, 37), at(254, 258), at(0, 0))
			}
		})
	}
}

func TestFromTIFFErrors(t *testing.T) {
	if _, err := FromTIFF(strings.NewReader("CSR1 is not a TIFF")); err == nil {
		t.Error("FromTIFF of garbage succeeded")
	}
}

func TestNDVILandsat(t *testing.T) {
	red, nir := readTIFF(t, "B4.TIF"), readTIFF(t, "B5.TIF")
	out, err := NDVI(red, nir)
	if err != nil {
		t.Fatal(err)
	}
	at := func(x, y int) float32 { return out.F32[y*out.Width+x] }
	// float32 bits computed independently: Python's correctly rounded
	// double quotient, rounded to binary32 (exact: 53 >= 2*24+2 bits).
	for _, tt := range []struct {
		x, y int
		bits uint32
	}{
		{100, 100, 0x3e7aca35}, // (11775-7142)/(11775+7142) = 0.24491198
		{128, 37, 0x3eeba273},  // (20035-7406)/(20035+7406) = 0.46022376
		{210, 242, 0x3f800000}, // red 0, NIR 8577: exactly 1
		{0, 0, 0},              // both 0: the zero rule
	} {
		if got := math.Float32bits(at(tt.x, tt.y)); got != tt.bits {
			t.Errorf("NDVI(%d,%d) = %v (%#x), want %#x", tt.x, tt.y, at(tt.x, tt.y), got, tt.bits)
		}
	}
	valid := 0
	for i, v := range out.F32 {
		if v < -1 || v > 1 || math.IsNaN(float64(v)) {
			t.Fatalf("sample %d = %v, outside [-1, 1]", i, v)
		}
		if red.U16[i] != 0 || nir.U16[i] != 0 {
			valid++
		}
	}
	if valid != 46101 {
		t.Errorf("%d pixels with data, want 46101", valid)
	}
}

func TestNDVIErrors(t *testing.T) {
	a, _ := New(2, 2, Uint16)
	b, _ := New(2, 3, Uint16)
	f, _ := New(2, 2, Float32)
	if _, err := NDVI(a, b); err == nil {
		t.Error("NDVI of different sizes succeeded")
	}
	if _, err := NDVI(a, f); err == nil {
		t.Error("NDVI of a float32 band succeeded")
	}
}

func TestGenerate(t *testing.T) {
	red, nir := Generate(300, 200, 42)
	if red.Width != 300 || red.Height != 200 || red.Type != Uint16 || nir.Type != Uint16 || len(nir.U16) != 300*200 || nir.F32 != nil {
		t.Fatalf("Generate gave %+v / %+v", red.Type, nir.Type)
	}
	again, _ := Generate(300, 200, 42)
	if err := Diff(red, again); err != nil {
		t.Errorf("not deterministic: %v", err)
	}
	other, _ := Generate(300, 200, 43)
	if Diff(red, other) == nil {
		t.Error("seeds 42 and 43 gave the same raster")
	}
	// Fixed values, from an independent Python transcription of the
	// algorithm: Generate must not change, or benchmark inputs change with it.
	at := func(r *Raster, x, y int) [2]uint16 { return [2]uint16{r.U16[y*r.Width+x], nir.U16[y*r.Width+x]} }
	for _, tt := range []struct {
		x, y int
		want [2]uint16
	}{{0, 0, [2]uint16{0, 0}}, {24, 0, [2]uint16{0, 0}}, {25, 0, [2]uint16{12820, 11012}}, {150, 100, [2]uint16{11026, 15763}}, {299, 199, [2]uint16{7392, 26962}}} {
		if got := at(red, tt.x, tt.y); got != tt.want {
			t.Errorf("(%d,%d): red, NIR = %v, want %v", tt.x, tt.y, got, tt.want)
		}
	}
	zeros := 0
	for i := range red.U16 {
		r, n := red.U16[i], nir.U16[i]
		if r == 0 && n == 0 {
			zeros++
			continue
		}
		if r < 6000 || r > 6000+1023*8+255 || n < 6000 || n > 6000+1023*24+255 {
			t.Fatalf("sample %d: red %d NIR %d out of range", i, r, n)
		}
	}
	if zeros != 325 { // the corner triangle x+y < 25: 25*26/2
		t.Errorf("%d nodata pixels, want 325", zeros)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Generate(0, 1) did not panic")
			}
		}()
		Generate(0, 1, 1)
	}()
}

// TestNDVIProgram builds examples/ndvi/ndvi.c natively with mpicc, runs it
// on the Landsat bands converted to CSR1 with mpirun on 2 ranks (259 rows:
// an uneven split), and on a generated scene on 3 ranks, and compares its
// output with NDVI bit for bit.
func TestNDVIProgram(t *testing.T) {
	mpicc, err1 := exec.LookPath("mpicc")
	mpirun, err2 := exec.LookPath("mpirun")
	if err1 != nil || err2 != nil {
		t.Skip("no mpicc or mpirun (apt-get install libopenmpi-dev openmpi-bin)")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "ndvi")
	if out, err := exec.CommandContext(ctx, mpicc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin, "../../examples/ndvi/ndvi.c").CombinedOutput(); err != nil {
		t.Fatalf("mpicc: %v\n%s", err, out)
	}
	gred, gnir := Generate(517, 301, 7)
	for _, tt := range []struct {
		name     string
		ranks    string
		red, nir *Raster
		summary  string
	}{
		{"landsat", "2", readTIFF(t, "B4.TIF"), readTIFF(t, "B5.TIF"), "ndvi: 255x259 pixels on 2 ranks, 46101 valid\n"},
		{"generated", "3", gred, gnir, "ndvi: 517x301 pixels on 3 ranks, 154914 valid\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			redPath, nirPath, outPath := filepath.Join(dir, tt.name+"-red.csr"), filepath.Join(dir, tt.name+"-nir.csr"), filepath.Join(dir, tt.name+"-ndvi.csr")
			if err := WriteFile(redPath, tt.red); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(nirPath, tt.nir); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, mpirun, "-n", tt.ranks, "--allow-run-as-root", "--oversubscribe", bin, redPath, nirPath, outPath)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("mpirun: %v\n%s", err, out)
			}
			t.Logf("%s", out)
			if !strings.Contains(string(out), tt.summary) {
				t.Errorf("output lacks the summary line:\n%s", out)
			}
			got, err := ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}
			want, err := NDVI(tt.red, tt.nir)
			if err != nil {
				t.Fatal(err)
			}
			if err := Diff(got, want); err != nil {
				t.Error(err)
			}
		})
	}
}
