package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestFederatedTrainingAcrossTwoSites runs the aggregator in `up` and two
// site trainers as separate processes, each with its own hourly series,
// for two rounds: each round closes when both sites have sent theirs.
func TestFederatedTrainingAcrossTwoSites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	srv := []string{"--server", base}
	if out, err := run(t, nil, append([]string{"lp", "federated", "create", "traffic", "--season", "24", "--hidden", "8", "--seed", "1"}, srv...)...); err != nil ||
		!strings.Contains(out, "federated model traffic created: season 24") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	series := func(name string, level float64) string {
		var b strings.Builder
		b.WriteString("v\n")
		for i := range 24 * 20 {
			fmt.Fprintf(&b, "%.3f\n", level*(1+0.5*math.Sin(2*math.Pi*float64(i)/24)))
		}
		p := filepath.Join(dir, name+".csv")
		os.WriteFile(p, []byte(b.String()), 0o644)
		return p
	}
	files := map[string]string{"edge-a": series("a", 100), "edge-b": series("b", 7)}
	var wg sync.WaitGroup
	outs := map[string]string{}
	var mu sync.Mutex
	for site, file := range files {
		wg.Go(func() {
			out, err := run(t, nil, append([]string{"lp", "federated", "train", "traffic", "--site", site, "--input", file,
				"--time-column", "-", "--step", "1h", "--season", "24", "--rounds", "2", "--epochs", "2"}, srv...)...)
			if err != nil {
				t.Errorf("train at %s: %v\n%s", site, err, out)
			}
			mu.Lock()
			outs[site] = out
			mu.Unlock()
		})
	}
	wg.Wait()
	for site, out := range outs {
		if !strings.Contains(out, "round 0: sent") || !strings.Contains(out, "round 1: sent") || !strings.Contains(out, "trained on 480 local samples") {
			t.Errorf("%s took no part in two rounds:\n%s", site, out)
		}
	}
	out, err := run(t, nil, append([]string{"lp", "federated", "ls"}, srv...)...)
	if err != nil || !regexp.MustCompile(`traffic\s+2\s+edge-a,edge-b\s+960\s+24`).MatchString(out) {
		t.Fatalf("lp federated ls after two rounds of two sites: %v\n%s", err, out)
	}
}

// TestPrewarmPoolAcrossTwoSites: two sites, each too quiet for the hybrid
// policy alone, report their idle-time histograms from per-minute count
// files as separate processes; pooled at the control plane, the decision
// becomes histogram-based, and `stats` shows both sites.
func TestPrewarmPoolAcrossTwoSites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	srv := []string{"--server", base}
	counts := func(name string, every int) string {
		var b strings.Builder
		b.WriteString("count\n")
		for m := range 3*every + 1 {
			n := 0
			if m%every == 0 {
				n = 2
			}
			fmt.Fprintf(&b, "%d\n", n)
		}
		p := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	report := func(site, file string) string {
		t.Helper()
		out, err := run(t, nil, append([]string{"lp", "federated", "prewarm", "report", "thumbnailer", "--site", site, "--input", file, "--time-column", "-"}, srv...)...)
		if err != nil {
			t.Fatalf("report from %s: %v\n%s", site, err, out)
		}
		return out
	}
	// Four invocations, three idle times of 30 (or 32) minutes each.
	first := report("edge-a", counts("a", 30))
	if !strings.Contains(first, "sent 3 idle times in 240 one-minute bins") || !strings.Contains(first, "(fallback-few)") {
		t.Fatalf("one site alone should fall back for too few idle times:\n%s", first)
	}
	second := report("edge-b", counts("b", 32))
	if !strings.Contains(second, "6 idle times from 2 site(s)") || !strings.Contains(second, "(histogram)") {
		t.Fatalf("two sites pooled should decide from the histogram:\n%s", second)
	}
	out, err := run(t, nil, append([]string{"lp", "federated", "prewarm", "stats"}, srv...)...)
	if err != nil || !regexp.MustCompile(`thumbnailer\s+2\s+6\s+240m`).MatchString(out) {
		t.Fatalf("stats: %v\n%s", err, out)
	}
	out, err = run(t, nil, append([]string{"lp", "federated", "prewarm", "stats", "thumbnailer"}, srv...)...)
	if err != nil || !strings.Contains(out, "edge-a") || !strings.Contains(out, "edge-b") {
		t.Fatalf("stats thumbnailer: %v\n%s", err, out)
	}
	hourly := filepath.Join(dir, "hourly.csv")
	os.WriteFile(hourly, []byte("time,count\n2026-01-01T00:00:00Z,1\n2026-01-01T01:00:00Z,0\n2026-01-01T02:00:00Z,1\n"), 0o644)
	if out, err := run(t, nil, append([]string{"lp", "federated", "prewarm", "report", "thumbnailer", "--site", "edge-c", "--input", hourly}, srv...)...); err == nil || !strings.Contains(out, "one row per minute") {
		t.Fatalf("hourly rows were accepted: %v\n%s", err, out)
	}
}
