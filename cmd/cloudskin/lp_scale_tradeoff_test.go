package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/learning/autoscale"
)

func runLPScaleTradeoff(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runLPScaleCommand(t, "tradeoff", args...)
}

// The sweep replays every setting asked for, reports each one's cost and
// violation minutes as 'lp scale simulate' would, and names the best
// predictive setting within the HPA's cost.
func TestLPScaleTradeoffSweepsBothPolicies(t *testing.T) {
	csv := writeRampCSV(t, 8)
	pngPath := filepath.Join(t.TempDir(), "tradeoff.png")
	common := []string{"--input", csv, "--column", "rps", "--season", "60", "--step", "1m", "--capacity", "10", "--startup", "3m",
		"--targets", "0.6,0.8", "--quantiles", "none,0.99", "--predictive-targets", "0.9,0.7"}
	out, err := runLPScaleTradeoff(t, append(common, "-o", "json", "--plot", pngPath)...)
	if err != nil {
		t.Fatal(err)
	}
	var got tradeoffOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(got.Points) != 2+2*2 {
		t.Fatalf("%d points, want 2 hpa + 4 predictive: %+v", len(got.Points), got.Points)
	}
	// Each point is what 'lp scale simulate' reports for the same setting.
	sim, err := runLPScale(t, "--input", csv, "--column", "rps", "--season", "60", "--step", "1m", "--capacity", "10", "--startup", "3m",
		"--policies", "hpa,predictive", "--target", "0.6", "--error-quantile", "0.99", "--predictive-target", "0.7", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var simOut scaleOutput
	if err := json.Unmarshal([]byte(sim), &simOut); err != nil {
		t.Fatal(err)
	}
	want := map[string]autoscale.Result{"hpa target 0.6": simOut.Results[0].Result, "predictive:seasonal-naive quantile 0.99, target 0.7": simOut.Results[1].Result}
	seen := 0
	for _, p := range got.Points {
		if r, ok := want[p.Policy+" "+p.Setting]; ok {
			seen++
			if p.ReplicaHours != r.ReplicaHours || p.ViolationMinutes != r.SLOViolationMinutes {
				t.Errorf("%s %s: %v h, %v min; simulate says %v h, %v min", p.Policy, p.Setting, p.ReplicaHours, p.ViolationMinutes, r.ReplicaHours, r.SLOViolationMinutes)
			}
		}
		if p.Default != (p.Setting == "target 0.8" || p.Setting == "quantile 0.99, target 0.9") {
			t.Errorf("%s %s: default %v", p.Policy, p.Setting, p.Default)
		}
	}
	if seen != 2 {
		t.Fatalf("found %d of the 2 settings compared with simulate in %+v", seen, got.Points)
	}
	var hpa autoscale.TradeoffPoint
	for _, p := range got.Points {
		if p.Policy == "hpa" && p.Default {
			hpa = p
		}
	}
	// On this ramp the predictive policy keeps more replicas than the HPA
	// at target 0.8: no setting fits in its cost, and the answer says so.
	for _, p := range got.Points {
		if p.Policy != "hpa" && p.ReplicaHours <= hpa.ReplicaHours {
			t.Fatalf("the ramp no longer separates the costs: %+v within the HPA's %v h", p, hpa.ReplicaHours)
		}
	}
	if got.AtHPACost != nil {
		t.Errorf("a predictive setting within the HPA's %v h: %+v", hpa.ReplicaHours, got.AtHPACost)
	}
	if info, err := os.Stat(pngPath); err != nil || info.Size() == 0 {
		t.Errorf("plot not written: %v", err)
	}

	table, err := runLPScaleTradeoff(t, common...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"on front", "target 0.8 (default)", "quantile none, target 0.7", "no predictive setting costs at most the HPA's"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestLPScaleTradeoffRejectsBadSweeps(t *testing.T) {
	csv := writeRampCSV(t, 3)
	base := []string{"--input", csv, "--season", "60", "--capacity", "10"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--targets", "0.8,1.5"}, "--targets"},
		{[]string{"--targets", ""}, "--targets"},
		{[]string{"--quantiles", "0.9,abc"}, "--quantiles"},
		{[]string{"--quantiles", "1"}, "quantile"},
		{[]string{"--predictive-targets", "0"}, "--predictive-targets"},
		{[]string{"--model", "prophet"}, "prophet"},
	}
	for _, c := range cases {
		_, err := runLPScaleTradeoff(t, append(base, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
	}
}
