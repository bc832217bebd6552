package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell/raster"
)

// TestNDVIOnLandsatAsCellsMatchesTheGoReference is the agriculture use case
// end to end through the CLI: real Landsat 8 bands to CSR1, ndvi.c compiled
// to a cell, run as an MPI world of 3 cells on each engine, and the output
// compared bit for bit with the Go reference implementation.
func TestNDVIOnLandsatAsCellsMatchesTheGoReference(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	landsat := "../../cell/raster/testdata/landsat8-016037/"
	steps := [][]string{
		{"raster", "from-tiff", landsat + "B4.TIF", filepath.Join(data, "red.csr")},
		{"raster", "from-tiff", landsat + "B5.TIF", filepath.Join(data, "nir.csr")},
		{"raster", "ndvi", filepath.Join(data, "red.csr"), filepath.Join(data, "nir.csr"), filepath.Join(data, "ndvi-go.csr")},
		{"cell", "cc", "-O3", "../../examples/ndvi/ndvi.c", "-o", filepath.Join(dir, "ndvi.wasm")},
	}
	for _, args := range steps {
		if out, err := run(t, nil, args...); err != nil {
			t.Fatalf("cloudskin %v: %v\n%s", args, err, out)
		}
	}
	for _, engine := range []string{"wasmtime", "wazero"} {
		out, err := run(t, nil, "cell", "mpirun", "-n", "3", "--engine", engine, "--dir", data+":/data",
			filepath.Join(dir, "ndvi.wasm"), "/data/red.csr", "/data/nir.csr", "/data/ndvi-"+engine+".csr")
		if err != nil {
			t.Fatalf("ndvi on %s: %v\n%s", engine, err, out)
		}
		out, err = run(t, nil, "raster", "diff", filepath.Join(data, "ndvi-"+engine+".csr"), filepath.Join(data, "ndvi-go.csr"))
		if err != nil || !strings.Contains(out, "identical (255x259 float32)") {
			t.Fatalf("ndvi on %s differs from the Go reference: %v\n%s", engine, err, out)
		}
	}
}

func TestCellRunExitStatusAndErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "exit.c")
	os.WriteFile(src, []byte("#include <stdio.h>\nint main(int c, char **v) { printf(\"args %d\\n\", c); return 42; }\n"), 0o644)
	wasm := filepath.Join(dir, "exit.wasm")
	if out, err := run(t, nil, "cell", "cc", src, "-o", wasm); err != nil {
		t.Fatalf("cell cc: %v\n%s", err, out)
	}
	out, err := run(t, nil, "cell", "run", wasm, "a", "--not-a-flag")
	if code := exitCode(err); code != 42 || out != "args 3\n" {
		t.Fatalf("cell run: exit %d (%v), output %q", code, err, out)
	}
	notWasm := filepath.Join(dir, "not.wasm")
	os.WriteFile(notWasm, []byte("hello"), 0o644)
	out, err = run(t, nil, "cell", "run", notWasm)
	if exitCode(err) != 1 || !strings.Contains(out, notWasm) {
		t.Fatalf("cell run on a non-wasm file: %v\n%s", err, out)
	}
	out, err = run(t, nil, "cell", "cc", filepath.Join(dir, "missing.c"), "-o", wasm)
	if err == nil || !strings.Contains(out, "missing.c") {
		t.Fatalf("cell cc of a missing file: %v\n%s", err, out)
	}
}

func TestCellRunStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wasm := filepath.Join(dir, "faults.wasm")
	if out, err := run(t, nil, "cell", "cc", "../../cell/testdata/faults.c", "-o", wasm); err != nil {
		t.Fatalf("cell cc: %v\n%s", err, out)
	}
	for _, engine := range []string{"wasmtime", "wazero"} {
		cmd := exec.Command(binary, "cell", "run", "--engine", engine, wasm, "loop")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // let it reach the loop
		begin := time.Now()
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT || time.Since(begin) > 3*time.Second {
			t.Fatalf("%s: a runaway cell ended with %v %s after SIGINT, want killed by SIGINT within 3 s", engine, err, time.Since(begin))
		}
	}
}

