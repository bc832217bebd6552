package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/engine/wasmtime"
	"github.com/cloudskin/cloudskin/cell/engine/wazero"
	"github.com/cloudskin/cloudskin/cell/snapshot"
	"github.com/cloudskin/cloudskin/cell/toolchain"
	"github.com/cloudskin/cloudskin/cell/wasi"
)

// progressC prints progress with printf (stdout is line-buffered, and a
// partial line waits in the C library's buffer across host calls), works
// over a heap buffer of argv[1] MiB, and reads the clock, args and env.
const progressC = `
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
	size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 4) << 20;
	unsigned char *buf = malloc(n);
	if (!buf) { fprintf(stderr, "no memory for %zu bytes\n", n); return 2; }
	for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)((i * 2654435761u) >> 13);
	printf("args %d: %s, GREETING=%s\n", argc, argc > 1 ? argv[1] : "-", getenv("GREETING"));
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	long long c0 = ts.tv_sec * 1000000000ll + ts.tv_nsec;
	unsigned long long sum = 0;
	for (int round = 0; round < 6; round++) {
		for (size_t i = 0; i < n; i++) {
			buf[i] = buf[i] * 31 + round;
			sum = sum * 1099511628211ull + buf[i];
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		long long c = ts.tv_sec * 1000000000ll + ts.tv_nsec;
		printf("round %d sum %016llx clock %s\n", round, sum, c >= c0 ? "ok" : "BACKWARDS");
		c0 = c;
		fputs("a partial line ", stdout);
	}
	fprintf(stderr, "done\n");
	return (int)(sum % 5) + 1;
}
`

// build compiles a C source into a migratable module.
func build(t testing.TB, src string) []byte {
	t.Helper()
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("no clang on PATH")
	}
	tc, err := toolchain.Find()
	if err != nil {
		t.Fatal(err)
	}
	if tc.WasmOpt == "" {
		t.Skip("no wasm-opt (binaryen) on PATH")
	}
	dir := t.TempDir()
	tc.MPIInclude = dir
	c := filepath.Join(dir, "prog.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "prog.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tc.Compile(ctx, toolchain.Options{Sources: []string{c}, Output: out, Migratable: true}); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// engines returns wazero and, in cgo builds, wasmtime.
func engines(t testing.TB) []engine.Engine {
	t.Helper()
	ctx := context.Background()
	wz, err := wazero.New(ctx, wazero.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wz.Close(ctx) })
	es := []engine.Engine{wz}
	if wasmtime.Available() {
		wt, err := wasmtime.New(wasmtime.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { wt.Close(ctx) })
		es = append(es, wt)
	} else {
		t.Log("no wasmtime in this build (no cgo): wazero only")
	}
	return es
}

// harness runs one module on each engine.
type harness struct {
	t     testing.TB
	hash  [32]byte
	cells map[string]engine.Compiled
	names []string
}

func newHarness(t testing.TB, wasm []byte) *harness {
	h := &harness{t: t, hash: sha256.Sum256(wasm), cells: map[string]engine.Compiled{}}
	ctx := context.Background()
	for _, e := range engines(t) {
		c, err := e.Compile(ctx, wasm)
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		h.cells[e.Name()] = c
		h.names = append(h.names, e.Name())
	}
	return h
}

// outcome is what a run left behind.
type outcome struct {
	stdout, stderr string
	code           int
}

func (o outcome) String() string {
	return fmt.Sprintf("exit %d\nstdout %q\nstderr %q", o.code, o.stdout, o.stderr)
}

// cell makes a Cell on an engine writing to the given buffers.
func (h *harness) cell(name string, stdout, stderr *bytes.Buffer, args ...string) Cell {
	return Cell{
		Compiled:   h.cells[name],
		Engine:     name,
		ModuleHash: h.hash,
		WASI: wasi.Config{
			Args:   append([]string{"prog"}, args...),
			Env:    []string{"GREETING=hello"},
			Stdout: stdout,
			Stderr: stderr,
		},
	}
}

// exitCode turns what _start returned into an exit status.
func exitCode(t testing.TB, err error) int {
	t.Helper()
	var exit *engine.Exit
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return int(exit.Code)
	}
	t.Fatal(err)
	return -1
}

// straight runs the cell without stopping and counts its host calls.
func (h *harness) straight(name string, args ...string) (outcome, uint64) {
	var stdout, stderr bytes.Buffer
	c := h.cell(name, &stdout, &stderr, args...)
	var stats Stats
	c.Stats = &stats
	snap, err := Run(context.Background(), c, nil, 0)
	if snap != nil {
		h.t.Fatal("a run without a stop point stopped")
	}
	return outcome{stdout.String(), stderr.String(), exitCode(h.t, err)}, stats.HostCalls
}

