package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeCSV writes a per-minute load with an hourly cycle, without a time
// column (so the spacing comes from --step), to a temporary file.
func writeLoadCSV(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("host,rps\n")
	for i := range n {
		fmt.Fprintf(&b, "a,%.3f\n", 100+40*math.Sin(2*math.Pi*float64(i)/60)+3*math.Sin(float64(i)*0.9))
	}
	path := filepath.Join(t.TempDir(), "load.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// runSplit runs the binary and returns stdout and stderr apart.
func runSplit(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func TestLPForecastJSONWithIntervalAndPlot(t *testing.T) {
	t.Parallel()
	csv := writeLoadCSV(t, 8*60)
	plotPath := filepath.Join(t.TempDir(), "out.png")
	stdout, stderr, err := runSplit(t, "lp", "forecast", "--input", csv, "--column", "rps", "--time-column", "-", "--step", "1m",
		"--model", "auto", "--horizon", "30", "-o", "json", "--plot", plotPath)
	if err != nil {
		t.Fatalf("lp forecast: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "season 60: a cycle of one hour detected in the data") {
		t.Errorf("the season is not detected from the data:\n%s", stderr)
	}
	var out struct {
		Model    string    `json:"model"`
		Forecast []float64 `json:"forecast"`
		Lower    []float64 `json:"lower"`
		Upper    []float64 `json:"upper"`
		Backtest *struct {
			MAE   *float64 `json:"mae"`
			SMAPE *float64 `json:"smape"`
			MASE  *float64 `json:"mase"`
		} `json:"backtest"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, stdout)
	}
	if out.Model == "" || len(out.Forecast) != 30 || len(out.Lower) != 30 || len(out.Upper) != 30 {
		t.Fatalf("model %q, %d forecasts, %d lower, %d upper; want 30 each", out.Model, len(out.Forecast), len(out.Lower), len(out.Upper))
	}
	for k := range out.Forecast {
		truth := 100 + 40*math.Sin(2*math.Pi*float64(8*60+k)/60)
		if !(out.Lower[k] < out.Forecast[k] && out.Forecast[k] < out.Upper[k]) || math.Abs(out.Forecast[k]-truth) > 10 {
			t.Fatalf("step %d: %v in [%v, %v], the cycle is at %.1f", k+1, out.Forecast[k], out.Lower[k], out.Upper[k], truth)
		}
	}
	if b := out.Backtest; b == nil || b.MAE == nil || b.SMAPE == nil || b.MASE == nil || *b.MASE <= 0 || *b.MASE > 1 {
		t.Fatalf("backtest %+v: want mae, smape and a MASE below the seasonal naive's 1", b)
	}
	png, err := os.ReadFile(plotPath)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("--plot wrote no PNG: %v", err)
	}
}

func TestLPForecastBadInputSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	short := filepath.Join(dir, "short.csv")
	os.WriteFile(short, []byte("v\n1\n2\n3\n4\n5\n6\n7\n8\n"), 0o644)
	words := filepath.Join(dir, "words.csv")
	os.WriteFile(words, []byte("ds,v\n2026-01-01,1\n2026-01-02,lots\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", writeLoadCSV(t, 100), "--column", "latency"}, `"latency"`},
		{[]string{"--input", words}, `row 3, column "v"`},
		{[]string{"--input", filepath.Join(dir, "missing.csv")}, "missing.csv"},
		{[]string{"--input", short, "--season", "7", "--model", "holt-winters-mul"}, "falling back to seasonal-naive"},
		{[]string{}, "give the trace"},
	} {
		stdout, stderr, err := runSplit(t, append([]string{"lp", "forecast"}, c.args...)...)
		if !strings.Contains(stderr, c.want) {
			t.Errorf("lp forecast %v: err %v, stderr does not say %q:\n%s%s", c.args, err, c.want, stderr, stdout)
		}
	}
}
