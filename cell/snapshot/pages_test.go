package snapshot

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestDiffPages(t *testing.T) {
	// The module's image: three pages of data segments.
	initial := make([]byte, 3*PageSize)
	for i := range initial {
		initial[i] = byte(i*7 + 1)
	}
	// The cell grew to 9 pages.
	mem := make([]byte, 9*PageSize)
	copy(mem, initial)
	mem[1*PageSize+123]++                      // changed one byte
	clear(mem[2*PageSize : 3*PageSize])        // zeroed an initialised page
	mem[5*PageSize] = 1                        // grown page, first byte
	mem[7*PageSize-1] = 0xff                   // grown page, last byte
	copy(mem[8*PageSize:], initial[:PageSize]) // grown page with data
	// pages 0 (unchanged), 3, 4, 7 (grown, still zero) must not be listed

	got := DiffPages(mem, initial)
	var idx []uint32
	for _, p := range got {
		idx = append(idx, p.Index)
		if !bytes.Equal(p.Data, mem[int(p.Index)*PageSize:int(p.Index+1)*PageSize]) {
			t.Errorf("page %d: data is not the memory's", p.Index)
		}
		if cap(p.Data) != PageSize {
			t.Errorf("page %d: cap %d, so an append would write into the next page", p.Index, cap(p.Data))
		}
	}
	if want := []uint32{1, 2, 5, 6, 8}; !slices.Equal(idx, want) {
		t.Fatalf("pages %v, want %v", idx, want)
	}

	// Apply onto a fresh instance restores it bit for bit.
	s := &Snapshot{MemoryPages: 9, Pages: got}
	fresh := make([]byte, len(mem))
	copy(fresh, initial)
	if err := s.Apply(fresh); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, mem) {
		t.Fatal("Apply did not restore the memory")
	}

	if d := DiffPages(mem, mem); d != nil {
		t.Errorf("identical memories: %d pages", len(d))
	}
	if d := DiffPages(make([]byte, 4*PageSize), nil); d != nil {
		t.Errorf("all-zero memory, no image: %d pages", len(d))
	}
}

// TestDiffPagesPartialImage covers an image that ends inside a page: the
// rest of that page compares against zero.
func TestDiffPagesPartialImage(t *testing.T) {
	initial := bytes.Repeat([]byte{7}, PageSize+100)
	mem := make([]byte, 2*PageSize)
	copy(mem, initial)
	if d := DiffPages(mem, initial); d != nil {
		t.Fatalf("unchanged: pages %v", d)
	}
	mem[2*PageSize-1] = 1
	if d := DiffPages(mem, initial); len(d) != 1 || d[0].Index != 1 {
		t.Fatalf("changed past the image in page 1: %v", d)
	}
}

func TestApplyRefuses(t *testing.T) {
	page := bytes.Repeat([]byte{1}, PageSize)
	for _, tc := range []struct {
		name string
		s    Snapshot
		mem  int
		want string
	}{
		{"memory size", Snapshot{MemoryPages: 2}, 3 * PageSize, "memory is"},
		{"page out of range", Snapshot{MemoryPages: 2, Pages: []Page{{0, page}, {2, page}}}, 2 * PageSize, "beyond memory"},
		{"short page", Snapshot{MemoryPages: 2, Pages: []Page{{0, page}, {1, page[:5]}}}, 2 * PageSize, "5 bytes"},
	} {
		mem := make([]byte, tc.mem)
		err := tc.s.Apply(mem)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
		if !bytes.Equal(mem, make([]byte, tc.mem)) {
			t.Errorf("%s: memory changed by a refused Apply", tc.name)
		}
	}
}
