package wasi

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// FuzzHostCalls runs sequences of host calls with arbitrary arguments on
// arbitrary memory, against a System with a writable and a read-only
// preopen. Whatever the guest passes, a host function must return an errno:
// the only panic allowed is proc_exit's *engine.Exit.
//
// calls is a sequence of: one byte choosing the function, then per
// parameter a tag byte and a value. Tag&3 == 0 takes a raw 4- or 8-byte
// value (to reach the edges of the address space); otherwise a 2-byte value
// follows, which lands inside the 64 KiB memory, so pointers mostly point
// somewhere real. mem seeds the start of that memory.
func FuzzHostCalls(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed.calls, seed.mem)
	}
	f.Fuzz(func(t *testing.T, calls, memSeed []byte) {
		rw, ro, _ := testDirs(t)
		sys, err := New(Config{
			Args:  []string{"fuzz", "arg"},
			Env:   []string{"K=V"},
			Stdin: bytes.NewReader([]byte("some input")),
			Preopens: []Preopen{
				{HostDir: rw, GuestPath: "/rw"},
				{HostDir: ro, GuestPath: "/ro", ReadOnly: true},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer sys.Close()
		funcs := sys.Module().Funcs
		mem := make(sliceMemory, 64<<10)
		copy(mem, memSeed)
		// A cancelled context: poll_oneoff must not sleep for a fuzzer.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()

		r := calls
		for i := 0; i < 16 && len(r) > 0; i++ {
			fn := funcs[int(r[0])%len(funcs)]
			r = r[1:]
			stack := make([]uint64, max(len(fn.Params), len(fn.Results)))
			for j, p := range fn.Params {
				stack[j], r = fuzzValue(r, p)
			}
			if exited := callNoPanic(t, fn, mem, ctx, stack); exited {
				return
			}
		}
	})
}

// fuzzValue decodes one parameter from the front of r.
func fuzzValue(r []byte, t engine.ValueType) (uint64, []byte) {
	if len(r) == 0 {
		return 0, r
	}
	tag := r[0]
	r = r[1:]
	size := 2
	if tag&3 == 0 {
		size = 4
		if t == engine.I64 {
			size = 8
		}
	}
	var b [8]byte
	n := copy(b[:size], r)
	return binary.LittleEndian.Uint64(b[:]), r[n:]
}

// callNoPanic calls fn and fails the test on any panic but proc_exit's.
func callNoPanic(t *testing.T, fn engine.HostFunc, mem engine.Memory, ctx context.Context, stack []uint64) (exited bool) {
	args := append([]uint64(nil), stack[:len(fn.Params)]...)
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, ok := r.(*engine.Exit); ok && fn.Name == "proc_exit" {
			exited = true
			return
		}
		t.Fatalf("%s%v panicked: %v", fn.Name, args, r)
	}()
	fn.Call(ctx, mem, stack)
	return false
}

type fuzzSeed struct{ calls, mem []byte }

// fuzzSeeds are call sequences that do real work, so the fuzzer starts from
// inputs that get past argument checks: open, write, seek, read, list,
// poll, stat.
func fuzzSeeds(tb testing.TB) []fuzzSeed {
	sys, err := New(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	defer sys.Close()
	index := map[string]byte{}
	params := map[string][]engine.ValueType{}
	for i, f := range sys.Module().Funcs {
		index[f.Name] = byte(i)
		params[f.Name] = f.Params
	}
	call := func(name string, args ...uint64) []byte {
		b := []byte{index[name]}
		for i, a := range args {
			if a < 1<<16 {
				b = append(b, 1, byte(a), byte(a>>8))
				continue
			}
			b = append(b, 0)
			if params[name][i] == engine.I64 {
				b = binary.LittleEndian.AppendUint64(b, a)
			} else {
				b = binary.LittleEndian.AppendUint32(b, uint32(a))
			}
		}
		return b
	}
	// Memory layout of the seeds: "file.txt" at 0, "sub" at 16, an iovec
	// at 32 pointing at 256 (len 64), scratch results at 64, a clock
	// subscription at 128, buffers from 256.
	mem := make([]byte, 512)
	copy(mem[0:], "file.txt")
	copy(mem[16:], "sub")
	binary.LittleEndian.PutUint32(mem[32:], 256)
	binary.LittleEndian.PutUint32(mem[36:], 64)
	mem[128+8] = eventtypeClock
	copy(mem[256:], "payload for the file")

	openFile := call("path_open", fdRW, 1, 0, 8, oflagCreat, rightsFile, rightsFile, 0, 64)
	return []fuzzSeed{
		{call("args_sizes_get", 64, 68), mem},
		{call("args_get", 64, 256), mem},
		{bytes.Join([][]byte{
			openFile,
			call("fd_write", 5, 32, 1, 64),
			call("fd_seek", 5, 0, whenceSet, 64),
			call("fd_read", 5, 32, 1, 64),
			call("fd_filestat_get", 5, 300),
			call("fd_renumber", 5, 1),
			call("fd_write", 1, 32, 1, 64),
		}, nil), mem},
		{bytes.Join([][]byte{
			call("path_create_directory", fdRW, 16, 3),
			call("fd_readdir", fdRW, 256, 200, 0, 64),
			call("path_rename", fdRW, 16, 3, fdRW, 0, 8),
			call("path_remove_directory", fdRW, 0, 8),
		}, nil), mem},
		{bytes.Join([][]byte{
			call("fd_readdir", fdRO, 256, 100, 1, 64),
			call("path_open", fdRO, 1, 16, 3, oflagDirectory, rightsDir, rightsFile, 0, 64),
			call("path_filestat_get", fdRO, 1, 16, 3, 300),
			call("path_symlink", 0, 8, fdRW, 16, 3),
			call("path_readlink", fdRW, 16, 3, 400, 50, 64),
		}, nil), mem},
		{call("poll_oneoff", 128, 200, 1, 64), mem},
		{call("fd_read", 0, 32, 1, 64), mem},
		{call("fd_prestat_dir_name", fdRW, 300, 3), mem},
		{call("random_get", 256, 100), mem},
		{call("proc_exit", 3), mem},
	}
}

// TestWriteFuzzCorpus writes the seeds to testdata/fuzz/FuzzHostCalls when
// WASI_WRITE_FUZZ_CORPUS is set, so the corpus on disk can be regenerated
// after the functions or the encoding change.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("WASI_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set WASI_WRITE_FUZZ_CORPUS=1 to rewrite testdata/fuzz/FuzzHostCalls")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzHostCalls")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n[]byte(%s)\n", strconv.Quote(string(s.calls)), strconv.Quote(string(s.mem)))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
