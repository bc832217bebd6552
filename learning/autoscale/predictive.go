package autoscale

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// PredictiveConfig tunes the predictive policy. Zero fields take the
// defaults named on each; the defaults are the one configuration evaluated
// in docs/LEARNING.md, chosen on the tuning traces only.
type PredictiveConfig struct {
	// Name is what the policy reports; default "predictive:<model>".
	Name string
	// Model is a learning/forecast model kind (forecast.New); default
	// holt-winters.
	Model string
	// Resolution is the step of the series the model is fitted on: the
	// load is averaged over blocks of this length first, so a daily season
	// at 15 s decisions stays a few hundred points. Default: the decision
	// interval. It is rounded to a whole number of decision intervals.
	Resolution time.Duration
	// Season is the model's season length in Resolution steps (for
	// example 288 for a day at 5 minutes); required.
	Season int
	// History is how many Resolution steps of the most recent load the
	// model is fitted on; default 4 seasons.
	History int
	// MinHistory is how many Resolution steps must have been seen before
	// the first fit; until then the policy follows the reactive rule.
	// Default: the least the model accepts, 2 seasons + 1.
	MinHistory int
	// RefitEvery is how many decisions pass between fits; between them
	// the last fit's forecast is read further ahead. Default: one
	// Resolution step's worth of decisions.
	RefitEvery int
	// StartupDelay is how long a new replica takes to become ready; the
	// policy scales up for the highest load forecast over StartupDelay
	// plus one decision interval, so replicas it starts now are ready in
	// time.
	StartupDelay time.Duration
	// Headroom is the extra fraction of capacity kept above the forecast
	// (0.1 = 10 %); default 0, a negative value is an error. ErrorQuantile
	// is the measured alternative to this fixed guess.
	Headroom float64
	// ErrorQuantile sizes for an upper prediction bound instead of the
	// bare forecast: the forecast plus this quantile of the fit's
	// in-sample errors, each the load of one decision interval minus the
	// one-step forecast of its Resolution block (so it also covers the
	// spread of intervals within a block). Default 0.95; a negative value
	// means none (size for the forecast itself).
	ErrorQuantile float64
	// TargetUtilization is the fraction of a replica's capacity the upper
	// bound (or the current load) may use; default 0.9: the prediction
	// bound already covers the forecast's error, so less standing
	// headroom is needed than the HPA's 0.8.
	TargetUtilization float64
	// ReactiveTargetUtilization is the target used when the current load
	// is above the upper prediction bound, that is when the forecast has
	// just been proved wrong (a burst, a day unlike the last ones): then
	// the policy sizes for the current load with the reactive rule's
	// headroom, as the HPA would. Default 0.8, the HPA's.
	ReactiveTargetUtilization float64
	// Tolerance is a band like the HPA's: the count stays while the load
	// sized for is within Tolerance of what the current count serves at
	// the target (never while it exceeds the count's full capacity), so
	// small forecast wobbles do not move it. Default 0.1; a negative value
	// means none.
	Tolerance float64
	// ScaleDownAfter is the hysteresis window: the policy scales down
	// only after a lower count has been recommended continuously for this
	// long, and then to the highest count recommended meanwhile. Default
	// 300 s, like the HPA's stabilisation window; a negative value means
	// none (scale down at once).
	ScaleDownAfter time.Duration
	// EarlyScaleDown, while a forecast is available, replaces the wait:
	// the policy scales down at once when the upper bound over
	// StartupDelay plus ScaleDownAfter fits fewer replicas. Measured on
	// the tuning traces it saved cost on bursty loads but cost more
	// violations, and lost to the wait on a smooth daily cycle, so it is
	// off by default (docs/LEARNING.md).
	EarlyScaleDown bool
	// MinReplicas and MaxReplicas as in HPAConfig.
	MinReplicas, MaxReplicas int
}

// Defaults of the predictive policy, chosen on the tuning traces (the
// generated traces with seed 1) and then fixed; docs/LEARNING.md.
const (
	DefaultErrorQuantile               = 0.95
	DefaultPredictiveTargetUtilization = 0.9
)

// WithDefaults is c with every zero field set to its default, as the
// policy runs it (for reports).
func (c PredictiveConfig) WithDefaults() PredictiveConfig { return c.withDefaults() }

func (c PredictiveConfig) withDefaults() PredictiveConfig {
	if c.Model == "" {
		c.Model = forecast.KindHoltWinters
	}
	if c.Name == "" {
		c.Name = "predictive:" + c.Model
	}
	if c.History == 0 {
		c.History = 4 * c.Season
	}
	if c.MinHistory == 0 {
		c.MinHistory = 2*c.Season + 1
	}
	if c.TargetUtilization <= 0 {
		c.TargetUtilization = DefaultPredictiveTargetUtilization
	}
	if c.ReactiveTargetUtilization <= 0 {
		c.ReactiveTargetUtilization = DefaultTargetUtilization
	}
	c.ErrorQuantile = orDefault(c.ErrorQuantile, DefaultErrorQuantile)
	c.Tolerance = orDefault(c.Tolerance, DefaultTolerance)
	c.ScaleDownAfter = orDefault(c.ScaleDownAfter, DefaultDownscaleWindow)
	if c.MinReplicas == 0 {
		c.MinReplicas = 1
	}
	return c
}

