package prewarm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudskin/cloudskin/learning/trace"
)

// azureSample is the Azure Functions 2019 sample in shared/data, beside
// the repository.
const azureSample = "../../../shared/data/traces/azure-functions"

func readAzure(t testing.TB) *trace.Azure {
	if _, err := os.Stat(azureSample); err != nil {
		t.Skipf("shared data not here: %v", err)
	}
	az, err := trace.ReadAzureDir(azureSample)
	if err != nil {
		t.Fatal(err)
	}
	return az
}

// TestHybridBeatsFixedKeepAliveOnAzure replays the real sample: the hybrid
// policy must cut cold starts and wasted memory together against a fixed
// 10-minute keep-alive, per function and per application, as it did in the
// paper.
func TestHybridBeatsFixedKeepAliveOnAzure(t *testing.T) {
	az := readAzure(t)
	for _, unit := range []struct {
		name string
		az   *trace.Azure
	}{{"functions", az}, {"apps", az.ByApp()}} {
		for _, opt := range []Options{{}, {Warmup: 240}} {
			res := Compare(unit.az, []Policy{Fixed{KeepAlive: 10}, DefaultHybrid()}, opt)
			fixed, hybrid := res[0], res[1]
			t.Logf("%s, warm-up %d: fixed-10 p75 %.1f%% mean %.1f%% %.0f GB·min; hybrid p75 %.1f%% mean %.1f%% %.0f GB·min",
				unit.name, opt.Warmup, fixed.ColdStartP75, fixed.ColdStartMean, fixed.WastedGBMinutes, hybrid.ColdStartP75, hybrid.ColdStartMean, hybrid.WastedGBMinutes)
			if !(hybrid.ColdStartP75 < fixed.ColdStartP75) || !(hybrid.ColdStarts < fixed.ColdStarts) {
				t.Errorf("%s, warm-up %d: hybrid cold starts p75 %.1f%% (%d) not below fixed-10 %.1f%% (%d)", unit.name, opt.Warmup, hybrid.ColdStartP75, hybrid.ColdStarts, fixed.ColdStartP75, fixed.ColdStarts)
			}
			if !(hybrid.WastedGBMinutes < fixed.WastedGBMinutes) {
				t.Errorf("%s, warm-up %d: hybrid wastes %.0f GB·min, fixed-10 %.0f", unit.name, opt.Warmup, hybrid.WastedGBMinutes, fixed.WastedGBMinutes)
			}
		}
	}
}

// TestComparePrewarm writes bench/compare-prewarm.sh's TSV rows (benchmark,
// command, peer, ours, peer) to the file named by CLOUDSKIN_COMPARE_OUT:
// the hybrid policy against a fixed 10-minute keep-alive on the Azure
// sample, per function, first 4 hours as warm-up. One deterministic run.
func TestComparePrewarm(t *testing.T) {
	out := os.Getenv("CLOUDSKIN_COMPARE_OUT")
	if out == "" {
		t.Skip("set CLOUDSKIN_COMPARE_OUT to run the comparison (make bench)")
	}
	az := readAzure(t)
	opt := Options{Warmup: 240}
	res := Compare(az, []Policy{DefaultHybrid(), Fixed{KeepAlive: 10}}, opt)
	hybrid, fixed := res[0], res[1]
	dir, _ := filepath.Abs(azureSample)
	command := "cloudskin lp prewarm simulate --policy hybrid,fixed-10 --warmup 240 " + filepath.Base(dir)
	rows := fmt.Sprintf("Pre-warming, Azure Functions 2019 sample (%d functions, 8 h, first 4 h warm-up): cold-start %% p75 across functions\t%s\tfixed 10-minute keep-alive\t%.1f %%\t%.1f %%\n",
		len(hybrid.Apps), command, hybrid.ColdStartP75, fixed.ColdStartP75)
	rows += fmt.Sprintf("Pre-warming, Azure Functions 2019 sample (%d functions, 8 h, first 4 h warm-up): wasted memory\t%s\tfixed 10-minute keep-alive\t%.0f GB-min\t%.0f GB-min\n",
		len(hybrid.Apps), command, hybrid.WastedGBMinutes, fixed.WastedGBMinutes)
	if err := os.WriteFile(out, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkSimulateHybridAzure(b *testing.B) {
	az := readAzure(b)
	for b.Loop() {
		Simulate(az, DefaultHybrid(), Options{})
	}
}
