package cell_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/snapshot"
	"github.com/cloudskin/cloudskin/cell/toolchain"
)

// TestCompareMigrationDowntime measures, for `make bench`, how long a cell
// with 1, 64 and 512 MiB of touched memory is stopped when it moves through
// a snapshot file (stop and capture, write, read, restore and continue)
// against the physical floor of copying the same bytes once in memory. It
// runs only when CLOUDSKIN_COMPARE_OUT is set.
func TestCompareMigrationDowntime(t *testing.T) {
	f := compareOutput(t)
	wasm := migratableModule(t, "testdata/touch.c")
	for _, e := range engines {
		rt := cell.NewRuntime(cell.Options{CacheDir: t.TempDir()})
		p, err := rt.Load(context.Background(), wasm, e)
		if err != nil {
			t.Fatal(err)
		}
		for _, mib := range []int{1, 64, 512} {
			down, size := downtime(t, p, mib)
			floor := copyTime(mib << 20)
			fmt.Fprintf(f, "migration downtime through a snapshot file, %d MiB touched (%s); %d bytes moved\t%s\t%s\t%s\t%s\n",
				mib, e, size, "CLOUDSKIN_COMPARE_OUT=… go test -run TestCompareMigrationDowntime ./cell",
				"copying the same bytes once in memory", ms(down), ms(floor))
		}
		p.Close(context.Background())
		rt.Close(context.Background())
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.4g ms", float64(d)/1e6) }

// downtime stops the cell at its first host call after touching mib MiB,
// moves it through a snapshot file and resumes it. The cell's own work is
// the same with and without the move, so the downtime is what the move
// adds: the stopped run plus the resumed run minus a straight run, plus
// writing and reading the file.
func downtime(t *testing.T, p *cell.Program, mib int) (time.Duration, int64) {
	t.Helper()
	spec := cell.Spec{Args: []string{fmt.Sprint(mib)}, Stdout: &bytes.Buffer{}, Uninterruptible: true}
	begin := time.Now()
	if _, err := p.Run(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	straight := time.Since(begin)

	var snap *snapshot.Snapshot
	var stopped time.Duration
	for n := uint64(1); snap == nil || len(snap.Pages) < mib*16; n++ {
		begin = time.Now()
		s, _, err := p.RunUntil(context.Background(), spec, n)
		if err != nil || s == nil {
			t.Fatalf("no stop after touching %d MiB (call %d): %v", mib, n, err)
		}
		snap, stopped = s, time.Since(begin)
	}
	path := filepath.Join(t.TempDir(), "cell.snap")
	begin = time.Now()
	if err := snapshot.WriteFile(path, snap); err != nil {
		t.Fatal(err)
	}
	back, err := snapshot.ReadFile(path, &snap.ModuleHash)
	if err != nil {
		t.Fatal(err)
	}
	moved := time.Since(begin)
	info, _ := os.Stat(path)
	begin = time.Now()
	if _, err := p.Resume(context.Background(), spec, back); err != nil {
		t.Fatal(err)
	}
	resumed := time.Since(begin)
	return max(stopped+resumed-straight, 0) + moved, info.Size()
}

func copyTime(n int) time.Duration {
	src, dst := make([]byte, n), make([]byte, n)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault the pages in first: the floor is the copy itself
	begin := time.Now()
	copy(dst, src)
	return time.Since(begin)
}

func migratableModule(t *testing.T, src string) []byte {
	t.Helper()
	tc, err := toolchain.Find()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "m.wasm")
	if err := tc.Compile(context.Background(), toolchain.Options{Sources: []string{src}, Output: out, SIMD: true, Migratable: true}); err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}