// TestSnapshotAndResumeEqualsAnUninterruptedRun stops a migratable cell at
// a host call on one engine, resumes it from the snapshot file on the
// other, and compares the combined output and exit status with a straight
// run.
func TestSnapshotAndResumeEqualsAnUninterruptedRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wasm := filepath.Join(dir, "steps.wasm")
	if out, err := run(t, nil, "cell", "cc", "--migratable", "testdata/steps.c", "-o", wasm); err != nil {
		t.Fatalf("cell cc --migratable: %v\n%s", err, out)
	}
	cache := "--cache-dir=" + filepath.Join(dir, "cache")
	straight, err := exec.Command(binary, "cell", "run", cache, wasm, "5").Output()
	wantCode := exitCode(err)
	if len(straight) == 0 || wantCode < 0 {
		t.Fatalf("straight run: %v %q", err, straight)
	}
	for _, c := range []struct{ from, to, at string }{{"wazero", "wasmtime", "1"}, {"wasmtime", "wazero", "4"}, {"wasmtime", "wasmtime", "6"}} {
		snap := filepath.Join(dir, c.from+c.at+".snap")
		first, err := exec.Command(binary, "cell", "run", cache, "--engine", c.from, "--snapshot-at", c.at, "--snapshot-out", snap, wasm, "5").Output()
		if err != nil {
			t.Fatalf("run to host call %s on %s: %v", c.at, c.from, err)
		}
		rest, err := exec.Command(binary, "cell", "resume", cache, "--engine", c.to, snap).Output()
		if got := string(first) + string(rest); got != string(straight) || exitCode(err) != wantCode {
			t.Fatalf("%s@%s -> %s: output %q exit %d; want %q exit %d", c.from, c.at, c.to, got, exitCode(err), straight, wantCode)
		}
	}
	// A damaged snapshot is refused, naming what is wrong.
	snap := filepath.Join(dir, "wasmtime4.snap")
	data, _ := os.ReadFile(snap)
	data[len(data)/2] ^= 0xFF
	os.WriteFile(snap, data, 0o600)
	out, err := run(t, nil, "cell", "resume", cache, snap)
	if err == nil || !strings.Contains(out, "corrupt") {
		t.Fatalf("resume of a damaged snapshot: %v\n%s", err, out)
	}
}

// TestCellRunAtASiteOfUp runs cells through the control plane of `up`: the
// module is uploaded once, the site's agent runs it, and the CLI prints
// its output and exits with its status.
func TestCellRunAtASiteOfUp(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	wasm := filepath.Join(dir, "hello.wasm")
	if out, err := run(t, nil, "cell", "cc", "../../cell/testdata/hello.c", "-o", wasm); err != nil {
		t.Fatalf("cell cc: %v\n%s", err, out)
	}
	for _, site := range []string{"edge", "cloud"} {
		out, err := run(t, nil, "cell", "run", "--server", base, "--site", site, "--env", "GREETING="+site, wasm, "4", "x")
		if code := exitCode(err); code != 4 || !strings.Contains(out, "GREETING="+site+"\n") || !strings.Contains(out, "with 2 args: 4 x\n") {
			t.Fatalf("cell run --site %s: exit %d (%v)\n%s", site, code, err, out)
		}
	}
	out, err := run(t, nil, "cell", "run", "--server", base, "--site", "mars", wasm)
	if err == nil || !strings.Contains(out, `site "mars"`) {
		t.Fatalf("cell run at an unknown site: %v\n%s", err, out)
	}
	var list struct{ Items []v1alpha1.CellRun }
	getJSON(t, base+"/api/v1/cells", &list)
	if len(list.Items) != 2 || list.Items[0].Status.Phase != v1alpha1.CellFailed || list.Items[0].Status.ExitCode != 4 {
		t.Fatalf("cell runs recorded: %+v", list.Items)
	}
}

// TestMPIWorldAcrossSites runs MPI worlds across two sites of `up` from
// their start (cell mpirun --sites edge,cloud): cloud's agent fetches its
// ranks from edge's, which keeps the world's MPI state, and the output
// equals a world run in one place, for a plain module and a migratable one.
func TestMPIWorldAcrossSites(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	for _, tc := range []struct {
		src   string
		flags []string
		args  []string
	}{
		{"../../examples/mpi/ring.c", nil, nil},
		{"../../cell/testdata/mpimove.c", []string{"--migratable"}, []string{"4", "10"}},
	} {
		wasm := cc(t, dir, tc.src, tc.flags...)
		want, err := run(t, nil, slices.Concat([]string{"cell", "mpirun", "-n", "4", wasm}, tc.args)...)
		if err != nil {
			t.Fatalf("mpirun here: %v\n%s", err, want)
		}
		got, err := run(t, nil, slices.Concat([]string{"cell", "mpirun", "-n", "4", "--server", base, "--sites", "edge,cloud", wasm}, tc.args)...)
		// Every rank of ring prints, in no fixed order across ranks.
		sorted := func(s string) string { l := strings.Split(s, "\n"); slices.Sort(l); return strings.Join(l, "\n") }
		if err != nil || sorted(got) != sorted(want) {
			t.Fatalf("mpirun --sites edge,cloud %s: %v\n%s\nwant\n%s", tc.src, err, got, want)
		}
	}
	var list struct{ Items []v1alpha1.CellRun }
	getJSON(t, base+"/api/v1/cells", &list)
	for _, c := range list.Items {
		for _, r := range []int{2, 3} {
			if rs, ok := c.Status.RankStatus(r); !ok || rs.Phase != v1alpha1.RankMoved || rs.Site != "cloud" {
				t.Fatalf("%s: rank %d: %+v", c.Metadata.Name, r, c.Status.Ranks)
			}
		}
		if c.Status.Site != "edge" || len(c.Status.Migrations) != 2 {
			t.Fatalf("%s: status %+v", c.Metadata.Name, c.Status)
		}
	}
	if out, err := run(t, nil, "cell", "mpirun", "-n", "1", "--server", base, "--sites", "edge,cloud", "x.wasm"); err == nil || !strings.Contains(out, "2 sites for 1 ranks") {
		t.Fatalf("more sites than ranks: %v\n%s", err, out)
	}
}

