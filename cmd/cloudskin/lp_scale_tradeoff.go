package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/learning/autoscale"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/plot"
)

// tradeoffFlags are 'lp scale tradeoff”s own flags.
type tradeoffFlags struct {
	scale       scaleFlags
	model       string
	targets     string
	quantiles   string
	predTargets string
	plotPath    string
}

// tradeoffOutput is the JSON form of 'lp scale tradeoff -o json'.
type tradeoffOutput struct {
	Trace   string                    `json:"trace"`
	Source  string                    `json:"source"`
	Service autoscale.Service         `json:"service"`
	Points  []autoscale.TradeoffPoint `json:"points"`
	// HPA is the HPA at --target, the reference, if the sweep has it.
	HPA *autoscale.TradeoffPoint `json:"hpa,omitempty"`
	// AtHPACost is the predictive setting with the fewest violation
	// minutes within the replica-hours of the HPA at --target, if any.
	AtHPACost *autoscale.TradeoffPoint `json:"atHPACost,omitempty"`
}

func newLPScaleTradeoffCommand() *cobra.Command {
	var f tradeoffFlags
	cmd := &cobra.Command{
		Use:   "tradeoff",
		Short: "Sweep the HPA's target and the predictive policy's error quantile on a trace: violation minutes against replica-hours",
		Long: `Replay a trace, as 'lp scale simulate' does, through the HPA rule at each
of --targets and through the predictive policy at each of --quantiles
(its upper bound's error quantile; "none" sizes for the forecast itself),
every other setting as its flag says. Each run is a point: replica-hours
(cost) and SLO-violation minutes. The table marks the points on each
policy's front (no other setting of the same policy is both cheaper and
better) and says what the predictive policy reaches within the
replica-hours of the HPA at --target, the rule as most clusters run it.
--plot draws both fronts.

One setting per policy answers "which is better" only at that cost; the
fronts answer it at every cost. The runs go in parallel, one per core.`,
		Example: `  cloudskin lp scale tradeoff --generate operating-room:14 --seed 2 --capacity 10 --plot tradeoff.png
  cloudskin lp scale tradeoff --input load.csv --column rps --capacity 50 --targets 0.6,0.7,0.8 --quantiles none,0.9,0.99 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScaleTradeoff(cmd.OutOrStdout(), cmd.ErrOrStderr(), &f)
		},
	}
	fl := cmd.Flags()
	f.scale.register(fl)
	fl.StringVar(&f.model, "model", forecast.KindSeasonalNaive, "predictive: the model kind ("+strings.Join(forecast.Kinds(), ", ")+")")
	fl.StringVar(&f.targets, "targets", "0.5,0.6,0.7,0.8,0.9", "hpa: target utilisations to sweep, in (0, 1]")
	fl.StringVar(&f.quantiles, "quantiles", "none,0.6,0.7,0.8,0.9,0.95,0.99,0.999", "predictive: error quantiles to sweep, in (0, 1), or none")
	fl.StringVar(&f.predTargets, "predictive-targets", "", "predictive: utilisations to sweep with each quantile, in (0, 1] (default: --predictive-target alone)")
	fl.StringVar(&f.plotPath, "plot", "", "draw both policies' points and fronts to this .png or .svg file")
	return cmd
}

// tradeoffRun is one setting to replay.
type tradeoffRun struct {
	point  autoscale.TradeoffPoint
	policy autoscale.Policy
}

func runScaleTradeoff(stdout, stderr io.Writer, f *tradeoffFlags) error {
	t, err := f.scale.loadTrace(stderr)
	if err != nil {
		return err
	}
	s, err := f.scale.setup(t)
	if err != nil {
		return err
	}
	runs, err := f.settings(s)
	if err != nil {
		return err
	}
	policies := make([]autoscale.Policy, len(runs))
	for i, r := range runs {
		policies[i] = r.policy
	}
	fmt.Fprintf(stderr, "replaying %s through %d settings, %d at a time\n", t.name, len(runs), runtime.GOMAXPROCS(0))
	results, err := autoscale.RunAll(s.load, f.scale.interval, s.svc, policies, runtime.GOMAXPROCS(0))
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	out := tradeoffOutput{Trace: t.name, Source: t.source, Service: s.svc}
	for i, r := range results {
		p := runs[i].point
		p.ReplicaHours, p.ViolationMinutes = r.ReplicaHours, r.SLOViolationMinutes
		out.Points = append(out.Points, p)
		if p.Policy == "hpa" && p.Default {
			out.HPA = &p
		}
	}
	predName := runs[len(runs)-1].point.Policy
	if out.HPA != nil {
		if best, ok := autoscale.BestWithin(out.Points, predName, out.HPA.ReplicaHours); ok {
			out.AtHPACost = &best
		}
	}
	if f.plotPath != "" {
		title := fmt.Sprintf("%s: capacity %g req/s per replica, start-up %s; labels: hpa target, predictive error quantile", t.name, f.scale.capacity, f.scale.startup)
		if f.predTargets != "" {
			title += "/target"
		}
		if err := plot.SaveTradeoff(f.plotPath, plot.Tradeoff{Title: title, Points: out.Points}); err != nil {
			return err
		}
	}
	if f.scale.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	printTradeoff(stdout, out)
	return nil
}

// settings are the runs the flags ask for: the HPA at each target, then
// the predictive policy at each quantile, every other setting as flagged.
func (f *tradeoffFlags) settings(s scaleSetup) ([]tradeoffRun, error) {
	var runs []tradeoffRun
	targets, err := parseSweep("--targets", f.targets, false)
	if err != nil {
		return nil, err
	}
	for _, v := range targets {
		if !(v > 0 && v <= 1) {
			return nil, fmt.Errorf("--targets: %v is not a utilisation in (0, 1]", v)
		}
		cfg := s.hpa
		cfg.TargetUtilization = v
		runs = append(runs, tradeoffRun{
			point:  autoscale.TradeoffPoint{Policy: "hpa", Setting: fmt.Sprintf("target %g", v), Label: fmt.Sprint(v), Default: v == f.scale.target},
			policy: autoscale.NewHPA(cfg),
		})
	}
	quantiles, err := parseSweep("--quantiles", f.quantiles, true)
	if err != nil {
		return nil, err
	}
	predTargets := []float64{f.scale.predTarget}
	if f.predTargets != "" {
		if predTargets, err = parseSweep("--predictive-targets", f.predTargets, false); err != nil {
			return nil, err
		}
	}
	flagged := noneAtZero(f.scale.errorQuantile)
	for _, pt := range predTargets {
		for _, q := range quantiles {
			cfg := s.pred
			cfg.Model, cfg.ErrorQuantile, cfg.TargetUtilization = f.model, q, pt
			if err := cfg.Validate(); err != nil {
				return nil, fmt.Errorf("--quantiles %v, --predictive-targets %v: %w", q, pt, err)
			}
			point := autoscale.TradeoffPoint{Policy: cfg.WithDefaults().Name, Setting: "quantile " + quantileText(q), Label: quantileText(q),
				Default: q == flagged && pt == f.scale.predTarget}
			if len(predTargets) > 1 {
				point.Setting += fmt.Sprintf(", target %g", pt)
				point.Label += fmt.Sprintf("/%g", pt)
			}
			runs = append(runs, tradeoffRun{point: point, policy: autoscale.NewPredictive(cfg)})
		}
	}
	return runs, nil
}

func quantileText(q float64) string {
	if q < 0 {
		return "none"
	}
	return fmt.Sprint(q)
}

// parseSweep reads a comma-separated list of numbers; with none, "none"
// is allowed and read as -1.
func parseSweep(flag, text string, none bool) ([]float64, error) {
	var out []float64
	for _, field := range strings.Split(text, ",") {
		field = strings.TrimSpace(field)
		if none && field == "none" {
			out = append(out, -1)
			continue
		}
		v, err := strconv.ParseFloat(field, 64)
		if err != nil || !(v > 0 && v <= 1) {
			return nil, fmt.Errorf("%s: %q is not a number in (0, 1]", flag, field)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: give at least one value", flag)
	}
	return out, nil
}

func printTradeoff(w io.Writer, out tradeoffOutput) {
	onFront := map[autoscale.TradeoffPoint]bool{}
	for _, policy := range autoscale.PoliciesOf(out.Points) {
		for _, p := range autoscale.Frontier(out.Points, policy) {
			onFront[p] = true
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tsetting\treplica-hours\tviolation min\ton front\t")
	for _, p := range out.Points {
		setting := p.Setting
		if p.Default {
			setting += " (default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.2f\t%s\t\n", p.Policy, setting, p.ReplicaHours, p.ViolationMinutes, map[bool]string{true: "yes", false: "-"}[onFront[p]])
	}
	tw.Flush()
	hpa, b := out.HPA, out.AtHPACost
	switch {
	case hpa == nil:
	case b == nil:
		fmt.Fprintf(w, "\nno predictive setting costs at most the HPA's %.1f replica-hours (%s)\n", hpa.ReplicaHours, hpa.Setting)
	default:
		fmt.Fprintf(w, "\nwithin the HPA's %.1f replica-hours (%s): %s at %s, %.2f violation minutes against %.2f (%s), at %.1f replica-hours\n",
			hpa.ReplicaHours, hpa.Setting, b.Policy, b.Setting, b.ViolationMinutes, hpa.ViolationMinutes, percentChange(b.ViolationMinutes, hpa.ViolationMinutes), b.ReplicaHours)
	}
}

// percentChange is a's change from b, "−19 %"; "—" when b is 0.
func percentChange(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%+.0f %%", 100*(a/b-1))
}