// Validate reports a configuration the policy cannot follow.
func (c PredictiveConfig) Validate() error {
	c = c.withDefaults()
	if c.Season < 1 {
		return fmt.Errorf("autoscale: predictive: season %d must be at least 1 step", c.Season)
	}
	if c.History < c.MinHistory {
		return fmt.Errorf("autoscale: predictive: history %d steps is shorter than the minimum history %d", c.History, c.MinHistory)
	}
	if c.Headroom < 0 || math.IsNaN(c.Headroom) {
		return fmt.Errorf("autoscale: predictive: headroom %v must be ≥ 0", c.Headroom)
	}
	if c.ErrorQuantile >= 1 || math.IsNaN(c.ErrorQuantile) {
		return fmt.Errorf("autoscale: predictive: error quantile %v is not in (0, 1)", c.ErrorQuantile)
	}
	if c.Tolerance >= 1 || math.IsNaN(c.Tolerance) {
		return fmt.Errorf("autoscale: predictive: tolerance %v is not below 1", c.Tolerance)
	}
	if c.TargetUtilization > 1 || math.IsNaN(c.TargetUtilization) {
		return fmt.Errorf("autoscale: predictive: target utilisation %v is not in (0, 1]", c.TargetUtilization)
	}
	if c.ReactiveTargetUtilization > 1 || math.IsNaN(c.ReactiveTargetUtilization) {
		return fmt.Errorf("autoscale: predictive: reactive target utilisation %v is not in (0, 1]", c.ReactiveTargetUtilization)
	}
	if c.StartupDelay < 0 || c.Resolution < 0 {
		return fmt.Errorf("autoscale: predictive: start-up delay %s and resolution %s must not be negative", c.StartupDelay, c.Resolution)
	}
	if _, err := forecast.New(c.Model, c.Season); err != nil {
		return fmt.Errorf("autoscale: predictive: %w", err)
	}
	return checkRange(c.MinReplicas, c.MaxReplicas)
}

// predictive sizes the service for the load forecast over the start-up
// delay. See NewPredictive.
type predictive struct {
	cfg PredictiveConfig

	// The fitted model, the decision step it was fitted at, the number of
	// Resolution blocks it was fitted on (its forecast origin) and the
	// ErrorQuantile of its in-sample errors.
	model    forecast.Model
	fitStep  int
	fitBlock int
	fitErr   error
	errBound float64 // relative: the bound is forecast × (1 + errBound)

	// The scale-down wait (all but EarlyScaleDown): since which step a
	// lower count has been recommended without a break (-1: not now), and
	// the highest such count.
	downSince int
	downMax   int

	// The reactive floor: the count, and the step it lasts until.
	floor, floorUntil int
}

// NewPredictive returns the predictive policy. Every RefitEvery decisions
// it fits cfg.Model on the recent load (averaged to cfg.Resolution) and
// measures the fit's in-sample errors. It scales up at once for the highest
// upper prediction bound (forecast + ErrorQuantile of the errors) over the
// start-up delay plus one interval at TargetUtilization, or for the current
// load if that is higher; when demand beats both the bound and the ready
// capacity (a burst the forecast missed) it also keeps, for
// ScaleDownAfter, the count the reactive rule would choose. It scales down
// after the lower count has been wanted for ScaleDownAfter (or, with
// EarlyScaleDown, as soon as the bound over the start-up delay plus
// ScaleDownAfter allows), and not while the load is within Tolerance below
// the current count's target. While there is too little history to fit,
// or a fit fails, it follows the reactive rule with the fixed scale-down
// wait and says so in Reason. Check cfg with Validate first: an invalid one
// makes every decision reactive.
func NewPredictive(cfg PredictiveConfig) Policy {
	return &predictive{cfg: cfg.withDefaults(), fitStep: -1, downSince: -1}
}

// Name implements Policy.
func (p *predictive) Name() string { return p.cfg.Name }