// TestMPIWorldPlacedByGranny lets the planner place worlds (cell mpirun
// --place) on the sites of `up`, edge with 2 cores and cloud with 16: 4
// ranks fit on cloud alone, 17 spread over both (cloud's 16 and one at
// edge), 19 do not fit; the output equals a world run in one place.
func TestMPIWorldPlacedByGranny(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	wasm := cc(t, dir, "../../examples/mpi/ring.c")
	sorted := func(s string) string { l := strings.Split(s, "\n"); slices.Sort(l); return strings.Join(l, "\n") }
	for _, tc := range []struct {
		ranks     string
		site      string
		rankSites int
	}{{"4", "cloud", 0}, {"17", "cloud", 1}} {
		want, err := run(t, nil, "cell", "mpirun", "-n", tc.ranks, wasm)
		if err != nil {
			t.Fatal(err)
		}
		got, err := run(t, nil, "cell", "mpirun", "-n", tc.ranks, "--server", base, "--place", wasm)
		if err != nil || sorted(got) != sorted(want) {
			t.Fatalf("mpirun -n %s --place: %v\n%s", tc.ranks, err, got)
		}
		var list struct{ Items []v1alpha1.CellRun }
		getJSON(t, base+"/api/v1/cells", &list)
		last := list.Items[len(list.Items)-1]
		for _, c := range list.Items {
			if c.Metadata.CreationTimestamp.After(*last.Metadata.CreationTimestamp) {
				last = c
			}
		}
		if last.Spec.Site != tc.site || len(last.Spec.RankSites) != tc.rankSites || (tc.rankSites > 0 && last.Spec.RankSites[0].Site != "edge") {
			t.Fatalf("-n %s placed at %s with ranks away %+v", tc.ranks, last.Spec.Site, last.Spec.RankSites)
		}
	}
	if out, err := run(t, nil, "cell", "mpirun", "-n", "19", "--server", base, "--place", wasm); err == nil || !strings.Contains(out, "no 19 free cores") {
		t.Fatalf("mpirun -n 19 --place on 18 cores: %v\n%s", err, out)
	}
}

