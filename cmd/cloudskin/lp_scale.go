package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cloudskin/cloudskin/learning/autoscale"
	"github.com/cloudskin/cloudskin/learning/plot"
	"github.com/cloudskin/cloudskin/learning/trace"
)

func newLPScaleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Replica autoscaling policies: the Kubernetes HPA rule, KEDA, predictive",
	}
	cmd.AddCommand(newLPScaleSimulateCommand(), newLPScaleTradeoffCommand())
	return cmd
}

// scaleFlags are the flags of 'lp scale simulate'.
type scaleFlags struct {
	sf                 seriesFlags // --column, --time-column, --season (rows)
	input, generate    string
	seed               uint64
	step, interval     time.Duration
	capacity           float64
	startup, warmup    time.Duration
	minR, maxR, initR  int
	slo, mean          float64
	policies           string
	resolution         time.Duration
	historySeasons     int
	minHistory         int
	refitEvery         int
	headroom, target   float64
	predTarget         float64
	burstTarget        float64
	levelWindow        time.Duration
	errorQuantile      float64
	tolerance          float64
	earlyScaleDown     bool
	scaleDown          time.Duration
	plotPath, output   string
	plotFrom, plotSpan time.Duration
}

// scaleOutput is the JSON form of 'lp scale simulate -o json'.
type scaleOutput struct {
	Trace           string              `json:"trace"`
	Source          string              `json:"source"`
	Rows            int                 `json:"rows"`
	StepSeconds     float64             `json:"stepSeconds"`
	IntervalSeconds float64             `json:"intervalSeconds"`
	Season          int                 `json:"season"`
	Service         autoscale.Service   `json:"service"`
	SLOPercent      float64             `json:"sloPercent"`
	Results         []scaleResultJSON   `json:"results"`
	Predictive      autoscalePredictive `json:"predictive"`
}

// autoscalePredictive is the predictive policies' configuration as they
// ran it, every default filled in; the model is each policy's own.
type autoscalePredictive struct {
	ResolutionSeconds         float64 `json:"resolutionSeconds"`
	Season                    int     `json:"season"`
	History                   int     `json:"history"`
	MinHistory                int     `json:"minHistory"`
	RefitEvery                int     `json:"refitEvery"`
	Headroom                  float64 `json:"headroom"`
	LevelWindowSeconds        float64 `json:"levelWindowSeconds"`
	ErrorQuantile             float64 `json:"errorQuantile"`
	TargetUtilization         float64 `json:"targetUtilization"`
	ReactiveTargetUtilization float64 `json:"reactiveTargetUtilization"`
	Tolerance                 float64 `json:"tolerance"`
	ScaleDownAfterSeconds     float64 `json:"scaleDownAfterSeconds"`
	EarlyScaleDown            bool    `json:"earlyScaleDown"`
}

type scaleResultJSON struct {
	autoscale.Result
	ViolationPercent float64 `json:"violationPercent"`
	UnservedPercent  float64 `json:"unservedPercent"`
	SLOMet           bool    `json:"sloMet"`
}

