//go:build cgo

package wasmtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/enginetest"
)

func testEngine(tb testing.TB, opts Options) *Engine {
	return testEngineEpoch(tb, opts, true)
}

func testEngineEpoch(tb testing.TB, opts Options, epoch bool) *Engine {
	tb.Helper()
	e, err := newEngine(opts, epoch)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cacheDir string) engine.Engine {
		return testEngine(t, Options{CacheDir: cacheDir})
	})
}

func TestAvailable(t *testing.T) {
	if !Available() {
		t.Error("Available() = false in a cgo build")
	}
	// Test binaries carry no dependency versions, so this is "wasmtime
	// unknown" under go test and "wasmtime v39.x.y" in a real build.
	if v := testEngine(t, Options{}).Version(); !strings.HasPrefix(v, "wasmtime ") {
		t.Errorf("Version() = %q", v)
	}
}

// TestCorruptCache damages the cached file in several ways; each time the
// engine must ignore it, compile again, rewrite the file, and run.
func TestCorruptCache(t *testing.T) {
	dir := t.TempDir()
	wasm := enginetest.Module("arith")
	compileAndRun := func(t *testing.T) *Engine {
		t.Helper()
		e := testEngine(t, Options{CacheDir: dir})
		c, err := e.Compile(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		inst, err := c.Instantiate(context.Background(), engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close(context.Background())
		if res, err := inst.Call(context.Background(), "add_i32", 2, 3); err != nil || res[0] != 5 {
			t.Fatalf("add_i32(2, 3) = %v, %v", res, err)
		}
		return e
	}
	compileAndRun(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.cwasm"))
	if len(files) != 1 {
		t.Fatalf("cache holds %v, want one .cwasm file", files)
	}
	path := files[0]
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if e := compileAndRun(t); e.CacheHits() != 1 {
		t.Fatalf("intact cache: CacheHits() = %d, want 1", e.CacheHits())
	}

	for name, damage := range map[string]func([]byte) []byte{
		"flipped byte": func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b },
		"truncated":    func(b []byte) []byte { return b[:len(b)/3] },
		"empty":        func([]byte) []byte { return nil },
		"garbage":      func([]byte) []byte { return []byte("not a compiled module") },
		// A valid checksum over a payload wasmtime rejects.
		"bad payload": func(b []byte) []byte { return append(b[:32:32], "junk"...) },
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, damage(append([]byte{}, good...)), 0o644); err != nil {
				t.Fatal(err)
			}
			if e := compileAndRun(t); e.CacheHits() != 0 {
				t.Errorf("damaged cache: CacheHits() = %d, want 0", e.CacheHits())
			}
			if e := compileAndRun(t); e.CacheHits() != 1 {
				t.Errorf("after rewriting: CacheHits() = %d, want 1", e.CacheHits())
			}
		})
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left behind: %v", tmp)
	}
}

func FuzzCompile(f *testing.F) {
	enginetest.Fuzz(f, testEngine(f, Options{}))
}

func BenchmarkInstantiate(b *testing.B) {
	enginetest.BenchmarkInstantiate(b, testEngine(b, Options{}))
}

func BenchmarkHostCall(b *testing.B) {
	enginetest.BenchmarkHostCall(b, testEngine(b, Options{}))
}