// TestDefragBringsRanksHome starts a world of two across edge and cloud;
// edge has a core free, so `cloudskin defrag` (Granny's de-fragmentation
// over the live continuum) brings the cloud rank home while the world
// runs, and its output equals a world run in one place.
func TestDefragBringsRanksHome(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	wasm := cc(t, dir, "../../cell/testdata/mpimove.c", "--migratable")
	want, err := exec.Command(binary, "cell", "mpirun", "-n", "2", wasm, "120", "30").Output()
	if err != nil {
		t.Fatal(err)
	}
	world := exec.Command(binary, "cell", "mpirun", "-n", "2", "--server", base, "--sites", "edge,cloud", wasm, "120", "30")
	var got bytes.Buffer
	world.Stdout = &got
	if err := world.Start(); err != nil {
		t.Fatal(err)
	}
	var name string
	for deadline := time.Now().Add(10 * time.Second); name == ""; time.Sleep(20 * time.Millisecond) {
		var list struct{ Items []v1alpha1.CellRun }
		getJSON(t, base+"/api/v1/cells", &list)
		if len(list.Items) == 1 {
			if rs, ok := list.Items[0].Status.RankStatus(1); ok && rs.Phase == v1alpha1.RankMoved {
				name = list.Items[0].Metadata.Name
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("rank 1 never ran at cloud")
		}
	}
	out, err := run(t, nil, "defrag", "--server", base)
	if err != nil || !strings.Contains(out, "moving rank 1 of "+name+": cloud → edge (defragment:") {
		t.Fatalf("defrag: %v\n%s", err, out)
	}
	if err := world.Wait(); err != nil || got.String() != string(want) {
		t.Fatalf("world: %v\n%s\nwant\n%s", err, got.String(), want)
	}
	var after v1alpha1.CellRun
	getJSON(t, base+"/api/v1/cells/"+name, &after)
	if rs, _ := after.Status.RankStatus(1); rs.Phase != v1alpha1.RankReturned {
		t.Fatalf("rank 1 after defrag: %+v", after.Status.Ranks)
	}
	if out, err := run(t, nil, "defrag", "--server", base); err != nil || !strings.Contains(out, "nothing to gather") {
		t.Fatalf("defrag with nothing spread: %v\n%s", err, out)
	}
}

// TestElasticCellGetsIdleCores: a cell run with --elastic at an idle site
// is granted more than one core at its parallel phases
// (cloudskin_parallelism), at most twice its ranks, as Granny's elastic
// rule has it; without --elastic, one. Run here, the same rule uses this
// machine's cores.
func TestElasticCellGetsIdleCores(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	wasm := cc(t, dir, "../../cell/testdata/parallel.c")
	phases := func(n int) string {
		return fmt.Sprintf("phase 0: %d cores\nphase 1: %d cores\nphase 2: %d cores\n", n, n, n)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--server", base, "--site", "cloud", "--elastic"}, 2},
		{[]string{"--server", base, "--site", "cloud"}, 1},
		{[]string{"--elastic"}, min(runtime.NumCPU(), 2)},
	} {
		out, err := run(t, nil, slices.Concat([]string{"cell", "run"}, tc.args, []string{wasm})...)
		if err != nil || out != phases(tc.want) {
			t.Fatalf("cell run %v: %v\n%s\nwant\n%s", tc.args, err, out, phases(tc.want))
		}
	}
}

// TestCellMigratesBetweenSitesWhileItRuns starts a migratable cell at the
// edge site of `up`, moves it to cloud while it runs, and checks that its
// output and exit status equal a run that never moved.
func TestCellMigratesBetweenSitesWhileItRuns(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	m := startMovingCell(t, dir, base, "testdata/slow.c", 0)
	out, err := run(t, nil, "cell", "migrate", "--server", base, m.name, "--to", "cloud")
	if err != nil || !strings.Contains(out, "migrated "+m.name+" from edge to cloud") {
		t.Fatalf("cell migrate: %v\n%s", err, out)
	}
	after := m.wait(t)
	if after.Status.Site != "cloud" || len(after.Status.Migrations) != 1 || after.Status.Migrations[0].From != "edge" {
		t.Fatalf("status after the move: %+v", after.Status)
	}
	t.Logf("moved at host call %d: downtime %s, %d bytes", after.Status.Migrations[0].HostCall, after.Status.Migrations[0].Downtime, after.Status.Migrations[0].Bytes)
	table, err := run(t, nil, "get", "cells", "--server", base, "-o", "wide")
	if err != nil || !strings.Contains(table, m.name) || !strings.Contains(table, "   1   ") || !strings.Contains(table, "cloud") {
		t.Fatalf("get cells -o wide: %v\n%s", err, table)
	}
}

// startUp starts `up` on a loopback port with its data in a temporary
// directory, and returns the directory and the control plane's URL.
func startUp(t *testing.T) (dir, base string) {
	t.Helper()
	dir = t.TempDir()
	_, base = start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	return dir, base
}

// cc builds src into dir with cell cc and flags, and returns the module's
// path.
func cc(t *testing.T, dir, src string, flags ...string) string {
	t.Helper()
	wasm := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c")+".wasm")
	if out, err := run(t, nil, slices.Concat([]string{"cell", "cc"}, flags, []string{src, "-o", wasm})...); err != nil {
		t.Fatalf("cell cc %s: %v\n%s", src, err, out)
	}
	return wasm
}

// movingCell is a migratable cell running at the edge site of an `up`,
// started with `cell run --site edge`, and what a run that never moves gives.
type movingCell struct {
	base, name   string
	remote       *exec.Cmd
	remoteOut    bytes.Buffer
	straight     string
	straightCode int
}

// startMovingCell builds src migratable, runs it locally for reference,
// then at edge, and waits until edge runs it. ranks > 0 runs it as an MPI
// world of that many ranks (cell mpirun).
func startMovingCell(t *testing.T, dir, base, src string, ranks int, args ...string) *movingCell {
	t.Helper()
	wasm := filepath.Join(dir, "moving.wasm")
	if out, err := run(t, nil, "cell", "cc", "--migratable", src, "-o", wasm); err != nil {
		t.Fatalf("cell cc: %v\n%s", err, out)
	}
	command := []string{"cell", "run"}
	if ranks > 0 {
		command = []string{"cell", "mpirun", "-n", strconv.Itoa(ranks)}
	}
	m := &movingCell{base: base}
	straight, err := exec.Command(binary, slices.Concat(command, []string{wasm}, args)...).Output()
	m.straight, m.straightCode = string(straight), exitCode(err)
	m.remote = exec.Command(binary, slices.Concat(command, []string{"--server", base, "--site", "edge", wasm}, args)...)
	m.remote.Stdout = &m.remoteOut
	if err := m.remote.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); m.name == ""; time.Sleep(20 * time.Millisecond) {
		var list struct{ Items []v1alpha1.CellRun }
		getJSON(t, base+"/api/v1/cells", &list)
		if len(list.Items) == 1 && list.Items[0].Status.Phase == v1alpha1.CellRunning {
			m.name = list.Items[0].Metadata.Name
		}
		if time.Now().After(deadline) {
			t.Fatal("the cell never ran at edge")
		}
	}
	return m
}