func newLPScaleSimulateCommand() *cobra.Command {
	var f scaleFlags
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Replay a load trace through autoscaling policies and compare SLO violations and cost",
		Long: `Replay a load series (requests per second, one row per --step) through each
policy at a decision interval of --interval, with a service whose replicas
each serve --capacity req/s and take --startup to become ready. A row is
held for all the decisions within its step. An interval whose demand
exceeds the ready replicas' capacity is an SLO violation; the SLO is met
when at least --slo percent of the scored intervals are not violations.
The first --warmup of the trace trains the policies and is not scored.

Policies: hpa (the Kubernetes HPA rule with its defaults), keda (the same
rule fed by a metric polled every 30 s), and predictive[:MODEL], the
Learning Plane's policy, with MODEL a learning/forecast kind; plain
"predictive" is predictive:seasonal-naive, the default model.
predictive:holt-winters is about eight times slower and is not in the
default list.

The predictive policy fits MODEL every --refit-every model steps of
--resolution on the last --history-seasons seasons of load, smooths the
model's path with a running median, and scales the path's shape by the
level: the median ratio of the load to the path over the last
--level-window. It scales up at once for the highest upper bound (that,
times 1 plus the --error-quantile of the out-of-sample deviations
measured at the fit) over the start-up delay plus one interval, at a
utilisation of --predictive-target, never below the current load; while
the load is above the bound and the ready capacity (a burst), it also
keeps the count that serves it at --burst-target, and drops it when the
load is back within the bound. A lower count waits --scale-down-after
(or, with --early-scale-down, falls as far as the forecast allows) and is
not taken while the bound is within --tolerance below the current
count's target. Until --min-history model steps have been seen it
follows the reactive rule. The flags' defaults are the library's
(learning/autoscale.PredictiveConfig), the one configuration evaluated
in docs/LEARNING.md.

Instead of --input, --generate NAME[:DAYS] replays a generated minute-level
trace: operating-room, road-camera or serverless-bursty (seeded by --seed).`,
		Example: `  cloudskin lp scale simulate --generate operating-room:14 --capacity 10 --startup 2m --plot or.png
  cloudskin lp scale simulate --input load.csv --column rps --step 1m --capacity 50 --policies hpa,predictive,predictive:holt-winters -o json
  cloudskin lp scale simulate --generate serverless-bursty --capacity 10 --level-window 20m --error-quantile 0.995`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScaleSimulate(cmd.OutOrStdout(), cmd.ErrOrStderr(), &f)
		},
	}
	fl := cmd.Flags()
	f.register(fl)
	fl.StringVar(&f.policies, "policies", "hpa,keda,predictive:seasonal-naive", "comma-separated policies: hpa, keda, predictive[:MODEL] (MODEL default seasonal-naive)")
	fl.StringVar(&f.plotPath, "plot", "", "draw load, ready capacity and replicas of every policy to this .png or .svg file")
	fl.DurationVar(&f.plotFrom, "plot-from", 0, "plot: start this far into the trace")
	fl.DurationVar(&f.plotSpan, "plot-span", 0, "plot: span drawn (default: to the end)")
	return cmd
}

