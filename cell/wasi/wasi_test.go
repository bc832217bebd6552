package wasi

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
)

func TestModuleHasAllPreview1Functions(t *testing.T) {
	sys, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	m := sys.Module()
	if m.Name != "wasi_snapshot_preview1" {
		t.Errorf("module name %q", m.Name)
	}
	seen := map[string]bool{}
	for _, f := range m.Funcs {
		if seen[f.Name] {
			t.Errorf("%s defined twice", f.Name)
		}
		seen[f.Name] = true
		if f.Call == nil {
			t.Errorf("%s has no Call", f.Name)
		}
		wantResults := 1
		if f.Name == "proc_exit" {
			wantResults = 0
		}
		if len(f.Results) != wantResults || (wantResults == 1 && f.Results[0] != engine.I32) {
			t.Errorf("%s results %v", f.Name, f.Results)
		}
	}
	// The witx lists 46 functions: the original 45 and sock_accept, added
	// to preview1 later and imported by current wasi-libc.
	if len(m.Funcs) != 46 {
		t.Errorf("%d functions, want the 46 of preview1", len(m.Funcs))
	}
}

func TestArgsAndEnviron(t *testing.T) {
	args := []string{"prog", "-n", "3", ""}
	env := []string{"A=1", "PATH=/bin", "EMPTY="}
	h := newHarness(t, Config{Args: args, Env: env})

	for _, c := range []struct {
		sizes, get string
		want       []string
	}{
		{"args_sizes_get", "args_get", args},
		{"environ_sizes_get", "environ_get", env},
	} {
		countPtr, sizePtr := h.alloc(4), h.alloc(4)
		h.must(c.sizes, uint64(countPtr), uint64(sizePtr))
		count, size := h.u32(countPtr), h.u32(sizePtr)
		wantSize := 0
		for _, s := range c.want {
			wantSize += len(s) + 1
		}
		if int(count) != len(c.want) || int(size) != wantSize {
			t.Fatalf("%s = %d, %d; want %d, %d", c.sizes, count, size, len(c.want), wantSize)
		}
		ptrs, buf := h.alloc(count*4), h.alloc(size)
		h.must(c.get, uint64(ptrs), uint64(buf))
		var got []string
		for i := range count {
			p := h.u32(ptrs + i*4)
			end := bytes.IndexByte(h.mem[p:], 0)
			got = append(got, string(h.mem[p:p+uint32(end)]))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s = %q, want %q", c.get, got, c.want)
		}
		// The buffer is exactly the NUL-terminated strings back to back.
		if want := strings.Join(c.want, "\x00") + "\x00"; string(h.mem[buf:buf+size]) != want {
			t.Errorf("%s buffer %q, want %q", c.get, h.mem[buf:buf+size], want)
		}
	}
}

func TestClockMonotonicWithOffsetNeverGoesBack(t *testing.T) {
	// A clock that jumps back, as a careless test clock or a host whose
	// clock source changed might.
	readings := []time.Duration{5, 10, 3, 12, 12, 1, 20}
	i := 0
	offset := time.Hour
	h := newHarness(t, Config{
		Monotonic: func() time.Duration {
			d := readings[min(i, len(readings)-1)]
			i++
			return d
		},
		MonotonicOffset: offset,
		Now:             func() time.Time { return time.Unix(1700000000, 42) },
	})
	out := h.alloc(8)
	var prev uint64
	for range readings {
		h.must("clock_time_get", clockMonotonic, 1, uint64(out))
		got := h.u64(out)
		if got < uint64(offset) {
			t.Fatalf("monotonic %d below the offset %d", got, offset)
		}
		if got < prev {
			t.Fatalf("monotonic went back: %d after %d", got, prev)
		}
		prev = got
	}
	if want := uint64(offset + 20); prev != want {
		t.Errorf("last monotonic %d, want %d", prev, want)
	}

	h.must("clock_time_get", clockRealtime, 0, uint64(out))
	if got, want := h.u64(out), uint64(time.Unix(1700000000, 42).UnixNano()); got != want {
		t.Errorf("realtime %d, want %d", got, want)
	}
	if en := h.call("clock_time_get", 9, 0, uint64(out)); en != errnoInval {
		t.Errorf("unknown clock: %v, want EINVAL", en)
	}
	h.must("clock_res_get", clockMonotonic, uint64(out))
	if h.u64(out) == 0 {
		t.Error("zero resolution")
	}
}

