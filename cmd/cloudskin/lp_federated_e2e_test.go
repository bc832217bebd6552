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