// register adds the flags 'lp scale simulate' and 'lp scale tradeoff'
// share: the trace, the service and the policies' settings.
func (f *scaleFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.input, "input", "", "CSV file of the load (header row required)")
	fl.StringVar(&f.generate, "generate", "", "replay a generated trace instead: operating-room, road-camera or serverless-bursty, optionally :DAYS (default 14)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the generated trace")
	fl.StringVar(&f.sf.column, "column", "", "value column (default: the last column that is not the time column)")
	fl.StringVar(&f.sf.timeColumn, "time-column", "", `time column (default: "ds", "time", "timestamp", "date" or "datetime" if present; "-" for none)`)
	fl.IntVar(&f.sf.season, "season", 0, "season length in rows (default: a day for per-minute rows, else guessed from the time column: 24 hours, 7 days, 12 months)")
	fl.Float64Var(&f.mean, "mean", 0, "rescale the load so its mean is this many req/s, to replay traces of any unit on one service (0: as read)")
	fl.DurationVar(&f.step, "step", time.Minute, "time one row of the input stands for (a daily trace replayed with --step 1m maps each day to one minute)")
	fl.DurationVar(&f.interval, "interval", 15*time.Second, "decision interval (the HPA's sync period is 15 s); --step must be a whole number of intervals")
	fl.Float64Var(&f.capacity, "capacity", 0, "requests per second one replica serves within the SLO (required)")
	fl.DurationVar(&f.startup, "startup", 2*time.Minute, "time a new replica takes to become ready (cold start)")
	fl.IntVar(&f.minR, "min", 1, "minimum replicas")
	fl.IntVar(&f.maxR, "max", 0, "maximum replicas (0: no bound)")
	fl.IntVar(&f.initR, "initial", -1, "replicas ready at the start (default: enough for the first row)")
	f.warmup = -1
	fl.Var((*autoDuration)(&f.warmup), "warmup", "leading part of the trace that trains the policies and is not scored; auto: the history the predictive policy needs before its first fit, --min-history model steps")
	fl.Float64Var(&f.slo, "slo", 99.9, "SLO: percent of scored intervals whose demand the ready replicas must serve")
	fl.Float64Var(&f.target, "target", autoscale.DefaultTargetUtilization, "hpa, keda: target utilisation of a replica's capacity")
	fl.DurationVar(&f.scaleDown, "scale-down-after", autoscale.DefaultDownscaleWindow, "scale-down window: the HPA's stabilisation window and the predictive policy's hysteresis")
	fl.DurationVar(&f.resolution, "resolution", 0, "predictive: step of the series the model is fitted on, the load averaged over it (default: whole rows, as few as keep a season ≤ 288 steps)")
	fl.IntVar(&f.historySeasons, "history-seasons", 4, "predictive: seasons of recent history each fit uses")
	fl.IntVar(&f.minHistory, "min-history", 0, "predictive: model steps of history before the first fit; reactive until then (0: the least the model accepts, 2 seasons and a step)")
	fl.IntVar(&f.refitEvery, "refit-every", 1, "predictive: refit the model every this many model steps (--resolution); between fits the last forecast is read further ahead")
	fl.DurationVar(&f.levelWindow, "level-window", autoscale.DefaultLevelWindow, "predictive: recent load that sets the level, the median ratio of the load to the forecast, which scales the forecast's shape (the minutes the burst floor served are left out)")
	fl.Float64Var(&f.errorQuantile, "error-quantile", autoscale.DefaultErrorQuantile, "predictive: size for the forecast times 1 plus this quantile of its out-of-sample relative deviations, a normal law fitted robustly (0 or negative: size for the forecast itself)")
	fl.Float64Var(&f.predTarget, "predictive-target", autoscale.DefaultPredictiveTargetUtilization, "predictive: utilisation of a replica's capacity the upper prediction bound may use, in (0, 1]")
	fl.Float64Var(&f.burstTarget, "burst-target", autoscale.DefaultTargetUtilization, "predictive: utilisation the burst floor serves the current load at, while the load is above the bound and the ready capacity, in (0, 1]")
	fl.Float64Var(&f.headroom, "headroom", 0, "predictive: extra capacity above the bound, as a fraction (0.1 = 10 %)")
	fl.Float64Var(&f.tolerance, "tolerance", autoscale.DefaultTolerance, "predictive: keep the count while the load sized for is within this fraction below its target (0 or negative: none)")
	fl.BoolVar(&f.earlyScaleDown, "early-scale-down", false, "predictive: scale down at once as far as the bound over --startup plus --scale-down-after allows, instead of waiting --scale-down-after")
	fl.StringVarP(&f.output, "output", "o", "table", "output: table or json")
}

// scaleTrace is the load to replay, one value per row.
type scaleTrace struct {
	name, source string
	rows         []float64
	season       int // rows
}

func (f *scaleFlags) loadTrace(stderr io.Writer) (scaleTrace, error) {
	switch {
	case f.input != "" && f.generate != "":
		return scaleTrace{}, fmt.Errorf("give --input or --generate, not both")
	case f.generate != "":
		return f.generated()
	case f.input == "":
		return scaleTrace{}, fmt.Errorf("--input FILE.csv or --generate NAME is required")
	}
	s, err := trace.ReadSeriesFile(f.input, trace.SeriesOptions{Column: f.sf.column, TimeColumn: f.sf.timeColumn})
	if err != nil {
		return scaleTrace{}, err
	}
	t := scaleTrace{name: filepath.Base(f.input), source: f.input, rows: s.Values, season: f.sf.season}
	if t.season == 0 {
		season, why, err := trace.GuessSeason(s.Times)
		if err != nil {
			return t, fmt.Errorf("%s: %w (--season)", f.input, err)
		}
		if season == 60 { // per-minute rows: load's main cycle is the day
			season, why = 24*60, "daily cycle of per-minute data"
		}
		t.season = season
		fmt.Fprintf(stderr, "season %d rows (%s, guessed from the time column; set --season to override)\n", season, why)
	}
	return t, nil
}

