package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/learning/autoscale"
)

// writeRampCSV writes cycles of an hour of per-minute load: 20 req/s, and
// 100 req/s from minute 40 to 49, a ramp the reactive rule meets late.
func writeRampCSV(t *testing.T, cycles int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("time,rps\n")
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	for i := range cycles * 60 {
		v := 20.0
		if m := i % 60; m >= 40 && m < 50 {
			v = 100
		}
		fmt.Fprintf(&b, "%s,%g\n", start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), v)
	}
	path := filepath.Join(t.TempDir(), "ramp.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runLPScale(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runLPScaleCommand(t, "simulate", args...)
}

// runLPScaleCommand runs 'lp scale SUB args' and returns what it printed
// on stdout.
func runLPScaleCommand(t *testing.T, sub string, args ...string) (string, error) {
	t.Helper()
	cmd := newLPScaleCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{sub}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestLPScaleSimulateComparesPoliciesOnACSV(t *testing.T) {
	csv := writeRampCSV(t, 8)
	pngPath := filepath.Join(t.TempDir(), "sim.png")
	common := []string{"--input", csv, "--column", "rps", "--season", "60", "--step", "1m", "--capacity", "10", "--startup", "3m",
		"--policies", "hpa,keda,predictive:seasonal-naive"}

	out, err := runLPScale(t, append(common, "-o", "json", "--plot", pngPath)...)
	if err != nil {
		t.Fatal(err)
	}
	var got scaleOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Rows != 480 || got.IntervalSeconds != 15 || got.Season != 60 || len(got.Results) != 3 {
		t.Fatalf("rows %d interval %v season %d results %d; want 480, 15, 60, 3", got.Rows, got.IntervalSeconds, got.Season, len(got.Results))
	}
	byName := map[string]scaleResultJSON{}
	for _, r := range got.Results {
		byName[r.Policy] = r
	}
	hpa, pred := byName["hpa"], byName["predictive:seasonal-naive"]
	if hpa.SLOViolationMinutes == 0 || !(pred.SLOViolationMinutes < hpa.SLOViolationMinutes) {
		t.Errorf("violation minutes: hpa %v, predictive %v; want the predictive policy strictly lower on a repeating ramp", hpa.SLOViolationMinutes, pred.SLOViolationMinutes)
	}
	if hpa.SLOMet || hpa.ReplicaHours <= 0 || hpa.ColdStarts == 0 {
		t.Errorf("hpa result %+v: want a missed SLO, a cost and cold starts", hpa.Result)
	}
	if p := got.Predictive; p.TargetUtilization != autoscale.DefaultPredictiveTargetUtilization || p.ErrorQuantile != autoscale.DefaultErrorQuantile || p.Tolerance != autoscale.DefaultTolerance || p.EarlyScaleDown ||
		p.LevelWindowSeconds != autoscale.DefaultLevelWindow.Seconds() || p.ReactiveTargetUtilization != autoscale.DefaultTargetUtilization {
		t.Errorf("predictive configuration reported %+v, want the policy's defaults", p)
	}
	if info, err := os.Stat(pngPath); err != nil || info.Size() == 0 {
		t.Errorf("plot not written: %v", err)
	}

	table, err := runLPScale(t, common...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"violation min", "replica-hours", "cold starts", "predictive:seasonal-naive", "keda", fmt.Sprintf("%.2f", hpa.SLOViolationMinutes)} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestLPScaleSimulateRejectsBadFlags(t *testing.T) {
	csv := writeRampCSV(t, 3)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--input", csv, "--season", "60"}, "--capacity"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--step", "20s"}, "--step"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--policies", "hpa,vpa"}, "vpa"},
		{[]string{"--input", csv, "--season", "600", "--capacity", "10"}, "warm-up"},
		{[]string{"--capacity", "10"}, "--input"},
		{[]string{"--generate", "moon", "--capacity", "10"}, "moon"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "-o", "yaml"}, "-o"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--error-quantile", "1.5"}, "error quantile"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--predictive-target", "0"}, "--predictive-target"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--burst-target", "1.2"}, "--burst-target"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--level-window", "0s"}, "--level-window"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--min-history", "-3"}, "--min-history"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--headroom", "-0.1"}, "--headroom"},
		{[]string{"--input", csv, "--season", "60", "--capacity", "10", "--refit-every", "0"}, "--refit-every"},
	}
	for _, c := range cases {
		_, err := runLPScale(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.args, err, c.want)
		}
	}
}

// The predictive flags default to learning/autoscale's own defaults, and
// the policies list defaults to the reactive rules and the default model.
func TestLPScaleSimulateFlagsDefaultToThePolicysDefaults(t *testing.T) {
	cmd := newLPScaleSimulateCommand()
	lib := autoscale.PredictiveConfig{Season: 1}.WithDefaults()
	fl := cmd.Flags()
	for name, want := range map[string]string{
		"level-window":      lib.LevelWindow.String(),
		"error-quantile":    fmt.Sprint(lib.ErrorQuantile),
		"predictive-target": fmt.Sprint(lib.TargetUtilization),
		"burst-target":      fmt.Sprint(lib.ReactiveTargetUtilization),
		"tolerance":         fmt.Sprint(lib.Tolerance),
		"scale-down-after":  lib.ScaleDownAfter.String(),
		"headroom":          fmt.Sprint(lib.Headroom),
		"history-seasons":   fmt.Sprint(lib.History / lib.Season),
		"policies":          "hpa,keda,predictive:" + lib.Model,
	} {
		f := fl.Lookup(name)
		if f == nil {
			t.Errorf("no --%s flag", name)
			continue
		}
		if f.DefValue != want {
			t.Errorf("--%s defaults to %s, the policy's default is %s", name, f.DefValue, want)
		}
	}
	if !strings.Contains(cmd.Long, `"predictive" is predictive:`+lib.Model) {
		t.Errorf("the help does not name the default model %s:\n%s", lib.Model, cmd.Long)
	}
}

// Every predictive flag reaches the policy: the JSON reports the
// configuration as it ran, and --min-history moves the default warm-up.
func TestLPScaleSimulatePassesThePredictiveFlags(t *testing.T) {
	csv := writeRampCSV(t, 8)
	out, err := runLPScale(t, "--input", csv, "--column", "rps", "--season", "60", "--step", "1m", "--capacity", "10",
		"--policies", "hpa,predictive", "--level-window", "20m", "--error-quantile", "0", "--predictive-target", "0.85",
		"--burst-target", "0.7", "--tolerance", "0", "--min-history", "150", "--history-seasons", "3", "--headroom", "0.05",
		"--scale-down-after", "2m", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got scaleOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := autoscalePredictive{
		ResolutionSeconds: 60, Season: 60, History: 180, MinHistory: 150, RefitEvery: 4, Headroom: 0.05,
		LevelWindowSeconds: 1200, ErrorQuantile: 0, TargetUtilization: 0.85, ReactiveTargetUtilization: 0.7,
		Tolerance: 0, ScaleDownAfterSeconds: 120,
	}
	if got.Predictive != want {
		t.Errorf("predictive configuration %+v, want %+v (an error quantile and tolerance of 0 mean none)", got.Predictive, want)
	}
	if got.Service.Warmup != 150*4 {
		t.Errorf("warm-up %d intervals, want the 150 minutes of --min-history (600)", got.Service.Warmup)
	}
	if len(got.Results) != 2 || got.Results[1].Policy != "predictive:seasonal-naive" {
		t.Errorf("results %+v: want hpa and predictive:seasonal-naive", got.Results)
	}
}
