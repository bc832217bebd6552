package snapshot

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/wasi"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/v1.csnp")

// testSnapshot is a realistic small snapshot: a grown memory with
// non-contiguous pages, the Asyncify globals and a WASI state with stdio,
// a preopen and two open files. Deterministic, so it is also what the
// golden file holds.
func testSnapshot() *Snapshot {
	s := &Snapshot{
		ModuleHash:  sha256.Sum256([]byte("ndvi.wasm")),
		Engine:      "wazero",
		HostCalls:   1_234_567,
		MemoryPages: 40,
		Globals: []Global{
			{Name: "__stack_pointer", Value: 65536 - 1024},
			{Name: "__asyncify_state", Value: 2},
			{Name: "__asyncify_data", Value: 1<<63 | 5}, // not exact as a float64
		},
		WASI: wasi.State{
			Args:      []string{"ndvi", "-in", "/data/in.csr", "-out", "/data/out.csr"},
			Env:       []string{"LANG=C", "OMP_NUM_THREADS=1"},
			Preopens:  []wasi.Preopen{{HostDir: "/var/lib/cloudskin/cells/c1/data", GuestPath: "/data"}, {HostDir: "/srv/ro", GuestPath: "/ro", ReadOnly: true}},
			Monotonic: 1500*time.Millisecond + 7,
			FDs: []wasi.FDState{
				{FD: 0, Kind: wasi.KindStdio, Stdio: 0, Preopen: -1, Read: true},
				{FD: 1, Kind: wasi.KindStdio, Stdio: 1, Preopen: -1, Write: true},
				{FD: 2, Kind: wasi.KindStdio, Stdio: 2, Preopen: -1, Write: true},
				{FD: 3, Kind: wasi.KindDir, Preopen: 0, IsPreopen: true, Path: ".", Read: true, Write: true, RightsBase: 0x1fffffff, RightsInheriting: 0x1fffffff},
				{FD: 4, Kind: wasi.KindDir, Preopen: 1, IsPreopen: true, Path: ".", Read: true, RightsBase: 0x0fffffff},
				{FD: 5, Kind: wasi.KindFile, Preopen: 0, Path: "in.csr", Read: true, RightsBase: 0x2, Offset: 16 + 4*1024},
				{FD: 7, Kind: wasi.KindFile, Preopen: 0, Path: "out/ndvi.csr", Write: true, OFlags: 9, FDFlags: 1, RightsBase: 0x40, Offset: 1 << 33},
			},
		},
	}
	for _, idx := range []uint32{0, 1, 7, 33, 39} {
		s.Pages = append(s.Pages, Page{Index: idx, Data: patternPage(idx)})
	}
	return s
}

// patternPage is a page like a C heap: a few structs, a counter array,
// some text, the rest zero.
func patternPage(idx uint32) []byte {
	p := make([]byte, PageSize)
	for i := range 256 {
		binary.LittleEndian.PutUint32(p[4*i:], uint32(i)*idx+idx)
	}
	copy(p[20000:], strings.Repeat("NDVI tile row ", 100))
	p[PageSize-1] = byte(idx)
	return p
}