func (f *scaleFlags) generated() (scaleTrace, error) {
	name, daysText, hasDays := strings.Cut(f.generate, ":")
	days := 14
	if hasDays {
		d, err := strconv.Atoi(daysText)
		if err != nil || d < 1 || d > 366 {
			return scaleTrace{}, fmt.Errorf("--generate %s: days must be a whole number from 1 to 366", f.generate)
		}
		days = d
	}
	var tr autoscale.Trace
	switch name {
	case "operating-room":
		tr = autoscale.OperatingRoomTrace(days, f.seed)
	case "road-camera":
		tr = autoscale.RoadCameraTrace(days, f.seed)
	case "serverless-bursty":
		tr = autoscale.ServerlessTrace(days, f.seed)
	default:
		return scaleTrace{}, fmt.Errorf("--generate %q: unknown trace (want operating-room, road-camera or serverless-bursty)", name)
	}
	f.step = tr.Interval
	season := tr.Season
	if f.sf.season > 0 {
		season = f.sf.season
	}
	return scaleTrace{name: tr.Name, source: tr.Source, rows: tr.Load, season: season}, nil
}

// setup checks the flags against the trace and builds the simulation.
type scaleSetup struct {
	load   []float64 // one value per decision interval
	svc    autoscale.Service
	hpa    autoscale.HPAConfig
	pred   autoscale.PredictiveConfig
	rowsIn int // decision intervals per row
}

func (f *scaleFlags) setup(t scaleTrace) (scaleSetup, error) {
	var s scaleSetup
	if f.output != "table" && f.output != "json" {
		return s, fmt.Errorf("-o must be table or json, got %q", f.output)
	}
	if !(f.capacity > 0) {
		return s, fmt.Errorf("--capacity must be a positive number of requests per second per replica, got %v", f.capacity)
	}
	if f.interval <= 0 || f.step <= 0 || f.step%f.interval != 0 {
		return s, fmt.Errorf("--step %s must be a positive whole number of --interval %s", f.step, f.interval)
	}
	if t.season < 1 {
		return s, fmt.Errorf("--season must be at least 1 row, got %d", t.season)
	}
	if !(f.slo > 0 && f.slo <= 100) {
		return s, fmt.Errorf("--slo must be a percentage in (0, 100], got %v", f.slo)
	}
	for i, v := range t.rows {
		if v < 0 {
			return s, fmt.Errorf("%s: row %d is %v: load must not be negative", t.name, i+1, v)
		}
	}
	if f.mean < 0 {
		return s, fmt.Errorf("--mean must not be negative, got %v", f.mean)
	}
	if f.mean > 0 {
		t.rows = rescale(t.rows, f.mean)
	}
	s.rowsIn = int(f.step / f.interval)
	s.load = autoscale.Resample(t.rows, s.rowsIn)

	// The model step: whole rows, as few as keep a season ≤ 288 steps.
	resolution := f.resolution
	if resolution == 0 {
		resolution = f.step * time.Duration((t.season+287)/288)
	}
	if resolution < f.interval || resolution%f.interval != 0 {
		return s, fmt.Errorf("--resolution %s must be a positive whole number of --interval %s", resolution, f.interval)
	}
	if err := f.checkPredictive(); err != nil {
		return s, err
	}
	modelSeason := max(int(time.Duration(t.season)*f.step/resolution), 1)
	blockSteps := int(resolution / f.interval)
	s.pred = autoscale.PredictiveConfig{
		Resolution: resolution, Season: modelSeason, History: f.historySeasons * modelSeason, MinHistory: f.minHistory,
		RefitEvery: f.refitEvery * blockSteps, StartupDelay: f.startup, Headroom: f.headroom,
		LevelWindow: f.levelWindow, ErrorQuantile: noneAtZero(f.errorQuantile),
		TargetUtilization: f.predTarget, ReactiveTargetUtilization: f.burstTarget, Tolerance: noneAtZero(f.tolerance),
		ScaleDownAfter: f.scaleDown, EarlyScaleDown: f.earlyScaleDown, MinReplicas: f.minR, MaxReplicas: f.maxR,
	}
	s.hpa = autoscale.HPAConfig{TargetUtilization: f.target, DownscaleWindow: f.scaleDown, MinReplicas: f.minR, MaxReplicas: f.maxR}

	warmup := f.warmup
	if warmup < 0 {
		warmup = time.Duration(s.pred.WithDefaults().MinHistory) * resolution
	}
	initial := f.initR
	if initial < 0 && len(s.load) > 0 {
		initial = max(int(s.load[0]/(f.capacity*f.target))+1, f.minR)
	}
	s.svc = autoscale.Service{
		Capacity: f.capacity, StartupDelay: f.startup, MinReplicas: f.minR, MaxReplicas: f.maxR,
		InitialReplicas: max(initial, 0), Warmup: int(warmup / f.interval),
	}
	if s.svc.Warmup >= len(s.load) {
		return s, fmt.Errorf("%s: the warm-up (%s) covers the whole trace (%d rows of %s); give a longer trace or a shorter --warmup", t.name, warmup, len(t.rows), f.step)
	}
	return s, s.svc.Validate()
}

