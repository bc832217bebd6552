package wasi

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// rightsRead and rightsReadWrite are what wasi-libc asks for with O_RDONLY
// and O_RDWR.
const (
	rightsRead      = rightsFile &^ rightsWriting
	rightsReadWrite = rightsFile
)

func TestPreopens(t *testing.T) {
	h, _, _, _ := newFSHarness(t)
	for fd, want := range map[uint32]string{fdRW: "/rw", fdRO: "/ro"} {
		pre := h.alloc(prestatSize)
		h.must("fd_prestat_get", uint64(fd), uint64(pre))
		if h.mem[pre] != preopentypeDir || h.u32(pre+4) != uint32(len(want)) {
			t.Errorf("fd %d prestat tag %d len %d", fd, h.mem[pre], h.u32(pre+4))
		}
		name := h.alloc(uint32(len(want)))
		h.must("fd_prestat_dir_name", uint64(fd), uint64(name), uint64(len(want)))
		if got := string(h.mem[name : name+uint32(len(want))]); got != want {
			t.Errorf("fd %d name %q, want %q", fd, got, want)
		}
	}
	// wasi-libc stops scanning preopens at the first EBADF.
	if en := h.call("fd_prestat_get", 5, uint64(h.alloc(8))); en != errnoBadf {
		t.Errorf("fd 5 prestat: %v, want EBADF", en)
	}
	if en := h.call("fd_prestat_get", 1, uint64(h.alloc(8))); en != errnoBadf {
		t.Errorf("stdout prestat: %v, want EBADF", en)
	}
}