func TestDefaultMonotonicAdvances(t *testing.T) {
	h := newHarness(t, Config{MonotonicOffset: time.Minute})
	out := h.alloc(8)
	h.must("clock_time_get", clockMonotonic, 1, uint64(out))
	first := h.u64(out)
	time.Sleep(2 * time.Millisecond)
	h.must("clock_time_get", clockMonotonic, 1, uint64(out))
	if second := h.u64(out); second <= first || first < uint64(time.Minute) {
		t.Errorf("monotonic %d then %d, want increasing from 1m", first, second)
	}
}

func TestFdWriteStdoutAndStderr(t *testing.T) {
	var stdout, stderr bytes.Buffer
	h := newHarness(t, Config{Stdout: &stdout, Stderr: &stderr})
	a, an := h.str("hello, ")
	b, bn := h.str("world\n")
	iov, cnt := h.iovs([2]uint32{uint32(a), uint32(an)}, [2]uint32{0, 0}, [2]uint32{uint32(b), uint32(bn)})
	out := h.alloc(4)
	h.must("fd_write", 1, iov, cnt, uint64(out))
	if got := h.u32(out); got != 13 {
		t.Errorf("nwritten %d, want 13", got)
	}
	if stdout.String() != "hello, world\n" {
		t.Errorf("stdout %q", stdout.String())
	}
	h.write(2, "oops\n")
	if stderr.String() != "oops\n" || stdout.Len() != 13 {
		t.Errorf("stderr %q, stdout %q", stderr.String(), stdout.String())
	}
	if en := h.call("fd_write", 0, iov, cnt, uint64(out)); en != errnoBadf {
		t.Errorf("write to stdin: %v, want EBADF", en)
	}
	if en := h.call("fd_write", 99, iov, cnt, uint64(out)); en != errnoBadf {
		t.Errorf("write to fd 99: %v, want EBADF", en)
	}
}

func TestNilStdioDiscardsAndReadsEOF(t *testing.T) {
	h := newHarness(t, Config{})
	if n := h.write(1, "into the void"); n != 13 {
		t.Errorf("nwritten %d", n)
	}
	if got := h.read(0, 16); got != "" {
		t.Errorf("read %q from empty stdin", got)
	}
}

func TestFdReadStdin(t *testing.T) {
	h := newHarness(t, Config{Stdin: strings.NewReader("line one\nline two\n")})
	b1, b2 := h.alloc(5), h.alloc(100)
	iov, cnt := h.iovs([2]uint32{b1, 5}, [2]uint32{b2, 100})
	out := h.alloc(4)
	h.must("fd_read", 0, iov, cnt, uint64(out))
	n := h.u32(out)
	got := string(h.mem[b1:b1+5]) + string(h.mem[b2:b2+n-5])
	if n != 18 || got != "line one\nline two\n" {
		t.Errorf("read %d bytes %q", n, got)
	}
	h.must("fd_read", 0, iov, cnt, uint64(out))
	if h.u32(out) != 0 {
		t.Errorf("read %d bytes at EOF", h.u32(out))
	}
	if en := h.call("fd_read", 1, iov, cnt, uint64(out)); en != errnoBadf {
		t.Errorf("read from stdout: %v, want EBADF", en)
	}
}

func TestStdioIsATerminal(t *testing.T) {
	h := newHarness(t, Config{})
	st := h.alloc(fdstatSize)
	h.must("fd_fdstat_get", 1, uint64(st))
	// wasi-libc's isatty: character device without seek/tell rights.
	if h.mem[st] != filetypeCharacterDevice || h.u64(st+8)&(rightFdSeek|rightFdTell) != 0 {
		t.Errorf("stdout fdstat filetype %d rights %#x", h.mem[st], h.u64(st+8))
	}
	out := h.alloc(8)
	if en := h.call("fd_seek", 1, 0, whenceCur, uint64(out)); en != errnoSpipe {
		t.Errorf("seek on stdout: %v, want ESPIPE", en)
	}
}