// checkPredictive rejects predictive flags the library would read as "use
// the default" (a zero or negative target or window), naming the flag.
func (f *scaleFlags) checkPredictive() error {
	for _, c := range []struct {
		name string
		v    float64
	}{{"--predictive-target", f.predTarget}, {"--burst-target", f.burstTarget}} {
		if !(c.v > 0 && c.v <= 1) {
			return fmt.Errorf("%s must be a utilisation in (0, 1], got %v", c.name, c.v)
		}
	}
	if f.levelWindow <= 0 {
		return fmt.Errorf("--level-window must be positive, got %s", f.levelWindow)
	}
	if f.minHistory < 0 || f.historySeasons < 1 || f.refitEvery < 1 {
		return fmt.Errorf("--min-history (%d) must not be negative, --history-seasons (%d) and --refit-every (%d) must be at least 1", f.minHistory, f.historySeasons, f.refitEvery)
	}
	if f.headroom < 0 {
		return fmt.Errorf("--headroom must not be negative, got %v", f.headroom)
	}
	return nil
}

// noneAtZero maps a flag where 0 means none onto autoscale's convention,
// where 0 means the default and a negative value none.
func noneAtZero(v float64) float64 {
	if v <= 0 {
		return -1
	}
	return v
}

func runScaleSimulate(stdout, stderr io.Writer, f *scaleFlags) error {
	t, err := f.loadTrace(stderr)
	if err != nil {
		return err
	}
	s, err := f.setup(t)
	if err != nil {
		return err
	}
	specs := strings.Split(f.policies, ",")
	out := scaleOutput{
		Trace: t.name, Source: t.source, Rows: len(t.rows), StepSeconds: f.step.Seconds(), IntervalSeconds: f.interval.Seconds(),
		Season: t.season, Service: s.svc, SLOPercent: f.slo,
		Predictive: predictiveJSON(s.pred.WithDefaults()),
	}
	policies := make([]autoscale.Policy, len(specs))
	for i, spec := range specs {
		if policies[i], err = autoscale.ParsePolicy(spec, s.hpa, s.pred); err != nil {
			return fmt.Errorf("--policies: %w", err)
		}
	}
	results, err := autoscale.RunAll(s.load, f.interval, s.svc, policies, runtime.GOMAXPROCS(0))
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	var runs []plot.ScalingRun
	for _, r := range results {
		violation := 100 * float64(r.ViolationIntervals) / float64(max(r.Steps, 1))
		out.Results = append(out.Results, scaleResultJSON{Result: r, ViolationPercent: violation, UnservedPercent: r.UnservedPercent(), SLOMet: 100-violation >= f.slo})
		runs = append(runs, plot.ScalingRun{Name: r.Policy, ReadyCapacity: r.Series.ReadyCapacity, Replicas: r.Series.Desired})
	}
	if f.plotPath != "" {
		if err := f.writePlot(t, s, runs); err != nil {
			return err
		}
	}
	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printScale(stdout, out)
	return nil
}

