package wasi

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"time"
)

// filestat is the preview1 filestat struct.
type filestat struct {
	dev, ino   uint64
	filetype   uint8
	nlink      uint64
	size       uint64
	atim, mtim uint64
	ctim       uint64
}

func (st filestat) encode(b []byte) {
	clear(b[:filestatSize])
	binary.LittleEndian.PutUint64(b[0:], st.dev)
	binary.LittleEndian.PutUint64(b[8:], st.ino)
	b[16] = st.filetype
	binary.LittleEndian.PutUint64(b[24:], st.nlink)
	binary.LittleEndian.PutUint64(b[32:], st.size)
	binary.LittleEndian.PutUint64(b[40:], st.atim)
	binary.LittleEndian.PutUint64(b[48:], st.mtim)
	binary.LittleEndian.PutUint64(b[56:], st.ctim)
}

// baseStat is the part of a filestat every platform's FileInfo has.
func baseStat(info fs.FileInfo) filestat {
	st := filestat{filetype: filetypeOf(info.Mode())}
	if info.Size() > 0 {
		st.size = uint64(info.Size())
	}
	if ns := info.ModTime().UnixNano(); ns > 0 {
		st.mtim = uint64(ns)
	}
	return st
}

// filetypeOf maps a host file mode. Named pipes have no preview1 type and
// are unknown, as in wasmtime.
func filetypeOf(m fs.FileMode) uint8 {
	switch {
	case m.IsRegular():
		return filetypeRegularFile
	case m.IsDir():
		return filetypeDirectory
	case m&fs.ModeSymlink != 0:
		return filetypeSymbolicLink
	case m&fs.ModeCharDevice != 0:
		return filetypeCharacterDevice
	case m&fs.ModeDevice != 0:
		return filetypeBlockDevice
	case m&fs.ModeSocket != 0:
		return filetypeSocketStream
	}
	return filetypeUnknown
}

// fdAdvise is fd_advise(fd, offset, len, advice). Advice is only a hint;
// we check it and ignore it.
func (s *System) fdAdvise(_ context.Context, _ memory, p []uint64) errno {
	fd, advice := uint32(p[0]), uint32(p[3])
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, en := s.lookupFile(fd); en != errnoSuccess {
		return badfIfDir(en)
	}
	if advice > adviceNoreuse {
		return errnoInval
	}
	return errnoSuccess
}

// badfIfDir turns lookupFile's EISDIR into EBADF, for calls where POSIX
// says a directory is simply the wrong kind of fd (a directory is never
// open for writing, so writing to one is EBADF; reading one is EISDIR).
func badfIfDir(en errno) errno {
	if en == errnoIsdir {
		return errnoBadf
	}
	return en
}

// fdAllocate is fd_allocate(fd, offset, len): make sure the file is at
// least offset+len long. Like posix_fallocate on a file system without
// preallocation, it only extends the size; blocks are not reserved.
func (s *System) fdAllocate(_ context.Context, _ memory, p []uint64) errno {
	fd, off, n := uint32(p[0]), p[1], p[2]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return badfIfDir(en)
	}
	if !e.canWrite() {
		return errnoBadf
	}
	end := off + n
	if end < off || end > math.MaxInt64 {
		return errnoFbig
	}
	info, err := e.file.Stat()
	if err != nil {
		return errnoOf(err)
	}
	if int64(end) > info.Size() {
		return errnoOf(e.file.Truncate(int64(end)))
	}
	return errnoSuccess
}

