package snapshot

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func zstdCompress(t testing.TB, b []byte) []byte {
	t.Helper()
	e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return e.EncodeAll(b, nil)
}

// FuzzDecode feeds Decode arbitrary data, as is and with its checksums
// made valid (random data almost never passes a CRC, and the chunk, zstd
// and body parsing behind it deserve fuzzing too). Decode must not panic,
// and whatever it accepts must encode and decode to the same snapshot.
// The corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "v1.csnp"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(encoded(f, &Snapshot{}))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeAndCheck(t, b)
		decodeAndCheck(t, fixChecksums(bytes.Clone(b)))
	})
}

func decodeAndCheck(t *testing.T, b []byte) {
	s, err := Decode(bytes.NewReader(b), nil)
	if err != nil {
		if s != nil {
			t.Fatalf("error %v with a snapshot", err)
		}
		return
	}
	again, err := Decode(bytes.NewReader(encoded(t, s)), &s.ModuleHash)
	if err != nil {
		t.Fatalf("re-encoded snapshot does not decode: %v", err)
	}
	assertEqual(t, again, s)
}

// fixChecksums rewrites the header CRC and the trailing CRC of b, if it is
// long enough to have them.
func fixChecksums(b []byte) []byte {
	if len(b) < headerSize+4+12 {
		return b
	}
	binary.LittleEndian.PutUint32(b[40:44], crc32.Checksum(b[:40], castagnoli))
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	return b
}
