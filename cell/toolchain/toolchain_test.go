package toolchain

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// find returns the installed toolchain, writing mpi.h into a temporary
// directory rather than the user's cache. It skips the test when there is
// no clang at all and fails when clang is there but a part is missing.
func find(t *testing.T) *Toolchain {
	t.Helper()
	if !slices.ContainsFunc(clangNames(), func(n string) bool { _, err := exec.LookPath(n); return err == nil }) {
		t.Skip("no clang on PATH")
	}
	tc, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(tc.MPIHeader, []byte("CLOUDSKIN_MPI_H")) {
		t.Fatalf("MPIHeader is not CloudSkin's mpi.h: %.80q", tc.MPIHeader)
	}
	tc.MPIInclude = t.TempDir()
	return tc
}

func compile(t *testing.T, tc *Toolchain, opts Options) *module {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tc.Compile(ctx, opts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(opts.Output)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseModule(b)
	if err != nil {
		t.Fatalf("%s: %v", opts.Output, err)
	}
	return m
}

func TestFind(t *testing.T) {
	tc := find(t)
	for name, p := range map[string]string{
		"Clang": tc.Clang, "ClangXX": tc.ClangXX, "Linker": tc.Linker,
		"ClangInclude": tc.ClangInclude, "LibcInclude": tc.LibcInclude,
		"LibcLib": tc.LibcLib, "Builtins": tc.Builtins,
	} {
		if !filepath.IsAbs(p) {
			t.Errorf("%s = %q, want an absolute path", name, p)
		} else if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, f := range []string{
		filepath.Join(tc.ClangInclude, "wasm_simd128.h"),
		filepath.Join(tc.LibcInclude, "wasi", "api.h"),
		filepath.Join(tc.LibcLib, "crt1-command.o"),
	} {
		if _, err := os.Stat(f); err != nil {
			t.Error(err)
		}
	}
	if !strings.HasSuffix(tc.Builtins, "libclang_rt.builtins-wasm32.a") {
		t.Errorf("Builtins = %q", tc.Builtins)
	}
	t.Logf("clang %s, wasm-ld %s, libc++ headers %q", tc.Clang, tc.Linker, tc.CXXInclude)
}

// fixed is a Toolchain at made-up paths, so that Command's output is known.
var fixed = Toolchain{
	Clang:        "/usr/bin/clang",
	ClangXX:      "/usr/bin/clang++",
	ClangInclude: "/rd/include",
	LibcInclude:  "/usr/include/wasm32-wasi",
	MPIInclude:   "/cache/cloudskin/include",
}

func TestCommand(t *testing.T) {
	tail := []string{"-Wl,--export=__stack_pointer", "-Wl,--export=__heap_base", "-Wl,--stack-first", "-Wl,-z,stack-size=1048576"}
	withCXX := fixed
	withCXX.CXXInclude = "/usr/include/wasm32-wasi/c++/v1"
	for _, tt := range []struct {
		name string
		tc   Toolchain
		opts Options
		want []string
	}{{
		name: "defaults",
		tc:   fixed,
		opts: Options{Sources: []string{"a.c"}, Output: "a.wasm"},
		want: slices.Concat([]string{"/usr/bin/clang", "--target=wasm32-wasi", "-O2", "-mmutable-globals", "-nostdinc",
			"-isystem", "/rd/include", "-isystem", "/usr/include/wasm32-wasi", "-isystem", "/cache/cloudskin/include",
			"-o", "a.wasm", "a.c"}, tail),
	}, {
		name: "everything",
		tc:   fixed,
		opts: Options{
			Sources: []string{"a.c", "b.c"}, Output: "out/x.wasm", OptLevel: "-O3", SIMD: true,
			Defines: []string{"N=4", "DEBUG"}, IncludeDirs: []string{"inc"},
			LinkArgs: []string{"-lm"}, ExtraFlags: []string{"-Wall", "-g"},
		},
		want: slices.Concat([]string{"/usr/bin/clang", "--target=wasm32-wasi", "-O3", "-msimd128", "-mmutable-globals", "-nostdinc",
			"-isystem", "/rd/include", "-isystem", "/usr/include/wasm32-wasi", "-isystem", "/cache/cloudskin/include",
			"-Iinc", "-DN=4", "-DDEBUG", "-Wall", "-g", "-o", "out/x.wasm", "a.c", "b.c"}, tail, []string{"-lm"}),
	}, {
		name: "C++ by extension, with libc++",
		tc:   withCXX,
		opts: Options{Sources: []string{"a.cc"}, Output: "a.wasm", SIMD: true},
		want: slices.Concat([]string{"/usr/bin/clang++", "--target=wasm32-wasi", "-O2", "-msimd128", "-mmutable-globals", "-nostdinc",
			"-fno-exceptions", "-isystem", "/usr/include/wasm32-wasi/c++/v1",
			"-isystem", "/rd/include", "-isystem", "/usr/include/wasm32-wasi", "-isystem", "/cache/cloudskin/include",
			"-o", "a.wasm", "a.cc"}, tail),
	}, {
		name: "C++ by flag, without libc++",
		tc:   fixed,
		opts: Options{Sources: []string{"a.c"}, Output: "a.wasm", CXX: true},
		want: slices.Concat([]string{"/usr/bin/clang++", "--target=wasm32-wasi", "-O2", "-mmutable-globals", "-nostdinc",
			"-fno-exceptions", "-nostdlib++",
			"-isystem", "/rd/include", "-isystem", "/usr/include/wasm32-wasi", "-isystem", "/cache/cloudskin/include",
			"-o", "a.wasm", "a.c"}, tail),
	}} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tc.Command(tt.opts); !slices.Equal(got, tt.want) {
				t.Errorf("Command:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	got := Quote([]string{"/usr/bin/clang", "-DMSG=hello world", "it's", "", "-Wl,--export=x"})
	want := `/usr/bin/clang '-DMSG=hello world' 'it'\''s' '' -Wl,--export=x`
	if got != want {
		t.Errorf("Quote = %s, want %s", got, want)
	}
}

func TestCompileErrors(t *testing.T) {
	tc := &fixed
	ctx := context.Background()
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{Output: "a.wasm"}, "no sources"},
		{Options{Sources: []string{"a.c"}}, "no output"},
		{Options{Sources: []string{"a.c"}, Output: "a.wasm", OptLevel: "-O9"}, `optimization level "-O9"`},
	} {
		if err := tc.Compile(ctx, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want an error containing %q", tt.opts, err, tt.want)
		}
	}
}

// examples lists the C examples; the tests build each one.
func examples(t *testing.T) []string {
	t.Helper()
	srcs, err := filepath.Glob("../../examples/*/*.c")
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) < 7 {
		t.Fatalf("found only %d examples: %v", len(srcs), srcs)
	}
	return srcs
}

// TestExamples builds every example through the package and checks the
// module's interface: WASI and MPI imports only, and the exports that the
// runtime and snapshots rely on.
func TestExamples(t *testing.T) {
	tc := find(t)
	out := t.TempDir()
	for _, src := range examples(t) {
		name := strings.TrimSuffix(filepath.Base(src), ".c")
		t.Run(name, func(t *testing.T) {
			m := compile(t, tc, Options{Sources: []string{src}, Output: filepath.Join(out, name+".wasm"), SIMD: true})
			for imp, kind := range m.imports {
				mod, _, _ := strings.Cut(imp, ".")
				if kind != kindFunc || (mod != "wasi_snapshot_preview1" && mod != "mpi") {
					t.Errorf("unexpected import %s (kind %d)", imp, kind)
				}
			}
			usesMPI := name != "hello"
			if _, ok := m.imports["mpi.MPI_Init"]; ok != usesMPI {
				t.Errorf("imports mpi.MPI_Init: %v, want %v", ok, usesMPI)
			}
			for _, e := range []string{"_start", "memory"} {
				if _, ok := m.exports[e]; !ok {
					t.Errorf("no export %q", e)
				}
			}
			sp, err := m.exportedGlobal("__stack_pointer")
			if err != nil || !sp.mutable || sp.valtype != 0x7f {
				t.Errorf("__stack_pointer: %+v, %v; want a mutable i32 global", sp, err)
			}
			if hb, err := m.exportedGlobal("__heap_base"); err != nil || hb.mutable {
				t.Errorf("__heap_base: %+v, %v; want an immutable global", hb, err)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(tc.MPIInclude, "mpi.h")); err != nil || !bytes.Equal(b, tc.MPIHeader) {
		t.Errorf("mpi.h in %s: %v", tc.MPIInclude, err)
	}
}

// TestUndefinedFunction checks that a function nobody defines or imports
// fails at link time, with the linker naming it.
func TestUndefinedFunction(t *testing.T) {
	tc := find(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "u.c")
	os.WriteFile(src, []byte("int not_declared_anywhere(int);\nint main(void) { return not_declared_anywhere(3); }\n"), 0o644)
	err := tc.Compile(context.Background(), Options{Sources: []string{src}, Output: filepath.Join(dir, "u.wasm")})
	if err == nil || !strings.Contains(err.Error(), "undefined symbol: not_declared_anywhere") {
		t.Errorf("Compile = %v, want wasm-ld's undefined symbol error", err)
	}
}

// TestNoHostHeaders checks that a header wasi-libc lacks is an error and is
// not taken from the host's /usr/include.
func TestNoHostHeaders(t *testing.T) {
	tc := find(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "n.c")
	os.WriteFile(src, []byte("#include <netdb.h>\nint main(void) { return 0; }\n"), 0o644)
	err := tc.Compile(context.Background(), Options{Sources: []string{src}, Output: filepath.Join(dir, "n.wasm")})
	if err == nil || !strings.Contains(err.Error(), "'netdb.h' file not found") {
		t.Errorf("Compile = %v, want netdb.h not found", err)
	}
}

func TestVerboseAndWarnings(t *testing.T) {
	tc := find(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "w.c")
	os.WriteFile(src, []byte("int main(void) { int unused; return 0; }\n"), 0o644)
	var verbose, stderr bytes.Buffer
	opts := Options{Sources: []string{src}, Output: filepath.Join(dir, "w.wasm"), ExtraFlags: []string{"-Wall"}, Verbose: &verbose, Stderr: &stderr}
	compile(t, tc, opts)
	if want := Quote(tc.Command(opts)) + "\n"; verbose.String() != want {
		t.Errorf("Verbose got %q, want %q", verbose.String(), want)
	}
	if !strings.Contains(stderr.String(), "unused variable 'unused'") {
		t.Errorf("Stderr got %q, want the unused variable warning", stderr.String())
	}
}

func TestCXX(t *testing.T) {
	tc := find(t)
	dir := t.TempDir()

	// Without the standard library: what a machine without libc++ for
	// wasm32 can build.
	bare := *tc
	bare.CXXInclude = ""
	src := filepath.Join(dir, "bare.cc")
	os.WriteFile(src, []byte(`extern "C" int puts(const char *);
struct Answer { int v; int twice() const { return v + v; } };
template <typename T> T id(T x) { return x; }
int main() { puts("c++"); return id(Answer{21}).twice() == 42 ? 0 : 1; }
`), 0o644)
	m := compile(t, &bare, Options{Sources: []string{src}, Output: filepath.Join(dir, "bare.wasm")})
	if _, ok := m.exports["_start"]; !ok {
		t.Error("bare: no _start")
	}

	if tc.CXXInclude == "" {
		t.Skip("no libc++ for wasm32-wasi (apt-get install libc++-dev-wasm32)")
	}
	src = filepath.Join(dir, "std.cc")
	os.WriteFile(src, []byte(`#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>
int main(int argc, char **argv) {
	std::vector<std::string> v(argv, argv + argc);
	std::sort(v.begin(), v.end());
	for (const auto &s : v) std::printf("%s\n", s.c_str());
	return 0;
}
`), 0o644)
	m = compile(t, tc, Options{Sources: []string{src}, Output: filepath.Join(dir, "std.wasm")})
	if _, ok := m.exports["_start"]; !ok {
		t.Error("std: no _start")
	}
}

// TestBuildScript checks that examples/build.sh builds every example in
// the tree, through `cloudskin cell cc` (so it uses exactly this package's
// flags).
func TestBuildScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	out, err := exec.Command("bash", "../../examples/build.sh", "-n", "/tmp/out").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(examples(t)) {
		t.Errorf("build.sh builds %d examples, the tree has %d", len(lines), len(examples(t)))
	}
	for _, line := range lines {
		if !strings.Contains(line, " cell cc -O2 -o /tmp/out/") {
			t.Errorf("build.sh does not build through cloudskin cell cc: %q", line)
		}
	}
}

func TestWriteIfChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "mpi.h")
	if err := writeIfChanged(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(path, old, old)
	if err := writeIfChanged(path, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); !fi.ModTime().Equal(old) {
		t.Error("rewrote a file whose content had not changed")
	}
	if err := writeIfChanged(path, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "two" {
		t.Errorf("content %q, want two", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("left temporary files: %v", ents)
	}
}

// runJS runs a WASI command module under Node.js's WASI with args and env.
const runJS = `
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
const [path, ...args] = process.argv.slice(2);
const wasi = new WASI({ version: 'preview1', args: [path, ...args], env: { HELLO_NAME: 'cells' } });
const mod = await WebAssembly.compile(await readFile(path));
process.exitCode = wasi.start(await WebAssembly.instantiate(mod, wasi.getImportObject()));
`

// TestHelloRuns runs the hello example under Node.js, an engine independent
// of ours, to show that the flags produce a module that runs.
func TestHelloRuns(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node")
	}
	tc := find(t)
	dir := t.TempDir()
	wasm := filepath.Join(dir, "hello.wasm")
	compile(t, tc, Options{Sources: []string{"../../examples/hello/hello.c"}, Output: wasm, SIMD: true})
	js := filepath.Join(dir, "run.mjs")
	os.WriteFile(js, []byte(runJS), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(node, "--no-warnings", js, wasm, "one", "two words")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	want := "hello, cells, from a CloudSkin cell\nargc = 3\nargv[0] = " + wasm + "\nargv[1] = one\nargv[2] = two words\n"
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// TestMPIHeaderCache checks that Compile writes mpi.h into the per-user
// cache directory that Find chose, and that an MPI program finds it there.
func TestMPIHeaderCache(t *testing.T) {
	find(t) // skips without clang
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	tc, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "cloudskin", "include"); tc.MPIInclude != want {
		t.Fatalf("MPIInclude = %s, want %s", tc.MPIInclude, want)
	}
	out := filepath.Join(t.TempDir(), "ring.wasm")
	m := compile(t, tc, Options{Sources: []string{"../../examples/mpi/ring.c"}, Output: out})
	if _, ok := m.imports["mpi.MPI_Sendrecv"]; !ok {
		t.Error("ring.wasm does not import mpi.MPI_Sendrecv")
	}
	if b, err := os.ReadFile(filepath.Join(tc.MPIInclude, "mpi.h")); err != nil || !bytes.Equal(b, tc.MPIHeader) {
		t.Errorf("mpi.h in the cache: %v", err)
	}
}

func TestFindMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Find()
	if err == nil || !strings.Contains(err.Error(), "no clang on PATH") ||
		!strings.Contains(err.Error(), "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32") {
		t.Errorf("Find with an empty PATH = %v, want an error naming the Debian packages", err)
	}
}