// fdClose is fd_close(fd).
func (s *System) fdClose(_ context.Context, _ memory, p []uint64) errno {
	fd := uint32(p[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	delete(s.fds, fd)
	return errnoOf(e.close())
}

// fdDatasync is fd_datasync(fd). Go has no fdatasync; fsync does more.
func (s *System) fdDatasync(ctx context.Context, mem memory, p []uint64) errno {
	return s.fdSync(ctx, mem, p)
}

// fdSync is fd_sync(fd). Stdio cannot be synced (EINVAL, as fsync on a
// pipe).
func (s *System) fdSync(_ context.Context, _ memory, p []uint64) errno {
	fd := uint32(p[0])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	if e.kind == KindStdio {
		return errnoInval
	}
	return errnoOf(e.file.Sync())
}

// fdFdstatGet is fd_fdstat_get(fd, fdstat_ptr).
func (s *System) fdFdstatGet(_ context.Context, mem memory, p []uint64) errno {
	fd, ptr := uint32(p[0]), uint32(p[1])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	b, ok := mem.slice(ptr, fdstatSize)
	if !ok {
		return errnoFault
	}
	clear(b)
	b[0] = e.filetype()
	binary.LittleEndian.PutUint16(b[2:], e.fdflags)
	binary.LittleEndian.PutUint64(b[8:], e.rightsBase)
	binary.LittleEndian.PutUint64(b[16:], e.rightsInheriting)
	return errnoSuccess
}

// fdFdstatSetFlags is fd_fdstat_set_flags(fd, flags). The flags are ours
// to honour: APPEND moves every write to the end, and DSYNC, RSYNC and
// SYNC make writes sync the file; NONBLOCK is recorded only (nothing we
// serve blocks but stdin, whose io.Reader has no such mode).
func (s *System) fdFdstatSetFlags(_ context.Context, _ memory, p []uint64) errno {
	fd, flags := uint32(p[0]), uint32(p[1])
	if flags&^fdflagsAll != 0 {
		return errnoInval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	e.fdflags = uint16(flags)
	return errnoSuccess
}

// fdFdstatSetRights is fd_fdstat_set_rights(fd, base, inheriting): rights
// can only be dropped, never gained.
func (s *System) fdFdstatSetRights(_ context.Context, _ memory, p []uint64) errno {
	fd, base, inheriting := uint32(p[0]), p[1], p[2]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	if base&^e.rightsBase != 0 || inheriting&^e.rightsInheriting != 0 {
		return errnoNotcapable
	}
	e.rightsBase, e.rightsInheriting = base, inheriting
	return errnoSuccess
}

// fdFilestatGet is fd_filestat_get(fd, filestat_ptr). Stdio is a character
// device with nothing else to say.
func (s *System) fdFilestatGet(_ context.Context, mem memory, p []uint64) errno {
	fd, ptr := uint32(p[0]), uint32(p[1])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	b, ok := mem.slice(ptr, filestatSize)
	if !ok {
		return errnoFault
	}
	if e.kind == KindStdio {
		filestat{filetype: filetypeCharacterDevice}.encode(b)
		return errnoSuccess
	}
	info, err := e.file.Stat()
	if err != nil {
		return errnoOf(err)
	}
	statOf(info).encode(b)
	return errnoSuccess
}

// fdFilestatSetSize is fd_filestat_set_size(fd, size): ftruncate. The
// offset is left alone, as in POSIX.
func (s *System) fdFilestatSetSize(_ context.Context, _ memory, p []uint64) errno {
	fd, size := uint32(p[0]), p[1]
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return badfIfDir(en)
	}
	if !e.canWrite() {
		return errnoBadf
	}
	if size > math.MaxInt64 {
		return errnoFbig
	}
	return errnoOf(e.file.Truncate(int64(size)))
}

// fdFilestatSetTimes is fd_filestat_set_times(fd, atim, mtim, fst_flags).
func (s *System) fdFilestatSetTimes(_ context.Context, _ memory, p []uint64) errno {
	fd, flags := uint32(p[0]), uint32(p[3])
	atime, mtime, en := s.fileTimes(p[1], p[2], flags)
	if en != errnoSuccess {
		return en
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	if e.kind == KindStdio {
		return errnoBadf
	}
	if s.preopens[e.preopen].ReadOnly {
		return errnoRofs
	}
	return errnoOf(setFileTimes(e.file, atime, mtime))
}

// fileTimes decodes the times of a set_times call. A zero time.Time means
// "leave it", which is what the os package's Chtimes does with it. The
// _NOW flags use the cell's realtime clock, so a cell with a test clock
// stamps files with test time.
func (s *System) fileTimes(atim, mtim uint64, flags uint32) (atime, mtime time.Time, _ errno) {
	if flags&^fstflagsAll != 0 ||
		flags&(fstflagAtim|fstflagAtimNow) == fstflagAtim|fstflagAtimNow ||
		flags&(fstflagMtim|fstflagMtimNow) == fstflagMtim|fstflagMtimNow {
		return atime, mtime, errnoInval
	}
	switch {
	case flags&fstflagAtimNow != 0:
		atime = s.now()
	case flags&fstflagAtim != 0:
		atime = timeOf(atim)
	}
	switch {
	case flags&fstflagMtimNow != 0:
		mtime = s.now()
	case flags&fstflagMtim != 0:
		mtime = timeOf(mtim)
	}
	return atime, mtime, errnoSuccess
}

// timeOf is a preview1 timestamp as a time. The epoch itself would read as
// "leave it" (time.Time's zero is year 1, not 1970, so it cannot).
func timeOf(ns uint64) time.Time {
	if ns > math.MaxInt64 {
		ns = math.MaxInt64
	}
	return time.Unix(0, int64(ns))
}

// fdPread is fd_pread(fd, iovs, iovs_len, offset, nread_ptr): read at
// offset without moving the fd's own.
func (s *System) fdPread(_ context.Context, mem memory, p []uint64) errno {
	fd, iovs, iovsLen, off, nreadPtr := uint32(p[0]), uint32(p[1]), uint32(p[2]), p[3], uint32(p[4])
	if !mem.has(nreadPtr, 4) {
		return errnoFault
	}
	bufs, en := mem.iovecs(iovs, iovsLen)
	if en != errnoSuccess {
		return en
	}
	if off > math.MaxInt64 {
		return errnoInval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return en
	}
	if !e.canRead() {
		return errnoBadf
	}
	n, en := readAt(e, bufs, int64(off))
	if en != errnoSuccess {
		return en
	}
	mem.putU32(nreadPtr, uint32(n))
	return errnoSuccess
}

// fdPwrite is fd_pwrite(fd, iovs, iovs_len, offset, nwritten_ptr): write at
// offset without moving the fd's own. Unlike Linux, O_APPEND does not
// redirect it to the end: the guest named an offset, it gets that offset.
func (s *System) fdPwrite(_ context.Context, mem memory, p []uint64) errno {
	fd, iovs, iovsLen, off, nwrittenPtr := uint32(p[0]), uint32(p[1]), uint32(p[2]), p[3], uint32(p[4])
	if !mem.has(nwrittenPtr, 4) {
		return errnoFault
	}
	bufs, en := mem.iovecs(iovs, iovsLen)
	if en != errnoSuccess {
		return en
	}
	if off > math.MaxInt64 {
		return errnoInval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return badfIfDir(en)
	}
	if !e.canWrite() {
		return errnoBadf
	}
	n, en := writeAt(e, bufs, int64(off))
	if en != errnoSuccess {
		return en
	}
	mem.putU32(nwrittenPtr, uint32(n))
	return errnoSuccess
}

// fdRead is fd_read(fd, iovs, iovs_len, nread_ptr).
func (s *System) fdRead(_ context.Context, mem memory, p []uint64) errno {
	fd, iovs, iovsLen, nreadPtr := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
	if !mem.has(nreadPtr, 4) {
		return errnoFault
	}
	bufs, en := mem.iovecs(iovs, iovsLen)
	if en != errnoSuccess {
		return en
	}
	var n int
	if st, ok := s.stdioOf(fd); ok {
		n, en = s.readStdio(st, bufs)
	} else {
		n, en = s.readFile(fd, bufs)
	}
	if en != errnoSuccess {
		return en
	}
	mem.putU32(nreadPtr, uint32(n))
	return errnoSuccess
}

// fdWrite is fd_write(fd, iovs, iovs_len, nwritten_ptr).
func (s *System) fdWrite(_ context.Context, mem memory, p []uint64) errno {
	fd, iovs, iovsLen, nwrittenPtr := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
	if !mem.has(nwrittenPtr, 4) {
		return errnoFault
	}
	bufs, en := mem.iovecs(iovs, iovsLen)
	if en != errnoSuccess {
		return en
	}
	var n int
	if st, ok := s.stdioOf(fd); ok {
		n, en = s.writeStdio(st, bufs)
	} else {
		n, en = s.writeFile(fd, bufs)
	}
	if en != errnoSuccess {
		return en
	}
	mem.putU32(nwrittenPtr, uint32(n))
	return errnoSuccess
}

// stdioFD is what a stdio I/O needs from the table. It is copied out so the
// I/O itself runs without s.mu: reading stdin may block for as long as the
// cell's input takes, and State must not wait for it.
type stdioFD struct {
	stream          int
	canRead, canWrt bool
}

// stdioOf returns fd's stream if fd is stdio.
func (s *System) stdioOf(fd uint32) (stdioFD, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.fds[fd]
	if !ok || e.kind != KindStdio {
		return stdioFD{}, false
	}
	return stdioFD{stream: e.stdio, canRead: e.canRead(), canWrt: e.canWrite()}, true
}

// readStdio reads stdin into bufs, one Read per buffer, stopping at the
// first short one: that is as much as is available now, and waiting for
// more would block a guest that can already make progress.
func (s *System) readStdio(st stdioFD, bufs [][]byte) (int, errno) {
	if !st.canRead || st.stream != 0 {
		return 0, errnoBadf
	}
	total := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		n, err := s.stdin.Read(b)
		total += n
		if err != nil && !errors.Is(err, io.EOF) && total == 0 {
			return 0, errnoIo
		}
		if err != nil || n < len(b) {
			break
		}
	}
	return total, errnoSuccess
}

// writeStdio writes bufs to stdout or stderr in one Write when they are
// small, so a line printf hands over in two iovecs reaches the Writer (a
// log line splitter, say) whole.
func (s *System) writeStdio(st stdioFD, bufs [][]byte) (int, errno) {
	if !st.canWrt || st.stream == 0 {
		return 0, errnoBadf
	}
	w := s.stdout
	if st.stream == 2 {
		w = s.stderr
	}
	size := 0
	for _, b := range bufs {
		size += len(b)
	}
	if size <= 64<<10 && len(bufs) > 1 {
		joined := make([]byte, 0, size)
		for _, b := range bufs {
			joined = append(joined, b...)
		}
		bufs = [][]byte{joined}
	}
	total := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		n, err := w.Write(b)
		total += n
		if err != nil {
			if total > 0 {
				break
			}
			if errors.Is(err, io.ErrClosedPipe) {
				return 0, errnoPipe
			}
			return 0, errnoIo
		}
	}
	return total, errnoSuccess
}

// readFile reads at the fd's offset and moves it.
func (s *System) readFile(fd uint32, bufs [][]byte) (int, errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return 0, en
	}
	if !e.canRead() {
		return 0, errnoBadf
	}
	n, en := readAt(e, bufs, e.offset)
	if en != errnoSuccess {
		return 0, en
	}
	e.offset += int64(n)
	return n, errnoSuccess
}

