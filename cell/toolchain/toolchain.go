// Package toolchain compiles C and C++ sources into cell modules: wasm32-wasi
// command modules that CloudSkin's cell runtime runs, with MPI calls left as
// imports from the host module "mpi".
//
// It wraps the clang, wasm-ld and wasi-libc that Debian packages (clang, lld,
// wasi-libc, libclang-rt-dev-wasm32 and, for C++, libc++-dev-wasm32) rather
// than wasi-sdk, because Debian has no wasi-sdk package and our machines
// install only what a distribution ships. Debian's clang finds wasi-libc on
// its own, but that is not enough, so Command adds flags found by probing
// clang 14 / lld 14:
//
//   - -nostdinc and explicit -isystem paths (clang's resource headers, then
//     wasi-libc's): without them a header wasi-libc lacks (netdb.h, say)
//     silently falls through to the host's glibc in /usr/include and fails
//     later with a confusing error, or worse, compiles.
//   - -mmutable-globals and -Wl,--export=__stack_pointer: snapshots read
//     and restore the shadow stack pointer through this export. lld refuses
//     to export a mutable global unless an input object was compiled with
//     the mutable-globals feature.
//   - -Wl,--export=__heap_base: where the heap starts, for the runtime's
//     accounting of a cell's heap and for snapshots. It is an immutable
//     global and costs nothing.
//   - -Wl,--stack-first and -Wl,-z,stack-size=1048576: lld's default puts a
//     64 KiB stack after the static data, so an overflow silently corrupts
//     globals; with the stack first, an overflow runs below address 0 and
//     traps, and 1 MiB is closer to what unmodified C programs expect.
//   - no --allow-undefined: a function that is neither defined nor declared
//     as an import (MPI functions carry import_module("mpi") in mpi.h) fails
//     at link time with wasm-ld's error naming it, not at load time.
//   - C++ (clang++): -fno-exceptions, as clang 14 has no WebAssembly
//     exception handling; libc++ when libc++-dev-wasm32 is installed, and
//     otherwise -nostdlib++, C++ without its standard library.
//
// When clang is given an optimization flag and finds binaryen's wasm-opt, it
// runs wasm-opt on the linked module itself; Command shows only the clang
// command line. A migratable module (Options.Migratable) gets a second
// wasm-opt run, Asyncify, shown by AsyncifyCommand.
package toolchain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/cell/mpi"
)

// Target is the clang target triple of every cell.
const Target = "wasm32-wasi"

// StackSize is the size in bytes of a cell's shadow stack (the C stack).
const StackSize = 1 << 20

// Debian packages that provide each part, named in Find's errors.
const (
	pkgClang    = "clang"
	pkgLLD      = "lld"
	pkgLibc     = "wasi-libc"
	pkgBuiltins = "libclang-rt-dev-wasm32"
	pkgLibcxx   = "libc++-dev-wasm32"
)

// Toolchain is a located set of compiler, linker and libraries. Find fills
// it in; Command and Compile only read it.
type Toolchain struct {
	Clang        string // C driver, e.g. /usr/bin/clang
	ClangXX      string // C++ driver beside it, e.g. /usr/bin/clang++
	Linker       string // the wasm-ld clang runs
	ClangInclude string // clang's own headers (stddef.h, wasm_simd128.h)
	LibcInclude  string // wasi-libc headers
	LibcLib      string // wasi-libc libraries (libc.a, crt1-command.o)
	Builtins     string // compiler-rt builtins for wasm32
	CXXInclude   string // libc++ headers for wasm32-wasi; "" when not installed

	// MPIInclude is the directory Compile writes MPIHeader into as mpi.h,
	// so that `#include <mpi.h>` finds CloudSkin's MPI header. Find picks
	// a per-user cache directory, cloudskin/include in os.UserCacheDir.
	MPIInclude string
	// MPIHeader is the content of mpi.h, mpi.Header() after Find; nil
	// writes nothing. Compile writes the file only when its content differs.
	MPIHeader []byte

	// WasmOpt is binaryen's wasm-opt, which clang runs on its output at
	// -O1 and above when it finds it; "" when it is not installed. Alone,
	// that run drops the "name" section, so traps could not name the
	// function they happened in, and keeps wasi-libc's DWARF (about 90 KB
	// per module). So Compile writes a wasm-opt wrapper into ToolsDir that
	// adds --debuginfo --strip-dwarf, and Command puts ToolsDir first on
	// clang's program path (-B).
	WasmOpt  string
	ToolsDir string
}

