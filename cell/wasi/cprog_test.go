package wasi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/wazero"
	"github.com/cloudskin/cloudskin/cell/wasi"
)

// buildC compiles testdata/<name>.c to wasm32-wasi with clang and
// wasi-libc, the toolchain cells are built with.
func buildC(t *testing.T, name string) []byte {
	t.Helper()
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skipf("clang not installed: %v", err)
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "-O2", "-o", out, filepath.Join("testdata", name+".c"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang %s.c: %v\n%s", name, err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// engines are the engines the C programs run on, by name. Only wazero
// exists so far; the wasmtime adapter joins here when it lands.
func engines(t *testing.T) map[string]engine.Engine {
	t.Helper()
	ctx := context.Background()
	wz, err := wazero.New(ctx, wazero.Options{})
	if err != nil {
		t.Fatalf("wazero: %v", err)
	}
	t.Cleanup(func() { _ = wz.Close(ctx) })
	return map[string]engine.Engine{"wazero": wz}
}

// runCell runs a WASI command (its _start) with sys as its only host
// module, and returns the exit status: 0 when _start returns, the
// proc_exit code otherwise.
func runCell(t *testing.T, e engine.Engine, wasm []byte, sys *wasi.System) uint32 {
	t.Helper()
	ctx := context.Background()
	c, err := e.Compile(ctx, wasm)
	if err != nil {
		t.Fatalf("%s: compile: %v", e.Name(), err)
	}
	defer c.Close(ctx)
	inst, err := c.Instantiate(ctx, engine.InstanceConfig{HostModules: []engine.HostModule{sys.Module()}})
	if err != nil {
		t.Fatalf("%s: instantiate: %v", e.Name(), err)
	}
	defer inst.Close(ctx)
	_, err = inst.Call(ctx, "_start")
	var exit *engine.Exit
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	}
	t.Fatalf("%s: _start: %v", e.Name(), err)
	return 0
}

// filesWant is files.c's stdout, line for line.
const filesWant = `argc: 3
argv[0]: files
argv[1]: 7
argv[2]: second arg
GREETING: hi there
hello.txt: hello from ro
create in ro: Read-only file system
write-open in ro: Read-only file system
unlink in ro: Read-only file system
mkdir in ro: Read-only file system
escape: Operation not permitted
escape symlink: Operation not permitted
write: 16
lseek end: 16
lseek 10: 10
read at 10: 3 abc
tell: 13
pread at 0: 4 0123
fstat size: 16 regular: 1
after append: 0123456789abcdef+tail
mkdir: 0
rename: 0
list /rw/dir: . .. b.txt
rmdir non-empty: Directory not empty
unlink: 0
rmdir: 0
list /ro: . .. hello.txt outside sub
list /ro/sub: . .. x.txt
slept >= 5ms: 1
realtime after 2020: 1
stdin: 6 bytes, 3 lines
`

func TestCProgramFiles(t *testing.T) {
	wasm := buildC(t, "files")
	for name, e := range engines(t) {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			ro, rw := filepath.Join(base, "ro"), filepath.Join(base, "rw")
			for _, d := range []string{filepath.Join(ro, "sub"), rw} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for path, content := range map[string]string{
				filepath.Join(base, "secret.txt"): "secret",
				filepath.Join(ro, "hello.txt"):    "hello from ro\nsecond line\n",
				filepath.Join(ro, "sub", "x.txt"): "x",
			} {
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink("../secret.txt", filepath.Join(ro, "outside")); err != nil {
				t.Fatal(err)
			}

			var stdout, stderr bytes.Buffer
			sys, err := wasi.New(wasi.Config{
				Args:   []string{"files", "7", "second arg"},
				Env:    []string{"GREETING=hi there", "OTHER=x"},
				Stdin:  strings.NewReader("a\nb\nc\n"),
				Stdout: &stdout,
				Stderr: &stderr,
				Preopens: []wasi.Preopen{
					{HostDir: ro, GuestPath: "/ro", ReadOnly: true},
					{HostDir: rw, GuestPath: "/rw"},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sys.Close()

			code := runCell(t, e, wasm, sys)
			if code != 7 {
				t.Errorf("exit status %d, want 7", code)
			}
			if got := stdout.String(); got != filesWant {
				t.Errorf("stdout differs:\n%s", lineDiff(got, filesWant))
			}
			if got := stderr.String(); got != "this goes to stderr\n" {
				t.Errorf("stderr %q", got)
			}
			if b, err := os.ReadFile(filepath.Join(rw, "out.txt")); err != nil || string(b) != "0123456789abcdef+tail" {
				t.Errorf("out.txt on the host: %q, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(rw, "dir")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("rw/dir should be gone: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(base, "secret.txt")); string(b) != "secret" {
				t.Errorf("secret changed: %q", b)
			}
			// The program closed everything it opened: only stdio and the
			// preopens are left.
			var fds []uint32
			for _, fd := range sys.State().FDs {
				fds = append(fds, fd.FD)
			}
			if !slices.Equal(fds, []uint32{0, 1, 2, 3, 4}) {
				t.Errorf("open fds after exit: %v", fds)
			}
		})
	}
}

// lineDiff shows two texts side by side, line by line, marking mismatches.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		mark := "  "
		if gl != wl {
			mark = "! "
		}
		fmt.Fprintf(&b, "%s got %-40q want %q\n", mark, gl, wl)
	}
	return b.String()
}

// TestSignaturesMatchWasiLibc compiles a program that imports every
// preview1 function through wasi-libc's own declarations and checks that
// the host module provides each with the same wasm signature.
func TestSignaturesMatchWasiLibc(t *testing.T) {
	wasm := buildC(t, "imports")
	imports, err := funcImports(wasm, "wasi_snapshot_preview1")
	if err != nil {
		t.Fatal(err)
	}
	sys, err := wasi.New(wasi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	host := map[string]string{}
	for _, f := range sys.Module().Funcs {
		host[f.Name] = signature(f.Params, f.Results)
	}
	if len(imports) != len(host) {
		t.Errorf("wasi-libc imports %d functions, the host module has %d", len(imports), len(host))
	}
	for name, sig := range imports {
		if got, ok := host[name]; !ok {
			t.Errorf("%s: not provided", name)
		} else if got != sig {
			t.Errorf("%s: host %s, wasi-libc %s", name, got, sig)
		}
	}
}

func signature(params, results []engine.ValueType) string {
	s := func(ts []engine.ValueType) string {
		var parts []string
		for _, t := range ts {
			parts = append(parts, t.String())
		}
		return strings.Join(parts, ",")
	}
	return "(" + s(params) + ")->(" + s(results) + ")"
}

// funcImports reads a module's function imports from module and their
// signatures from the binary: just enough of the type and import sections.
func funcImports(wasm []byte, module string) (map[string]string, error) {
	r := &wasmReader{b: wasm}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a wasm module")
	}
	r.b = r.b[8:]
	var types []string
	out := map[string]string{}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		size := r.u32()
		if r.err != nil || uint64(size) > uint64(len(r.b)) {
			return nil, errors.New("truncated section")
		}
		sec := &wasmReader{b: r.b[:size]}
		r.b = r.b[size:]
		switch id {
		case 1: // type
			for range sec.u32() {
				if sec.byte() != 0x60 {
					return nil, errors.New("not a func type")
				}
				params, results := sec.valTypes(), sec.valTypes()
				types = append(types, signature(params, results))
			}
		case 2: // import
			for range sec.u32() {
				mod, name, kind := sec.name(), sec.name(), sec.byte()
				switch kind {
				case 0:
					idx := sec.u32()
					if int(idx) >= len(types) {
						return nil, fmt.Errorf("import %s.%s: bad type index", mod, name)
					}
					if mod == module {
						out[name] = types[idx]
					}
				case 1:
					sec.byte()
					sec.limits()
				case 2:
					sec.limits()
				case 3:
					sec.byte()
					sec.byte()
				}
			}
		}
		if sec.err != nil {
			return nil, sec.err
		}
	}
	return out, r.err
}

type wasmReader struct {
	b   []byte
	err error
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.err = errors.New("unexpected end")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.err = errors.New("bad LEB128")
	return 0
}

func (r *wasmReader) name() string {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)) {
		r.err = errors.New("truncated name")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *wasmReader) valTypes() []engine.ValueType {
	var ts []engine.ValueType
	for range r.u32() {
		switch r.byte() {
		case 0x7f:
			ts = append(ts, engine.I32)
		case 0x7e:
			ts = append(ts, engine.I64)
		case 0x7d:
			ts = append(ts, engine.F32)
		case 0x7c:
			ts = append(ts, engine.F64)
		default:
			r.err = errors.New("unsupported value type")
		}
	}
	return ts
}

func (r *wasmReader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
	}
	r.u32()
}
