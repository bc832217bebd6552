package forecast_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cloudskin/cloudskin/learning/backtest"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/trace"
)

// TestRNNBacktestPageViews back-tests the network on a real series (daily
// log page views, weekly season) next to Holt-Winters and seasonal naive.
// It reports the MASEs and asserts only that the network's is finite and
// below 2.5: on real data no model is promised to win. Measured on these
// four origins: seasonal naive 1.39, Holt-Winters 1.40, the network 1.46
// (with six origins a year apart: 1.46, 1.67 and 2.02, the network's
// recursive two-week forecast drifting through January spikes); the bound
// catches a fit that diverged (NaN or runaway forecasts).
func TestRNNBacktestPageViews(t *testing.T) {
	file := filepath.Join("..", "..", "..", "shared", "data", "traces", "example_wp_log_peyton_manning.csv")
	if _, err := os.Stat(file); err != nil {
		t.Skipf("shared data not here: %v", err)
	}
	s, err := trace.ReadSeriesFile(file, trace.SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Two weeks ahead from four origins 78 weeks apart, the first after two years.
	cfg := backtest.Config{Horizon: 14, Step: 546, MinTrain: 730, Season: 7}
	network := func() (forecast.Model, error) {
		return forecast.NewRNN(forecast.RNNConfig{Season: 7, Epochs: 20})
	}
	res, err := backtest.Run(s.Values, cfg, network)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{forecast.KindSeasonalNaive, forecast.KindHoltWinters} {
		other, err := backtest.Run(s.Values, cfg, backtest.Kind(kind, 7))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-15s MASE %.3f  MAE %.3f", kind, other.Mean.MASE, other.Mean.MAE)
	}
	t.Logf("%-15s MASE %.3f  MAE %.3f (%d origins)", res.Model, res.Mean.MASE, res.Mean.MAE, len(res.Origins))
	if !(res.Mean.MASE < 2.5) {
		t.Errorf("network MASE %v, want finite and below 2.5", res.Mean.MASE)
	}
}