// wait waits for the cell and checks it ended as the run that never moved.
func (m *movingCell) wait(t *testing.T) v1alpha1.CellRun {
	t.Helper()
	err := m.remote.Wait()
	if m.remoteOut.String() != m.straight || exitCode(err) != m.straightCode {
		t.Fatalf("exit %d, output\n%s\nwant exit %d, output\n%s", exitCode(err), m.remoteOut.String(), m.straightCode, m.straight)
	}
	var after v1alpha1.CellRun
	getJSON(t, m.base+"/api/v1/cells/"+m.name, &after)
	return after
}

// TestMPIWorldMigratesBetweenSitesWhileItRuns moves a running MPI world of
// three ranks from edge to cloud: all ranks stop at one collective, their
// snapshots (with messages in flight between them) travel together, and
// the world's output equals a world that never moved.
func TestMPIWorldMigratesBetweenSitesWhileItRuns(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	m := startMovingCell(t, dir, base, "../../cell/testdata/mpimove.c", 3, "30", "30")
	// Let it get some way (30 steps of 30 ms) so that its heap moves too;
	// the outcome does not depend on how far it got.
	time.Sleep(300 * time.Millisecond)
	out, err := run(t, nil, "cell", "migrate", "--server", base, m.name, "--to", "cloud")
	if err != nil || !strings.Contains(out, "migrated "+m.name+" from edge to cloud at a world collective (3 ranks)") {
		t.Fatalf("cell migrate: %v\n%s", err, out)
	}
	after := m.wait(t)
	if after.Status.Site != "cloud" || len(after.Status.Migrations) != 1 || after.Status.Migrations[0].Ranks != 3 {
		t.Fatalf("status after the move: %+v", after.Status)
	}
	t.Logf("world moved: downtime %s, %d bytes", after.Status.Migrations[0].Downtime, after.Status.Migrations[0].Bytes)
}

// TestMPIRankMigratesWhileTheOthersRun moves one rank of a running MPI
// world of three from edge to cloud and back: cloud's agent fetches it
// from edge's over TCP and later sends it home, the two other ranks never
// stop, and the world's output (rank 0, the one that prints, moves) equals
// a world that never moved.
func TestMPIRankMigratesWhileTheOthersRun(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	// 150 steps of 30 ms: time for two moves even on a loaded machine.
	m := startMovingCell(t, dir, base, "../../cell/testdata/mpimove.c", 3, "150", "30")
	time.Sleep(300 * time.Millisecond)
	out, err := run(t, nil, "cell", "migrate", "--server", base, m.name, "--rank", "0", "--to", "cloud")
	if err != nil || !strings.Contains(out, "migrated rank 0 of "+m.name+" from edge to cloud at host call") {
		t.Fatalf("cell migrate --rank: %v\n%s", err, out)
	}
	// A rank away cannot move elsewhere, nor its world as a whole.
	if out, err := run(t, nil, "cell", "migrate", "--server", base, m.name, "--to", "cloud"); err == nil {
		t.Fatalf("a world with a rank away moved whole: %s", out)
	}
	time.Sleep(300 * time.Millisecond)
	out, err = run(t, nil, "cell", "migrate", "--server", base, m.name, "--rank", "0", "--to", "edge")
	if err != nil || !strings.Contains(out, "brought rank 0 of "+m.name+" back from cloud to edge at host call") {
		t.Fatalf("cell migrate --rank back home: %v\n%s", err, out)
	}
	after := m.wait(t)
	rs, ok := after.Status.RankStatus(0)
	if after.Status.Site != "edge" || !ok || rs.Phase != v1alpha1.RankReturned || rs.Site != "edge" || rs.Token != "" {
		t.Fatalf("status after the rank came back: %+v", after.Status)
	}
	moves := after.Status.Migrations
	if len(moves) != 2 || moves[0].Rank == nil || *moves[0].Rank != 0 || moves[0].Bytes == 0 || moves[1].From != "cloud" || moves[1].To != "edge" || moves[1].Bytes == 0 {
		t.Fatalf("migrations: %+v", moves)
	}
	t.Logf("rank moved: downtime %s, %d bytes; came back with %d bytes", moves[0].Downtime, moves[0].Bytes, moves[1].Bytes)
}