// writeFile writes at the fd's offset, or at the end with O_APPEND, and
// moves the offset past what it wrote. Append is ours because the host
// file is never opened O_APPEND (WriteAt refuses such files, and the
// offset must stay ours); between cells sharing a file it is therefore not
// atomic.
func (s *System) writeFile(fd uint32, bufs [][]byte) (int, errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return 0, badfIfDir(en)
	}
	if !e.canWrite() {
		return 0, errnoBadf
	}
	off := e.offset
	if e.fdflags&fdflagAppend != 0 {
		info, err := e.file.Stat()
		if err != nil {
			return 0, errnoOf(err)
		}
		off = info.Size()
	}
	n, en := writeAt(e, bufs, off)
	if en != errnoSuccess {
		return 0, en
	}
	e.offset = off + int64(n)
	return n, errnoSuccess
}

// readAt fills bufs from the file at off, stopping at end of file. An
// error after some bytes were read is left for the next call to report.
func readAt(e *fdEntry, bufs [][]byte, off int64) (int, errno) {
	total := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		n, err := e.file.ReadAt(b, off)
		total += n
		off += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if total > 0 {
				break
			}
			return 0, errnoOf(err)
		}
	}
	return total, errnoSuccess
}

// writeAt writes bufs to the file at off, syncing afterwards when the fd
// asked for synchronous writes.
func writeAt(e *fdEntry, bufs [][]byte, off int64) (int, errno) {
	total := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if off > math.MaxInt64-int64(len(b)) {
			if total > 0 {
				break
			}
			return 0, errnoFbig
		}
		n, err := e.file.WriteAt(b, off)
		total += n
		off += int64(n)
		if err != nil {
			if total > 0 {
				break
			}
			return 0, errnoOf(err)
		}
	}
	if e.fdflags&(fdflagDsync|fdflagRsync|fdflagSync) != 0 && total > 0 {
		if err := e.file.Sync(); err != nil {
			return 0, errnoOf(err)
		}
	}
	return total, errnoSuccess
}

