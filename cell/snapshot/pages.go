package snapshot

import (
	"bytes"
	"fmt"
)

// DiffPages returns the pages of mem (current linear memory) that differ
// from initial (the module's freshly instantiated memory; shorter than mem
// when the cell grew), in ascending order, for building Snapshot.Pages.
// Beyond initial a page is listed only if it is not all zeros, since
// memory.grow gives zeroed pages. Only whole pages of mem are considered
// (wasm memory always is).
//
// The pages' Data alias mem, so a snapshot of a 1 GiB memory costs no
// second gigabyte: encode it before the cell runs again, or clone the
// pages it must outlive.
func DiffPages(mem, initial []byte) []Page {
	var pages []Page
	var zero []byte // allocated on the first page that extends past initial
	for i := 0; (i+1)*PageSize <= len(mem); i++ {
		off := i * PageSize
		p := mem[off : off+PageSize : off+PageSize]
		var init []byte
		if off < len(initial) {
			init = initial[off:min(off+PageSize, len(initial))]
		}
		same := bytes.Equal(p[:len(init)], init)
		if same && len(init) < PageSize {
			if zero == nil {
				zero = make([]byte, PageSize)
			}
			same = bytes.Equal(p[len(init):], zero[len(init):])
		}
		if !same {
			pages = append(pages, Page{Index: uint32(i), Data: p})
		}
	}
	return pages
}

// Apply writes the snapshot's pages into mem, which must already be
// MemoryPages*PageSize long and hold the module's initial memory image.
// Every page is checked before any is written, so on error mem is
// unchanged.
func (s *Snapshot) Apply(mem []byte) error {
	if want := uint64(s.MemoryPages) * PageSize; uint64(len(mem)) != want {
		return fmt.Errorf("snapshot: apply: memory is %d bytes, the snapshot's is %d (%d pages)", len(mem), want, s.MemoryPages)
	}
	for _, p := range s.Pages {
		if p.Index >= s.MemoryPages {
			return fmt.Errorf("snapshot: apply: page %d is beyond memory (%d pages)", p.Index, s.MemoryPages)
		}
		if len(p.Data) != PageSize {
			return fmt.Errorf("snapshot: apply: page %d has %d bytes, want %d", p.Index, len(p.Data), PageSize)
		}
	}
	for _, p := range s.Pages {
		copy(mem[int(p.Index)*PageSize:], p.Data)
	}
	return nil
}
