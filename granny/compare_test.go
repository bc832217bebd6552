package granny

import (
	"fmt"
	"os"
	"testing"
)

// TestCompareGranny writes, for `make bench` (bench/compare-granny.sh), the
// simulator's results at the scale with each moving policy on
// against off. It runs only when CLOUDSKIN_COMPARE_OUT is set.
func TestCompareGranny(t *testing.T) {
	out := os.Getenv("CLOUDSKIN_COMPARE_OUT")
	if out == "" {
		t.Skip("set CLOUDSKIN_COMPARE_OUT to run the comparison (make bench)")
	}
	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	trace := Generate(DefaultGenConfig(1, 10000))
	all, err := Simulate(Scenario(1000, 8, 0.2, trace, 1, DefaultPolicies()))
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{"defragment", "spot-evacuation"} {
		off, err := Simulate(Scenario(1000, 8, 0.2, trace, 1, without(policy)))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, "Granny simulator, 1000 hosts x 10000 jobs: mean job completion with %s (restarts %d vs %d, %.1f vs %.1f GB migrated)\t%s\t%s\t%.2f s\t%.2f s\n",
			policy, all.Restarts, off.Restarts, float64(all.BytesMigrated)/1e9, float64(off.BytesMigrated)/1e9,
			"cloudskin granny simulate --hosts 1000 --jobs 10000", "the same without "+policy, all.MeanJCT, off.MeanJCT)
	}
}
