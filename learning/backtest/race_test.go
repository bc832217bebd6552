//go:build race

package backtest

// raceEnabled: the race detector slows the back-tests of every model on
// every real series about fivefold (4 minutes), so under it
// TestBacktestRealSeries checks its assertion alone.
const raceEnabled = true
