package cell_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/mpi"
	"github.com/cloudskin/cloudskin/cell/toolchain"
	"github.com/cloudskin/cloudskin/cell/wasi"
)

// modules holds the test programs, built once with the real toolchain.
var (
	buildOnce sync.Once
	modules   map[string][]byte
	buildErr  error
)

func module(t testing.TB, name string) []byte {
	t.Helper()
	buildOnce.Do(func() {
		tc, err := toolchain.Find()
		if err != nil {
			buildErr = err
			return
		}
		tc.MPIHeader = mpi.Header()
		dir, err := os.MkdirTemp("", "cell-test")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		modules = map[string][]byte{}
		sources := map[string]string{
			"hello": "testdata/hello.c", "faults": "testdata/faults.c", "files": "testdata/files.c",
			"imports": "testdata/imports.c", "mpifail": "testdata/mpifail.c", "nofinalize": "testdata/nofinalize.c", "empty": "testdata/empty.c", "idle": "testdata/idle.c", "ring": "../examples/mpi/ring.c", "allreduce": "../examples/mpi/allreduce.c",
			"mpimove-m": "testdata/mpimove.c", "ring-m": "../examples/mpi/ring.c", "parallel": "testdata/parallel.c",
			"fork-m": "testdata/fork.c", "fork": "testdata/fork.c",
		}
		for name, src := range sources {
			out := filepath.Join(dir, name+".wasm")
			// Names ending in -m are built migratable (Asyncify).
			migratable := strings.HasSuffix(name, "-m")
			if err := tc.Compile(context.Background(), toolchain.Options{Sources: []string{src}, Output: out, SIMD: true, Migratable: migratable}); err != nil {
				buildErr = fmt.Errorf("build %s: %w", src, err)
				return
			}
			if modules[name], err = os.ReadFile(out); err != nil {
				buildErr = err
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building test modules: %v", buildErr)
	}
	return modules[name]
}

var engines = []cell.EngineChoice{cell.Wasmtime, cell.Wazero}

// load compiles a test module on an engine with a private cache.
func load(t testing.TB, name string, e cell.EngineChoice) *cell.Program {
	t.Helper()
	rt := cell.NewRuntime(cell.Options{CacheDir: t.TempDir()})
	t.Cleanup(func() { rt.Close(context.Background()) })
	p, err := rt.Load(context.Background(), module(t, name), e)
	if err != nil {
		t.Fatalf("load %s on %s: %v", name, e, err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func TestHelloArgsEnvStdioExitCode(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "hello", e)
			var stdout, stderr bytes.Buffer
			res, err := p.Run(context.Background(), cell.Spec{
				Name: "hello", Args: []string{"7", "two words"}, Env: []string{"GREETING=hi"},
				Stdin: strings.NewReader("a line\n"), Stdout: &stdout, Stderr: &stderr,
			})
			if err != nil {
				t.Fatal(err)
			}
			want := "hello from hello with 2 args: 7 two words\nGREETING=hi\nstdin: a line\n"
			if stdout.String() != want || stderr.String() != "to stderr\n" || res.ExitCode != 7 {
				t.Fatalf("stdout %q stderr %q exit %d", stdout.String(), stderr.String(), res.ExitCode)
			}
			if p.Engine != e {
				t.Fatalf("program ran on %s, asked for %s", p.Engine, e)
			}
		})
	}
}

func TestUninterruptibleCellsRunTheSame(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "hello", e)
			var out bytes.Buffer
			res, err := p.Run(context.Background(), cell.Spec{Name: "hello", Args: []string{"5"}, Stdout: &out, Uninterruptible: true})
			if err != nil || res.ExitCode != 5 || !strings.HasPrefix(out.String(), "hello from hello with 1 args: 5\n") {
				t.Fatalf("exit %d err %v out %q", res.ExitCode, err, out.String())
			}
			// A time limit still stops a runaway cell that asked to be uninterruptible.
			_, err = load(t, "faults", e).Run(context.Background(), cell.Spec{Args: []string{"loop"}, Uninterruptible: true, Timeout: 100 * time.Millisecond})
			if !errors.Is(err, cell.ErrTimeout) {
				t.Fatalf("runaway uninterruptible cell with a time limit: err = %v", err)
			}
		})
	}
}