// migrated stops the cell at host call n on one engine and resumes it on
// another.
func (h *harness) migrated(from, to string, n uint64, args ...string) (outcome, *snapshot.Snapshot, Stats) {
	t := h.t
	t.Helper()
	var stdout, stderr bytes.Buffer
	c := h.cell(from, &stdout, &stderr, args...)
	var stats Stats
	c.Stats = &stats
	snap, err := RunUntil(context.Background(), c, n)
	if err != nil {
		t.Fatalf("RunUntil %d on %s: %v", n, from, err)
	}
	if snap == nil {
		t.Fatalf("RunUntil %d on %s: the cell ended first", n, from)
	}
	if snap.HostCalls != n || snap.Engine != from {
		t.Fatalf("snapshot at call %d on %q, want %d on %q", snap.HostCalls, snap.Engine, n, from)
	}
	// The resumed cell must not depend on the config's args: they come
	// from the snapshot.
	c = h.cell(to, &stdout, &stderr, "ignored")
	err = Resume(context.Background(), c, snap)
	return outcome{stdout.String(), stderr.String(), exitCode(t, err)}, snap, stats
}

// points samples migration points: the first, the second, a middle one
// and the last of total.
func points(total uint64) []uint64 {
	return []uint64{1, 2, total / 2, total}
}

// TestEveryPoint stops the cell at each of its host calls in turn.
func TestEveryPoint(t *testing.T) {
	h := newHarness(t, build(t, progressC))
	name := h.names[len(h.names)-1]
	want, total := h.straight(name, "1")
	for n := uint64(1); n <= total; n++ {
		if got, _, _ := h.migrated(name, name, n, "1"); got != want {
			t.Errorf("stop at %d of %d: got\n%v\nwant\n%v", n, total, got, want)
		}
	}
}

func TestMigrate(t *testing.T) {
	h := newHarness(t, build(t, progressC))
	want, total := h.straight("wazero")
	if want.code == 0 || want.stderr != "done\n" || !bytes.Contains([]byte(want.stdout), []byte("GREETING=hello")) {
		t.Fatalf("straight run:\n%v", want)
	}
	t.Logf("%d host calls; straight run:\n%v", total, want)
	for _, name := range h.names[1:] {
		if got, n := h.straight(name); got != want || n != total {
			t.Fatalf("%s: %d host calls and\n%v\nwant %d and\n%v", name, n, got, total, want)
		}
	}
	for _, from := range h.names {
		for _, to := range h.names {
			for _, n := range points(total) {
				t.Run(fmt.Sprintf("%s-to-%s-at-%d", from, to, n), func(t *testing.T) {
					h.t = t
					got, snap, stats := h.migrated(from, to, n)
					if got != want {
						t.Errorf("got\n%v\nwant\n%v", got, want)
					}
					t.Logf("%d of %d pages in the snapshot, unwind buffer %d bytes", len(snap.Pages), snap.MemoryPages, stats.UnwindBytes)
				})
			}
		}
	}
}