// fdPrestatGet is fd_prestat_get(fd, prestat_ptr): wasi-libc calls it on
// fd 3, 4, ... at start-up until EBADF, to learn the preopens.
func (s *System) fdPrestatGet(_ context.Context, mem memory, p []uint64) errno {
	fd, ptr := uint32(p[0]), uint32(p[1])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	if !e.isPreopen {
		return errnoBadf
	}
	b, ok := mem.slice(ptr, prestatSize)
	if !ok {
		return errnoFault
	}
	clear(b)
	b[0] = preopentypeDir
	binary.LittleEndian.PutUint32(b[4:], uint32(len(s.preopens[e.preopen].GuestPath)))
	return errnoSuccess
}

// fdPrestatDirName is fd_prestat_dir_name(fd, path, path_len). The name is
// not NUL-terminated.
func (s *System) fdPrestatDirName(_ context.Context, mem memory, p []uint64) errno {
	fd, ptr, n := uint32(p[0]), uint32(p[1]), uint32(p[2])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(fd)
	if en != errnoSuccess {
		return en
	}
	if !e.isPreopen {
		return errnoBadf
	}
	name := s.preopens[e.preopen].GuestPath
	if uint64(n) < uint64(len(name)) {
		return errnoNametoolong
	}
	b, ok := mem.slice(ptr, uint32(len(name)))
	if !ok {
		return errnoFault
	}
	copy(b, name)
	return errnoSuccess
}

