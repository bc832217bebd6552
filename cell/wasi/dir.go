package wasi

import (
	"context"
	"encoding/binary"
	"io"
	"slices"
	"strings"
)

// dirent is one directory entry as fd_readdir reports it.
type dirent struct {
	name     string
	ino      uint64
	filetype uint8
}

// fdReaddir is fd_readdir(fd, buf, buf_len, cookie, bufused_ptr).
//
// Cookies are positions in the listing sorted by name, with "." and ".."
// first: the entry at index i has d_next = i+1, and cookie c resumes at
// index c. Sorting makes them stable across calls and across a snapshot
// (a resumed cell lists again and lands on the same entry as long as the
// directory did not change). The listing is read from the host at cookie 0
// and cached until the guest starts again.
//
// As the spec says, entries are packed into buf until it is full, the last
// one possibly cut short; bufused == buf_len tells the guest there may be
// more.
func (s *System) fdReaddir(_ context.Context, mem memory, p []uint64) errno {
	fd, bufPtr, bufLen, cookie, usedPtr := uint32(p[0]), uint32(p[1]), uint32(p[2]), p[3], uint32(p[4])
	buf, ok := mem.slice(bufPtr, bufLen)
	if !ok || !mem.has(usedPtr, 4) {
		return errnoFault
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupDir(fd)
	if en != errnoSuccess {
		return en
	}
	if !e.read || e.rightsBase&rightFdReaddir == 0 {
		return errnoBadf
	}
	if cookie == 0 || e.dirents == nil {
		list, en := s.listDir(e)
		if en != errnoSuccess {
			return en
		}
		e.dirents = list
	}
	var out []byte
	for i := cookie; i < uint64(len(e.dirents)) && len(out) < len(buf); i++ {
		out = appendDirent(out, e.dirents[i], i+1)
	}
	n := copy(buf, out)
	mem.putU32(usedPtr, uint32(n))
	return errnoSuccess
}

// appendDirent encodes one dirent header and its name.
func appendDirent(b []byte, d dirent, next uint64) []byte {
	var h [direntSize]byte
	binary.LittleEndian.PutUint64(h[0:], next)
	binary.LittleEndian.PutUint64(h[8:], d.ino)
	// Host file names are at most a few hundred bytes (NAME_MAX).
	binary.LittleEndian.PutUint32(h[16:], uint32(len(d.name)))
	h[20] = d.filetype
	b = append(b, h[:]...)
	return append(b, d.name...)
}

// listDir reads the whole directory of e, sorted, with "." and "..".
// Listing all of it at cookie 0 is what makes cookies plain indexes; a
// directory too large for memory is not a case cells have.
func (s *System) listDir(e *fdEntry) ([]dirent, errno) {
	if _, err := e.file.Seek(0, io.SeekStart); err != nil {
		return nil, errnoOf(err)
	}
	entries, err := e.file.ReadDir(-1)
	if err != nil {
		return nil, errnoOf(err)
	}
	list := make([]dirent, 0, len(entries)+2)
	self := dirent{name: ".", filetype: filetypeDirectory}
	if info, err := e.file.Stat(); err == nil {
		self.ino = statOf(info).ino
	}
	// ".." of a preopen's root is not visible to the guest; it reads as
	// the root again, as "/.." does.
	parent := dirent{name: "..", filetype: filetypeDirectory, ino: self.ino}
	if e.path != "." {
		if info, err := s.preopens[e.preopen].root.Stat(e.path + "/.."); err == nil {
			parent.ino = statOf(info).ino
		}
	}
	list = append(list, self, parent)
	for _, de := range entries {
		d := dirent{name: de.Name(), filetype: filetypeOf(de.Type())}
		// The inode costs an lstat per entry; C programs compare d_ino
		// with st_ino (find, ls -i, cycle checks), so it must be real.
		if info, err := de.Info(); err == nil {
			d.ino = statOf(info).ino
		}
		list = append(list, d)
	}
	slices.SortFunc(list[2:], func(a, b dirent) int { return strings.Compare(a.name, b.name) })
	return list, errnoSuccess
}