// TestStopAgain stops a resumed cell again, on the other engine each time.
func TestStopAgain(t *testing.T) {
	h := newHarness(t, build(t, progressC))
	want, total := h.straight(h.names[0], "1")
	var stdout, stderr bytes.Buffer
	ctx := context.Background()
	var snap *snapshot.Snapshot
	var err error
	for i, n := range []uint64{3, total / 3, total / 2, total - 1} {
		c := h.cell(h.names[i%len(h.names)], &stdout, &stderr, "1")
		if snap, err = Run(ctx, c, snap, n); err != nil || snap == nil {
			t.Fatalf("stop at %d: snapshot %v, %v", n, snap != nil, err)
		}
	}
	err = Resume(ctx, h.cell(h.names[len(h.names)-1], &stdout, &stderr), snap)
	got := outcome{stdout.String(), stderr.String(), exitCode(t, err)}
	if got != want {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
}

func TestRefusals(t *testing.T) {
	h := newHarness(t, build(t, progressC))
	ctx := context.Background()
	c := h.cell(h.names[0], new(bytes.Buffer), new(bytes.Buffer), "1")
	snap, err := RunUntil(ctx, c, 5)
	if err != nil {
		t.Fatal(err)
	}
	other := *snap
	other.ModuleHash[0] ^= 1
	if err := Resume(ctx, c, &other); err == nil {
		t.Error("resumed a snapshot of another module")
	}
	if _, err := Run(ctx, c, snap, 5); err == nil {
		t.Error("stopped at a call the snapshot is past")
	}
	if _, err := RunUntil(ctx, c, 0); err == nil {
		t.Error("stopped at call 0")
	}
	// Past the end: the cell just ends.
	if snap, err := RunUntil(ctx, c, 1<<40); snap != nil || exitCode(t, err) == 0 {
		t.Errorf("RunUntil past the end: snapshot %v, %v", snap != nil, err)
	}
}

// fileC works on files in the granted directory /data across its host
// calls: lines written with stdio and flushed one by one (fopen "w+":
// O_CREAT|O_TRUNC), lines appended to a file that existed before (fopen
// "a": O_APPEND), single bytes written with write(2) from an lseek'd
// offset, then the first line read back through the same FILE, and the
// directory opened at the start listed again (wasi-libc read its first
// listing before the files existed) after rewinddir.
const fileC = `
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
	DIR *d = opendir("/data");
	FILE *log = fopen("/data/log.txt", "w+");
	FILE *app = fopen("/data/append.txt", "a");
	int raw = open("/data/raw.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!d || !log || !app || raw < 0) { perror("open"); return 2; }
	if (write(raw, "................", 16) != 16) return 3;
	lseek(raw, 4, SEEK_SET);
	for (int i = 0; i < 10; i++) {
		fprintf(log, "line %d\n", i);
		fflush(log);
		fprintf(app, "append %d\n", i);
		fflush(app);
		char c = '0' + i;
		if (write(raw, &c, 1) != 1) return 4;
	}
	char first[32] = "";
	fseek(log, 0, SEEK_SET);
	if (!fgets(first, sizeof first, log)) return 5;
	fseek(log, 0, SEEK_END);
	fprintf(log, "first line was: %s", first);
	fclose(log);
	fclose(app);
	close(raw);
	int n = 0, m = 0;
	while (readdir(d) != NULL) n++;
	rewinddir(d);
	while (readdir(d) != NULL) m++;
	closedir(d);
	printf("%d entries, %d after rewinddir\n", n, m);
	return 0;
}
`

// fileRun is what a run of fileC left: its outcome and the files of its
// directory.
type fileRun struct {
	outcome
	files map[string]string
}

// dataDir makes the directory granted to fileC, with append.txt already
// there.
func dataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "append.txt"), []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fileCell is h.cell with dir granted read-write at /data.
func (h *harness) fileCell(name, dir string, stdout, stderr *bytes.Buffer) Cell {
	c := h.cell(name, stdout, stderr)
	c.WASI.Preopens = []wasi.Preopen{{HostDir: dir, GuestPath: "/data"}}
	return c
}

// readFiles reads every file in dir.
func readFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(b)
	}
	return files
}

// TestFileAcrossMigration stops fileC at host calls between its writes and
// resumes it, on each pair of engines: the files must be those of an
// uninterrupted run, so every fd is back on its number at its offset,
// nothing was truncated or created again, and appends still append.
func TestFileAcrossMigration(t *testing.T) {
	h := newHarness(t, build(t, fileC))
	straight := func(name string) (fileRun, uint64) {
		dir := dataDir(t)
		var stdout, stderr bytes.Buffer
		c := h.fileCell(name, dir, &stdout, &stderr)
		var stats Stats
		c.Stats = &stats
		_, err := Run(context.Background(), c, nil, 0)
		return fileRun{outcome{stdout.String(), stderr.String(), exitCode(t, err)}, readFiles(t, dir)}, stats.HostCalls
	}
	migrated := func(t *testing.T, from, to string, n uint64) fileRun {
		dir := dataDir(t)
		var stdout, stderr bytes.Buffer
		snap, err := RunUntil(context.Background(), h.fileCell(from, dir, &stdout, &stderr), n)
		if err != nil || snap == nil {
			t.Fatalf("RunUntil %d on %s: snapshot %v, %v", n, from, snap != nil, err)
		}
		// The resumed cell's directory comes from the snapshot.
		err = Resume(context.Background(), h.fileCell(to, t.TempDir(), &stdout, &stderr), snap)
		return fileRun{outcome{stdout.String(), stderr.String(), exitCode(t, err)}, readFiles(t, dir)}
	}

	want, total := straight(h.names[0])
	if want.code != 0 || want.stdout != "3 entries, 5 after rewinddir\n" ||
		want.files["log.txt"] != "line 0\nline 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nfirst line was: line 0\n" ||
		want.files["raw.bin"] != "....0123456789.." ||
		!strings.HasPrefix(want.files["append.txt"], "before\nappend 0\n") {
		t.Fatalf("straight run:\n%v\n%q", want.outcome, want.files)
	}
	for _, name := range h.names[1:] {
		if got, n := straight(name); !fileRunEqual(got, want) || n != total {
			t.Fatalf("%s: %d host calls and\n%v\n%q\nwant %d", name, n, got.outcome, got.files, total)
		}
	}
	t.Logf("%d host calls, engines %v", total, h.names)
	last := h.names[len(h.names)-1]
	for n := uint64(1); n <= total; n++ {
		if got := migrated(t, last, last, n); !fileRunEqual(got, want) {
			t.Errorf("%s, stop at %d of %d: got\n%v\n%q\nwant\n%v\n%q", last, n, total, got.outcome, got.files, want.outcome, want.files)
		}
	}
	for _, from := range h.names {
		for _, to := range h.names {
			if from == to {
				continue
			}
			for _, n := range points(total) {
				if got := migrated(t, from, to, n); !fileRunEqual(got, want) {
					t.Errorf("%s to %s, stop at %d of %d: got\n%v\n%q\nwant\n%v\n%q", from, to, n, total, got.outcome, got.files, want.outcome, want.files)
				}
			}
		}
	}
}