// Options say what to compile and how.
type Options struct {
	Sources []string // .c files, or .cc/.cpp/.cxx for C++
	Output  string   // the .wasm file to write

	OptLevel string // "-O2" when empty; -O0 to -O3, -Os and -Oz are accepted
	// SIMD enables WebAssembly 128-bit SIMD (-msimd128), which both engines
	// run. The zero value leaves it off; `cloudskin cell cc` turns it on
	// unless told otherwise.
	SIMD bool

	Defines     []string // NAME or NAME=VALUE, passed as -D
	IncludeDirs []string // passed as -I, searched before the system headers
	LinkArgs    []string // after the sources, e.g. -lm or -Wl,--export=foo
	ExtraFlags  []string // before the sources, e.g. -Wall or -g

	CXX bool // compile with clang++; set implicitly by a C++ source

	// Migratable makes a module that can stop at any call into the host
	// and continue later in a fresh instance, on either engine (package
	// cell/migrate). After clang links, Compile runs binaryen's
	// Asyncify transform (wasm-opt --asyncify), which lets a host function
	// unwind the guest's call stack into a buffer in linear memory and
	// rewind it later, and links in MigrateSupport. It needs wasm-opt.
	Migratable bool
	// AsyncifyDataSize is the size in bytes of the buffer the call stack
	// is unwound into; 0 means DefaultAsyncifyDataSize. A cell whose stack
	// does not fit traps when it is stopped.
	AsyncifyDataSize int

	Verbose io.Writer // when set, receives each command line run
	Stderr  io.Writer // when set, receives clang's warnings on success
}

// DefaultAsyncifyDataSize is the default Options.AsyncifyDataSize. The
// examples need well under 1 KiB (see the package migrate tests); 64 KiB
// leaves room for deep recursion at the cost of 64 KiB of zeroed memory,
// which the module file does not carry.
const DefaultAsyncifyDataSize = 64 << 10

// Asyncify imports: every import from these host modules may stop the
// cell. binaryen 108 matches "module.*" as a wildcard.
var asyncifyImports = []string{"wasi_snapshot_preview1.*", "mpi.*", "cloudskin.*"}

