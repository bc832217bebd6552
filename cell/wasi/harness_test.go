package wasi

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// sliceMemory is engine.Memory on a plain slice: the unit tests call host
// functions directly, without an engine.
type sliceMemory []byte

func (m sliceMemory) Bytes() []byte { return m }

// harness calls one System's host functions by name on a 64 KiB memory.
type harness struct {
	t     *testing.T
	sys   *System
	mem   sliceMemory
	funcs map[string]engine.HostFunc
	// next is where alloc hands out scratch memory.
	next uint32
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	sys, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
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

// call runs a host function and returns its errno.
func (h *harness) call(name string, args ...uint64) errno {
	h.t.Helper()
	return callFunc(h.t, h.funcs[name], h.mem, context.Background(), args...)
}

func callFunc(t *testing.T, f engine.HostFunc, mem engine.Memory, ctx context.Context, args ...uint64) errno {
	t.Helper()
	if f.Call == nil {
		t.Fatalf("no host function %q", f.Name)
	}
	if len(args) != len(f.Params) {
		t.Fatalf("%s takes %d params, got %d", f.Name, len(f.Params), len(args))
	}
	stack := make([]uint64, max(len(f.Params), len(f.Results)))
	copy(stack, args)
	f.Call(ctx, mem, stack)
	return errno(stack[0])
}

// must calls a host function that must succeed.
func (h *harness) must(name string, args ...uint64) {
	h.t.Helper()
	if en := h.call(name, args...); en != errnoSuccess {
		h.t.Fatalf("%s: %v", name, en)
	}
}

// alloc reserves n bytes of scratch memory, 8-aligned.
func (h *harness) alloc(n uint32) uint32 {
	p := (h.next + 7) &^ 7
	h.next = p + n
	if int(h.next) > len(h.mem) {
		h.t.Fatal("harness memory exhausted")
	}
	return p
}

// str puts s in memory and returns its pointer and length as call args.
func (h *harness) str(s string) (uint64, uint64) {
	p := h.alloc(uint32(len(s)))
	copy(h.mem[p:], s)
	return uint64(p), uint64(len(s))
}

// iovs builds an iovec array over the given buffers (already in memory).
func (h *harness) iovs(bufs ...[2]uint32) (uint64, uint64) {
	p := h.alloc(uint32(len(bufs)) * iovecSize)
	for i, b := range bufs {
		binary.LittleEndian.PutUint32(h.mem[p+uint32(i)*8:], b[0])
		binary.LittleEndian.PutUint32(h.mem[p+uint32(i)*8+4:], b[1])
	}
	return uint64(p), uint64(len(bufs))
}

func (h *harness) u32(p uint32) uint32 { return binary.LittleEndian.Uint32(h.mem[p:]) }
func (h *harness) u64(p uint32) uint64 { return binary.LittleEndian.Uint64(h.mem[p:]) }

// open is path_open relative to dirfd, returning the new fd or the errno.
func (h *harness) open(dirfd uint32, path string, oflags uint32, rights uint64, fdflags uint32) (uint32, errno) {
	h.t.Helper()
	pp, pl := h.str(path)
	out := h.alloc(4)
	en := h.call("path_open", uint64(dirfd), lookupSymlinkFollow, pp, pl, uint64(oflags), rights, rightsFile|rightsDir, uint64(fdflags), uint64(out))
	if en != errnoSuccess {
		return 0, en
	}
	return h.u32(out), errnoSuccess
}

// write writes s to fd with fd_write and returns the count.
func (h *harness) write(fd uint32, s string) uint32 {
	h.t.Helper()
	p, n := h.str(s)
	iov, cnt := h.iovs([2]uint32{uint32(p), uint32(n)})
	out := h.alloc(4)
	h.must("fd_write", uint64(fd), iov, cnt, uint64(out))
	return h.u32(out)
}

// read reads up to n bytes from fd with fd_read.
func (h *harness) read(fd uint32, n uint32) string {
	h.t.Helper()
	buf := h.alloc(n)
	iov, cnt := h.iovs([2]uint32{buf, n})
	out := h.alloc(4)
	h.must("fd_read", uint64(fd), iov, cnt, uint64(out))
	got := h.u32(out)
	return string(h.mem[buf : buf+got])
}

// seek is fd_seek, returning the new offset.
func (h *harness) seek(fd uint32, off int64, whence uint32) uint64 {
	h.t.Helper()
	out := h.alloc(8)
	h.must("fd_seek", uint64(fd), uint64(off), uint64(whence), uint64(out))
	return h.u64(out)
}

// pathCall calls a function taking (fd, path, path_len).
func (h *harness) pathCall(name string, fd uint32, path string) errno {
	h.t.Helper()
	p, n := h.str(path)
	return h.call(name, uint64(fd), p, n)
}

// mustPath calls a (fd, path, path_len) function that must succeed.
func (h *harness) mustPath(name string, fd uint32, path string) {
	h.t.Helper()
	if en := h.pathCall(name, fd, path); en != errnoSuccess {
		h.t.Fatalf("%s %q: %v", name, path, en)
	}
}

// testDirs makes a read-write and a read-only preopen directory with some
// content, and a secret file outside both.
func testDirs(t *testing.T) (rw, ro, outside string) {
	t.Helper()
	base := t.TempDir()
	rw = filepath.Join(base, "rw")
	ro = filepath.Join(base, "ro")
	outside = filepath.Join(base, "secret.txt")
	for _, d := range []string{rw, ro, filepath.Join(ro, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		outside:                           "secret",
		filepath.Join(ro, "hello.txt"):    "hello from ro\n",
		filepath.Join(ro, "sub", "x.txt"): "x",
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return rw, ro, outside
}

// Preopen fds in the harness made by newFSHarness.
const (
	fdRW = 3
	fdRO = 4
)

func newFSHarness(t *testing.T) (h *harness, rw, ro, outside string) {
	t.Helper()
	rw, ro, outside = testDirs(t)
	h = newHarness(t, Config{Args: []string{"prog"}, Env: []string{"A=1"}, Preopens: []Preopen{
		{HostDir: rw, GuestPath: "/rw"},
		{HostDir: ro, GuestPath: "/ro", ReadOnly: true},
	}})
	return h, rw, ro, outside
}