func encoded(t testing.TB, s *Snapshot) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func assertEqual(t *testing.T, got, want *Snapshot) {
	t.Helper()
	if got.ModuleHash != want.ModuleHash {
		t.Errorf("ModuleHash %x, want %x", got.ModuleHash, want.ModuleHash)
	}
	if got.Engine != want.Engine {
		t.Errorf("Engine %q, want %q", got.Engine, want.Engine)
	}
	if got.HostCalls != want.HostCalls {
		t.Errorf("HostCalls %d, want %d", got.HostCalls, want.HostCalls)
	}
	if got.MemoryPages != want.MemoryPages {
		t.Errorf("MemoryPages %d, want %d", got.MemoryPages, want.MemoryPages)
	}
	if len(got.Pages) != len(want.Pages) {
		t.Errorf("%d pages, want %d", len(got.Pages), len(want.Pages))
	} else {
		for i := range got.Pages {
			if got.Pages[i].Index != want.Pages[i].Index || !bytes.Equal(got.Pages[i].Data, want.Pages[i].Data) {
				t.Errorf("page %d: index %d (want %d) or data differs", i, got.Pages[i].Index, want.Pages[i].Index)
			}
		}
	}
	if !reflect.DeepEqual(got.Globals, want.Globals) {
		t.Errorf("Globals %+v, want %+v", got.Globals, want.Globals)
	}
	if !reflect.DeepEqual(got.WASI, want.WASI) {
		t.Errorf("WASI %+v\nwant %+v", got.WASI, want.WASI)
	}
	if !bytes.Equal(got.MPI, want.MPI) {
		t.Errorf("MPI %q, want %q", got.MPI, want.MPI)
	}
}

func TestRoundTrip(t *testing.T) {
	want := testSnapshot()
	want.MPI = []byte("rank 3 of 4, no messages in flight")
	b := encoded(t, want)
	got, err := Decode(bytes.NewReader(b), &want.ModuleHash)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, want)
	t.Logf("%d pages (%d KiB) encode to %d bytes", len(want.Pages), len(want.Pages)*PageSize>>10, len(b))
}

func TestRoundTripEmpty(t *testing.T) {
	want := &Snapshot{Engine: "wasmtime"}
	got, err := Decode(bytes.NewReader(encoded(t, want)), nil)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, want)
	if got.Pages != nil || got.MPI != nil || got.Globals != nil {
		t.Errorf("empty snapshot decoded with non-nil slices: %+v", got)
	}
}

func TestFile(t *testing.T) {
	want := testSnapshot()
	path := filepath.Join(t.TempDir(), "cell.csnp")
	if err := WriteFile(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := ReadFile(path, &want.ModuleHash)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, want)

	// Overwriting is atomic and leaves no temporary file behind.
	want.HostCalls++
	if err := WriteFile(path, want); err != nil {
		t.Fatal(err)
	}
	if got, err = ReadFile(path, nil); err != nil || got.HostCalls != want.HostCalls {
		t.Fatalf("after overwrite: %v, host calls %v", err, got)
	}
	// A failed write leaves the old file as it was.
	bad := testSnapshot()
	bad.Pages[0].Data = bad.Pages[0].Data[:10]
	if err := WriteFile(path, bad); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile of an invalid snapshot: %v, want an error naming the file", err)
	}
	if got, err = ReadFile(path, nil); err != nil || got.HostCalls != want.HostCalls {
		t.Fatalf("after failed write: %v, %v", err, got)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the snapshot", len(ents))
	}

	// A file holds one snapshot: data after the trailer is refused,
	// though Decode on a stream stops right after the trailer.
	b, _ := os.ReadFile(path)
	b = append(b, "more"...)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "after the trailer") {
		t.Errorf("ReadFile with trailing data: %v", err)
	}
	r := bytes.NewReader(b)
	if _, err := Decode(r, nil); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(r); string(rest) != "more" {
		t.Errorf("Decode left %q unread, want %q", rest, "more")
	}
}

// TestGolden decodes a file written by this format's first version, so a
// change that breaks reading existing snapshots fails here. (The bytes
// Encode writes today may differ: zstd output is not fixed across library
// versions, only the format is.)
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "v1.csnp")
	if *updateGolden {
		if err := WriteFile(path, testSnapshot()); err != nil {
			t.Fatal(err)
		}
	}
	want := testSnapshot()
	got, err := ReadFile(path, &want.ModuleHash)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, want)
}