// CloudSkinHeader is cloudskin.h, written next to mpi.h: the calls a cell
// can make to CloudSkin itself.
const CloudSkinHeader = `/* cloudskin.h: what a C-Cell can ask of CloudSkin itself. */
#ifndef CLOUDSKIN_H
#define CLOUDSKIN_H

#include <stdint.h>

/*
 * cloudskin_fork starts a child cell from this cell's state at the call,
 * as fork(2) starts a child process: the child continues from the same
 * point with a copy of memory, open files and their offsets (its own
 * offsets, not shared ones), and the same stdout and stderr. It returns
 * the child's number (1, 2, ...) in the parent, 0 in the child, and -1
 * when the cell cannot fork: it was not built with cloudskin cell cc
 * --migratable, or its runner does not fork (an MPI world, a cell
 * stopped for migration).
 */
int cloudskin_fork(void) __attribute__((import_module("cloudskin"), import_name("fork")));

/*
 * cloudskin_metric reports one QoS sample, such as fps or latency_ms, to
 * whatever runs the cell (the site's agent exports it). name is
 * Prometheus-style, [a-zA-Z_][a-zA-Z0-9_]*, at most 64 bytes. It returns
 * 0, or -1 for a bad name (the sample is dropped).
 */
int cloudskin_metric(const char *name, double value) __attribute__((import_module("cloudskin"), import_name("metric")));

/*
 * cloudskin_parallelism says how many cores this cell may use in the
 * parallel phase it is about to start: 1, or more when its job is elastic
 * (spec.elastic) and its site has cores nobody waits for. Ask at the start
 * of each phase (as an OpenMP region would for its thread count): the
 * answer changes as the site's load does, and after a migration.
 */
int cloudskin_parallelism(void) __attribute__((import_module("cloudskin"), import_name("parallelism")));

/*
 * Streams: a cell has no sockets; it reaches the stream store through
 * these calls. stream is "scope/stream"; the calls return 0 or more on
 * success and one of these codes on failure:
 */
#define CLOUDSKIN_ENOSTREAMS (-1) /* the cell was given no stream store */
#define CLOUDSKIN_ENOTFOUND (-2)  /* no such scope, stream or segment */
#define CLOUDSKIN_EUNAVAIL (-3)   /* store unreachable or busy: retry later */
#define CLOUDSKIN_ETOOBIG (-4)    /* append: more than 8 MiB in one event */
#define CLOUDSKIN_EINVAL (-5)     /* a bad name, pointer or offset */
#define CLOUDSKIN_ETRUNCATED (-6) /* read: *offset was discarded, see below */

/*
 * cloudskin_stream_append stores len bytes at data as one event of stream,
 * under routing_key (which picks the segment; "" is a valid key), and
 * returns 0 once the event is durable, or a CLOUDSKIN_E* code. After
 * CLOUDSKIN_EUNAVAIL the event may or may not be stored.
 */
int cloudskin_stream_append(const char *stream, const char *routing_key, const void *data, uint32_t len)
	__attribute__((import_module("cloudskin"), import_name("stream_append")));

/*
 * cloudskin_stream_read_slice is one call into the host for
 * cloudskin_stream_read, waiting at most CLOUDSKIN_WAIT_SLICE_MS whatever
 * wait_ms says. Call cloudskin_stream_read instead.
 */
#define CLOUDSKIN_WAIT_SLICE_MS 100u
int64_t cloudskin_stream_read_slice(const char *stream, uint32_t segment, uint64_t *offset, void *buf, uint32_t cap, uint32_t wait_ms)
	__attribute__((import_module("cloudskin"), import_name("stream_read")));

/*
 * cloudskin_stream_read reads the event at *offset of a segment of stream
 * (segment 0 for a stream of one segment), copies it into buf and moves
 * *offset past it. Start with *offset = 0, the segment's start; the cell
 * keeps the offset in its own memory, so it goes on from the right event
 * after a migration. It returns:
 *   > 0  the event's length, *offset advanced;
 *   0    nothing arrived within wait_ms (or an empty event, when *offset
 *        moved);
 *   CLOUDSKIN_ETRUNCATED  the event at *offset was discarded (retention or
 *        truncation): *offset is now the segment's first event; call again;
 *   CLOUDSKIN_STREAM_TOO_BIG(r)  the event needs CLOUDSKIN_STREAM_NEEDED(r)
 *        bytes, more than cap: *offset is unchanged, call again with a
 *        larger buffer;
 *   another CLOUDSKIN_E* code.
 * It waits in slices of CLOUDSKIN_WAIT_SLICE_MS, each one call into the
 * host, so a cell waiting for events can be stopped and moved promptly.
 */
#define CLOUDSKIN_STREAM_TOO_BIG(r) ((r) <= -4096)
#define CLOUDSKIN_STREAM_NEEDED(r) ((uint32_t)(-(r) - 4096))
static inline int64_t cloudskin_stream_read(const char *stream, uint32_t segment, uint64_t *offset, void *buf, uint32_t cap, uint32_t wait_ms)
{
	uint64_t from = *offset;
	for (;;) {
		uint32_t slice = wait_ms < CLOUDSKIN_WAIT_SLICE_MS ? wait_ms : CLOUDSKIN_WAIT_SLICE_MS;
		int64_t r = cloudskin_stream_read_slice(stream, segment, offset, buf, cap, slice);
		if (r != 0 || *offset != from || wait_ms <= slice)
			return r;
		wait_ms -= slice;
	}
}

#endif
`

// The exports MigrateSupport adds, which package cell/migrate uses.
const (
	// ExportAsyncifyData is a global holding the address of the unwind
	// buffer's header: Asyncify's {current, end} pair of i32 pointers.
	ExportAsyncifyData = "cloudskin_asyncify_data"
	// ExportMemoryGrow is a function (i32 pages) -> i32 old size that
	// grows linear memory, so a resumed cell's memory can be made as
	// large as the snapshot's without an engine API for it.
	ExportMemoryGrow = "cloudskin_memory_grow"
)

