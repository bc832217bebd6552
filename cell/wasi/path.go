package wasi

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"strings"
)

// readPath reads a path argument from guest memory.
//
// An absolute path is refused with EPERM: wasi-libc resolves absolute
// paths against the preopens itself and hands us the rest relative to one,
// so a leading "/" here can only be an attempt to leave the directory.
func readPath(mem memory, ptr, n uint32) (string, errno) {
	b, ok := mem.slice(ptr, n)
	if !ok {
		return "", errnoFault
	}
	if n == 0 {
		return "", errnoNoent
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return "", errnoInval
	}
	if b[0] == '/' {
		return "", errnoPerm
	}
	return string(b), errnoSuccess
}

// target is a guest path resolved against a directory fd.
type target struct {
	root    *os.Root
	preopen int
	ro      bool
	// rel is the path relative to the preopen root as State records it.
	rel string
	// op is rel as handed to os.Root: with a trailing "/" kept when the
	// guest wrote one (or ended in "/."), because that demands a directory.
	op string
	// last is the guest's final path component, to refuse "." and ".."
	// where POSIX does.
	last string
}

// resolve joins a guest path to the directory it is relative to. The
// result is not checked here: os.Root checks it, component by component,
// when it is used, and refuses anything that leaves the preopen by "..",
// absolute symlinks or symlinks pointing outside.
func (s *System) resolve(dir *fdEntry, p string) target {
	pre := s.preopens[dir.preopen]
	rel := joinRel(dir.path, p)
	parts := strings.Split(p, "/")
	last := parts[len(parts)-1]
	op := rel
	if (last == "" || last == ".") && rel != "." {
		op += "/"
	}
	return target{root: pre.root, preopen: dir.preopen, ro: pre.ReadOnly, rel: rel, op: op, last: last}
}

// joinRel joins slash paths dropping empty and "." components. ".." is
// kept: only resolution knows what it means after a symlink.
func joinRel(dir, p string) string {
	var parts []string
	for _, c := range strings.Split(dir+"/"+p, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

// isDots reports whether a final component names the directory itself or
// its parent, which cannot be removed, renamed or created.
func (t target) isDots() bool {
	return t.last == "." || t.last == ".." || t.rel == "."
}

// pathArg reads a path and resolves it against dir fd. Callers hold s.mu.
func (s *System) pathArg(mem memory, fd, ptr, n uint32) (target, errno) {
	name, en := readPath(mem, ptr, n)
	if en != errnoSuccess {
		return target{}, en
	}
	dir, en := s.lookupDir(fd)
	if en != errnoSuccess {
		return target{}, en
	}
	return s.resolve(dir, name), errnoSuccess
}

// pathOpen is path_open(fd, dirflags, path, path_len, oflags,
// fs_rights_base, fs_rights_inheriting, fdflags, fd_ptr).
func (s *System) pathOpen(_ context.Context, mem memory, p []uint64) errno {
	dirfd, dirflags, pathPtr, pathLen, oflags := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3]), uint32(p[4])
	base, inheriting, fdflags, fdPtr := p[5], p[6], uint32(p[7]), uint32(p[8])
	if !mem.has(fdPtr, 4) {
		return errnoFault
	}
	if oflags&^oflagsAll != 0 || fdflags&^fdflagsAll != 0 {
		return errnoInval
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, dirfd, pathPtr, pathLen)
	if en != errnoSuccess {
		return en
	}
	dir := s.fds[dirfd]
	// A new fd gets at most what its directory passes on. wasi-libc asks
	// for "everything but what contradicts the access mode" masked by the
	// directory's inheriting rights, so excess is normal, not an error.
	base &= dir.rightsInheriting
	inheriting &= dir.rightsInheriting
	e, en := openTarget(t, dirflags&lookupSymlinkFollow != 0, uint16(oflags), base, inheriting, uint16(fdflags))
	if en != errnoSuccess {
		return en
	}
	fd, en := s.allocFD(e)
	if en != errnoSuccess {
		_ = e.close()
		return en
	}
	mem.putU32(fdPtr, fd)
	return errnoSuccess
}