// TestCorruption damages every byte of an encoded snapshot in turn:
// Decode must return an error, never a snapshot, and never panic; the
// error must be one of ours and fit where the damage is. The mask cycles
// through a low bit, a high bit and all bits (all three on the header);
// a decode costs most of a millisecond, mostly zstd setting up.
func TestCorruption(t *testing.T) {
	orig := encoded(t, testSnapshot())
	masks := []byte{0x01, 0x80, 0xff}
	for i := range orig {
		ms := masks[i%3 : i%3+1]
		if i < headerSize {
			ms = masks
		}
		for _, mask := range ms {
			b := bytes.Clone(orig)
			b[i] ^= mask
			s, err := Decode(bytes.NewReader(b), nil)
			if err == nil {
				t.Fatalf("byte %d ^ %#x: decoded %+v", i, mask, s)
			}
			var want []error
			switch {
			case i < 4:
				want = []error{ErrNotSnapshot}
			case i < 6:
				want = []error{ErrUnsupported}
			case i < headerSize:
				want = []error{ErrCorrupt}
			default: // a damaged chunk length can also make the data look short
				want = []error{ErrCorrupt, ErrTruncated}
			}
			if !isAny(err, want) {
				t.Errorf("byte %d ^ %#x: %v, want one of %v", i, mask, err, want)
			}
		}
	}
}

func isAny(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func TestTruncation(t *testing.T) {
	for _, in := range []string{"C", "CSN", magic} {
		if _, err := Decode(strings.NewReader(in), nil); !errors.Is(err, ErrTruncated) {
			t.Errorf("%q: %v, want ErrTruncated", in, err)
		}
	}
	b := encoded(t, testSnapshot())
	for n := range len(b) {
		_, err := Decode(bytes.NewReader(b[:n]), nil)
		want := ErrTruncated
		if n == 0 {
			want = ErrNotSnapshot
		}
		if !errors.Is(err, want) {
			t.Fatalf("first %d of %d bytes: %v, want %v", n, len(b), err, want)
		}
	}
	// Through a file, the error names it.
	path := filepath.Join(t.TempDir(), "short.csnp")
	if err := os.WriteFile(path, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path, nil); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile of a truncated file: %v", err)
	}
}

func TestWrongModule(t *testing.T) {
	s := testSnapshot()
	b := encoded(t, s)
	other := sha256.Sum256([]byte("other.wasm"))
	_, err := Decode(bytes.NewReader(b), &other)
	if !errors.Is(err, ErrWrongModule) {
		t.Fatalf("got %v, want ErrWrongModule", err)
	}
	for _, h := range []string{shortHash(s.ModuleHash), shortHash(other)} {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error %q does not name %s", err, h)
		}
	}
	t.Log(err)

	// Refused from the clear header alone, before the body is read.
	if _, err := Decode(bytes.NewReader(b[:headerSize]), &other); !errors.Is(err, ErrWrongModule) {
		t.Errorf("header only: %v, want ErrWrongModule", err)
	}
}

func TestNotASnapshot(t *testing.T) {
	for _, in := range []string{"", "PK\x03\x04 a zip file", "\x89PNG\r\n\x1a\n", "CSNX" + strings.Repeat("\x00", 100)} {
		_, err := Decode(strings.NewReader(in), nil)
		if !errors.Is(err, ErrNotSnapshot) || !strings.Contains(err.Error(), "not a CloudSkin snapshot") {
			t.Errorf("%q: %v, want ErrNotSnapshot", in, err)
		}
	}
}

func TestUnsupportedVersion(t *testing.T) {
	b := encoded(t, testSnapshot())
	binary.LittleEndian.PutUint16(b[4:6], 2)
	binary.LittleEndian.PutUint32(b[40:44], crc32.Checksum(b[:40], castagnoli))
	_, err := Decode(bytes.NewReader(b), nil)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("version 2: %v", err)
	}

	b = encoded(t, testSnapshot())
	b[6] = 1 // a flag this version does not define, header checksum valid
	binary.LittleEndian.PutUint32(b[40:44], crc32.Checksum(b[:40], castagnoli))
	if _, err := Decode(bytes.NewReader(b), nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("flags 1: %v", err)
	}
}