func fileRunEqual(a, b fileRun) bool {
	return a.outcome == b.outcome && maps.Equal(a.files, b.files)
}

// TestResumeFileGone: a file the cell had open that is gone when it
// resumes is an error naming it, and is not created again.
func TestResumeFileGone(t *testing.T) {
	h := newHarness(t, build(t, fileC))
	dir := dataDir(t)
	ctx := context.Background()
	c := h.fileCell(h.names[0], dir, new(bytes.Buffer), new(bytes.Buffer))
	var stats Stats
	c.Stats = &stats
	if _, err := Run(ctx, c, nil, 0); err != nil {
		t.Fatal(err)
	}
	dir = dataDir(t)
	c = h.fileCell(h.names[0], dir, new(bytes.Buffer), new(bytes.Buffer))
	snap, err := RunUntil(ctx, c, stats.HostCalls/2)
	if err != nil || snap == nil {
		t.Fatalf("RunUntil: snapshot %v, %v", snap != nil, err)
	}
	if !slices.ContainsFunc(snap.WASI.FDs, func(f wasi.FDState) bool { return f.Path == "log.txt" }) {
		t.Fatalf("log.txt is not open at call %d: %+v", snap.HostCalls, snap.WASI.FDs)
	}
	log := filepath.Join(dir, "log.txt")
	if err := os.Remove(log); err != nil {
		t.Fatal(err)
	}
	err = Resume(ctx, c, snap)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "log.txt") {
		t.Errorf("resume without log.txt: %v, want an error naming it", err)
	}
	if _, err := os.Stat(log); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log.txt came back: %v", err)
	}
}

// TestNotMigratable: a module built without Migratable is refused clearly.
func TestNotMigratable(t *testing.T) {
	tc, err := toolchain.Find()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	tc.MPIInclude = dir
	src := filepath.Join(dir, "p.c")
	os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644)
	out := filepath.Join(dir, "p.wasm")
	if err := tc.Compile(context.Background(), toolchain.Options{Sources: []string{src}, Output: out}); err != nil {
		t.Fatal(err)
	}
	wasm, _ := os.ReadFile(out)
	h := newHarness(t, wasm)
	_, err = RunUntil(context.Background(), h.cell(h.names[0], new(bytes.Buffer), new(bytes.Buffer)), 1)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("Migratable")) {
		t.Errorf("err = %v, want one saying to build it migratable", err)
	}
}

// TestLargeHeap measures a stop and a resume of a cell with a 64 MiB heap,
// midway through its run.
func TestLargeHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB heap: not in -short")
	}
	h := newHarness(t, build(t, progressC))
	name := h.names[len(h.names)-1]
	start := time.Now()
	want, total := h.straight(name, "64")
	straight := time.Since(start)
	var stdout, stderr bytes.Buffer
	c := h.cell(name, &stdout, &stderr, "64")
	var stats Stats
	c.Stats = &stats
	start = time.Now()
	snap, err := RunUntil(context.Background(), c, total/2)
	if err != nil || snap == nil {
		t.Fatalf("RunUntil: %v", err)
	}
	stop := time.Since(start)
	start = time.Now()
	err = Resume(context.Background(), h.cell(name, &stdout, &stderr), snap)
	resume := time.Since(start)
	if got := (outcome{stdout.String(), stderr.String(), exitCode(t, err)}); got != want {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	t.Logf("%s, 64 MiB heap, stop at call %d of %d: straight run %v; run until the stop %v, resume to the end %v; snapshot %d of %d pages (%.1f MiB), unwind buffer %d bytes",
		name, total/2, total, straight.Round(time.Millisecond), stop.Round(time.Millisecond), resume.Round(time.Millisecond),
		len(snap.Pages), snap.MemoryPages, float64(len(snap.Pages))*snapshot.PageSize/(1<<20), stats.UnwindBytes)
}