// MigrateSupport returns the C source linked into a migratable module: a
// zeroed static buffer of size bytes (bss, so the module file does not
// grow) with the header Asyncify wants, exported as a global by wasm-ld,
// and the memory-grow function. A C object is the simplest robust way:
// wasm-ld lays out and exports the buffer like any other data, so it needs
// no post-link rewriting of the module and no cooperation from the guest's
// malloc.
func MigrateSupport(size int) []byte {
	return fmt.Appendf(nil, `/* Written by cloudskin for migratable cells (toolchain.Options.Migratable). */
static char cloudskin_asyncify_buf[%d] __attribute__((aligned(16)));

/* Asyncify's data header: where the unwound stack goes next, and its end. */
struct cloudskin_asyncify_header { char *current, *end; };
struct cloudskin_asyncify_header %s = {
	cloudskin_asyncify_buf, cloudskin_asyncify_buf + sizeof cloudskin_asyncify_buf,
};

int %s(int pages) { return __builtin_wasm_memory_grow(0, pages); }
`, size, ExportAsyncifyData, ExportMemoryGrow)
}

// Find locates clang (clang, then clang-19 down to clang-14 on PATH), the
// wasm-ld it runs, wasi-libc and the wasm32 compiler-rt builtins. A missing
// part is an error naming the Debian packages to install. The libc++ for
// wasm32 is optional: without it C++ compiles without the standard library.
func Find() (*Toolchain, error) {
	t := &Toolchain{}
	for _, name := range clangNames() {
		if p, err := exec.LookPath(name); err == nil {
			t.Clang = p
			break
		}
	}
	if t.Clang == "" {
		return nil, missing("no clang on PATH (tried clang, clang-19 .. clang-14)", pkgClang)
	}
	// clang++ sits beside clang with the same version suffix.
	dir, base := filepath.Split(t.Clang)
	t.ClangXX = filepath.Join(dir, strings.Replace(base, "clang", "clang++", 1))
	if _, err := os.Stat(t.ClangXX); err != nil {
		return nil, missing(fmt.Sprintf("no %s beside %s", filepath.Base(t.ClangXX), t.Clang), pkgClang)
	}

	rd, err := t.query("-print-resource-dir")
	if err != nil {
		return nil, err
	}
	t.ClangInclude = filepath.Join(rd, "include")
	if !exists(filepath.Join(t.ClangInclude, "stddef.h")) {
		return nil, missing(fmt.Sprintf("clang's headers are missing (no stddef.h in %s)", t.ClangInclude), pkgClang)
	}

	// clang prints the bare name when it cannot find the program or file.
	if t.Linker, err = t.query("-print-prog-name=wasm-ld"); err != nil {
		return nil, err
	}
	if !filepath.IsAbs(t.Linker) || !exists(t.Linker) {
		return nil, missing("clang finds no wasm-ld", pkgLLD)
	}
	libc, err := t.query("-print-file-name=libc.a")
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(libc) || !exists(libc) {
		return nil, missing("clang finds no wasi-libc (libc.a for "+Target+")", pkgLibc)
	}
	t.LibcLib = filepath.Dir(libc)
	if !exists(filepath.Join(t.LibcLib, "crt1-command.o")) {
		return nil, missing("wasi-libc has no crt1-command.o in "+t.LibcLib, pkgLibc)
	}
	// Debian: <prefix>/lib/wasm32-wasi pairs with <prefix>/include/wasm32-wasi;
	// a wasi-sdk style sysroot: <sysroot>/lib/wasm32-wasi with <sysroot>/include.
	prefix := filepath.Dir(filepath.Dir(t.LibcLib))
	for _, inc := range []string{filepath.Join(prefix, "include", Target), filepath.Join(prefix, "include")} {
		if exists(filepath.Join(inc, "stdio.h")) && exists(filepath.Join(inc, "wasi", "api.h")) {
			t.LibcInclude = inc
			break
		}
	}
	if t.LibcInclude == "" {
		return nil, missing("wasi-libc's headers are missing (no stdio.h near "+t.LibcLib+")", pkgLibc)
	}
	if t.Builtins, err = t.query("-print-libgcc-file-name"); err != nil {
		return nil, err
	}
	if !exists(t.Builtins) {
		return nil, missing("no compiler-rt builtins for wasm32 ("+t.Builtins+")", pkgBuiltins)
	}
	if inc := filepath.Join(t.LibcInclude, "c++", "v1"); exists(filepath.Join(inc, "iostream")) && exists(filepath.Join(t.LibcLib, "libc++.a")) {
		t.CXXInclude = inc
	}

	cache, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("toolchain: no directory for mpi.h: %w", err)
	}
	t.MPIInclude = filepath.Join(cache, "cloudskin", "include")
	t.MPIHeader = mpi.Header()
	if path, err := exec.LookPath("wasm-opt"); err == nil {
		t.WasmOpt = path
		t.ToolsDir = filepath.Join(cache, "cloudskin", "toolchain-bin")
	}
	return t, nil
}