// TestCorruptBody damages the decompressed body (and fixes up every
// checksum), which the byte flips above cannot reach: the body's own
// checks must catch it.
func TestCorruptBody(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edit  func(s *Snapshot)
		patch func(body []byte) []byte
		want  string
	}{
		{name: "too many memory pages", patch: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[8:], maxMemoryPages+1); return b }, want: "memory pages"},
		{name: "more pages than memory", patch: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 41); return b }, want: "pages listed"},
		{name: "huge metadata", patch: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 1<<31); return b }, want: "metadata length"},
		{name: "huge MPI", patch: func(b []byte) []byte { binary.LittleEndian.PutUint32(b[20:], 1<<31); return b }, want: "MPI state length"},
		{name: "unknown metadata field", edit: func(s *Snapshot) { s.Engine = "XXXXXX" }, patch: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"engine":"XXXXXX"`), []byte(`"engina":"XXXXXX"`), 1)
		}, want: "unknown field"},
		{name: "page order", patch: func(b []byte) []byte {
			// the second page entry gets the first one's index
			first := bodyFixedSize + int(binary.LittleEndian.Uint32(b[16:]))
			copy(b[first+pageEntrySize:], b[first:first+4])
			return b
		}, want: "follows page"},
		{name: "page beyond memory", patch: func(b []byte) []byte {
			last := len(b) - pageEntrySize
			binary.LittleEndian.PutUint32(b[last:], 40)
			return b
		}, want: "beyond memory"},
		{name: "body too long", patch: func(b []byte) []byte { return append(b, 0) }, want: "after the last page"},
		{name: "body too short", patch: func(b []byte) []byte { return b[:len(b)-1] }, want: "body ends"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSnapshot()
			if tc.edit != nil {
				tc.edit(s)
			}
			meta, err := s.encodeCheck()
			if err != nil {
				t.Fatal(err)
			}
			var body bytes.Buffer
			if err := s.writeBody(&body, meta); err != nil {
				t.Fatal(err)
			}
			b := rawSnapshot(t, s.ModuleHash, tc.patch(body.Bytes()))
			_, err = Decode(bytes.NewReader(b), nil)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrCorrupt mentioning %q", err, tc.want)
			}
		})
	}

	// The trailer's length is checked too.
	b := encoded(t, testSnapshot())
	l := len(b) - 12
	binary.LittleEndian.PutUint64(b[l:], binary.LittleEndian.Uint64(b[l:])+1)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	if _, err := Decode(bytes.NewReader(b), nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "trailer says") {
		t.Errorf("wrong body length: %v", err)
	}
}

// rawSnapshot builds a container around an arbitrary body, with valid
// framing and checksums.
func rawSnapshot(t *testing.T, hash [32]byte, body []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	cw := &checksumWriter{w: &out}
	var h [headerSize]byte
	copy(h[:], magic)
	binary.LittleEndian.PutUint16(h[4:], formatVersion)
	copy(h[8:], hash[:])
	binary.LittleEndian.PutUint32(h[40:], crc32.Checksum(h[:40], castagnoli))
	cw.Write(h[:])
	chunks := &chunkWriter{w: cw}
	if _, err := chunks.Write(zstdCompress(t, body)); err != nil {
		t.Fatal(err)
	}
	if err := chunks.close(); err != nil {
		t.Fatal(err)
	}
	var tr [8]byte
	binary.LittleEndian.PutUint64(tr[:], uint64(len(body)))
	cw.Write(tr[:])
	binary.LittleEndian.PutUint32(tr[:4], cw.sum)
	out.Write(tr[:4])
	return out.Bytes()
}

func TestEncodeRefuses(t *testing.T) {
	for name, edit := range map[string]func(s *Snapshot){
		"short page":          func(s *Snapshot) { s.Pages[1].Data = s.Pages[1].Data[:PageSize-1] },
		"unordered pages":     func(s *Snapshot) { s.Pages[1], s.Pages[2] = s.Pages[2], s.Pages[1] },
		"duplicate page":      func(s *Snapshot) { s.Pages[1].Index = s.Pages[0].Index },
		"page beyond memory":  func(s *Snapshot) { s.MemoryPages = 39 },
		"too much memory":     func(s *Snapshot) { s.MemoryPages = maxMemoryPages + 1 },
		"MPI state too large": func(s *Snapshot) { s.MPI = make([]byte, maxMPI+1) },
	} {
		s := testSnapshot()
		edit(s)
		var b bytes.Buffer
		if err := Encode(&b, s); err == nil || b.Len() != 0 {
			t.Errorf("%s: err %v, wrote %d bytes; want an error and nothing written", name, err, b.Len())
		}
	}
	if err := Encode(io.Discard, nil); err == nil {
		t.Error("nil snapshot encoded")
	}
}

// TestWriteError checks that a failing writer's error comes back.
func TestWriteError(t *testing.T) {
	boom := errors.New("disk full")
	for n := range 5 { // header, one chunk, end of chunks, length, CRC
		w := &failingWriter{left: n, err: boom}
		if err := Encode(w, testSnapshot()); !errors.Is(err, boom) {
			t.Errorf("writer failing at write %d: %v", n, err)
		}
	}
}

type failingWriter struct {
	left int
	err  error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.left == 0 {
		return 0, w.err
	}
	w.left--
	return len(p), nil
}

// TestLargeMemory is a 64 MiB memory (grown from a 1 MiB image) with 10%
// of its pages touched the way a C program touches them: counters,
// repeated records, sparse writes, and some incompressible data.
func TestLargeMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB")
	}
	const pages = 1024
	rng := rand.New(rand.NewPCG(1, 2))
	initial := make([]byte, 16*PageSize)
	for i := range initial[:4*PageSize] {
		initial[i] = byte(i % 251) // data segments
	}
	mem := make([]byte, pages*PageSize)
	copy(mem, initial)
	touched := 0
	for i := 0; i < pages; i += 10 {
		p := mem[i*PageSize : (i+1)*PageSize]
		switch i / 10 % 4 {
		case 0: // int32 counters
			for j := 0; j < PageSize; j += 4 {
				binary.LittleEndian.PutUint32(p[j:], uint32(i*1000+j/4))
			}
		case 1: // repeated records
			rec := []byte("{id: 0000, name: \"cell\", state: RUNNING}\x00\x00\x00")
			for j := 0; j+len(rec) <= PageSize; j += len(rec) {
				copy(p[j:], rec)
			}
		case 2: // sparse writes into a zero page
			for range 64 {
				p[rng.IntN(PageSize)] = byte(rng.Uint32())
			}
		case 3: // incompressible
			for j := 0; j < PageSize; j += 8 {
				binary.LittleEndian.PutUint64(p[j:], rng.Uint64())
			}
		}
		touched++
	}
	s := &Snapshot{ModuleHash: sha256.Sum256([]byte("big.wasm")), Engine: "wasmtime", MemoryPages: pages, Pages: DiffPages(mem, initial)}
	if len(s.Pages) != touched {
		t.Fatalf("DiffPages found %d pages, %d were touched", len(s.Pages), touched)
	}
	b := encoded(t, s)
	touchedBytes := touched * PageSize
	t.Logf("64 MiB memory, %d touched pages (%d KiB): encoded %d KiB (%.1f%% of touched)", touched, touchedBytes>>10, len(b)>>10, 100*float64(len(b))/float64(touchedBytes))
	if len(b) >= touchedBytes {
		t.Errorf("encoded %d bytes, not smaller than the %d touched", len(b), touchedBytes)
	}

	got, err := Decode(bytes.NewReader(b), &s.ModuleHash)
	if err != nil {
		t.Fatal(err)
	}
	restored := make([]byte, int(got.MemoryPages)*PageSize)
	copy(restored, initial)
	if err := got.Apply(restored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(restored, mem) {
		t.Fatal("restored memory differs")
	}
}
