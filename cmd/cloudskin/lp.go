package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/learning/backtest"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/plot"
	"github.com/cloudskin/cloudskin/learning/prewarm"
	"github.com/cloudskin/cloudskin/learning/trace"
)

// defaultAzureTrace is where the Azure Functions sample sits when the
// command runs from the repository root, shared/ being beside it.
const defaultAzureTrace = "../shared/data/traces/azure-functions"

func newLPCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lp",
		Short: "Learning Plane: forecasts, back-tests, the model registry, agents, scaling and pre-warming",
	}
	prewarmCmd := &cobra.Command{
		Use:   "prewarm",
		Short: "Keep-alive and pre-warming policies for serverless cold starts",
	}
	prewarmCmd.AddCommand(newLPPrewarmSimulateCommand())
	cmd.AddCommand(newLPForecastCommand(), newLPBacktestCommand(), prewarmCmd)
	cmd.AddCommand(newLPScaleCommand(), newLPTrainCommand(g), newLPModelsCommand(g), newLPAgentsCommand(g), newLPFederatedCommand(g))
	return cmd
}

// seriesFlags are the flags that say how to read a series and plan a
// back-test on it, shared by forecast, backtest and train.
type seriesFlags struct {
	input              string
	column, timeColumn string
	spacing            time.Duration
	season, horizon    int
	originStep         int
	origins            int
	metric             string
}

func (f *seriesFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.input, "input", "", "the trace: a CSV (header row) or Parquet file; or give it as the argument")
	fl.StringVar(&f.column, "column", "", "value column (default: the last column that is not the time column)")
	fl.StringVar(&f.timeColumn, "time-column", "", `time column (default: "ds", "time", "timestamp", "date" or "datetime" if present; "-" for none)`)
	fl.DurationVar(&f.spacing, "step", time.Minute, "spacing of the rows when the file has no time column")
	fl.IntVar(&f.season, "season", 0, "season length in steps (default: detected from the data among the cycles its spacing suggests: an hour or a day of minutes, a day or a week of hours, a week or a year of days, a year of months)")
	fl.IntVar(&f.horizon, "horizon", 0, "steps to forecast (default: one season, or 10 without one)")
	fl.IntVar(&f.originStep, "origin-step", 0, "back-test: steps between origins (default: the horizon)")
	fl.IntVar(&f.origins, "origins", 10, "back-test: number of forecast origins, the last one ending with the data")
	fl.StringVar(&f.metric, "metric", "mase", "back-test metric that decides promotion: mae, smape or mase")
}

// path is the trace's path: --input, or the one argument.
func (f *seriesFlags) path(args []string) (string, error) {
	switch {
	case f.input != "" && len(args) > 0:
		return "", fmt.Errorf("give the trace once: --input %s or the argument %s", f.input, args[0])
	case f.input != "":
		return f.input, nil
	case len(args) == 1:
		return args[0], nil
	}
	return "", errors.New("give the trace: --input FILE (CSV or Parquet)")
}

// load reads the series and settles season and horizon.
func (f *seriesFlags) load(path string, stderr io.Writer) (trace.Series, error) {
	s, err := trace.ReadSeriesFile(path, trace.SeriesOptions{Column: f.column, TimeColumn: f.timeColumn})
	if err != nil {
		return s, err
	}
	if f.season == 0 {
		spacing, from := f.spacing, "--step"
		if len(s.Times) > 2 {
			spacing, from = medianSpacing(s.Times), "the time column"
		}
		season, why, err := trace.DetectSeason(s.Values, spacing)
		if err != nil {
			return s, fmt.Errorf("%s: %w (--season)", path, err)
		}
		f.season = season
		fmt.Fprintf(stderr, "season %d: %s (spacing %s from %s; set --season to override)\n", season, why, spacing, from)
	}
	if f.season < 1 {
		return s, fmt.Errorf("--season must be at least 1, got %d", f.season)
	}
	if f.horizon == 0 {
		f.horizon = f.season
		if f.season == 1 {
			f.horizon = 10
		}
	}
	if f.horizon < 1 {
		return s, fmt.Errorf("--horizon must be at least 1, got %d", f.horizon)
	}
	if f.originStep == 0 {
		f.originStep = f.horizon
	}
	return s, nil
}

// medianSpacing is the median step between consecutive times; months
// count as 30 days.
func medianSpacing(times []time.Time) time.Duration {
	steps := make([]time.Duration, 0, len(times)-1)
	for i := 1; i < len(times); i++ {
		steps = append(steps, times[i].Sub(times[i-1]))
	}
	slices.Sort(steps)
	d := steps[len(steps)/2]
	if d >= 28*24*time.Hour && d <= 31*24*time.Hour {
		d = 30 * 24 * time.Hour
	}
	return d
}