func clangNames() []string {
	names := []string{"clang"}
	for v := 19; v >= 14; v-- {
		names = append(names, fmt.Sprintf("clang-%d", v))
	}
	return names
}

func missing(what string, pkgs ...string) error {
	all := []string{pkgClang, pkgLLD, pkgLibc, pkgBuiltins}
	return fmt.Errorf("toolchain: %s; install the Debian packages %s (apt-get install %s)",
		what, strings.Join(pkgs, ", "), strings.Join(all, " "))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// query runs clang with --target and one -print-* flag and returns its output.
func (t *Toolchain) query(flag string) (string, error) {
	out, err := exec.Command(t.Clang, "--target="+Target, flag).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("toolchain: %s %s: %w: %s", t.Clang, flag, err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("toolchain: %s %s: %w", t.Clang, flag, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// IsCXX reports whether path is a C++ source by its extension.
func IsCXX(path string) bool {
	switch filepath.Ext(path) {
	case ".cc", ".cpp", ".cxx", ".c++", ".C":
		return true
	}
	return false
}

func (o *Options) cxx() bool {
	return o.CXX || slices.ContainsFunc(o.Sources, IsCXX)
}

// Command returns the argv that Compile runs for opts.
func (t *Toolchain) Command(opts Options) []string {
	cxx := opts.cxx()
	argv := []string{t.Clang}
	if cxx {
		argv[0] = t.ClangXX
	}
	opt := opts.OptLevel
	if opt == "" {
		opt = "-O2"
	}
	argv = append(argv, "--target="+Target, opt)
	if opts.SIMD {
		argv = append(argv, "-msimd128")
	}
	argv = append(argv, "-mmutable-globals", "-nostdinc")
	if t.WasmOpt != "" {
		argv = append(argv, "-B"+t.ToolsDir)
	}
	if cxx {
		// clang 14 has no WebAssembly exception handling: with exceptions
		// on, a throw links to the missing __cxa_throw.
		argv = append(argv, "-fno-exceptions")
		if t.CXXInclude != "" {
			argv = append(argv, "-isystem", t.CXXInclude)
		} else {
			argv = append(argv, "-nostdlib++")
		}
	}
	argv = append(argv, "-isystem", t.ClangInclude, "-isystem", t.LibcInclude)
	if t.MPIInclude != "" {
		argv = append(argv, "-isystem", t.MPIInclude)
	}
	for _, d := range opts.IncludeDirs {
		argv = append(argv, "-I"+d)
	}
	for _, d := range opts.Defines {
		argv = append(argv, "-D"+d)
	}
	argv = append(argv, opts.ExtraFlags...)
	argv = append(argv, "-o", opts.Output)
	argv = append(argv, opts.Sources...)
	if opts.Migratable {
		// -x c: the support file is C even when clang++ drives.
		argv = append(argv, "-x", "c", t.migrateSupportPath(opts), "-x", "none",
			"-Wl,--export="+ExportAsyncifyData, "-Wl,--export="+ExportMemoryGrow)
	}
	argv = append(argv,
		"-Wl,--export=__stack_pointer",
		"-Wl,--export=__heap_base",
		"-Wl,--stack-first",
		fmt.Sprintf("-Wl,-z,stack-size=%d", StackSize),
	)
	return append(argv, opts.LinkArgs...)
}

func (o *Options) asyncifyDataSize() int {
	if o.AsyncifyDataSize == 0 {
		return DefaultAsyncifyDataSize
	}
	return o.AsyncifyDataSize
}

// migrateSupportPath is where Compile writes MigrateSupport for opts: one
// file per buffer size, so concurrent compiles never rewrite each other's.
func (t *Toolchain) migrateSupportPath(opts Options) string {
	return filepath.Join(t.ToolsDir, fmt.Sprintf("cloudskin-migrate-%d.c", opts.asyncifyDataSize()))
}

// AsyncifyCommand returns the wasm-opt argv that Compile runs on
// opts.Output after linking when opts.Migratable is set: Asyncify with
// every WASI and MPI import as a migration point, then the optimization
// level again (Asyncify's output needs it: -O2 roughly halves its cost),
// keeping the name section and dropping DWARF as the wrapper does.
func (t *Toolchain) AsyncifyCommand(opts Options) []string {
	argv := []string{t.WasmOpt, opts.Output, "--asyncify",
		"--pass-arg=asyncify-imports@" + strings.Join(asyncifyImports, ",")}
	switch opts.OptLevel {
	case "":
		argv = append(argv, "-O2")
	case "-O0":
	default:
		argv = append(argv, opts.OptLevel)
	}
	return append(argv, "--debuginfo", "--strip-dwarf", "-o", opts.Output)
}

// Compile compiles and links opts.Sources into opts.Output. Its error
// includes clang's diagnostics (and wasm-ld's, such as an undefined symbol).
func (t *Toolchain) Compile(ctx context.Context, opts Options) error {
	if len(opts.Sources) == 0 {
		return errors.New("toolchain: no sources")
	}
	if opts.Output == "" {
		return errors.New("toolchain: no output file")
	}
	switch opts.OptLevel {
	case "", "-O0", "-O1", "-O2", "-O3", "-Os", "-Oz":
	default:
		return fmt.Errorf("toolchain: optimization level %q: want -O0, -O1, -O2, -O3, -Os or -Oz", opts.OptLevel)
	}
	if t.MPIHeader != nil {
		if err := writeIfChanged(filepath.Join(t.MPIInclude, "mpi.h"), t.MPIHeader, 0o644); err != nil {
			return err
		}
		if err := writeIfChanged(filepath.Join(t.MPIInclude, "cloudskin.h"), []byte(CloudSkinHeader), 0o644); err != nil {
			return err
		}
	}
	if opts.Migratable {
		if t.WasmOpt == "" {
			return errors.New("toolchain: a migratable module needs binaryen's wasm-opt (apt-get install binaryen)")
		}
		if opts.AsyncifyDataSize < 0 || opts.AsyncifyDataSize%8 != 0 {
			return fmt.Errorf("toolchain: asyncify data size %d: want a positive multiple of 8", opts.AsyncifyDataSize)
		}
		if err := writeIfChanged(t.migrateSupportPath(opts), MigrateSupport(opts.asyncifyDataSize()), 0o644); err != nil {
			return err
		}
	}
	if t.WasmOpt != "" {
		if err := writeIfChanged(filepath.Join(t.ToolsDir, "wasm-opt"), wasmOptWrapper(t.WasmOpt), 0o755); err != nil {
			return err
		}
	}
	if err := t.run(ctx, opts, t.Command(opts)); err != nil {
		return err
	}
	if opts.Migratable {
		return t.run(ctx, opts, t.AsyncifyCommand(opts))
	}
	return nil
}

// run runs one step of Compile. Its error includes the tool's diagnostics.
func (t *Toolchain) run(ctx context.Context, opts Options, argv []string) error {
	if opts.Verbose != nil {
		fmt.Fprintln(opts.Verbose, Quote(argv))
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = &stderr // clang prints diagnostics on stderr, -v output on stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if opts.cxx() && t.CXXInclude == "" && strings.Contains(msg, "file not found") {
			msg += "\n(no C++ standard library for " + Target + ": apt-get install " + pkgLibcxx + ")"
		}
		if ctx.Err() != nil {
			return fmt.Errorf("toolchain: %s: %w", filepath.Base(argv[0]), ctx.Err())
		}
		return fmt.Errorf("toolchain: %s: %w\n%s", filepath.Base(argv[0]), err, msg)
	}
	if opts.Stderr != nil && stderr.Len() > 0 {
		_, err := opts.Stderr.Write(stderr.Bytes())
		return err
	}
	return nil
}

// wasmOptWrapper is the script clang runs as wasm-opt (see Toolchain.WasmOpt).
func wasmOptWrapper(real string) []byte {
	return []byte("#!/bin/sh\n# Written by cloudskin cell cc: keep function names, drop DWARF.\nexec " + Quote([]string{real}) + " --debuginfo --strip-dwarf \"$@\"\n")
}

// writeIfChanged writes data to path unless the file already holds exactly
// data. It writes a temporary file and renames it, so concurrent compiles
// never read a half-written header.
func writeIfChanged(path string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("toolchain: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("toolchain: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("toolchain: writing %s: %w", path, err)
	}
	return nil
}

// Quote renders argv as a POSIX shell command line.
func Quote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, needsQuote) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

func needsQuote(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("-_./=,+:@%", r)
}
