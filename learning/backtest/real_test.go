package backtest

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/trace"
)

// sharedTraces is shared/data/traces beside the repository.
const sharedTraces = "../../../shared/data/traces"

// retailSales names the series TestBacktestRealSeries asserts on.
const retailSales = "retail-sales (monthly)"

// realSeries is one real series of shared/data with the back-test plan used
// on it: season, horizon and origins chosen for the series' sampling.
type realSeries struct {
	name   string
	values []float64
	cfg    Config
}

func loadRealSeries(t testing.TB) []realSeries {
	if _, err := os.Stat(sharedTraces); err != nil {
		t.Skipf("shared data not here: %v", err)
	}
	read := func(file string) []float64 {
		s, err := trace.ReadSeriesFile(filepath.Join(sharedTraces, file), trace.SeriesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s.Values
	}
	out := []realSeries{
		// Daily, weekly season; origins every half year after two years.
		{"peyton-manning (daily log views)", read("example_wp_log_peyton_manning.csv"), Config{Horizon: 14, Step: 182, MinTrain: 730, Season: 7}},
		// Monthly, yearly season; a year ahead from each of the last 13 years.
		{retailSales, read("example_retail_sales.csv"), Config{Horizon: 12, Step: 12, MinTrain: 120, Season: 12}},
		// Daily with the 2020 regime change inside the evaluated span.
		{"pedestrians-covid (daily)", read("example_pedestrians_covid.csv"), Config{Horizon: 14, Step: 56, MinTrain: 365, Season: 7}},
	}
	az, err := trace.ReadAzureDir(filepath.Join(sharedTraces, "azure-functions"))
	if err != nil {
		t.Fatal(err)
	}
	// Per-minute counts over 8 hours: an hourly season (timer triggers), half
	// an hour ahead, origins every half hour after four hours.
	perMinute := Config{Horizon: 30, Step: 30, MinTrain: 240, Season: 60}
	out = append(out, realSeries{"azure all functions (per minute)", az.Total(), perMinute})
	busy := slices.Clone(az.Functions)
	slices.SortStableFunc(busy, func(a, b trace.Function) int { return cmp.Compare(b.Invocations(), a.Invocations()) })
	for i, f := range busy[:3] {
		y := make([]float64, len(f.Counts))
		for m, c := range f.Counts {
			y[m] = float64(c)
		}
		out = append(out, realSeries{fmt.Sprintf("azure busy #%d %s %.8s (per minute)", i+1, f.Trigger, f.Hash), y, perMinute})
	}
	return out
}

// TestBacktestRealSeries back-tests every model on the real series and logs
// the table docs/rationale/learning.md quotes (go test -v -run
// TestBacktestRealSeries ./learning/backtest). It asserts what the series
// makes plain: Holt-Winters, which models trend and season, beats seasonal
// naive on the series with a steady trend (retail sales).
func TestBacktestRealSeries(t *testing.T) {
	series := loadRealSeries(t)
	if raceEnabled {
		t.Log("race detector on: only the series the assertion reads (go test without -race logs the whole table)")
		series = slices.DeleteFunc(series, func(s realSeries) bool { return s.name != retailSales })
	}
	var table strings.Builder
	table.WriteString("| series | model | origins | MAE | sMAPE % | MASE |\n|---|---|---|---|---|---|\n")
	mase := map[string]map[string]float64{}
	for _, s := range series {
		mase[s.name] = map[string]float64{}
		for _, kind := range forecast.Kinds() {
			res, err := Run(s.values, s.cfg, Kind(kind, s.cfg.Season))
			if err != nil {
				fmt.Fprintf(&table, "| %s | %s | – | fails: %v | | |\n", s.name, kind, err)
				continue
			}
			mase[s.name][kind] = res.Mean.MASE
			fmt.Fprintf(&table, "| %s | %s | %d | %.4g | %.2f | %.3f |\n", s.name, kind, len(res.Origins), res.Mean.MAE, res.Mean.SMAPE, res.Mean.MASE)
		}
	}
	t.Logf("h, step, first window, season per series: see loadRealSeries\n%s", table.String())
	const retail = retailSales
	for _, kind := range []string{forecast.KindHoltWinters, forecast.KindHoltWintersMul} {
		if hw, sn := mase[retail][kind], mase[retail][forecast.KindSeasonalNaive]; !(hw < 0.8*sn) {
			t.Errorf("%s: %s MASE %.3f not clearly below seasonal naive %.3f", retail, kind, hw, sn)
		}
	}
}
