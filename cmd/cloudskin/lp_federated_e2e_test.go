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
	outs := trainAtSites(t, files, func(site, file string) []string {
		return append([]string{"lp", "federated", "train", "traffic", "--site", site, "--input", file,
			"--time-column", "-", "--step", "1h", "--season", "24", "--rounds", "2", "--epochs", "2"}, srv...)
	})
	for site, out := range outs {
		if !strings.Contains(out, "round 0: sent") || !strings.Contains(out, "round 1: sent") || !strings.Contains(out, "trained on 480 local samples") {
			t.Errorf("%s took no part in two rounds:\n%s", site, out)
		}
	}
	out, err := run(t, nil, append([]string{"lp", "federated", "ls"}, srv...)...)
	if err != nil || !regexp.MustCompile(`traffic\s+gru\s+2\s+edge-a,edge-b\s+960\s+24\s+\d+`).MatchString(out) {
		t.Fatalf("lp federated ls after two rounds of two sites: %v\n%s", err, out)
	}
}

// TestFederatedHoltWintersAcrossTwoSites runs the aggregator in `up` and
// two sites with different daily shapes as separate processes: each fits
// Holt-Winters on its own hourly file and sends the state; the round
// closes when both have, and each prints its back-test of the merged
// parameters against its own fit. Then one site's lone update is merged
// on demand.
func TestFederatedHoltWintersAcrossTwoSites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	srv := []string{"--server", base}
	lp := func(args ...string) (string, error) {
		t.Helper()
		return run(t, nil, append(append([]string{"lp", "federated"}, args...), srv...)...)
	}
	if out, err := lp("create", "daily", "--kind", "holt-winters", "--season", "24"); err != nil || !strings.Contains(out, "federated model daily created: holt-winters, season 24") {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if out, err := lp("create", "other", "--kind", "holt-winters", "--season", "24", "--hidden", "8"); err == nil || !strings.Contains(out, "--hidden is a setting of gru models") {
		t.Fatalf("create with a network setting: %v\n%s", err, out)
	}
	// A morning peak over 100, an evening one over 30.
	series := func(name string, days int, level, peak, peakHour float64) string {
		var b strings.Builder
		b.WriteString("requests\n")
		for i := range 24 * days {
			d := math.Abs(float64(i%24) - peakHour)
			d = math.Min(d, 24-d)
			fmt.Fprintf(&b, "%.3f\n", level+peak*math.Exp(-d*d/18)+0.05*level*math.Sin(float64(i)*1.7))
		}
		p := filepath.Join(dir, name+".csv")
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := map[string]string{"edge-a": series("a", 20, 100, 60, 9), "edge-b": series("b", 14, 30, 25, 20)}
	samples := map[string]string{"edge-a": "480", "edge-b": "336"}
	outs := trainAtSites(t, files, func(site, file string) []string {
		return append([]string{"lp", "federated", "train", "daily", "--kind", "holt-winters", "--site", site, "--input", file,
			"--time-column", "-", "--step", "1h", "--wait", "2m"}, srv...)
	})
	decision := regexp.MustCompile(`forecast with the (global parameters over this site's series|local fit) \(`)
	for site, out := range outs {
		for _, want := range []string{
			"round 0: sent the holt-winters state fitted on " + samples[site] + " local samples",
			"back-test on " + site + "'s " + samples[site] + " values against round 1's merged model (2 sites, 816 samples): 10 origins, horizon 24",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("%s's output lacks %q:\n%s", site, want, out)
			}
		}
		if !regexp.MustCompile(`local fit\s+[0-9.e-]+\s+[0-9.e-]+\s+[0-9.e-]+\s+[0-9.e+-]+`).MatchString(out) ||
			!regexp.MustCompile(`global parameters\s+[0-9.e-]+\s+[0-9.e-]+\s+[0-9.e-]+\s+[0-9.e+-]+`).MatchString(out) || !decision.MatchString(out) {
			t.Errorf("%s printed no comparison:\n%s", site, out)
		}
	}
	out, err := lp("ls")
	if err != nil || !regexp.MustCompile(`daily\s+holt-winters\s+1\s+edge-a,edge-b\s+816\s+24\s+29`).MatchString(out) {
		t.Fatalf("lp federated ls after one round of two sites: %v\n%s", err, out)
	}

	if out, err := lp("train", "daily", "--kind", "gru", "--site", "edge-a", "--input", files["edge-a"], "--time-column", "-"); err == nil || !strings.Contains(out, "is a holt-winters model, not gru") {
		t.Fatalf("train with the wrong kind: %v\n%s", err, out)
	}
	if out, err := lp("train", "daily", "--site", "edge-a", "--input", files["edge-a"], "--time-column", "-", "--wait", "0"); err != nil ||
		!strings.Contains(out, "round 1: sent") || !strings.Contains(out, "1 site(s) in") || strings.Contains(out, "back-test") {
		t.Fatalf("train without waiting: %v\n%s", err, out)
	}
	if out, err := lp("aggregate", "daily"); err != nil || !strings.Contains(out, "global round now 2") {
		t.Fatalf("aggregate: %v\n%s", err, out)
	}
	if out, err := lp("aggregate", "daily"); err == nil || !strings.Contains(out, "no updates for round 2") {
		t.Fatalf("aggregate with nothing pending: %v\n%s", err, out)
	}
	if out, err := lp("ls"); err != nil || !regexp.MustCompile(`daily\s+holt-winters\s+2\s+edge-a\s+480\s+24`).MatchString(out) {
		t.Fatalf("lp federated ls after an on-demand round: %v\n%s", err, out)
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

// trainAtSites runs 'lp federated train' at every site of files (site →
// its series) at once, with the arguments args gives, and returns each
// site's output.
func trainAtSites(t *testing.T, files map[string]string, args func(site, file string) []string) map[string]string {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	outs := map[string]string{}
	for site, file := range files {
		wg.Go(func() {
			out, err := run(t, nil, args(site, file)...)
			if err != nil {
				t.Errorf("train at %s: %v\n%s", site, err, out)
			}
			mu.Lock()
			outs[site] = out
			mu.Unlock()
		})
	}
	wg.Wait()
	return outs
}