func TestPathOpenConfinement(t *testing.T) {
	h, rw, _, outside := newFSHarness(t)
	// Symlinks inside the preopen that point out of it, absolutely and
	// relatively, and one that stays inside.
	if err := os.Symlink(outside, filepath.Join(rw, "abs-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../secret.txt", filepath.Join(rw, "rel-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(rw, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rw, "inside.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inside.txt", filepath.Join(rw, "good-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(rw, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, p := range []string{
		"../secret.txt",
		"/etc/passwd",
		"/",
		"sub/../../secret.txt",
		"abs-link",
		"rel-link",
		"up/secret.txt",
		"../rw/inside.txt", // back inside, but only by passing outside
	} {
		fd, en := h.open(fdRW, p, 0, rightsRead, 0)
		if en == errnoSuccess {
			t.Errorf("opened %q as fd %d: escaped the preopen", p, fd)
			continue
		}
		if en != errnoPerm {
			t.Errorf("open %q: %v, want EPERM", p, en)
		}
	}
	// Creating through an escaping symlink must not create outside.
	if _, en := h.open(fdRW, "rel-link", oflagCreat|oflagTrunc, rightsReadWrite, 0); en == errnoSuccess {
		t.Error("O_CREAT|O_TRUNC through an escaping symlink succeeded")
	}
	if b, _ := os.ReadFile(outside); string(b) != "secret" {
		t.Errorf("outside file changed to %q", b)
	}
	// Other path calls are confined too.
	if en := h.pathCall("path_unlink_file", fdRW, "../secret.txt"); en != errnoPerm {
		t.Errorf("unlink outside: %v, want EPERM", en)
	}
	stat := h.alloc(filestatSize)
	p, n := h.str("up/secret.txt")
	if en := h.call("path_filestat_get", fdRW, lookupSymlinkFollow, p, n, uint64(stat)); en != errnoPerm {
		t.Errorf("stat outside: %v, want EPERM", en)
	}
	// Inside is fine, including through a symlink and "..".
	for _, p := range []string{"inside.txt", "good-link", "sub/../inside.txt", "./inside.txt"} {
		fd, en := h.open(fdRW, p, 0, rightsRead, 0)
		if en != errnoSuccess {
			t.Errorf("open %q: %v", p, en)
			continue
		}
		if got := h.read(fd, 10); got != "ok" {
			t.Errorf("read %q: %q", p, got)
		}
	}
	// Without SYMLINK_FOLLOW a final symlink is ELOOP (O_NOFOLLOW).
	lp, ln := h.str("good-link")
	out := h.alloc(4)
	if en := h.call("path_open", fdRW, 0, lp, ln, 0, rightsRead, 0, 0, uint64(out)); en != errnoLoop {
		t.Errorf("open symlink without follow: %v, want ELOOP", en)
	}
}

func TestReadOnlyPreopen(t *testing.T) {
	h, _, ro, _ := newFSHarness(t)
	// Reading works.
	fd, en := h.open(fdRO, "hello.txt", 0, rightsRead, 0)
	if en != errnoSuccess {
		t.Fatalf("open ro file: %v", en)
	}
	if got := h.read(fd, 100); got != "hello from ro\n" {
		t.Errorf("read %q", got)
	}
	out := h.alloc(4)
	p, n := h.str("x")
	iov, cnt := h.iovs([2]uint32{uint32(p), uint32(n)})
	if en := h.call("fd_write", uint64(fd), iov, cnt, uint64(out)); en != errnoBadf {
		t.Errorf("write to read-only fd: %v, want EBADF", en)
	}
	// O_CREAT of an existing file without write access is harmless.
	if _, en := h.open(fdRO, "hello.txt", oflagCreat, rightsRead, 0); en != errnoSuccess {
		t.Errorf("O_CREAT on existing ro file: %v", en)
	}

	refusals := []struct {
		what string
		call func() errno
	}{
		{"create", func() errno { _, en := h.open(fdRO, "new.txt", oflagCreat, rightsRead, 0); return en }},
		{"open for write", func() errno { _, en := h.open(fdRO, "hello.txt", 0, rightsReadWrite, 0); return en }},
		{"truncate", func() errno { _, en := h.open(fdRO, "hello.txt", oflagTrunc, rightsRead, 0); return en }},
		{"append", func() errno { _, en := h.open(fdRO, "hello.txt", 0, rightsRead, fdflagAppend); return en }},
		{"create in subdir fd", func() errno {
			sub, en := h.open(fdRO, "sub", oflagDirectory, rightsDir, 0)
			if en != errnoSuccess {
				return en
			}
			_, en = h.open(sub, "new.txt", oflagCreat, rightsReadWrite, 0)
			return en
		}},
		{"unlink", func() errno { return h.pathCall("path_unlink_file", fdRO, "hello.txt") }},
		{"mkdir", func() errno { return h.pathCall("path_create_directory", fdRO, "d") }},
		{"rmdir", func() errno { return h.pathCall("path_remove_directory", fdRO, "sub") }},
		{"rename", func() errno {
			a, an := h.str("hello.txt")
			b, bn := h.str("renamed.txt")
			return h.call("path_rename", fdRO, a, an, fdRO, b, bn)
		}},
		{"symlink", func() errno {
			a, an := h.str("hello.txt")
			b, bn := h.str("link")
			return h.call("path_symlink", a, an, fdRO, b, bn)
		}},
		{"utimes", func() errno {
			a, an := h.str("hello.txt")
			return h.call("path_filestat_set_times", fdRO, lookupSymlinkFollow, a, an, 0, 0, fstflagMtimNow)
		}},
		{"futimes", func() errno { return h.call("fd_filestat_set_times", uint64(fd), 0, 0, fstflagMtimNow) }},
	}
	for _, r := range refusals {
		if en := r.call(); en != errnoRofs {
			t.Errorf("%s in read-only preopen: %v, want EROFS", r.what, en)
		}
	}
	if en := h.call("fd_filestat_set_size", uint64(fd), 0); en != errnoBadf {
		t.Errorf("ftruncate of read-only fd: %v, want EBADF", en)
	}
	// Nothing changed on disk.
	entries, err := os.ReadDir(ro)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"hello.txt", "sub"}) {
		t.Errorf("ro dir now holds %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(ro, "hello.txt")); string(b) != "hello from ro\n" {
		t.Errorf("ro file now %q", b)
	}
}

func TestCreateWriteSeekRead(t *testing.T) {
	h, rw, _, _ := newFSHarness(t)
	fd, en := h.open(fdRW, "data.txt", oflagCreat|oflagExcl, rightsReadWrite, 0)
	if en != errnoSuccess {
		t.Fatalf("create: %v", en)
	}
	if fd != 5 {
		t.Errorf("first new fd %d, want 5 (after stdio and two preopens)", fd)
	}
	if _, en := h.open(fdRW, "data.txt", oflagCreat|oflagExcl, rightsReadWrite, 0); en != errnoExist {
		t.Errorf("O_EXCL on existing: %v, want EEXIST", en)
	}
	if n := h.write(fd, "hello world"); n != 11 {
		t.Errorf("wrote %d", n)
	}
	tell := h.alloc(8)
	h.must("fd_tell", uint64(fd), uint64(tell))
	if h.u64(tell) != 11 {
		t.Errorf("tell %d after write, want 11", h.u64(tell))
	}
	if got := h.read(fd, 10); got != "" {
		t.Errorf("read at end %q", got)
	}
	if off := h.seek(fd, 0, whenceSet); off != 0 {
		t.Errorf("seek set 0 = %d", off)
	}
	if got := h.read(fd, 5); got != "hello" {
		t.Errorf("read %q", got)
	}
	if off := h.seek(fd, 1, whenceCur); off != 6 {
		t.Errorf("seek cur +1 = %d", off)
	}
	if got := h.read(fd, 100); got != "world" {
		t.Errorf("read %q", got)
	}
	if off := h.seek(fd, -5, whenceEnd); off != 6 {
		t.Errorf("seek end -5 = %d", off)
	}
	h.write(fd, "WORLD")
	if en := h.call("fd_seek", uint64(fd), uint64(1<<64-100), whenceSet, uint64(tell)); en != errnoInval {
		t.Errorf("seek to negative: %v, want EINVAL", en)
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "data.txt")); string(b) != "hello WORLD" {
		t.Errorf("file holds %q", b)
	}

	// pread and pwrite leave the offset alone.
	h.seek(fd, 2, whenceSet)
	buf := h.alloc(5)
	iov, cnt := h.iovs([2]uint32{buf, 5})
	nread := h.alloc(4)
	h.must("fd_pread", uint64(fd), iov, cnt, 6, uint64(nread))
	if got := string(h.mem[buf : buf+h.u32(nread)]); got != "WORLD" {
		t.Errorf("pread %q", got)
	}
	p, n := h.str("J")
	wiov, wcnt := h.iovs([2]uint32{uint32(p), uint32(n)})
	h.must("fd_pwrite", uint64(fd), wiov, wcnt, 0, uint64(nread))
	h.must("fd_tell", uint64(fd), uint64(tell))
	if h.u64(tell) != 2 {
		t.Errorf("offset %d after pread/pwrite, want 2", h.u64(tell))
	}

	// O_APPEND writes at the end whatever the offset.
	afd, en := h.open(fdRW, "data.txt", 0, rightsReadWrite, fdflagAppend)
	if en != errnoSuccess {
		t.Fatalf("open append: %v", en)
	}
	h.seek(afd, 0, whenceSet)
	h.write(afd, "!")
	h.must("fd_tell", uint64(afd), uint64(tell))
	if h.u64(tell) != 12 {
		t.Errorf("offset %d after append, want 12", h.u64(tell))
	}
	// Appending can be turned off with fd_fdstat_set_flags.
	h.must("fd_fdstat_set_flags", uint64(afd), 0)
	h.seek(afd, 0, whenceSet)
	h.write(afd, "j")
	if b, _ := os.ReadFile(filepath.Join(rw, "data.txt")); string(b) != "jello WORLD!" {
		t.Errorf("file holds %q", b)
	}

	// Size and stat.
	h.must("fd_filestat_set_size", uint64(fd), 5)
	st := h.alloc(filestatSize)
	h.must("fd_filestat_get", uint64(fd), uint64(st))
	if h.mem[st+16] != filetypeRegularFile || h.u64(st+32) != 5 || h.u64(st+24) == 0 {
		t.Errorf("filestat type %d size %d nlink %d", h.mem[st+16], h.u64(st+32), h.u64(st+24))
	}
	h.must("fd_allocate", uint64(fd), 10, 6)
	h.must("fd_filestat_get", uint64(fd), uint64(st))
	if h.u64(st+32) != 16 {
		t.Errorf("size %d after fd_allocate(10, 6), want 16", h.u64(st+32))
	}
	h.must("fd_sync", uint64(fd))
	h.must("fd_datasync", uint64(fd))
	h.must("fd_advise", uint64(fd), 0, 0, 2)
	if en := h.call("fd_advise", uint64(fd), 0, 0, 9); en != errnoInval {
		t.Errorf("bad advice: %v", en)
	}

	// Times: set mtime exactly, leave atime.
	h.must("fd_filestat_set_times", uint64(fd), 0, 1_000_000_000_000_000_000, fstflagMtim)
	h.must("fd_filestat_get", uint64(fd), uint64(st))
	if h.u64(st+48) != 1_000_000_000_000_000_000 {
		t.Errorf("mtime %d after set_times", h.u64(st+48))
	}

	// A read-only fd cannot write, a write-only fd cannot read.
	rfd, _ := h.open(fdRW, "data.txt", 0, rightsRead, 0)
	wfd, _ := h.open(fdRW, "data.txt", 0, rightsWriting, 0)
	out := h.alloc(4)
	if en := h.call("fd_write", uint64(rfd), wiov, wcnt, uint64(out)); en != errnoBadf {
		t.Errorf("write on O_RDONLY: %v", en)
	}
	if en := h.call("fd_read", uint64(wfd), iov, cnt, uint64(out)); en != errnoBadf {
		t.Errorf("read on O_WRONLY: %v", en)
	}
	fdstat := h.alloc(fdstatSize)
	h.must("fd_fdstat_get", uint64(rfd), uint64(fdstat))
	if h.u64(fdstat+8)&rightFdWrite != 0 || h.u64(fdstat+8)&rightFdRead == 0 {
		t.Errorf("O_RDONLY fd rights %#x", h.u64(fdstat+8))
	}
	// Dropping FD_READ stops reads; rights cannot be regained.
	h.must("fd_fdstat_set_rights", uint64(rfd), rightFdSeek, 0)
	if en := h.call("fd_read", uint64(rfd), iov, cnt, uint64(out)); en != errnoBadf {
		t.Errorf("read after dropping FD_READ: %v", en)
	}
	if en := h.call("fd_fdstat_set_rights", uint64(rfd), rightFdSeek|rightFdRead, 0); en != errnoNotcapable {
		t.Errorf("regaining FD_READ: %v, want ENOTCAPABLE", en)
	}

	// O_TRUNC empties it.
	tfd, en := h.open(fdRW, "data.txt", oflagTrunc, rightsReadWrite, 0)
	if en != errnoSuccess {
		t.Fatalf("O_TRUNC: %v", en)
	}
	h.must("fd_filestat_get", uint64(tfd), uint64(st))
	if h.u64(st+32) != 0 {
		t.Errorf("size %d after O_TRUNC", h.u64(st+32))
	}
	// Closing frees the fd.
	h.must("fd_close", uint64(tfd))
	if en := h.call("fd_close", uint64(tfd)); en != errnoBadf {
		t.Errorf("double close: %v", en)
	}
}

func TestOpenDirectoryFlags(t *testing.T) {
	h, _, _, _ := newFSHarness(t)
	if _, en := h.open(fdRO, "hello.txt", oflagDirectory, rightsRead, 0); en != errnoNotdir {
		t.Errorf("O_DIRECTORY on a file: %v, want ENOTDIR", en)
	}
	if _, en := h.open(fdRO, "nope", 0, rightsRead, 0); en != errnoNoent {
		t.Errorf("missing file: %v, want ENOENT", en)
	}
	if _, en := h.open(fdRO, "hello.txt/", 0, rightsRead, 0); en != errnoNotdir {
		t.Errorf("trailing slash on a file: %v, want ENOTDIR", en)
	}
	if _, en := h.open(fdRW, "", 0, rightsRead, 0); en != errnoNoent {
		t.Errorf("empty path: %v, want ENOENT", en)
	}
	if _, en := h.open(1, "x", 0, rightsRead, 0); en != errnoNotdir {
		t.Errorf("path_open on stdout: %v, want ENOTDIR", en)
	}
	sub, en := h.open(fdRO, "sub", oflagDirectory, rightsDir, 0)
	if en != errnoSuccess {
		t.Fatalf("open dir: %v", en)
	}
	st := h.alloc(fdstatSize)
	h.must("fd_fdstat_get", uint64(sub), uint64(st))
	if h.mem[st] != filetypeDirectory {
		t.Errorf("dir fdstat filetype %d", h.mem[st])
	}
	// Paths resolve relative to the opened directory.
	x, en := h.open(sub, "x.txt", 0, rightsRead, 0)
	if en != errnoSuccess || h.read(x, 5) != "x" {
		t.Errorf("open relative to subdir: %v", en)
	}
	out := h.alloc(4)
	buf := h.alloc(4)
	iov, cnt := h.iovs([2]uint32{buf, 4})
	if en := h.call("fd_read", uint64(sub), iov, cnt, uint64(out)); en != errnoIsdir {
		t.Errorf("fd_read on a dir: %v, want EISDIR", en)
	}
}

// readdir lists a directory fd from cookie through a buffer of bufLen.
func (h *harness) readdir(fd uint32, cookie uint64, bufLen uint32) (names []string, nexts []uint64, used uint32) {
	h.t.Helper()
	buf := h.alloc(bufLen)
	usedPtr := h.alloc(4)
	h.must("fd_readdir", uint64(fd), uint64(buf), uint64(bufLen), cookie, uint64(usedPtr))
	used = h.u32(usedPtr)
	b := h.mem[buf : buf+used]
	for len(b) >= direntSize {
		next := binary.LittleEndian.Uint64(b)
		namelen := binary.LittleEndian.Uint32(b[16:])
		if uint32(len(b)-direntSize) < namelen {
			break // cut short
		}
		names = append(names, string(b[direntSize:direntSize+namelen]))
		nexts = append(nexts, next)
		b = b[direntSize+namelen:]
	}
	return names, nexts, used
}

func TestReaddir(t *testing.T) {
	h, rw, _, _ := newFSHarness(t)
	for _, name := range []string{"c.txt", "a.txt", "b-long-name.txt"} {
		if err := os.WriteFile(filepath.Join(rw, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(rw, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := []string{".", "..", "a.txt", "b-long-name.txt", "c.txt", "dir"}
	names, nexts, used := h.readdir(fdRW, 0, 4096)
	if !slices.Equal(names, want) {
		t.Fatalf("listing %v, want %v", names, want)
	}
	if !slices.Equal(nexts, []uint64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("cookies %v", nexts)
	}
	if used == 4096 {
		t.Error("bufused == buf_len although everything fit")
	}

	// Entry types and inodes.
	buf := h.alloc(4096)
	usedPtr := h.alloc(4)
	h.must("fd_readdir", fdRW, uint64(buf), 4096, 5, uint64(usedPtr))
	if h.mem[buf+20] != filetypeDirectory || h.u64(buf+8) == 0 {
		t.Errorf("dir entry type %d ino %d", h.mem[buf+20], h.u64(buf+8))
	}

	// A buffer that ends mid-entry is filled completely, and the guest
	// resumes from the last whole entry's cookie.
	names, nexts, used = h.readdir(fdRW, 0, 3*direntSize+10)
	if used != 3*direntSize+10 {
		t.Errorf("bufused %d, want the full buffer", used)
	}
	if !slices.Equal(names, want[:3]) {
		t.Errorf("first page %v", names)
	}
	var all []string
	all = append(all, names...)
	cookie := nexts[len(nexts)-1]
	for {
		names, nexts, used = h.readdir(fdRW, cookie, 40)
		all = append(all, names...)
		if used < 40 {
			break
		}
		if len(nexts) == 0 {
			t.Fatal("a 40-byte buffer holds no whole entry")
		}
		cookie = nexts[len(nexts)-1]
	}
	if !slices.Equal(all, want) {
		t.Errorf("paged listing %v, want %v", all, want)
	}

	// Cookies are stable: the same cookie gives the same entry again.
	again, _, _ := h.readdir(fdRW, 4, 4096)
	if !slices.Equal(again, want[4:]) {
		t.Errorf("from cookie 4: %v", again)
	}
	// Past the end is empty.
	if names, _, used := h.readdir(fdRW, 100, 4096); len(names) != 0 || used != 0 {
		t.Errorf("past the end: %v (%d bytes)", names, used)
	}
	// A new file shows up after a rewind (cookie 0).
	if err := os.WriteFile(filepath.Join(rw, "0-first"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if names, _, _ := h.readdir(fdRW, 0, 4096); len(names) != len(want)+1 || names[2] != "0-first" {
		t.Errorf("after rewind %v", names)
	}
	// fd_readdir needs a directory.
	f, _ := h.open(fdRW, "a.txt", 0, rightsRead, 0)
	if en := h.call("fd_readdir", uint64(f), uint64(buf), 100, 0, uint64(usedPtr)); en != errnoNotdir {
		t.Errorf("readdir on a file: %v, want ENOTDIR", en)
	}
}

func TestPathOperations(t *testing.T) {
	h, rw, _, _ := newFSHarness(t)
	exists := func(name string) bool {
		_, err := os.Lstat(filepath.Join(rw, name))
		return err == nil
	}
	h.mustPath("path_create_directory", fdRW, "d")
	if !exists("d") {
		t.Fatal("mkdir did not create d")
	}
	if en := h.pathCall("path_create_directory", fdRW, "d"); en != errnoExist {
		t.Errorf("mkdir existing: %v, want EEXIST", en)
	}
	f, en := h.open(fdRW, "d/f.txt", oflagCreat, rightsReadWrite, 0)
	if en != errnoSuccess {
		t.Fatal(en)
	}
	h.write(f, "content")
	h.must("fd_close", uint64(f))

	if en := h.pathCall("path_remove_directory", fdRW, "d"); en != errnoNotempty {
		t.Errorf("rmdir non-empty: %v, want ENOTEMPTY", en)
	}
	if en := h.pathCall("path_unlink_file", fdRW, "d"); en != errnoIsdir {
		t.Errorf("unlink dir: %v, want EISDIR", en)
	}
	if en := h.pathCall("path_remove_directory", fdRW, "d/f.txt"); en != errnoNotdir {
		t.Errorf("rmdir file: %v, want ENOTDIR", en)
	}
	if en := h.pathCall("path_remove_directory", fdRW, "."); en != errnoInval {
		t.Errorf("rmdir .: %v, want EINVAL", en)
	}

	// Rename a file, then the directory.
	a, an := h.str("d/f.txt")
	b, bn := h.str("g.txt")
	h.must("path_rename", fdRW, a, an, fdRW, b, bn)
	if exists("d/f.txt") || !exists("g.txt") {
		t.Error("rename did not move the file")
	}
	a, an = h.str("d")
	b, bn = h.str("e")
	h.must("path_rename", fdRW, a, an, fdRW, b, bn)
	if exists("d") || !exists("e") {
		t.Error("rename did not move the dir")
	}
	// Across preopens is EXDEV.
	a, an = h.str("g.txt")
	b, bn = h.str("g.txt")
	if en := h.call("path_rename", fdRW, a, an, fdRO, b, bn); en != errnoXdev {
		t.Errorf("rename across preopens: %v, want EXDEV", en)
	}

	// Stat by path.
	st := h.alloc(filestatSize)
	h.must("path_filestat_get", fdRW, lookupSymlinkFollow, a, an, uint64(st))
	if h.mem[st+16] != filetypeRegularFile || h.u64(st+32) != 7 {
		t.Errorf("stat g.txt: type %d size %d", h.mem[st+16], h.u64(st+32))
	}
	h.must("path_filestat_set_times", fdRW, lookupSymlinkFollow, a, an, 5_000_000_000, 0, fstflagAtim)
	h.must("path_filestat_get", fdRW, lookupSymlinkFollow, a, an, uint64(st))
	if h.u64(st+40) != 5_000_000_000 {
		t.Errorf("atime %d after set", h.u64(st+40))
	}
	if en := h.call("path_filestat_set_times", fdRW, 0, a, an, 0, 0, fstflagAtim|fstflagAtimNow); en != errnoInval {
		t.Errorf("ATIM|ATIM_NOW: %v, want EINVAL", en)
	}

	// Hard and symbolic links.
	b, bn = h.str("hard.txt")
	h.must("path_link", fdRW, 0, a, an, fdRW, b, bn)
	h.must("path_filestat_get", fdRW, 0, a, an, uint64(st))
	if h.u64(st+24) != 2 {
		t.Errorf("nlink %d after link, want 2", h.u64(st+24))
	}
	b, bn = h.str("sym")
	h.must("path_symlink", a, an, fdRW, b, bn)
	h.must("path_filestat_get", fdRW, 0, b, bn, uint64(st))
	if h.mem[st+16] != filetypeSymbolicLink {
		t.Errorf("lstat of symlink: type %d", h.mem[st+16])
	}
	buf, used := h.alloc(64), h.alloc(4)
	h.must("path_readlink", fdRW, b, bn, uint64(buf), 64, uint64(used))
	if got := string(h.mem[buf : buf+h.u32(used)]); got != "g.txt" {
		t.Errorf("readlink %q", got)
	}
	h.must("path_readlink", fdRW, b, bn, uint64(buf), 2, uint64(used))
	if h.u32(used) != 2 {
		t.Errorf("truncated readlink used %d", h.u32(used))
	}
	abs, absn := h.str("/etc/passwd")
	bad, badn := h.str("bad")
	if en := h.call("path_symlink", abs, absn, fdRW, bad, badn); en != errnoPerm {
		t.Errorf("absolute symlink target: %v, want EPERM", en)
	}

	// Unlink and rmdir.
	for _, name := range []string{"g.txt", "hard.txt", "sym"} {
		h.mustPath("path_unlink_file", fdRW, name)
		if exists(name) {
			t.Errorf("%s still there after unlink", name)
		}
	}
	h.mustPath("path_remove_directory", fdRW, "e")
	if exists("e") {
		t.Error("e still there after rmdir")
	}
	if en := h.pathCall("path_unlink_file", fdRW, "e"); en != errnoNoent {
		t.Errorf("unlink missing: %v, want ENOENT", en)
	}
}

func TestFdRenumber(t *testing.T) {
	h, rw, _, _ := newFSHarness(t)
	f, _ := h.open(fdRW, "out.txt", oflagCreat, rightsReadWrite, 0)
	if f != 5 {
		t.Fatalf("new fd %d, want 5", f)
	}
	// Moving a file onto stdout redirects fd 1, as dup2 would.
	h.must("fd_renumber", uint64(f), 1)
	h.write(1, "redirected")
	if b, _ := os.ReadFile(filepath.Join(rw, "out.txt")); string(b) != "redirected" {
		t.Errorf("file holds %q", b)
	}
	if en := h.call("fd_close", uint64(f)); en != errnoBadf {
		t.Errorf("old fd after renumber: %v, want EBADF", en)
	}
	// The lowest free fd is used again.
	g, _ := h.open(fdRW, "other.txt", oflagCreat, rightsReadWrite, 0)
	if g != 5 {
		t.Errorf("next fd %d, want 5", g)
	}
	h.must("fd_close", 0)
	z, _ := h.open(fdRW, "z.txt", oflagCreat, rightsReadWrite, 0)
	if z != 0 {
		t.Errorf("fd after closing stdin %d, want 0", z)
	}
	if en := h.call("fd_renumber", 77, 1); en != errnoBadf {
		t.Errorf("renumber closed fd: %v, want EBADF", en)
	}
	if en := h.call("fd_renumber", uint64(g), maxFDs); en != errnoBadf {
		t.Errorf("renumber beyond the table: %v, want EBADF", en)
	}
	h.must("fd_renumber", uint64(g), uint64(g))
	h.must("fd_renumber", uint64(g), 40)
	h.write(40, "x")
}

func TestState(t *testing.T) {
	h, rw, _, _ := newFSHarness(t)
	if err := os.Mkdir(filepath.Join(rw, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, en := h.open(fdRW, "./a/../state.txt", oflagCreat, rightsReadWrite, fdflagAppend)
	if en != errnoSuccess {
		t.Fatal(en)
	}
	h.write(f, "0123456789")
	h.seek(f, 4, whenceSet)
	sub, _ := h.open(fdRO, "sub", oflagDirectory, rightsDir, 0)
	x, _ := h.open(sub, "x.txt", 0, rightsRead, 0)
	h.read(x, 1)
	h.must("fd_renumber", 2, 9) // stderr moved to 9

	st := h.sys.State()
	if len(st.Preopens) != 2 || st.Preopens[1].GuestPath != "/ro" || !st.Preopens[1].ReadOnly {
		t.Errorf("preopens %+v", st.Preopens)
	}
	byFD := map[uint32]FDState{}
	var fds []uint32
	for _, s := range st.FDs {
		byFD[s.FD] = s
		fds = append(fds, s.FD)
	}
	if !slices.Equal(fds, []uint32{0, 1, 3, 4, 5, 6, 7, 9}) {
		t.Errorf("fds %v", fds)
	}
	check := func(fd uint32, want FDState) {
		t.Helper()
		got := byFD[fd]
		got.RightsBase, got.RightsInheriting = 0, 0
		want.FD = fd
		if got != want {
			t.Errorf("fd %d:\n got %+v\nwant %+v", fd, got, want)
		}
	}
	check(1, FDState{Kind: KindStdio, Stdio: 1, Preopen: -1, Write: true})
	check(9, FDState{Kind: KindStdio, Stdio: 2, Preopen: -1, Write: true})
	check(4, FDState{Kind: KindDir, Preopen: 1, IsPreopen: true, Path: ".", Read: true})
	check(5, FDState{Kind: KindFile, Preopen: 0, Path: "a/../state.txt", Read: true, Write: true,
		OFlags: oflagCreat, FDFlags: fdflagAppend, Offset: 4})
	check(6, FDState{Kind: KindDir, Preopen: 1, Path: "sub", Read: true, OFlags: oflagDirectory})
	check(7, FDState{Kind: KindFile, Preopen: 1, Path: "sub/x.txt", Read: true, Offset: 1})
	if byFD[5].RightsBase&rightFdWrite == 0 || byFD[7].RightsBase&rightFdWrite != 0 {
		t.Errorf("rights: rw file %#x, ro file %#x", byFD[5].RightsBase, byFD[7].RightsBase)
	}
	// State is plain data: it survives JSON.
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.FDs, st.FDs) || back.Monotonic != st.Monotonic {
		t.Errorf("JSON round trip changed the state:\n%s", b)
	}
	// The monotonic clock recorded there is where a resumed cell goes on.
	if st.Monotonic <= 0 {
		t.Errorf("monotonic %v", st.Monotonic)
	}
}

func TestClosedSystem(t *testing.T) {
	h, _, _, _ := newFSHarness(t)
	f, _ := h.open(fdRW, "x", oflagCreat, rightsReadWrite, 0)
	if err := h.sys.Close(); err != nil {
		t.Fatal(err)
	}
	if en := h.call("fd_close", uint64(f)); en != errnoBadf {
		t.Errorf("fd_close after Close: %v", en)
	}
	if _, en := h.open(fdRW, "y", oflagCreat, rightsReadWrite, 0); en != errnoBadf {
		t.Errorf("path_open after Close: %v", en)
	}
}
