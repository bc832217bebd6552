package snapshot

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// benchSnapshot is a 64 MiB memory whose every other page is random (the
// worst case for the compressor: half the memory is touched and none of
// it compresses).
func benchSnapshot() *Snapshot {
	const pages = 1024
	rng := rand.New(rand.NewPCG(3, 4))
	s := &Snapshot{ModuleHash: sha256.Sum256([]byte("bench.wasm")), Engine: "wazero", MemoryPages: pages}
	for i := uint32(0); i < pages; i += 2 {
		p := make([]byte, PageSize)
		for j := range p {
			p[j] = byte(rng.Uint32())
		}
		s.Pages = append(s.Pages, Page{Index: i, Data: p})
	}
	return s
}

func BenchmarkEncode(b *testing.B) {
	s := benchSnapshot()
	var buf bytes.Buffer
	b.SetBytes(int64(len(s.Pages) * PageSize))
	for b.Loop() {
		buf.Reset()
		if err := Encode(&buf, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len())/float64(len(s.Pages)*PageSize), "encoded/touched")
}

func BenchmarkDecode(b *testing.B) {
	s := benchSnapshot()
	var buf bytes.Buffer
	if err := Encode(&buf, s); err != nil {
		b.Fatal(err)
	}
	enc := buf.Bytes()
	b.SetBytes(int64(len(s.Pages) * PageSize))
	for b.Loop() {
		if _, err := Decode(bytes.NewReader(enc), &s.ModuleHash); err != nil {
			b.Fatal(err)
		}
	}
}