// Decide implements Policy.
func (p *predictive) Decide(o Observation) Decision {
	now := latest(o.Load)
	up, down, why := p.forecastBounds(o)
	if up < 0 { // no forecast: the reactive rule with the fixed wait
		rec := p.reactiveReplicas(now, o.Capacity)
		final, held := p.waitToScaleDown(o, rec)
		if held {
			why = fmt.Sprintf("%s; %d recommended, holding %d for the %s scale-down window", why, rec, final, p.cfg.ScaleDownAfter)
		}
		return Decision{Replicas: final, Forecast: now, Reason: why}
	}
	floor := p.reactiveFloor(o, now, up)
	if floor > 0 {
		why += fmt.Sprintf("; the load beat the bound within %s: at least %d (reactive at target %.2g)", p.cfg.ScaleDownAfter, floor, p.cfg.ReactiveTargetUtilization)
	}
	sized := math.Max(now, up)
	want := max(p.replicas(sized, o.Capacity), floor)
	switch {
	case want > o.Desired:
		// Scale up at once, for the bound over the start-up delay.
		p.downSince = -1
	case p.cfg.EarlyScaleDown:
		// Scale down at once, but only as far as the bound over the
		// longer look-ahead allows: the load will not come back before
		// replicas started then would be ready.
		sized = math.Max(now, down)
		want = min(max(p.replicas(sized, o.Capacity), floor), o.Desired)
	default:
		var held bool
		if want, held = p.waitToScaleDown(o, want); held {
			why += fmt.Sprintf("; holding %d for the %s scale-down window", want, p.cfg.ScaleDownAfter)
		}
	}
	if want < o.Desired && p.withinTolerance(sized, o.Desired, o.Capacity) {
		why += fmt.Sprintf("; %d recommended, keeping %d within the %.2g tolerance", want, o.Desired, p.cfg.Tolerance)
		want = o.Desired
	}
	return Decision{Replicas: want, Forecast: sized, Reason: why}
}

// replicas is the bounded count that serves load at the target.
func (p *predictive) replicas(load, capacity float64) int {
	n := replicasFor(load*(1+p.cfg.Headroom), capacity, p.cfg.TargetUtilization)
	return clampReplicas(n, p.cfg.MinReplicas, p.cfg.MaxReplicas)
}

// reactiveFloor is the least count while the forecast is not trusted: when
// the current load is above both the bound and the ready capacity, the
// forecast missed it (a burst, a day unlike the last ones) and demand is
// going unserved now, so the policy serves the load with the reactive
// rule's headroom and, like the HPA's stabilisation window, keeps the
// highest such count for ScaleDownAfter. Loads above the bound that the
// ready replicas still serve do not count: by the bound's definition a few
// intervals in twenty exceed it, and reacting to those would make the
// policy the HPA again. 0 when no miss happened for that long.
func (p *predictive) reactiveFloor(o Observation, now, up float64) int {
	if o.Step >= p.floorUntil {
		p.floor = 0
	}
	if now > up && now > float64(o.Ready)*o.Capacity {
		p.floor = max(p.floor, p.reactiveReplicas(now, o.Capacity))
		p.floorUntil = o.Step + max(stepsIn(p.cfg.ScaleDownAfter, o.Interval), 1)
	}
	return p.floor
}

// reactiveReplicas is the bounded count that serves load at the reactive
// target.
func (p *predictive) reactiveReplicas(load, capacity float64) int {
	n := replicasFor(load*(1+p.cfg.Headroom), capacity, p.cfg.ReactiveTargetUtilization)
	return clampReplicas(n, p.cfg.MinReplicas, p.cfg.MaxReplicas)
}

// withinTolerance reports whether desired replicas serve load at a
// utilisation within Tolerance below the target: then removing one is not
// worth a scaling event. The band only ever keeps replicas, never tolerates
// too few (unlike the HPA's, which also holds a count 10 % too small).
func (p *predictive) withinTolerance(load float64, desired int, capacity float64) bool {
	if p.cfg.Tolerance <= 0 || desired <= 0 || capacity <= 0 {
		return false
	}
	ratio := load * (1 + p.cfg.Headroom) / (float64(desired) * capacity * p.cfg.TargetUtilization)
	return ratio >= 1-p.cfg.Tolerance
}

// blockSteps is the number of decision intervals in one Resolution step.
func (p *predictive) blockSteps(interval time.Duration) int {
	if p.cfg.Resolution <= 0 || interval <= 0 {
		return 1
	}
	return max(int((p.cfg.Resolution+interval/2)/interval), 1)
}