// openTarget opens t as path_open asks and builds its fd entry.
func openTarget(t target, follow bool, oflags uint16, base, inheriting uint64, fdflags uint16) (*fdEntry, errno) {
	// The rights decide the host access mode (see rightsWriting). O_TRUNC
	// and O_APPEND need write access whatever the rights say.
	write := base&rightsWriting != 0 || fdflags&fdflagAppend != 0 || oflags&oflagTrunc != 0
	read := base&rightsReading != 0 || !write
	creat := oflags&oflagCreat != 0
	excl := creat && oflags&oflagExcl != 0
	if oflags&oflagDirectory != 0 {
		if creat {
			return nil, errnoInval
		}
		if write {
			return nil, errnoIsdir
		}
	}

	if t.ro {
		if write {
			return nil, errnoRofs
		}
		// As on a read-only mount, O_CREAT is harmless for a file that
		// exists: only creating one is refused.
		if creat {
			if _, err := t.root.Stat(t.op); err != nil || excl {
				return nil, errnoRofs
			}
			creat = false
		}
	}

	// os.Root always follows a final symlink (inside the root). Without
	// SYMLINK_FOLLOW the guest asked for O_NOFOLLOW, which refuses one.
	if !follow {
		if info, err := t.root.Lstat(t.op); err == nil && info.Mode()&fs.ModeSymlink != 0 {
			if excl {
				return nil, errnoExist
			}
			return nil, errnoLoop
		}
	}

	flag := os.O_RDONLY
	switch {
	case read && write:
		flag = os.O_RDWR
	case write:
		flag = os.O_WRONLY
	}
	if creat {
		flag |= os.O_CREATE
	}
	if excl {
		flag |= os.O_EXCL
	}
	if oflags&oflagTrunc != 0 {
		flag |= os.O_TRUNC
	}
	f, err := t.root.OpenFile(t.op, flag, 0o666)
	if err != nil {
		return nil, errnoOf(err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, errnoOf(err)
	}
	e := &fdEntry{
		kind:             KindFile,
		file:             f,
		preopen:          t.preopen,
		path:             t.rel,
		read:             read,
		write:            write,
		oflags:           oflags,
		fdflags:          fdflags,
		rightsBase:       base & rightsFile,
		rightsInheriting: inheriting,
	}
	if info.IsDir() {
		e.kind = KindDir
		e.rightsBase = base & rightsDir
	} else if oflags&oflagDirectory != 0 {
		_ = f.Close()
		return nil, errnoNotdir
	}
	// fdstat then tells the truth about the access mode.
	if !read {
		e.rightsBase &^= rightsReading
	}
	if !write {
		e.rightsBase &^= rightsWriting
	}
	return e, errnoSuccess
}

// pathCreateDirectory is path_create_directory(fd, path, path_len).
func (s *System) pathCreateDirectory(_ context.Context, mem memory, p []uint64) errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, uint32(p[0]), uint32(p[1]), uint32(p[2]))
	if en != errnoSuccess {
		return en
	}
	if t.ro {
		return errnoRofs
	}
	if t.isDots() {
		return errnoExist
	}
	return errnoOf(t.root.Mkdir(t.op, 0o777))
}

// pathFilestatGet is path_filestat_get(fd, flags, path, path_len,
// filestat_ptr).
func (s *System) pathFilestatGet(_ context.Context, mem memory, p []uint64) errno {
	fd, flags, ptr := uint32(p[0]), uint32(p[1]), uint32(p[4])
	b, ok := mem.slice(ptr, filestatSize)
	if !ok {
		return errnoFault
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, fd, uint32(p[2]), uint32(p[3]))
	if en != errnoSuccess {
		return en
	}
	var info fs.FileInfo
	var err error
	if flags&lookupSymlinkFollow != 0 {
		info, err = t.root.Stat(t.op)
	} else {
		info, err = t.root.Lstat(t.op)
	}
	if err != nil {
		return errnoOf(err)
	}
	statOf(info).encode(b)
	return errnoSuccess
}

// pathFilestatSetTimes is path_filestat_set_times(fd, flags, path,
// path_len, atim, mtim, fst_flags). Setting a symlink's own times is not
// supported (os.Root always follows): without SYMLINK_FOLLOW, a symlink is
// ENOTSUP rather than silently changing its target.
func (s *System) pathFilestatSetTimes(_ context.Context, mem memory, p []uint64) errno {
	fd, flags := uint32(p[0]), uint32(p[1])
	atime, mtime, en := s.fileTimes(p[4], p[5], uint32(p[6]))
	if en != errnoSuccess {
		return en
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, fd, uint32(p[2]), uint32(p[3]))
	if en != errnoSuccess {
		return en
	}
	if t.ro {
		return errnoRofs
	}
	if flags&lookupSymlinkFollow == 0 {
		info, err := t.root.Lstat(t.op)
		if err != nil {
			return errnoOf(err)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return errnoNotsup
		}
	}
	return errnoOf(t.root.Chtimes(t.op, atime, mtime))
}

// pathPair reads the two paths of path_link and path_rename: both must be
// in the same preopen (EXDEV otherwise, as across file systems) and the
// new one must be writable.
func (s *System) pathPair(mem memory, fromFD, fromPtr, fromLen, toFD, toPtr, toLen uint32) (from, to target, en errno) {
	if from, en = s.pathArg(mem, fromFD, fromPtr, fromLen); en != errnoSuccess {
		return from, to, en
	}
	if to, en = s.pathArg(mem, toFD, toPtr, toLen); en != errnoSuccess {
		return from, to, en
	}
	if from.preopen != to.preopen {
		return from, to, errnoXdev
	}
	if to.ro {
		return from, to, errnoRofs
	}
	return from, to, errnoSuccess
}

