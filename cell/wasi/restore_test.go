package wasi

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// harnessOn is a harness around a System made elsewhere (by Restore).
func harnessOn(t *testing.T, sys *System) *harness {
	t.Helper()
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h := &harness{t: t, sys: sys, mem: make(sliceMemory, 64<<10), funcs: map[string]engine.HostFunc{}, next: 16}
	for _, f := range sys.Module().Funcs {
		h.funcs[f.Name] = f
	}
	return h
}

// restoreFixture is a System in the middle of a cell's life: files read,
// written, seeked, created with O_CREAT|O_EXCL and O_TRUNC, appended to,
// renumbered, a directory half listed, stdin closed and stderr moved.
type restoreFixture struct {
	rw, ro string
	st     State
	// fds of the fixture, by what they are.
	data, log, created, sub, hello uint32
	// subCookie is where the guest stopped listing sub.
	subCookie uint64
}

func newRestoreFixture(t *testing.T) restoreFixture {
	t.Helper()
	h, rw, ro, _ := newFSHarness(t)
	fx := restoreFixture{rw: rw, ro: ro}
	if err := os.WriteFile(filepath.Join(rw, "data.txt"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(rw, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(rw, "sub", name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	open := func(dir uint32, path string, oflags uint32, rights uint64, fdflags uint32) uint32 {
		t.Helper()
		fd, en := h.open(dir, path, oflags, rights, fdflags)
		if en != errnoSuccess {
			t.Fatalf("open %q: %v", path, en)
		}
		return fd
	}

	fx.data = open(fdRW, "data.txt", 0, rightsReadWrite, 0)
	if got := h.read(fx.data, 3); got != "012" {
		t.Fatalf("read %q", got)
	}
	h.write(fx.data, "abc") // data.txt: 012abc6789, offset 6

	fx.log = open(fdRW, "log.txt", oflagCreat|oflagTrunc, rightsReadWrite, fdflagAppend)
	h.write(fx.log, "one\n")

	fx.created = open(fdRW, "./sub/../new.txt", oflagCreat|oflagExcl, rightsReadWrite, 0)
	h.write(fx.created, "hello")
	h.seek(fx.created, 2, whenceSet)
	// Renumbered away, leaving a hole the directory below fills.
	h.must("fd_renumber", uint64(fx.created), 12)
	hole := fx.created
	fx.created = 12

	fx.sub = open(fdRW, "sub", oflagDirectory, rightsDir, 0)
	if fx.sub != hole {
		t.Fatalf("dir fd %d, want the hole %d", fx.sub, hole)
	}
	names, nexts, _ := h.readdir(fx.sub, 0, 2*direntSize+3)
	if !slices.Equal(names, []string{".", ".."}) {
		t.Fatalf("first page of sub: %v", names)
	}
	fx.subCookie = nexts[len(nexts)-1]

	fx.hello = open(fdRO, "hello.txt", 0, rightsRead, 0)
	if got := h.read(fx.hello, 6); got != "hello " {
		t.Fatalf("read %q", got)
	}
	// Narrowed rights must stay narrowed.
	h.must("fd_fdstat_set_rights", uint64(fx.hello), rightsRead&^rightFdSeek, 0)

	h.must("fd_close", 0)
	h.must("fd_renumber", 2, 20)

	fx.st = h.sys.State()
	if err := h.sys.Close(); err != nil {
		t.Fatal(err)
	}
	return fx
}

func TestRestore(t *testing.T) {
	fx := newRestoreFixture(t)
	// Someone else appends to the log while the cell is away: the cell's
	// O_APPEND writes must still go to the end, not to its old offset.
	appendFile(t, filepath.Join(fx.rw, "log.txt"), "ext\n")

	var stderr bytes.Buffer
	sys, err := Restore(Config{Stderr: &stderr, Args: []string{"ignored"}}, fx.st)
	if err != nil {
		t.Fatal(err)
	}
	h := harnessOn(t, sys)

	// The restored state is the saved one, down to rights and flags; only
	// the clock has gone on.
	got := sys.State()
	if got.Monotonic < fx.st.Monotonic {
		t.Errorf("monotonic %v, before the saved %v", got.Monotonic, fx.st.Monotonic)
	}
	got.Monotonic = fx.st.Monotonic
	if !stateEqual(got, fx.st) {
		t.Errorf("restored state\n%+v\nwant\n%+v", got, fx.st)
	}
	out := h.alloc(8)
	h.must("clock_time_get", clockMonotonic, 1, uint64(out))
	if mono := time.Duration(h.u64(out)); mono < fx.st.Monotonic {
		t.Errorf("clock_time_get %v, before the saved %v", mono, fx.st.Monotonic)
	}

	// Same fds, same offsets.
	h.write(fx.data, "XYZ")
	if got := h.read(fx.data, 10); got != "9" {
		t.Errorf("data.txt read after the write: %q, want %q", got, "9")
	}
	h.write(fx.created, "XY")
	h.write(fx.log, "two\n")
	if got := h.read(fx.hello, 100); got != "from ro\n" {
		t.Errorf("hello.txt rest %q", got)
	}
	for name, want := range map[string]string{
		"data.txt": "012abcXYZ9",
		"new.txt":  "heXYo",           // neither O_EXCL (EEXIST) nor created anew
		"log.txt":  "one\next\ntwo\n", // not truncated, appended at the end
	} {
		if b, err := os.ReadFile(filepath.Join(fx.rw, name)); err != nil || string(b) != want {
			t.Errorf("%s holds %q (%v), want %q", name, b, err, want)
		}
	}

	// The directory listing goes on from the guest's cookie, and from the
	// start.
	if names, _, _ := h.readdir(fx.sub, fx.subCookie, 4096); !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("sub from cookie %d: %v", fx.subCookie, names)
	}
	if names, _, _ := h.readdir(fx.sub, 0, 4096); len(names) != 5 {
		t.Errorf("sub from the start: %v", names)
	}
	// Paths still resolve relative to the restored directory fd, and the
	// new fd is the lowest free one: stdin's, which the guest closed.
	if fd, en := h.open(fx.sub, "a", 0, rightsRead, 0); en != errnoSuccess || fd != 0 {
		t.Errorf("open relative to the restored dir fd: fd %d (%v), want 0", fd, en)
	}

	// Stderr is where fd_renumber put it; fd 2 and fd 0 are free.
	h.write(20, "moved stderr")
	if stderr.String() != "moved stderr" {
		t.Errorf("stderr got %q", stderr.String())
	}
	p, n := h.str("x")
	iov, cnt := h.iovs([2]uint32{uint32(p), uint32(n)})
	if en := h.call("fd_write", 2, iov, cnt, uint64(out)); en != errnoBadf {
		t.Errorf("fd_write to the closed fd 2: %v, want EBADF", en)
	}
	// The preopens answer fd_prestat_get on their numbers.
	pre := h.alloc(prestatSize)
	h.must("fd_prestat_get", fdRO, uint64(pre))
	if h.u32(pre+4) != uint32(len("/ro")) {
		t.Errorf("fd %d prestat name length %d", fdRO, h.u32(pre+4))
	}
	// A read-only preopen stays read-only.
	if _, en := h.open(fdRO, "hello.txt", 0, rightsReadWrite, 0); en != errnoRofs {
		t.Errorf("write open in the read-only preopen: %v, want EROFS", en)
	}
	// Then stderr's old number.
	if fd, en := h.open(fdRW, "next.txt", oflagCreat, rightsReadWrite, 0); en != errnoSuccess || fd != 2 {
		t.Errorf("next fd %d (%v), want 2", fd, en)
	}
}

// stateEqual compares states field by field (State holds slices).
func stateEqual(a, b State) bool {
	return slices.Equal(a.Args, b.Args) && slices.Equal(a.Env, b.Env) &&
		slices.Equal(a.Preopens, b.Preopens) && a.Monotonic == b.Monotonic &&
		slices.Equal(a.FDs, b.FDs)
}

func appendFile(t *testing.T, name, s string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreNarrowedRights(t *testing.T) {
	fx := newRestoreFixture(t)
	sys, err := Restore(Config{}, fx.st)
	if err != nil {
		t.Fatal(err)
	}
	h := harnessOn(t, sys)
	fdstat := h.alloc(fdstatSize)
	h.must("fd_fdstat_get", uint64(fx.hello), uint64(fdstat))
	if base := h.u64(fdstat + 8); base&rightFdSeek != 0 || base&rightFdRead == 0 {
		t.Errorf("hello.txt rights %#x: FD_SEEK back or FD_READ lost", base)
	}
	h.must("fd_fdstat_get", uint64(fx.log), uint64(fdstat))
	if flags := uint16(h.u32(fdstat+2) & 0xffff); flags != fdflagAppend {
		t.Errorf("log.txt fdflags %#x, want APPEND", flags)
	}
}

func TestRestoreVanishedFile(t *testing.T) {
	fx := newRestoreFixture(t)
	gone := filepath.Join(fx.rw, "data.txt")
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	sys, err := Restore(Config{}, fx.st)
	if err == nil {
		sys.Close()
		t.Fatal("restored a file that is gone")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), `"data.txt"`) ||
		!strings.Contains(err.Error(), "fd 5") {
		t.Errorf("error %q: want one naming fd 5 and data.txt, wrapping ErrNotExist", err)
	}
	// Never silently a new, empty file.
	if _, err := os.Stat(gone); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("data.txt came back: %v", err)
	}
}

func TestRestoreVanishedPreopen(t *testing.T) {
	fx := newRestoreFixture(t)
	if err := os.RemoveAll(fx.ro); err != nil {
		t.Fatal(err)
	}
	sys, err := Restore(Config{}, fx.st)
	if err == nil {
		sys.Close()
		t.Fatal("restored a preopen that is gone")
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), fx.ro) {
		t.Errorf("error %q: want one naming %s", err, fx.ro)
	}
}

// TestRestoreRefuses: a State New and the guest could not have made is
// refused, not trusted.
func TestRestoreRefuses(t *testing.T) {
	fx := newRestoreFixture(t)
	fdOf := func(st State, fd uint32) *FDState {
		for i := range st.FDs {
			if st.FDs[i].FD == fd {
				return &st.FDs[i]
			}
		}
		t.Fatalf("no fd %d", fd)
		return nil
	}
	cases := map[string]struct {
		change func(st *State)
		want   string
	}{
		"write in a read-only preopen": {func(st *State) { fdOf(*st, fx.hello).Write = true }, "read-only preopen"},
		"rights gained":                {func(st *State) { fdOf(*st, fx.hello).RightsBase |= rightFdSeek | rightFdWrite }, "rights"},
		"fd twice":                     {func(st *State) { st.FDs = append(st.FDs, *fdOf(*st, fx.data)) }, "twice"},
		"preopen out of range":         {func(st *State) { fdOf(*st, fx.data).Preopen = 7 }, "preopen 7"},
		"a file that is now a dir":     {func(st *State) { fdOf(*st, fx.hello).Path = "sub" }, "now a dir"},
		"stdio stream 3":               {func(st *State) { fdOf(*st, 1).Stdio = 3 }, "stream 3"},
		"negative offset":              {func(st *State) { fdOf(*st, fx.data).Offset = -1 }, "negative offset"},
		"unknown kind":                 {func(st *State) { fdOf(*st, fx.data).Kind = "socket" }, "unknown kind"},
		"escaping path":                {func(st *State) { fdOf(*st, fx.data).Path = "../secret.txt" }, "escapes"},
		"two fds of one preopen": {func(st *State) {
			dup := *fdOf(*st, fdRW)
			dup.FD = 30
			st.FDs = append(st.FDs, dup)
		}, "second fd"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			st := fx.st
			st.FDs = slices.Clone(fx.st.FDs)
			c.change(&st)
			sys, err := Restore(Config{}, st)
			if err == nil {
				sys.Close()
				t.Fatal("restored")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want one saying %q", err, c.want)
			}
		})
	}
}

// TestRestoreFresh: a System that opened nothing restores to the same
// fds, and a clock that starts below zero still does not go back.
func TestRestoreFresh(t *testing.T) {
	rw, ro, _ := testDirs(t)
	sys, err := New(Config{Args: []string{"p", "x"}, Env: []string{"A=1"}, Preopens: []Preopen{{HostDir: rw, GuestPath: "/rw"}, {HostDir: ro, GuestPath: "."}}})
	if err != nil {
		t.Fatal(err)
	}
	st := sys.State()
	sys.Close()
	back, err := Restore(Config{Monotonic: func() time.Duration { return -time.Hour }}, st)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	got := back.State()
	if got.Monotonic != st.Monotonic {
		t.Errorf("monotonic %v, want the saved %v held", got.Monotonic, st.Monotonic)
	}
	if !stateEqual(got, st) {
		t.Errorf("restored state\n%+v\nwant\n%+v", got, st)
	}
}