func (f *seriesFlags) plan(n int) (backtest.Config, error) {
	return backtest.LastOrigins(n, f.season, f.horizon, f.originStep, f.origins, backtest.MinTrain(f.season))
}

// forecastOutput is the JSON form of 'lp forecast -o json'.
type forecastOutput struct {
	Model    string             `json:"model"`
	Season   int                `json:"season"`
	Params   map[string]float64 `json:"params"`
	Forecast []float64          `json:"forecast"`
	// Lower and Upper bound the 95 % prediction interval.
	Lower    []float64       `json:"lower"`
	Upper    []float64       `json:"upper"`
	Times    []time.Time     `json:"times,omitempty"`
	Backtest *backtest.Score `json:"backtest,omitempty"`
	Origins  int             `json:"origins,omitempty"`
}

func newLPForecastCommand() *cobra.Command {
	var sf seriesFlags
	var model, output, plotPath string
	var withBacktest bool
	cmd := &cobra.Command{
		Use:   "forecast --input FILE [flags]",
		Short: "Fit a model on a CSV or Parquet series and forecast the steps after it",
		Long: `Fit a forecasting model on one numeric column of a CSV file (header row
required) or a Parquet file and print the forecast with its 95 % prediction
interval (from the model's in-sample one-step errors, widening with the
square root of the step). Models: seasonal-naive, holt-winters
(additive seasonality), holt-winters-mul (multiplicative), or auto, which
back-tests each (simplest first) and keeps a model only if it beats the one
before it. A model that cannot be fitted (too little history for two
seasons, values ≤ 0 for multiplicative) falls back to the next simpler one,
and says so on stderr.`,
		Example: `  cloudskin lp forecast --input ../shared/data/traces/example_wp_log_peyton_manning.csv --model holt-winters --horizon 14
  cloudskin lp forecast --input ../shared/data/traces/example_retail_sales.csv --model auto --backtest --plot retail.png
  cloudskin lp forecast --input load.csv --column rps --time-column - --step 1m --model auto -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if output != "table" && output != "json" {
				return fmt.Errorf("-o must be table or json, got %q", output)
			}
			path, err := sf.path(args)
			if err != nil {
				return err
			}
			s, err := sf.load(path, stderr)
			if err != nil {
				return err
			}
			kind := model
			var score *backtest.Score
			origins := 0
			if model == "auto" || withBacktest {
				kinds := []string{model}
				if model == "auto" {
					kinds = forecast.AutoKinds()
				}
				sel, err := selectModel(s.Values, &sf, kinds, stderr)
				switch {
				case err == nil:
					best := sel.Results[sel.Best]
					kind, score, origins = best.Model, &best.Mean, len(best.Origins)
				case model == "auto" && !withBacktest:
					// Too little history to judge models: take the richest
					// one that can be fitted, and say so.
					fmt.Fprintf(stderr, "auto: cannot back-test (%v); trying models from the richest down\n", err)
					kind = forecast.KindHoltWintersMul
				default:
					return err
				}
			}
			m, err := fitWithFallback(kind, sf.season, s.Values, stderr)
			if err != nil {
				return err
			}
			pred, err := m.Predict(sf.horizon)
			if err != nil {
				return err
			}
			lower, upper, err := forecast.Interval(m, s.Values, pred, forecast.Z95)
			if err != nil {
				fmt.Fprintf(stderr, "no prediction interval: %v\n", err)
			}
			out := forecastOutput{Model: m.Name(), Season: sf.season, Params: m.Params(), Forecast: pred, Lower: lower, Upper: upper,
				Times: futureTimes(s.Times, sf.horizon), Backtest: score, Origins: origins}
			if plotPath != "" {
				if err := writeForecastPlot(plotPath, path, m, s, out); err != nil {
					return err
				}
			}
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			printForecast(stdout, out)
			return nil
		},
	}
	sf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&model, "model", forecast.KindHoltWinters, "model: "+strings.Join(forecast.Kinds(), ", ")+" or auto")
	fl.BoolVar(&withBacktest, "backtest", false, "also back-test the model with rolling origins and print MAE, sMAPE and MASE")
	fl.StringVarP(&output, "output", "o", "table", "output: table or json")
	fl.StringVar(&plotPath, "plot", "", "draw the recent history, the forecast and its interval to this file (.png or .svg)")
	return cmd
}

// selectModel back-tests kinds on y and reports what it skipped and chose.
func selectModel(y []float64, sf *seriesFlags, kinds []string, stderr io.Writer) (backtest.Selection, error) {
	metric, err := backtest.ParseMetric(sf.metric)
	if err != nil {
		return backtest.Selection{}, err
	}
	cfg, err := sf.plan(len(y))
	if err != nil {
		return backtest.Selection{}, err
	}
	sel, err := backtest.Select(y, cfg, kinds, metric)
	for _, skip := range sel.Skipped {
		fmt.Fprintf(stderr, "back-test skipped %v\n", skip)
	}
	if err != nil {
		return sel, err
	}
	for _, d := range sel.Decisions {
		fmt.Fprintf(stderr, "back-test: %s\n", d.Reason)
	}
	return sel, nil
}

// fallbacks is the chain from a model to the next simpler one.
var fallbacks = map[string]string{
	forecast.KindHoltWintersMul: forecast.KindHoltWinters,
	forecast.KindHoltWinters:    forecast.KindSeasonalNaive,
}

// fitWithFallback fits kind on y; if it cannot, it tries the next simpler
// kind and says so.
func fitWithFallback(kind string, season int, y []float64, stderr io.Writer) (forecast.Model, error) {
	for {
		m, err := forecast.New(kind, season)
		if err != nil {
			return nil, err
		}
		err = m.Fit(y)
		if err == nil {
			return m, nil
		}
		next, ok := fallbacks[kind]
		if !ok || !(errors.Is(err, forecast.ErrTooShort) || errors.Is(err, forecast.ErrBadValue)) {
			return nil, err
		}
		fmt.Fprintf(stderr, "%v; falling back to %s\n", err, next)
		kind = next
	}
}

// futureTimes extends a time column by h steps of its last spacing, or nil.
func futureTimes(times []time.Time, h int) []time.Time {
	if len(times) < 2 {
		return nil
	}
	last := times[len(times)-1]
	out := make([]time.Time, h)
	for k := range out {
		if d := last.Sub(times[len(times)-2]); d >= 28*24*time.Hour && d <= 31*24*time.Hour {
			out[k] = last.AddDate(0, k+1, 0) // calendar months
		} else {
			out[k] = last.Add(time.Duration(k+1) * d)
		}
	}
	return out
}

func printForecast(w io.Writer, out forecastOutput) {
	fmt.Fprintf(w, "model %s, season %d:", out.Model, out.Season)
	for _, name := range forecast.SortedParamNames(out.Params) {
		fmt.Fprintf(w, " %s=%.4g", name, out.Params[name])
	}
	fmt.Fprintln(w)
	if out.Backtest != nil {
		fmt.Fprintf(w, "back-test over %d origins: MAE %.4g  sMAPE %.2f%%  MASE %.3f\n", out.Origins, out.Backtest.MAE, out.Backtest.SMAPE, out.Backtest.MASE)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "STEP\t"
	if out.Times != nil {
		header += "TIME\t"
	}
	header += "FORECAST"
	if out.Lower != nil {
		header += "\tLOWER 95%\tUPPER 95%"
	}
	fmt.Fprintln(tw, header)
	for k, v := range out.Forecast {
		fmt.Fprintf(tw, "%d\t", k+1)
		if out.Times != nil {
			fmt.Fprintf(tw, "%s\t", formatTime(out.Times[k]))
		}
		fmt.Fprintf(tw, "%.6g", v)
		if out.Lower != nil {
			fmt.Fprintf(tw, "\t%.6g\t%.6g", out.Lower[k], out.Upper[k])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func formatTime(t time.Time) string {
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format(time.RFC3339)
}

// writeForecastPlot draws the last few seasons of history and the forecast,
// as SVG or PNG by the file extension.
func writeForecastPlot(path, source string, m forecast.Model, s trace.Series, out forecastOutput) error {
	y, pred, season := s.Values, out.Forecast, out.Season
	format, err := plot.FormatOf(path)
	if err != nil {
		return err
	}
	keep := min(len(y), max(5*season, 4*len(pred), 60))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s: %s, %d steps", filepath.Base(source), m.Name(), len(pred))
	chart := plot.Chart{Title: title, History: y[len(y)-keep:], Forecast: pred, Lower: out.Lower, Upper: out.Upper}
	if len(s.Times) == len(y) && out.Times != nil {
		chart.Times = append(slices.Clone(s.Times[len(y)-keep:]), out.Times...)
	}
	if err := plot.WriteForecast(f, chart, format); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func newLPBacktestCommand() *cobra.Command {
	var sf seriesFlags
	var models string
	cmd := &cobra.Command{
		Use:   "backtest --input FILE [flags]",
		Short: "Back-test models on a CSV or Parquet series with rolling origins and print MAE, sMAPE and MASE",
		Long: `Back-test each model with an expanding training window: from each origin
the model, fitted only on the values before it, forecasts --horizon steps,
scored against what happened. The last origin forecasts the end of the
data; origins are --origin-step apart. Models are tried in the order given; each
replaces the one kept so far only if it beats it by --metric.`,
		Example: `  cloudskin lp backtest --input ../shared/data/traces/example_retail_sales.csv --season 12 --horizon 12
  cloudskin lp backtest --input FILE.csv --models seasonal-naive,holt-winters,gru --season 7 --horizon 14 --origins 20 --origin-step 28`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := sf.path(args)
			if err != nil {
				return err
			}
			s, err := sf.load(path, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			sel, err := selectModel(s.Values, &sf, strings.Split(models, ","), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg := sel.Results[0].Config
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d values, season %d, horizon %d, %d origins %d apart, first training window %d\n",
				len(s.Values), cfg.Season, cfg.Horizon, len(sel.Results[0].Origins), cfg.Step, cfg.MinTrain)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tMAE\tSMAPE %\tMASE\t")
			for i, r := range sel.Results {
				mark := ""
				if i == sel.Best {
					mark = "selected"
				}
				fmt.Fprintf(tw, "%s\t%.4g\t%.2f\t%.3f\t%s\n", r.Model, r.Mean.MAE, r.Mean.SMAPE, r.Mean.MASE, mark)
			}
			return tw.Flush()
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&models, "models", strings.Join(forecast.AutoKinds(), ","), "comma-separated models to back-test, simplest first (also: gru, the recurrent network, slower)")
	return cmd
}

func newLPPrewarmSimulateCommand() *cobra.Command {
	var policies, by, output string
	var warmup int
	cmd := &cobra.Command{
		Use:   "simulate [TRACE_DIR]",
		Short: "Replay the Azure Functions trace through keep-alive and pre-warming policies",
		Long: `Replay per-minute invocation counts (the Azure Functions 2019 layout: an
invocations_per_function_md*.csv and a memory_per_function*.csv in
TRACE_DIR, default ` + defaultAzureTrace + `) through each policy and print,
per policy, the cold-start percentage of each function (or app) summarised
as the 75th percentile and the mean across them, and the memory kept loaded
without an invocation (GB-minutes, from each function's memory).

Policies: fixed-N (keep alive N minutes after each invocation), hybrid (the
hybrid histogram policy of Shahrad et al., ATC'20) and lsth (INFless's
long-short-term histograms). An invoked minute is cold if no instance is
loaded in it; --warmup minutes at the start train the policies unscored.`,
		Example: `  cloudskin lp prewarm simulate ../shared/data/traces/azure-functions
  cloudskin lp prewarm simulate --policy hybrid,fixed-10 --warmup 240 --by app
  cloudskin lp prewarm simulate -o json > prewarm.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := defaultAzureTrace
			if len(args) == 1 {
				dir = args[0]
			}
			ps, err := prewarm.ParsePolicies(strings.Split(policies, ","))
			if err != nil {
				return err
			}
			if warmup < 0 {
				return fmt.Errorf("--warmup must be ≥ 0, got %d", warmup)
			}
			az, err := trace.ReadAzureDir(dir)
			if err != nil {
				return err
			}
			switch by {
			case "function":
			case "app":
				az = az.ByApp()
			default:
				return fmt.Errorf("--by must be function or app, got %q", by)
			}
			results := prewarm.Compare(az, ps, prewarm.Options{Warmup: warmup})
			w := cmd.OutOrStdout()
			switch output {
			case "json":
				for i := range results {
					results[i].Apps = nil // the summary; per-app rows are thousands of lines
				}
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(results)
			case "table":
			default:
				return fmt.Errorf("-o must be table or json, got %q", output)
			}
			fmt.Fprintf(w, "%d %ss invoked in minutes %d–%d of the trace, scored from minute %d\n", len(results[0].Apps), by, az.FirstMinute, az.FirstMinute+az.Minutes-1, az.FirstMinute+warmup)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POLICY\tCOLD-START % P75\tCOLD-START % MEAN\tCOLD / INVOKED MINUTES\tWASTED GB-MIN\tDECISIONS")
			for _, r := range results {
				fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%d / %d\t%.0f\t%s\n", r.Policy, r.ColdStartP75, r.ColdStartMean, r.ColdStarts, r.InvokedMinutes, r.WastedGBMinutes, formatModes(r.Modes))
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&policies, "policy", "fixed-10,fixed-20,hybrid,lsth", "comma-separated policies: fixed-N, hybrid, lsth")
	fl.StringVar(&by, "by", "function", "unit kept warm: function, or app (the functions of an app share an instance)")
	fl.IntVar(&warmup, "warmup", 0, "minutes at the start that train the policies but are not scored")
	fl.StringVarP(&output, "output", "o", "table", "output: table or json")
	return cmd
}

func formatModes(modes map[prewarm.Mode]int) string {
	var parts []string
	for _, m := range []prewarm.Mode{prewarm.ModeFixed, prewarm.ModeHistogram, prewarm.ModeShortTerm, prewarm.ModeLongOnly, prewarm.ModeFewIdleTimes, prewarm.ModeLowCV, prewarm.ModeOutOfBounds} {
		if n := modes[m]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", m, n))
		}
	}
	return strings.Join(parts, ", ")
}