// writePlot draws the --plot-from/--plot-span part of every run.
func (f *scaleFlags) writePlot(t scaleTrace, s scaleSetup, runs []plot.ScalingRun) error {
	from := min(max(int(f.plotFrom/f.interval), 0), len(s.load)-1)
	to := len(s.load)
	if f.plotSpan > 0 {
		to = min(from+int(f.plotSpan/f.interval), to)
	}
	cut := make([]plot.ScalingRun, len(runs))
	for i, r := range runs {
		cut[i] = plot.ScalingRun{Name: r.Name, ReadyCapacity: r.ReadyCapacity[from:to], Replicas: r.Replicas[from:to]}
	}
	title := fmt.Sprintf("%s: capacity %g req/s per replica, start-up %s (from %s)", t.name, f.capacity, f.startup, time.Duration(from)*f.interval)
	return plot.SaveScaling(f.plotPath, plot.Scaling{Title: title, Interval: f.interval, Load: s.load[from:to], Runs: cut})
}

func printScale(w io.Writer, out scaleOutput) {
	fmt.Fprintf(w, "trace %s (%s): %d rows of %s, decisions every %s, season %d rows\n", out.Trace, out.Source, out.Rows,
		time.Duration(out.StepSeconds*float64(time.Second)), time.Duration(out.IntervalSeconds*float64(time.Second)), out.Season)
	fmt.Fprintf(w, "service: %g req/s per replica, start-up %s, replicas %d..%d; first %s not scored; SLO %g%% of intervals served\n\n",
		out.Service.Capacity, out.Service.StartupDelay, out.Service.MinReplicas, out.Service.MaxReplicas,
		time.Duration(out.Service.Warmup)*time.Duration(out.IntervalSeconds*float64(time.Second)), out.SLOPercent)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tviolation min\tviolation %\tunserved %\treplica-hours\tscaling events\tcold starts\tSLO met\t")
	for _, r := range out.Results {
		fmt.Fprintf(tw, "%s\t%.2f\t%.3f\t%.3f\t%.1f\t%d\t%d\t%v\t\n", r.Policy, r.SLOViolationMinutes, r.ViolationPercent, r.UnservedPercent, r.ReplicaHours, r.ScalingEvents, r.ColdStarts, r.SLOMet)
	}
	tw.Flush()
}

func predictiveJSON(c autoscale.PredictiveConfig) autoscalePredictive {
	return autoscalePredictive{
		ResolutionSeconds: c.Resolution.Seconds(), Season: c.Season, History: c.History, MinHistory: c.MinHistory,
		RefitEvery: c.RefitEvery, Headroom: c.Headroom, LevelWindowSeconds: c.LevelWindow.Seconds(),
		ErrorQuantile: c.ErrorQuantile, TargetUtilization: c.TargetUtilization,
		ReactiveTargetUtilization: c.ReactiveTargetUtilization, Tolerance: c.Tolerance,
		ScaleDownAfterSeconds: c.ScaleDownAfter.Seconds(), EarlyScaleDown: c.EarlyScaleDown,
	}
}

// rescale multiplies rows so their mean is mean (rows of zeros stay zero).
func rescale(rows []float64, mean float64) []float64 {
	sum := 0.0
	for _, v := range rows {
		sum += v
	}
	if sum == 0 {
		return rows
	}
	k := mean * float64(len(rows)) / sum
	out := make([]float64, len(rows))
	for i, v := range rows {
		out[i] = v * k
	}
	return out
}

// autoDuration is a duration flag whose negative value means "auto": it
// shows as such in --help rather than as -1ns.
type autoDuration time.Duration

func (d *autoDuration) String() string {
	if *d < 0 {
		return "auto"
	}
	return time.Duration(*d).String()
}

func (d *autoDuration) Set(s string) error {
	if s == "auto" {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("%s: want a duration of at least 0, or auto", s)
	}
	*d = autoDuration(v)
	return nil
}

func (*autoDuration) Type() string { return "duration" }