// fdRenumber is fd_renumber(from, to): move from onto to, closing whatever
// to was. Like dup2, to need not be open, but it must be below the table
// limit.
func (s *System) fdRenumber(_ context.Context, _ memory, p []uint64) errno {
	from, to := uint32(p[0]), uint32(p[1])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(from)
	if en != errnoSuccess {
		return en
	}
	if to >= maxFDs {
		return errnoBadf
	}
	if from == to {
		return errnoSuccess
	}
	if old, ok := s.fds[to]; ok {
		// The close error is the old fd's, not this call's; POSIX dup2
		// ignores it the same way.
		_ = old.close()
	}
	s.fds[to] = e
	delete(s.fds, from)
	return errnoSuccess
}

// fdSeek is fd_seek(fd, offset, whence, newoffset_ptr). The offset is
// signed. Seeking past the end is allowed; a later write leaves a hole.
func (s *System) fdSeek(_ context.Context, mem memory, p []uint64) errno {
	fd, delta, whence, ptr := uint32(p[0]), int64(p[1]), uint32(p[2]), uint32(p[3])
	if !mem.has(ptr, 8) {
		return errnoFault
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return badfIfDir(en)
	}
	var base int64
	switch whence {
	case whenceSet:
	case whenceCur:
		base = e.offset
	case whenceEnd:
		info, err := e.file.Stat()
		if err != nil {
			return errnoOf(err)
		}
		base = info.Size()
	default:
		return errnoInval
	}
	next := base + delta
	if (delta > 0 && next < base) || next < 0 {
		return errnoInval
	}
	e.offset = next
	mem.putU64(ptr, uint64(next))
	return errnoSuccess
}

// fdTell is fd_tell(fd, offset_ptr).
func (s *System) fdTell(_ context.Context, mem memory, p []uint64) errno {
	fd, ptr := uint32(p[0]), uint32(p[1])
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookupFile(fd)
	if en != errnoSuccess {
		return badfIfDir(en)
	}
	if !mem.putU64(ptr, uint64(e.offset)) {
		return errnoFault
	}
	return errnoSuccess
}