func TestFaultsAreErrorsAndTheHostSurvives(t *testing.T) {
	cases := []struct {
		arg, want string
	}{
		{"div0", "trap"},
		{"abort", "trap"},
		{"oob", "trap"},
		{"recurse", "trap"},
	}
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "faults", e)
			for _, c := range cases {
				_, err := p.Run(context.Background(), cell.Spec{Args: []string{c.arg}})
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: err = %v, want it to mention %q", c.arg, err, c.want)
				}
			}
			// Traps name the function they happened in (the toolchain keeps
			// the name section); wazero does not for stack overflows.
			_, err := p.Run(context.Background(), cell.Spec{Args: []string{"div0"}})
			if err == nil || !strings.Contains(err.Error(), "trap in _start") {
				t.Errorf("div0 trap does not name its function: %v", err)
			}
			if _, err := p.Run(context.Background(), cell.Spec{Args: []string{"recurse"}}); e == cell.Wasmtime && (err == nil || !strings.Contains(err.Error(), "trap in depth")) {
				t.Errorf("stack overflow does not name the recursing function: %v", err)
			}
			// The same program still runs fine afterwards.
			res, err := p.Run(context.Background(), cell.Spec{})
			if err != nil || res.ExitCode != 2 {
				t.Fatalf("after faults: exit %d, err %v", res.ExitCode, err)
			}
		})
	}
}

func TestTimeoutStopsARunawayCell(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "faults", e)
			begin := time.Now()
			_, err := p.Run(context.Background(), cell.Spec{Args: []string{"loop"}, Timeout: 200 * time.Millisecond})
			if !errors.Is(err, cell.ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if took := time.Since(begin); took > 5*time.Second {
				t.Fatalf("a 200 ms limit took %s to stop the cell", took)
			}
		})
	}
}

func TestMemoryLimitBoundsAllocation(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "faults", e)
			var out bytes.Buffer
			res, err := p.Run(context.Background(), cell.Spec{Args: []string{"grow"}, Stdout: &out, MemoryLimit: 32 << 20})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("exit %d err %v", res.ExitCode, err)
			}
			var mib int
			if _, err := fmt.Sscanf(out.String(), "allocated %d MiB", &mib); err != nil || mib < 20 || mib > 32 {
				t.Fatalf("under a 32 MiB limit the cell allocated %q", out.String())
			}
		})
	}
}

func TestFilesystemViewIsConfined(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "files", e)
			in, out := t.TempDir(), t.TempDir()
			os.WriteFile(filepath.Join(in, "input.txt"), []byte("payload\n"), 0o644)
			var stdout bytes.Buffer
			res, err := p.Run(context.Background(), cell.Spec{Stdout: &stdout, Dirs: []wasi.Preopen{
				{HostDir: in, GuestPath: "/in", ReadOnly: true},
				{HostDir: out, GuestPath: "/out"},
			}})
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("exit %d err %v: %s", res.ExitCode, err, stdout.String())
			}
			got, _ := os.ReadFile(filepath.Join(out, "result.txt"))
			if string(got) != "read 8 bytes: payload\n" {
				t.Fatalf("result.txt = %q", got)
			}
			for _, line := range []string{"write into /in: refused", "open /etc/passwd: refused", "open /in/../../etc/passwd: refused"} {
				if !strings.Contains(stdout.String(), line) {
					t.Errorf("stdout lacks %q:\n%s", line, stdout.String())
				}
			}
			if _, err := os.Stat(filepath.Join(in, "new.txt")); err == nil {
				t.Error("the read-only directory was written")
			}
		})
	}
}

func TestBadModulesAreRefusedClearly(t *testing.T) {
	valid := module(t, "hello")
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			rt := cell.NewRuntime(cell.Options{CacheDir: t.TempDir()})
			defer rt.Close(context.Background())
			for name, wasm := range map[string][]byte{
				"not wasm":  []byte("#!/bin/sh\necho hi\n"),
				"empty":     nil,
				"truncated": valid[:len(valid)/2],
			} {
				if _, err := rt.Load(context.Background(), wasm, e); err == nil {
					t.Errorf("%s: loaded", name)
				}
			}
			_, err := rt.Load(context.Background(), module(t, "imports"), e)
			if err == nil || !strings.Contains(err.Error(), "unsupported imports: env.mystery_function") {
				t.Errorf("unknown import: err = %v", err)
			}
		})
	}
}