func TestGrannySimulateAndTrace(t *testing.T) {
	t.Parallel()
	out, err := run(t, nil, "granny", "simulate", "--hosts", "20", "--jobs", "200")
	if err != nil || strings.Count(out, "\n") != 5 || !strings.Contains(out, "all but spot-evacuation") {
		t.Fatalf("granny simulate: %v\n%s", err, out)
	}
	trace := filepath.Join(t.TempDir(), "jobs.csv")
	out, err = run(t, nil, "granny", "trace", "--jobs", "50", "--seed", "3")
	if err != nil || strings.Count(out, "\n") != 51 {
		t.Fatalf("granny trace: %v\n%s", err, out)
	}
	os.WriteFile(trace, []byte(out), 0o644)
	if out, err := run(t, nil, "granny", "simulate", "--hosts", "10", "--trace", trace); err != nil || !strings.Contains(out, "all but defragment") {
		t.Fatalf("granny simulate --trace: %v\n%s", err, out)
	}
	os.WriteFile(trace, []byte("arrival,ranks,duration,memory_mib,elastic\n1,two,3,4,false\n"), 0o644)
	if out, err := run(t, nil, "granny", "simulate", "--trace", trace); err == nil || !strings.Contains(out, "line 2") {
		t.Fatalf("granny simulate of a bad trace: %v\n%s", err, out)
	}
}

// TestFailedMoveLeavesTheCellRunningAtItsSource breaks the hand-over (the
// control plane cannot store snapshots) and checks that the cell is not
// lost: it goes on at its source and ends as if it had never been asked to
// move.
func TestFailedMoveLeavesTheCellRunningAtItsSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o700)
	os.WriteFile(filepath.Join(data, "snapshots"), []byte("not a directory"), 0o600)
	up, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", data)
	m := startMovingCell(t, dir, base, "testdata/slow.c", 0)
	out, err := run(t, nil, "cell", "migrate", "--server", base, m.name, "--to", "cloud")
	if err == nil || !strings.Contains(out, "before it moved") {
		t.Fatalf("cell migrate with a broken hand-over: %v\n%s", err, out)
	}
	after := m.wait(t)
	if after.Status.Site != "edge" || len(after.Status.Migrations) != 0 || !after.Status.Phase.Done() {
		t.Fatalf("status after a failed move: %+v", after.Status)
	}
	if !strings.Contains(up.output(), "migration failed; the cell continues here") {
		t.Fatalf("the hand-over never failed, so nothing was tested:\n%s", up.output())
	}
}

// TestCellResumesFromItsCheckpointWhenItsSiteIsLost runs a migratable
// cell, checkpointed every 150 ms, at a site served by a separate agent
// process, kills that agent with SIGKILL (no notice), and checks that the
// control plane resumes the cell at another site from its last checkpoint:
// its output and exit status equal a run that was never interrupted, once.
func TestCellResumesFromItsCheckpointWhenItsSiteIsLost(t *testing.T) {
	t.Parallel()
	resumeAfterSiteLoss(t, siteLoss{})
}

// siteLoss adapts the recovery scenario of resumeAfterSiteLoss: more of
// the Continuum's spec (YAML lines under spec:), up's environment, what to
// wait for once the spot site is ready, and checks of the run when spot
// is killed and once it has resumed (nil: none).
type siteLoss struct {
	spec            string
	env             []string
	ready           func(t *testing.T, up *process)
	killed, resumed func(t *testing.T, run v1alpha1.CellRun)
}