// forecastBounds is the highest upper prediction bound over the scale-up
// horizon (the start-up delay and one interval) and over the scale-down
// horizon (that and ScaleDownAfter), or -1 with a reason when the policy
// has to be reactive.
func (p *predictive) forecastBounds(o Observation) (up, down float64, why string) {
	r := p.blockSteps(o.Interval)
	blocks := len(o.Load) / r // complete blocks seen, aligned to step 0
	if blocks < p.cfg.MinHistory {
		return -1, -1, fmt.Sprintf("reactive: %d of %d history steps needed to fit %s; sized for load %.4g", blocks, p.cfg.MinHistory, p.cfg.Model, latest(o.Load))
	}
	refitEvery := p.cfg.RefitEvery
	if refitEvery <= 0 {
		refitEvery = r
	}
	if p.model == nil || o.Step-p.fitStep >= refitEvery {
		p.fit(o.Load, blocks, r)
		p.fitStep = o.Step
	}
	if p.model == nil {
		return -1, -1, fmt.Sprintf("reactive: %s fit failed (%v); sized for load %.4g", p.cfg.Model, p.fitErr, latest(o.Load))
	}
	// The decision acts from the next interval; a replica started now is
	// ready StartupDelay later and must then serve one more interval.
	upSteps := stepsIn(p.cfg.StartupDelay, o.Interval) + 1
	downSteps := upSteps + stepsIn(p.cfg.ScaleDownAfter, o.Interval)
	first := len(o.Load) / r                  // block of the next interval
	lastUp := (len(o.Load) + upSteps - 1) / r // block of the scale-up horizon's last interval
	lastDown := (len(o.Load) + downSteps - 1) / r
	pred, err := p.model.Predict(lastDown - p.fitBlock + 1) // steps after the fit's origin
	if err != nil {
		return -1, -1, fmt.Sprintf("reactive: %s predict failed (%v); sized for load %.4g", p.cfg.Model, err, latest(o.Load))
	}
	for b := max(first, p.fitBlock); b <= lastDown; b++ {
		v := pred[b-p.fitBlock] * (1 + p.errBound)
		if b <= lastUp {
			up = math.Max(up, v)
		}
		down = math.Max(down, v)
	}
	why = fmt.Sprintf("%s forecasts peak %.4g over the next %s with its upper bound (forecast + %.3g %%) (current %.4g)",
		p.cfg.Model, up, time.Duration(upSteps)*o.Interval, 100*p.errBound, latest(o.Load))
	return up, down, why
}

// fit refits the model on the last History complete blocks of load and
// measures its error bound.
func (p *predictive) fit(load []float64, blocks, r int) {
	from := max(blocks-p.cfg.History, 0)
	y := make([]float64, 0, blocks-from)
	for b := from; b < blocks; b++ {
		sum := 0.0
		for _, v := range load[b*r : (b+1)*r] {
			sum += v
		}
		y = append(y, sum/float64(r))
	}
	m, err := forecast.New(p.cfg.Model, p.cfg.Season)
	if err == nil {
		err = m.Fit(y)
	}
	if err != nil {
		p.model, p.fitErr = nil, err
		return
	}
	p.model, p.fitBlock, p.fitErr = m, blocks, nil
	p.errBound = 0
	if p.cfg.ErrorQuantile > 0 {
		p.errBound = errorBound(load[from*r:blocks*r], m.Fitted(), r, p.cfg.ErrorQuantile)
	}
}

// errorBound is the q-quantile of the relative errors load[i]/fitted[i/r]
// − 1 (over the intervals whose block has a positive in-sample forecast)
// under a normal law fitted robustly, by their median and median absolute
// deviation, and at least 0: how far, as a fraction of the forecast, an
// interval's load rises above the one-step forecast of its block.
//
// Relative, because load noise grows with the load: an absolute bound
// measured over busy hours would double the replicas of a quiet night.
// Robust, because rare bursts are errors too: a plain quantile would count
// them and keep standing capacity for bursts all day long, which costs far
// more than the minutes it saves; bursts are met by the reactive floor.
func errorBound(load, fitted []float64, r int, q float64) float64 {
	errs := make([]float64, 0, len(load))
	for i, v := range load {
		f := fitted[i/r]
		if f > 0 && !math.IsInf(f, 0) { // NaN fails f > 0
			errs = append(errs, v/f-1)
		}
	}
	if len(errs) == 0 {
		return 0
	}
	med := median(errs)
	for i, e := range errs {
		errs[i] = math.Abs(e - med)
	}
	sigma := 1.4826 * median(errs) // the MAD's normal-consistent scale
	z := math.Sqrt2 * math.Erfinv(2*q-1)
	return math.Max(med+z*sigma, 0)
}

// median sorts xs and returns its middle value; xs is not empty.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// waitToScaleDown is the fixed-window hysteresis: it returns the count to
// answer and whether it holds above rec.
func (p *predictive) waitToScaleDown(o Observation, rec int) (int, bool) {
	if rec >= o.Desired {
		p.downSince = -1
		return rec, false
	}
	if p.downSince < 0 {
		p.downSince, p.downMax = o.Step, rec
	}
	p.downMax = max(p.downMax, rec)
	waited := time.Duration(o.Step-p.downSince+1) * o.Interval
	if o.Interval > 0 && waited < p.cfg.ScaleDownAfter {
		return o.Desired, true
	}
	final := p.downMax
	p.downSince = -1
	return final, false
}
