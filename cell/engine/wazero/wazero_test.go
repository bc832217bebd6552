package wazero

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/enginetest"
)

func newEngine(tb testing.TB, opts Options) *Engine {
	tb.Helper()
	e, err := New(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.Close(context.Background()) })
	return e
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, cacheDir string) engine.Engine { return newEngine(t, Options{CacheDir: cacheDir}) })
}

func TestVersion(t *testing.T) {
	// Test binaries carry no dependency versions, so this is "wazero
	// unknown" under go test and "wazero v1.x.y" in a real build.
	if v := newEngine(t, Options{}).Version(); !strings.HasPrefix(v, "wazero ") {
		t.Errorf("Version() = %q", v)
	}
}

func TestReadImports(t *testing.T) {
	// Every prefix of every test module: readImports must not panic, and
	// on whole modules must agree with wazero's list of imported functions.
	e := newEngine(t, Options{})
	for _, name := range enginetest.ModuleNames() {
		wasm := enginetest.Module(name)
		for n := range len(wasm) {
			_, _ = readImports(wasm[:n])
		}
		c, err := e.Compile(context.Background(), wasm)
		if err != nil {
			t.Fatal(err)
		}
		var funcs int
		for _, imp := range c.Imports() {
			if imp.Kind == engine.ImportFunc {
				funcs++
			}
		}
		if want := len(c.(*Compiled).funcs); funcs != want {
			t.Errorf("%s: %d function imports, wazero says %d", name, funcs, want)
		}
	}
}

func FuzzCompile(f *testing.F) {
	enginetest.Fuzz(f, newEngine(f, Options{}))
}

func BenchmarkInstantiate(b *testing.B) {
	enginetest.BenchmarkInstantiate(b, newEngine(b, Options{}))
}

func BenchmarkHostCall(b *testing.B) {
	enginetest.BenchmarkHostCall(b, newEngine(b, Options{}))
}