// TestEFAULT passes pointers just past the end of memory to every function
// that takes one and expects EFAULT, not a panic and not success.
func TestEFAULT(t *testing.T) {
	h, _, _, _ := newFSHarness(t)
	f, _ := h.open(fdRW, "f.txt", oflagCreat, rightsFile, 0)
	end := uint64(len(h.mem))
	near := end - 2 // a 4- or 8-byte value here straddles the end
	name, nameLen := h.str("f.txt")
	fresh, freshLen := h.str("fresh.txt")
	okBuf := uint64(h.alloc(256))
	iov, cnt := h.iovs([2]uint32{uint32(okBuf), 16})
	badIov, badCnt := h.iovs([2]uint32{uint32(end - 8), 16})
	sub := h.alloc(subscriptionSize) // a zero subscription: clock, realtime, timeout 0
	out := uint64(h.alloc(64))
	cases := []struct {
		name string
		args []uint64
	}{
		{"args_get", []uint64{near, okBuf}},
		{"args_sizes_get", []uint64{out, near}},
		{"environ_get", []uint64{near, okBuf}},
		{"environ_sizes_get", []uint64{near, out}},
		{"clock_res_get", []uint64{0, near}},
		{"clock_time_get", []uint64{0, 0, near}},
		{"fd_fdstat_get", []uint64{1, near}},
		{"fd_filestat_get", []uint64{uint64(f), near}},
		{"fd_pread", []uint64{uint64(f), iov, cnt, 0, near}},
		{"fd_pread", []uint64{uint64(f), badIov, badCnt, 0, out}},
		{"fd_pread", []uint64{uint64(f), end, 1, 0, out}},
		{"fd_prestat_get", []uint64{fdRW, near}},
		{"fd_prestat_dir_name", []uint64{fdRW, near, 3}},
		{"fd_pwrite", []uint64{uint64(f), badIov, badCnt, 0, out}},
		{"fd_read", []uint64{0, iov, cnt, near}},
		{"fd_read", []uint64{uint64(f), badIov, badCnt, out}},
		{"fd_readdir", []uint64{fdRW, near, 100, 0, out}},
		{"fd_readdir", []uint64{fdRW, okBuf, 100, 0, near}},
		{"fd_seek", []uint64{uint64(f), 0, 0, near}},
		{"fd_tell", []uint64{uint64(f), near}},
		{"fd_write", []uint64{1, iov, cnt, near}},
		{"fd_write", []uint64{1, badIov, badCnt, out}},
		{"fd_write", []uint64{1, 0xffffffff, 0xffffffff, out}},
		{"path_create_directory", []uint64{fdRW, near, 10}},
		{"path_filestat_get", []uint64{fdRW, 0, name, nameLen, near}},
		{"path_filestat_get", []uint64{fdRW, 0, near, 10, out}},
		{"path_filestat_set_times", []uint64{fdRW, 0, near, 10, 0, 0, 0}},
		{"path_link", []uint64{fdRW, 0, name, nameLen, fdRW, near, 10}},
		{"path_open", []uint64{fdRW, 0, fresh, freshLen, oflagCreat, rightsFile, 0, 0, near}},
		{"path_open", []uint64{fdRW, 0, near, 0xffffffff, 0, rightsFile, 0, 0, out}},
		{"path_readlink", []uint64{fdRW, name, nameLen, near, 10, out}},
		{"path_readlink", []uint64{fdRW, name, nameLen, okBuf, 10, near}},
		{"path_remove_directory", []uint64{fdRW, near, 10}},
		{"path_rename", []uint64{fdRW, name, nameLen, fdRW, near, 10}},
		{"path_symlink", []uint64{near, 10, fdRW, name, nameLen}},
		{"path_unlink_file", []uint64{fdRW, near, 10}},
		{"poll_oneoff", []uint64{near, out, 1, out}},
		{"poll_oneoff", []uint64{uint64(sub), near, 1, out}},
		{"poll_oneoff", []uint64{uint64(sub), out, 1, near}},
		{"poll_oneoff", []uint64{uint64(sub), out, 0x7fffffff, out}},
		{"random_get", []uint64{near, 10}},
	}
	for _, c := range cases {
		if en := h.call(c.name, c.args...); en != errnoFault {
			t.Errorf("%s%v = %v, want EFAULT", c.name, c.args, en)
		}
	}
	// A fault in the result pointer must not leave the work done: the
	// path_open above created nothing.
	if _, err := os.Stat(filepath.Join(h.sys.preopens[0].HostDir, "fresh.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("path_open with a bad fd_ptr created the file (stat: %v)", err)
	}
}

func TestEFAULTWithoutMemory(t *testing.T) {
	sys, err := New(Config{Args: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	for _, f := range sys.Module().Funcs {
		if f.Name != "args_sizes_get" {
			continue
		}
		if en := callFunc(t, f, nil, context.Background(), 0, 4); en != errnoFault {
			t.Errorf("args_sizes_get with no memory: %v", en)
		}
	}
}

func TestProcExit(t *testing.T) {
	h := newHarness(t, Config{})
	defer func() {
		r := recover()
		exit, ok := r.(*engine.Exit)
		if !ok || exit.Code != 7 {
			t.Fatalf("recovered %#v, want *engine.Exit{7}", r)
		}
	}()
	h.call("proc_exit", 7)
	t.Fatal("proc_exit returned")
}

func TestUnsupportedCalls(t *testing.T) {
	h := newHarness(t, Config{})
	if en := h.call("proc_raise", 9); en != errnoNosys {
		t.Errorf("proc_raise: %v", en)
	}
	for name, args := range map[string][]uint64{
		"sock_accept":   {3, 0, 0},
		"sock_recv":     {3, 0, 0, 0, 0, 0},
		"sock_send":     {3, 0, 0, 0, 0},
		"sock_shutdown": {3, 0},
	} {
		if en := h.call(name, args...); en != errnoNotsup {
			t.Errorf("%s: %v, want ENOTSUP", name, en)
		}
	}
	h.must("sched_yield")
}

func TestRandomGet(t *testing.T) {
	h := newHarness(t, Config{Random: bytes.NewReader(bytes.Repeat([]byte{0xab}, 8))})
	buf := h.alloc(8)
	h.must("random_get", uint64(buf), 8)
	if !bytes.Equal(h.mem[buf:buf+8], bytes.Repeat([]byte{0xab}, 8)) {
		t.Errorf("random bytes %x", h.mem[buf:buf+8])
	}
	if en := h.call("random_get", uint64(buf), 8); en != errnoIo {
		t.Errorf("exhausted random source: %v, want EIO", en)
	}
}

func TestPollOneoff(t *testing.T) {
	h := newHarness(t, Config{})
	subs := h.alloc(3 * subscriptionSize)
	events := h.alloc(3 * eventSize)
	nevents := h.alloc(4)
	putClock := func(i uint32, userdata uint64, timeout time.Duration) {
		b := h.mem[subs+i*subscriptionSize:]
		clear(b[:subscriptionSize])
		putLE64(b[0:], userdata)
		b[8] = eventtypeClock
		putLE32(b[16:], clockMonotonic)
		putLE64(b[24:], uint64(timeout))
	}
	putFD := func(i uint32, userdata uint64, tag uint8, fd uint32) {
		b := h.mem[subs+i*subscriptionSize:]
		clear(b[:subscriptionSize])
		putLE64(b[0:], userdata)
		b[8] = tag
		putLE32(b[16:], fd)
	}

	// A clock alone sleeps.
	putClock(0, 11, 20*time.Millisecond)
	start := time.Now()
	h.must("poll_oneoff", uint64(subs), uint64(events), 1, uint64(nevents))
	if el := time.Since(start); el < 20*time.Millisecond {
		t.Errorf("slept %v, want at least 20ms", el)
	}
	if h.u32(nevents) != 1 || h.u64(events) != 11 || h.mem[events+10] != eventtypeClock {
		t.Errorf("clock event: n=%d userdata=%d type=%d", h.u32(nevents), h.u64(events), h.mem[events+10])
	}

	// A ready fd wins over a long clock, and a bad fd reports EBADF.
	putClock(0, 1, time.Hour)
	putFD(1, 2, eventtypeFdWrite, 1)
	putFD(2, 3, eventtypeFdRead, 77)
	start = time.Now()
	h.must("poll_oneoff", uint64(subs), uint64(events), 3, uint64(nevents))
	if time.Since(start) > time.Second {
		t.Error("waited for the clock although stdout was writable")
	}
	if n := h.u32(nevents); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
	e0, e1 := events, events+eventSize
	if h.u64(e0) != 2 || h.mem[e0+10] != eventtypeFdWrite || h.mem[e0+8] != 0 {
		t.Errorf("first event userdata=%d type=%d err=%d", h.u64(e0), h.mem[e0+10], h.mem[e0+8])
	}
	if h.u64(e1) != 3 || errno(h.mem[e1+8]) != errnoBadf {
		t.Errorf("second event userdata=%d err=%d, want EBADF", h.u64(e1), h.mem[e1+8])
	}

	// Cancelling the context ends a sleep.
	putClock(0, 1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	start = time.Now()
	en := callFunc(t, h.funcs["poll_oneoff"], h.mem, ctx, uint64(subs), uint64(events), 1, uint64(nevents))
	if en != errnoIntr || time.Since(start) > 10*time.Second {
		t.Errorf("cancelled poll: %v after %v, want EINTR promptly", en, time.Since(start))
	}

	// An absolute deadline already passed fires at once; an unknown clock
	// is an event with EINVAL.
	putClock(0, 5, time.Duration(time.Now().Add(-time.Hour).UnixNano()))
	h.mem[subs+16] = clockRealtime
	putLE16(h.mem[subs+40:], subclockAbstime)
	putClock(1, 6, time.Hour)
	h.mem[subs+subscriptionSize+16] = 42
	start = time.Now()
	h.must("poll_oneoff", uint64(subs), uint64(events), 2, uint64(nevents))
	if time.Since(start) > time.Second {
		t.Error("waited although the absolute deadline had passed")
	}
	if n := h.u32(nevents); n != 2 || errno(h.mem[e0+8]) != errnoInval || h.u64(e0) != 6 || h.u64(e1) != 5 {
		t.Errorf("events n=%d: %d err %d, %d", n, h.u64(e0), h.mem[e0+8], h.u64(e1))
	}

	if en := h.call("poll_oneoff", uint64(subs), uint64(events), 0, uint64(nevents)); en != errnoInval {
		t.Errorf("no subscriptions: %v, want EINVAL", en)
	}
}

func TestNewErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	_, err := New(Config{Preopens: []Preopen{{HostDir: missing, GuestPath: "/data"}}})
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Preopens: []Preopen{{HostDir: file, GuestPath: "/data"}}}); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("file as preopen: %v", err)
	}
	if os.Geteuid() != 0 {
		locked := t.TempDir()
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		if _, err := New(Config{Preopens: []Preopen{{HostDir: locked, GuestPath: "/data"}}}); err == nil || !strings.Contains(err.Error(), locked) {
			t.Errorf("unreadable dir: %v", err)
		}
	}
	if _, err := New(Config{Env: []string{"NOEQUALS"}}); err == nil {
		t.Error("env without = accepted")
	}
	if _, err := New(Config{Args: []string{"a\x00b"}}); err == nil {
		t.Error("NUL in args accepted")
	}
	if _, err := New(Config{Preopens: []Preopen{{HostDir: t.TempDir()}}}); err == nil {
		t.Error("empty guest path accepted")
	}
}

func putLE16(b []byte, v uint16) { b[0], b[1] = byte(v), byte(v>>8) }
func putLE32(b []byte, v uint32) { memory(b).putU32(0, v) }
func putLE64(b []byte, v uint64) { memory(b).putU64(0, v) }