// resumeAfterSiteLoss runs the scenario of
// TestCellResumesFromItsCheckpointWhenItsSiteIsLost with sl's changes.
func resumeAfterSiteLoss(t *testing.T, sl siteLoss) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "continuum.yaml")
	// Fast heartbeats, so that the lost site is noticed in about a second.
	yaml := "apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: t\nspec:\n  heartbeat:\n    interval: 200ms\n    notReadyAfter: 1s\n" + sl.spec
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	up, base := startWith(t, sl.env, "up", "-f", conf, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	spot := exec.Command(binary, "agent", "--server", base, "--name", "spot", "--interval", "200ms", "--listen", "127.0.0.1:0")
	spot.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "spot-cache"))
	if err := spot.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spot.Process.Kill(); spot.Wait() })
	waitSites(t, base, 10*time.Second, func(s map[string]v1alpha1.Site) bool { return s["spot"].Status.Phase == v1alpha1.SiteReady })
	if sl.ready != nil {
		sl.ready(t, up)
	}

	wasm := filepath.Join(dir, "slow.wasm")
	if out, err := run(t, nil, "cell", "cc", "--migratable", "testdata/slow.c", "-o", wasm); err != nil {
		t.Fatalf("cell cc: %v\n%s", err, out)
	}
	straight, err := exec.Command(binary, "cell", "run", wasm).Output()
	straightCode := exitCode(err)
	remote := exec.Command(binary, "cell", "run", "--server", base, "--site", "spot", "--checkpoint-every", "150ms", wasm)
	var remoteOut bytes.Buffer
	remote.Stdout = &remoteOut
	if err := remote.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill the site's agent once the cell has a checkpoint.
	var name string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var list struct{ Items []v1alpha1.CellRun }
		getJSON(t, base+"/api/v1/cells", &list)
		if len(list.Items) == 1 && list.Items[0].Status.Checkpoint != nil {
			name = list.Items[0].Metadata.Name
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cell never checkpointed at spot")
		}
	}
	if err := spot.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if sl.killed != nil {
		var killed v1alpha1.CellRun
		getJSON(t, base+"/api/v1/cells/"+name, &killed)
		sl.killed(t, killed)
	}
	err = remote.Wait()
	if remoteOut.String() != string(straight) || exitCode(err) != straightCode {
		t.Fatalf("exit %d, output\n%s\nwant exit %d, output\n%s", exitCode(err), remoteOut.String(), straightCode, straight)
	}
	var after v1alpha1.CellRun
	getJSON(t, base+"/api/v1/cells/"+name, &after)
	ms := after.Status.Migrations
	if len(ms) != 1 || !ms[0].Recovered || ms[0].From != "spot" || after.Status.Attempt != 1 || after.Status.Site == "spot" {
		t.Fatalf("status after recovery: %+v", after.Status)
	}
	if sl.resumed != nil {
		sl.resumed(t, after)
	}
	t.Logf("resumed at %s from the checkpoint at host call %d, %s after it (work redone since)", after.Status.Site, ms[0].HostCall, ms[0].Downtime)
}