// pathLink is path_link(old_fd, old_flags, old_path, old_path_len, new_fd,
// new_path, new_path_len). Both must be in the same preopen (EXDEV
// otherwise, as across file systems). SYMLINK_FOLLOW in old_flags is
// ignored: a symlink is linked itself, as Linux's linkat does by default.
func (s *System) pathLink(_ context.Context, mem memory, p []uint64) errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, en := s.pathPair(mem, uint32(p[0]), uint32(p[2]), uint32(p[3]), uint32(p[4]), uint32(p[5]), uint32(p[6]))
	if en != errnoSuccess {
		return en
	}
	if to.isDots() {
		return errnoExist
	}
	return errnoOf(from.root.Link(from.op, to.op))
}

// pathReadlink is path_readlink(fd, path, path_len, buf, buf_len,
// bufused_ptr). Like readlink(2), a target longer than buf is truncated
// and not NUL-terminated.
func (s *System) pathReadlink(_ context.Context, mem memory, p []uint64) errno {
	fd, bufPtr, bufLen, usedPtr := uint32(p[0]), uint32(p[3]), uint32(p[4]), uint32(p[5])
	buf, ok := mem.slice(bufPtr, bufLen)
	if !ok || !mem.has(usedPtr, 4) {
		return errnoFault
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, fd, uint32(p[1]), uint32(p[2]))
	if en != errnoSuccess {
		return en
	}
	link, err := t.root.Readlink(t.op)
	if err != nil {
		return errnoOf(err)
	}
	n := copy(buf, link)
	mem.putU32(usedPtr, uint32(n))
	return errnoSuccess
}

// pathRemoveDirectory is path_remove_directory(fd, path, path_len).
func (s *System) pathRemoveDirectory(_ context.Context, mem memory, p []uint64) errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, uint32(p[0]), uint32(p[1]), uint32(p[2]))
	if en != errnoSuccess {
		return en
	}
	if t.ro {
		return errnoRofs
	}
	if t.isDots() {
		return errnoInval
	}
	info, err := t.root.Lstat(t.op)
	if err != nil {
		return errnoOf(err)
	}
	if !info.IsDir() {
		return errnoNotdir
	}
	return errnoOf(t.root.Remove(t.op))
}

// pathRename is path_rename(fd, old_path, old_path_len, new_fd, new_path,
// new_path_len), within one preopen.
func (s *System) pathRename(_ context.Context, mem memory, p []uint64) errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to, en := s.pathPair(mem, uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3]), uint32(p[4]), uint32(p[5]))
	if en != errnoSuccess {
		return en
	}
	if from.isDots() || to.isDots() {
		return errnoBusy
	}
	return errnoOf(from.root.Rename(from.op, to.op))
}

// pathSymlink is path_symlink(old_path, old_path_len, fd, new_path,
// new_path_len). The target is stored as given and only resolved, inside
// the preopen, when used; an absolute target is refused with EPERM
// because it would name a host path, never the guest's.
func (s *System) pathSymlink(_ context.Context, mem memory, p []uint64) errno {
	b, ok := mem.slice(uint32(p[0]), uint32(p[1]))
	if !ok {
		return errnoFault
	}
	if len(b) == 0 {
		return errnoNoent
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return errnoInval
	}
	if b[0] == '/' {
		return errnoPerm
	}
	linkTarget := string(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, uint32(p[2]), uint32(p[3]), uint32(p[4]))
	if en != errnoSuccess {
		return en
	}
	if t.ro {
		return errnoRofs
	}
	if t.isDots() {
		return errnoExist
	}
	return errnoOf(t.root.Symlink(linkTarget, t.op))
}

// pathUnlinkFile is path_unlink_file(fd, path, path_len). os.Root.Remove
// removes directories too, so we look first: unlink of a directory is
// EISDIR.
func (s *System) pathUnlinkFile(_ context.Context, mem memory, p []uint64) errno {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, en := s.pathArg(mem, uint32(p[0]), uint32(p[1]), uint32(p[2]))
	if en != errnoSuccess {
		return en
	}
	if t.ro {
		return errnoRofs
	}
	if t.isDots() {
		return errnoIsdir
	}
	info, err := t.root.Lstat(t.op)
	if err != nil {
		return errnoOf(err)
	}
	if info.IsDir() {
		return errnoIsdir
	}
	return errnoOf(t.root.Remove(t.op))
}
