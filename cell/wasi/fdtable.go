package wasi

import (
	"os"
)

// FDKind says what an open fd is.
type FDKind string

// The kinds of fd a cell can hold.
const (
	KindStdio FDKind = "stdio"
	KindDir   FDKind = "dir"
	KindFile  FDKind = "file"
)

// fdEntry is one open fd. Everything a snapshot needs to reopen it is here
// as plain values (see fdState); file and dirents are only the host's
// handle and a cache.
type fdEntry struct {
	kind FDKind
	// stdio is 0, 1 or 2 for KindStdio: which stream, wherever the fd was
	// renumbered to.
	stdio int

	// file is the host handle of a dir or file.
	file *os.File
	// preopen is the index of the preopen the path is relative to, -1 for
	// stdio.
	preopen int
	// isPreopen marks the preopen's own directory fd: the one
	// fd_prestat_get describes.
	isPreopen bool
	// path is slash-separated and relative to the preopen's root, "." for
	// the root itself. "." and empty components are dropped, ".." kept,
	// so it resolves again exactly as it did.
	path string

	// read and write are the host access mode.
	read, write bool

	oflags           uint16
	fdflags          uint16
	rightsBase       uint64
	rightsInheriting uint64

	// offset is the file position for fd_read, fd_write, fd_seek and
	// fd_tell. It is ours, not the host file's.
	offset int64

	// dirents caches a directory listing for fd_readdir between cookie 0
	// and the end; it is rebuilt when the guest starts again at cookie 0.
	dirents []dirent
}

func newStdioEntry(stream int) *fdEntry {
	e := &fdEntry{kind: KindStdio, stdio: stream, preopen: -1}
	if stream == 0 {
		e.read = true
		e.rightsBase = rightsStdin
	} else {
		e.write = true
		e.rightsBase = rightsStdout
	}
	return e
}

func (e *fdEntry) close() error {
	if e.file == nil {
		return nil
	}
	err := e.file.Close()
	e.file = nil
	return err
}

// canRead and canWrite combine the host access mode with the rights the
// guest kept: narrowing FD_READ away with fd_fdstat_set_rights must stop
// reads.
func (e *fdEntry) canRead() bool  { return e.read && e.rightsBase&rightFdRead != 0 }
func (e *fdEntry) canWrite() bool { return e.write && e.rightsBase&rightFdWrite != 0 }

// filetype is the preview1 filetype of the fd itself.
func (e *fdEntry) filetype() uint8 {
	switch e.kind {
	case KindDir:
		return filetypeDirectory
	case KindFile:
		return filetypeRegularFile
	}
	// Stdio is a character device so that wasi-libc's isatty() is true
	// (it also needs FD_SEEK and FD_TELL absent, which they are): stdout is
	// then line-buffered and a cell's log lines appear as they are printed
	// rather than when it exits.
	return filetypeCharacterDevice
}

// lookup returns the entry of fd. Callers hold s.mu.
func (s *System) lookup(fd uint32) (*fdEntry, errno) {
	e, ok := s.fds[fd]
	if !ok {
		return nil, errnoBadf
	}
	return e, errnoSuccess
}

// lookupFile returns fd if it is a regular file, the usual precondition of
// the fd_* calls that need a host file.
func (s *System) lookupFile(fd uint32) (*fdEntry, errno) {
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return nil, en
	}
	switch e.kind {
	case KindDir:
		return nil, errnoIsdir
	case KindStdio:
		return nil, errnoSpipe
	}
	return e, errnoSuccess
}

// lookupDir returns fd if it is a directory: the base of every path_* call.
func (s *System) lookupDir(fd uint32) (*fdEntry, errno) {
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return nil, en
	}
	if e.kind != KindDir {
		return nil, errnoNotdir
	}
	return e, errnoSuccess
}

// allocFD puts e on the lowest free fd, as POSIX open does. Callers hold
// s.mu.
func (s *System) allocFD(e *fdEntry) (uint32, errno) {
	for fd := range uint32(maxFDs) {
		if _, used := s.fds[fd]; !used {
			s.fds[fd] = e
			return fd, errnoSuccess
		}
	}
	return 0, errnoMfile
}