func TestManyCellsSideBySide(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "hello", e)
			const n = 64
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var out bytes.Buffer
					res, err := p.Run(context.Background(), cell.Spec{Args: []string{fmt.Sprint(i % 100)}, Stdout: &out, Env: []string{fmt.Sprintf("GREETING=cell%d", i)}})
					if err != nil || res.ExitCode != i%100 || !strings.Contains(out.String(), fmt.Sprintf("GREETING=cell%d\n", i)) {
						errs <- fmt.Errorf("cell %d: exit %d err %v out %q", i, res.ExitCode, err, out.String())
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestParseDir(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]wasi.Preopen{
		dir:               {HostDir: dir, GuestPath: dir},
		dir + ":/data":    {HostDir: dir, GuestPath: "/data"},
		dir + ":/data:ro": {HostDir: dir, GuestPath: "/data", ReadOnly: true},
		dir + ":ro":       {HostDir: dir, GuestPath: dir, ReadOnly: true},
		dir + ":/data:rw": {HostDir: dir, GuestPath: "/data"},
	}
	for in, want := range cases {
		got, err := cell.ParseDir(in)
		if err != nil || got != want {
			t.Errorf("ParseDir(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ":x", dir + ":a:b:c", filepath.Join(dir, "missing")} {
		if _, err := cell.ParseDir(bad); err == nil {
			t.Errorf("ParseDir(%q) accepted", bad)
		}
	}
}

func TestMPIWorlds(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			var out bytes.Buffer
			var mu sync.Mutex
			w := writerFunc(func(b []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(b) })
			results, err := load(t, "ring", e).RunMPI(context.Background(), 4, func(int) cell.Spec { return cell.Spec{Stdout: w} })
			if err != nil || len(results) != 4 {
				t.Fatalf("ring: %v", err)
			}
			if !strings.Contains(out.String(), "3 laps of 4 ranks done, final token 12") || strings.Count(out.String(), " ok\n") != 12 {
				t.Fatalf("ring output:\n%s", out.String())
			}

			out.Reset()
			_, err = load(t, "allreduce", e).RunMPI(context.Background(), 3, func(int) cell.Spec { return cell.Spec{Stdout: w} })
			// MPI defines 4 integer types x 6 ops and 2 float types x 4 ops.
			if err != nil || strings.Count(out.String(), " ok\n") != 32 || !strings.Contains(out.String(), "32 pairs ok, 0 failed") {
				t.Fatalf("allreduce: %v\n%s", err, out.String())
			}
		})
	}
}

func TestMPIRankFailureEndsTheWorld(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := load(t, "mpifail", e).RunMPI(ctx, 3, func(int) cell.Spec { return cell.Spec{} })
			if ctx.Err() != nil {
				t.Fatal("the world hung after a rank trapped")
			}
			if err == nil || !strings.HasPrefix(err.Error(), "rank 1: cell trapped") {
				t.Fatalf("err = %v, want rank 1's trap", err)
			}
		})
	}
}

func TestMPIRankEndingWithoutFinalizeEndsTheWorld(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := load(t, "nofinalize", e).RunMPI(ctx, 2, func(int) cell.Spec { return cell.Spec{} })
			if ctx.Err() != nil {
				t.Fatal("the world hung after a rank ended without MPI_Finalize")
			}
			if err == nil || err.Error() != "rank 1: exited without calling MPI_Finalize" {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestMPIAbortAndExitStatusesAreTheProgramsOwn(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := load(t, "nofinalize", e)
			results, err := p.RunMPI(context.Background(), 3, func(int) cell.Spec { return cell.Spec{Args: []string{"abort"}} })
			if err != nil {
				t.Fatalf("MPI_Abort: err = %v, want the exit statuses to say it", err)
			}
			for i, r := range results {
				if r.ExitCode != 42 {
					t.Errorf("rank %d exit %d after MPI_Abort(…, 42)", i, r.ExitCode)
				}
			}
			// Run of an MPI program is a world of one; its exit status is the program's.
			res, err := p.Run(context.Background(), cell.Spec{Args: []string{"exit"}})
			if err != nil || res.ExitCode != 3 {
				t.Fatalf("Run: exit %d err %v, want exit 3", res.ExitCode, err)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// BenchmarkRunEmpty is a whole cell's life from a compiled program: WASI
// set-up, instantiation, wasi-libc's start-up, main, exit, clean-up.
func BenchmarkRunEmpty(b *testing.B) {
	for _, e := range engines {
		b.Run(string(e), func(b *testing.B) {
			p := load(b, "empty", e)
			for b.Loop() {
				if _, err := p.Run(context.Background(), cell.Spec{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
