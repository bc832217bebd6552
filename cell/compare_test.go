package cell_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell"
)

// TestCompareWithNative measures cells side by side with native processes
// for `make bench` (bench/compare-cells.sh); it runs only when
// CLOUDSKIN_COMPARE_OUT names the file that receives its TSV rows
// (benchmark, command, peer, median ours, median peer). Nothing is
// asserted about speed.
func TestCompareWithNative(t *testing.T) {
	f := compareOutput(t)
	const command = "CLOUDSKIN_COMPARE_OUT=… go test -run TestCompareWithNative ./cell"
	row := func(name, peer, ours, theirs string) {
		fmt.Fprintf(f, "%s\t%s\t%s\t%s\t%s\n", name, command, peer, ours, theirs)
	}

	native := nativeBuild(t, "testdata/empty.c")
	nativeP50, nativeP99 := percentiles(measure(300, func() error { return exec.Command(native).Run() }))
	for _, e := range engines {
		p := load(t, "empty", e)
		p50, p99 := percentiles(measure(2000, func() error {
			_, err := p.Run(context.Background(), cell.Spec{})
			return err
		}))
		row("cell start p50, trivial program ("+string(e)+")", "fork/exec of the gcc -O2 binary", us(p50), us(nativeP50))
		row("cell start p99, trivial program ("+string(e)+")", "fork/exec of the gcc -O2 binary", us(p99), us(nativeP99))
	}

	nativeIdle := nativeIdleRSS(t, nativeBuild(t, "testdata/idle.c"))
	for _, e := range engines {
		perCell := idleCellRSS(t, load(t, "idle", e), 200)
		row(fmt.Sprintf("memory per idle cell, 200 cells (%s); %d cells fit in 24 GiB", e, int64(24<<30)/max(perCell, 1)),
			"RSS of one idle native process (gcc -O2)", kib(perCell), kib(nativeIdle))
	}
}

// compareOutput opens the file named by CLOUDSKIN_COMPARE_OUT, where
// comparisons append their TSV rows, or skips the test when it is unset.
func compareOutput(t *testing.T) *os.File {
	t.Helper()
	out := os.Getenv("CLOUDSKIN_COMPARE_OUT")
	if out == "" {
		t.Skip("set CLOUDSKIN_COMPARE_OUT to run the comparison (make bench)")
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func measure(n int, run func() error) []time.Duration {
	d := make([]time.Duration, 0, n)
	for range n {
		begin := time.Now()
		if err := run(); err != nil {
			panic(err)
		}
		d = append(d, time.Since(begin))
	}
	return d
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100]
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }
func kib(b int64) string        { return fmt.Sprintf("%.0f KiB", float64(b)/1024) }

func nativeBuild(t *testing.T, src string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	if out, err := exec.Command("gcc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, out)
	}
	return bin
}

// rss is this process's resident set in bytes.
func rss(t *testing.T, pid string) int64 {
	t.Helper()
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 && fields[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// idleCellRSS starts n cells that block on stdin and returns the growth of
// this process's RSS per cell.
func idleCellRSS(t *testing.T, p *cell.Program, n int) int64 {
	t.Helper()
	p.Run(context.Background(), cell.Spec{Stdin: strings.NewReader("x")}) // warm up the engine
	before := rss(t, "self")
	var wg sync.WaitGroup
	writers := make([]*io.PipeWriter, n)
	for i := range n {
		r, w := io.Pipe()
		writers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Run(context.Background(), cell.Spec{Stdin: r})
		}()
	}
	time.Sleep(2 * time.Second) // let every cell reach its read
	after := rss(t, "self")
	for _, w := range writers {
		w.Write([]byte("x"))
		w.Close()
	}
	wg.Wait()
	return (after - before) / int64(n)
}

func nativeIdleRSS(t *testing.T, bin string) int64 {
	t.Helper()
	cmd := exec.Command(bin)
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	size := rss(t, strconv.Itoa(cmd.Process.Pid))
	stdin.Write([]byte("x"))
	stdin.Close()
	cmd.Wait()
	return size
}