// TestNDVICompositeMatchesTheGoReferenceAndMoves runs the maximum-value
// NDVI composite of a four-date series (the Landsat crop and three
// synthetic scenes of its size) as a world of 3 cells, checks it bit for
// bit against the per-pixel maximum of the Go reference NDVI, and checks
// that a world stopped between dates and resumed writes the same file.
func TestNDVICompositeMatchesTheGoReferenceAndMoves(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	landsat := "../../cell/raster/testdata/landsat8-016037/"
	steps := [][]string{
		{"raster", "from-tiff", landsat + "B4.TIF", filepath.Join(data, "red0.csr")},
		{"raster", "from-tiff", landsat + "B5.TIF", filepath.Join(data, "nir0.csr")},
		{"cell", "cc", "-O3", "--migratable", "../../examples/ndvi/ndvi-composite.c", "-o", filepath.Join(dir, "composite.wasm")},
	}
	series := []string{"/data/red0.csr", "/data/nir0.csr"}
	for i := 1; i <= 3; i++ {
		red, nir := fmt.Sprintf("red%d.csr", i), fmt.Sprintf("nir%d.csr", i)
		steps = append(steps, []string{"raster", "generate", "255", "259", strconv.Itoa(i), filepath.Join(data, red), filepath.Join(data, nir)})
		series = append(series, "/data/"+red, "/data/"+nir)
	}
	for _, args := range steps {
		if out, err := run(t, nil, args...); err != nil {
			t.Fatalf("cloudskin %v: %v\n%s", args, err, out)
		}
	}
	// The reference: the maximum over dates of raster.NDVI, pixel by pixel.
	var want *raster.Raster
	for i := 0; i <= 3; i++ {
		red, err := raster.ReadFile(filepath.Join(data, fmt.Sprintf("red%d.csr", i)))
		if err != nil {
			t.Fatal(err)
		}
		nir, err := raster.ReadFile(filepath.Join(data, fmt.Sprintf("nir%d.csr", i)))
		if err != nil {
			t.Fatal(err)
		}
		ndvi, err := raster.NDVI(red, nir)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = ndvi
			continue
		}
		for p, v := range ndvi.F32 {
			if v > want.F32[p] {
				want.F32[p] = v
			}
		}
	}
	mpirun := func(out string, extra ...string) string {
		args := slices.Concat([]string{"cell", "mpirun", "-n", "3", "--dir", data + ":/data"}, extra,
			[]string{filepath.Join(dir, "composite.wasm"), "/data/" + out}, series)
		text, err := run(t, nil, args...)
		if err != nil {
			t.Fatalf("cloudskin %v: %v\n%s", args, err, text)
		}
		return text
	}
	mpirun("straight.csr")
	// Collectives per date: Bcast and two Scatterv; stop at the second date's Bcast.
	mpirun("moved.csr", "--snapshot-at", "4", "--snapshot-out", filepath.Join(dir, "world.snap"))
	if out, err := run(t, nil, "cell", "resume", filepath.Join(dir, "world.snap")); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	for _, name := range []string{"straight.csr", "moved.csr"} {
		got, err := raster.ReadFile(filepath.Join(data, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := raster.Diff(got, want); err != nil {
			t.Errorf("%s differs from the Go reference: %v", name, err)
		}
	}
}

// TestDrainMovesCellsOffASite drains the site a cell runs at: the planner
// sends it to the other site, where it finishes as if it never moved.
func TestDrainMovesCellsOffASite(t *testing.T) {
	t.Parallel()
	dir, base := startUp(t)
	m := startMovingCell(t, dir, base, "testdata/slow.c", 0)
	out, err := run(t, nil, "drain", "--server", base, "edge", "--deadline", "30s")
	if err != nil || !strings.Contains(out, "moving "+m.name+": edge → cloud (spot-evacuation: ") {
		t.Fatalf("drain: %v\n%s", err, out)
	}
	after := m.wait(t)
	if after.Status.Site != "cloud" || len(after.Status.Migrations) != 1 {
		t.Fatalf("status after the drain: %+v", after.Status)
	}
	if out, err := run(t, nil, "drain", "--server", base, "edge", "--deadline", "0s"); err == nil {
		t.Fatalf("a drain without a deadline was accepted:\n%s", out)
	}
}

// TestMigrationSurvivesItsDestinationDying moves a running cell from edge
// to a site served by a separate agent process, kills that agent with
// SIGKILL as soon as it has taken the cell, and checks that the cell is
// neither lost nor run twice: the control plane resumes it at another
// site from the snapshot it was handed over with, and its output and exit
// status equal a run that never moved.
func TestMigrationSurvivesItsDestinationDying(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "continuum.yaml")
	if err := os.WriteFile(conf, []byte("apiVersion: cloudskin.io/v1alpha1\nkind: Continuum\nmetadata:\n  name: t\nspec:\n  heartbeat:\n    interval: 200ms\n    notReadyAfter: 1s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base := start(t, "up", "-f", conf, "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	dest := exec.Command(binary, "agent", "--server", base, "--name", "spot", "--interval", "200ms", "--listen", "127.0.0.1:0")
	dest.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "spot-cache"))
	if err := dest.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dest.Process.Kill(); dest.Wait() })
	waitSites(t, base, 10*time.Second, func(s map[string]v1alpha1.Site) bool { return s["spot"].Status.Phase == v1alpha1.SiteReady })

	m := startMovingCell(t, dir, base, "testdata/slow.c", 0)
	if out, err := run(t, nil, "cell", "migrate", "--server", base, m.name, "--to", "spot"); err != nil {
		t.Fatalf("cell migrate: %v\n%s", err, out)
	}
	// The migrate command returns once spot took the cell: kill spot now.
	if err := dest.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	after := m.wait(t)
	ms := after.Status.Migrations
	if len(ms) != 2 || ms[0].To != "spot" || !ms[1].Recovered || ms[1].From != "spot" || after.Status.Site == "spot" || after.Status.Attempt != 1 {
		t.Fatalf("status after the destination died: %+v", after.Status)
	}
	t.Logf("moved edge→spot, spot killed, resumed at %s from the hand-over snapshot", after.Status.Site)
}
