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
	// seasonal-naive: the policy reads mostly the shape of the model's path
	// (the level comes from the recent load), and yesterday's shape beat
	// Holt-Winters' smoothed one on the tuning traces (docs/LEARNING.md).
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
	// Headroom is the extra fraction of capacity kept above the upper
	// bound (0.1 = 10 %); default 0, a negative value is an error.
	Headroom float64
	// LevelWindow is how much recent load sets the level: the forecast's
	// shape is scaled by the median, over this window, of the load divided
	// by the forecast of the same intervals, leaving out the intervals the
	// burst floor served (all of them count if it served the whole
	// window: then the rise is the new level). The window is short enough
	// to follow a day unlike the model's last ones (a weekend after
	// weekdays). Default 10 minutes.
	LevelWindow time.Duration
	// ErrorQuantile sizes for an upper prediction bound instead of the
	// level-corrected forecast: the bound is the forecast times (1 + this
	// quantile of the relative deviations of the load from it), under a
	// normal law fitted robustly to the deviations measured on the fit's
	// history. Default 0.99 (about 2.3 standard deviations); a negative
	// value means none (size for the forecast itself).
	ErrorQuantile float64
	// TargetUtilization is the fraction of a replica's capacity the upper
	// bound may use; default 0.9.
	TargetUtilization float64
	// ReactiveTargetUtilization sizes the burst floor: while the load is
	// above the upper bound and beyond the ready capacity (a burst the
	// forecast could not know), the policy keeps at least the count that
	// serves the current load at this target, as the HPA would, and drops
	// it as soon as the load is back within the bound. Default 0.8, the
	// HPA's.
	ReactiveTargetUtilization float64
	// Tolerance is a band like the HPA's: the count stays while the load
	// sized for is within Tolerance of what the current count serves at
	// the target (never while it exceeds the count's full capacity), so
	// small forecast wobbles do not move it. Default 0.1; a negative value
	// means none.
	Tolerance float64
	// ScaleDownAfter is the hysteresis window of the forecast count: the
	// policy lowers it only after a lower count has been recommended
	// continuously for this long, and then to the highest count
	// recommended meanwhile. The burst floor does not wait. Default 300 s,
	// like the HPA's stabilisation window; a negative value means none.
	ScaleDownAfter time.Duration
	// EarlyScaleDown replaces the wait by the forecast (predictive scale
	// down): while a forecast is available, the count falls at once, but
	// only as far as the upper bound over StartupDelay plus ScaleDownAfter
	// allows, so replicas are not stopped just before a forecast rise.
	// Measured, it is cheaper on the generated traces and lets more demand
	// through on the real ones, so it is off by default (docs/LEARNING.md).
	EarlyScaleDown bool
	// MinReplicas and MaxReplicas as in HPAConfig.
	MinReplicas, MaxReplicas int
}

// Defaults of the predictive policy, chosen on the tuning traces (the
// generated traces with seed 1) and then fixed; docs/LEARNING.md.
const (
	DefaultErrorQuantile               = 0.99
	DefaultPredictiveTargetUtilization = 0.9
	DefaultLevelWindow                 = 10 * time.Minute
)

// Bounds on the level, the ratio of the recent load to the forecast: a
// forecast near zero (a quiet night) must not turn a little load into a
// huge multiplier of the next ramp.
const (
	minLevel = 0.1
	maxLevel = 10
)

// WithDefaults is c with every zero field set to its default, as the
// policy runs it (for reports).
func (c PredictiveConfig) WithDefaults() PredictiveConfig { return c.withDefaults() }

func (c PredictiveConfig) withDefaults() PredictiveConfig {
	if c.Model == "" {
		c.Model = forecast.KindSeasonalNaive
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
	if c.LevelWindow == 0 {
		c.LevelWindow = DefaultLevelWindow
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
	if c.StartupDelay < 0 || c.Resolution < 0 || c.LevelWindow < 0 {
		return fmt.Errorf("autoscale: predictive: start-up delay %s, resolution %s and level window %s must not be negative", c.StartupDelay, c.Resolution, c.LevelWindow)
	}
	if _, err := forecast.New(c.Model, c.Season); err != nil {
		return fmt.Errorf("autoscale: predictive: %w", err)
	}
	return checkRange(c.MinReplicas, c.MaxReplicas)
}

// predictive sizes the service for the level-corrected forecast over the
// start-up delay. See NewPredictive.
type predictive struct {
	cfg PredictiveConfig

	fit     *fitted // the last successful fit, nil before it
	fitStep int     // the decision step of the last fit attempt
	fitErr  error   // why the last fit failed

	// held is the forecast count after the scale-down hysteresis (-1
	// before the first decision); downSince is the step since which a
	// lower count has been recommended without a break (-1: not now),
	// downMax the highest such count.
	held, downSince, downMax int

	// floor is the burst floor: the reactive count while the load beats
	// the upper bound, 0 otherwise; burstSteps are the recent decision
	// steps it was on at, oldest first, which the level leaves out.
	floor      int
	burstSteps []int
}

// NewPredictive returns the predictive policy. Every RefitEvery decisions
// it fits cfg.Model on the recent load (averaged to cfg.Resolution) and
// smooths the fitted and forecast path with a running median, so a burst
// the model learned yesterday is not forecast again today. It scales that
// path by the level (the median ratio of the load to the path over
// LevelWindow, leaving out the minutes the burst floor served), which
// carries the path's shape to a day busier or quieter than the ones it
// learned, and sizes at once for the highest upper bound
// (the path × level × (1 + the ErrorQuantile of the deviations)) over the
// start-up delay plus one interval. A load beyond that bound and the ready
// capacity is a burst: the burst floor serves it at
// ReactiveTargetUtilization while it lasts and not a decision longer.
// Lower forecast counts wait ScaleDownAfter (or, with EarlyScaleDown, go
// at once as far as the bound over the longer look-ahead allows), and not
// while the bound is within Tolerance below the current count's target.
// While there is too little history to fit, or a fit fails, it follows the
// reactive rule with the same wait and says so in Reason. Check cfg with
// Validate first: an invalid one makes every decision reactive.
func NewPredictive(cfg PredictiveConfig) Policy {
	return &predictive{cfg: cfg.withDefaults(), fitStep: -1, held: -1, downSince: -1}
}

// Name implements Policy.
func (p *predictive) Name() string { return p.cfg.Name }

// Decide implements Policy.
func (p *predictive) Decide(o Observation) Decision {
	now := latest(o.Load)
	if p.held < 0 || o.Desired < p.held {
		// The first decision, or someone else lowered the count: start
		// from what is in place.
		p.held = o.Desired
	}
	b, why := p.bounds(o)
	if b.up < 0 { // no forecast: the reactive rule with the fixed wait
		p.floor = 0
		rec := p.reactiveReplicas(now, o.Capacity)
		final, held := p.hold(o, rec, rec)
		p.held = final
		if held {
			why += fmt.Sprintf("; %d recommended, holding %d for the %s scale-down window", rec, final, p.cfg.ScaleDownAfter)
		}
		return Decision{Replicas: final, Forecast: now, Reason: why}
	}
	// Never below what the current load needs: the forecast may be
	// right that the load falls, but if it is wrong the replicas cut now
	// take a start-up delay to come back. Load beyond the bound is a
	// burst, the burst floor's to serve, not a count to hold.
	base := math.Min(now, b.now)
	b.up, b.down = math.Max(b.up, base), math.Max(b.down, base)
	want := p.replicas(b.up, o.Capacity)
	downTo, downFor := want, b.up
	if p.cfg.EarlyScaleDown {
		downTo, downFor = max(p.replicas(b.down, o.Capacity), want), b.down
	}
	count, held := p.hold(o, want, downTo)
	switch {
	case held && p.cfg.EarlyScaleDown:
		why += fmt.Sprintf("; %d recommended, keeping %d for the bound %.4g over the next %s", want, count, b.down, b.downSpan)
	case held:
		why += fmt.Sprintf("; %d recommended, holding %d for the %s scale-down window", want, count, p.cfg.ScaleDownAfter)
	case count < p.held && p.withinTolerance(downFor, p.held, o.Capacity):
		why += fmt.Sprintf("; %d recommended, keeping %d within the %.2g tolerance", count, p.held, p.cfg.Tolerance)
		count = p.held
	}
	p.held = count
	sized := b.up
	floor := p.burstFloor(o, now, b.now)
	if floor > 0 {
		p.burstSteps = append(p.burstSteps, o.Step)
	}
	if floor > count {
		why += fmt.Sprintf("; the load beats the bound %.4g: %d for it at target %.2g until it falls back", b.now, floor, p.cfg.ReactiveTargetUtilization)
		count, sized = floor, now
	}
	return Decision{Replicas: count, Forecast: sized, Reason: why}
}

// hold is the scale-down hysteresis of the forecast count: it returns the
// count to answer for rec and whether it holds above it. Without
// EarlyScaleDown a lower count waits ScaleDownAfter; with it, the count
// falls at once to downTo (≥ rec).
func (p *predictive) hold(o Observation, rec, downTo int) (int, bool) {
	if rec >= p.held {
		p.downSince = -1
		return rec, false
	}
	if p.cfg.EarlyScaleDown && p.fit != nil {
		return min(downTo, p.held), downTo > rec
	}
	if p.downSince < 0 {
		p.downSince, p.downMax = o.Step, rec
	}
	p.downMax = max(p.downMax, rec)
	waited := time.Duration(o.Step-p.downSince+1) * o.Interval
	if o.Interval > 0 && waited < p.cfg.ScaleDownAfter {
		return p.held, true
	}
	p.downSince = -1
	return p.downMax, false
}

// burstFloor is the least count while the load beats the bound: when the
// current load is above both the upper bound for this interval and the
// ready capacity, the forecast missed it (a burst, a day unlike the last
// ones) and demand is going unserved now, so the policy serves the load
// at the reactive target. It follows the load while it stays above the
// bound (a burst that decays sheds replicas as it goes) and ends as soon
// as the load is back within it: unlike the HPA, nothing is kept for a
// window after a burst, which is most of what the HPA pays for bursts.
// Loads above the bound that the ready replicas still serve do not start
// a floor: by the bound's definition a few intervals in fifty exceed it.
func (p *predictive) burstFloor(o Observation, now, bound float64) int {
	if now > bound && (p.floor > 0 || now > float64(o.Ready)*o.Capacity) {
		p.floor = p.reactiveReplicas(now, o.Capacity)
	} else {
		p.floor = 0
	}
	return p.floor
}

// replicas is the bounded count that serves load at the target.
func (p *predictive) replicas(load, capacity float64) int {
	n := replicasFor(load*(1+p.cfg.Headroom), capacity, p.cfg.TargetUtilization)
	return clampReplicas(n, p.cfg.MinReplicas, p.cfg.MaxReplicas)
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

// bounds are what one decision sizes for.
type bounds struct {
	up       float64       // highest upper bound over the scale-up horizon; -1: no forecast
	down     float64       // highest upper bound over the scale-down look-ahead
	downSpan time.Duration // that look-ahead
	now      float64       // the upper bound for the latest interval
}

// bounds refits when due and reads the level-corrected forecast ahead, or
// returns up = -1 with a reason when the policy has to be reactive.
func (p *predictive) bounds(o Observation) (bounds, string) {
	r := p.blockSteps(o.Interval)
	blocks := len(o.Load) / r // complete blocks seen, aligned to step 0
	if blocks < p.cfg.MinHistory {
		return bounds{up: -1}, fmt.Sprintf("reactive: %d of %d history steps needed to fit %s; sized for load %.4g", blocks, p.cfg.MinHistory, p.cfg.Model, latest(o.Load))
	}
	refitEvery := p.cfg.RefitEvery
	if refitEvery <= 0 {
		refitEvery = r
	}
	if p.fitStep < 0 || o.Step-p.fitStep >= refitEvery {
		p.refit(o, blocks, r, refitEvery)
		p.fitStep = o.Step
	}
	if p.fit == nil {
		return bounds{up: -1}, fmt.Sprintf("reactive: %s fit failed (%v); sized for load %.4g", p.cfg.Model, p.fitErr, latest(o.Load))
	}
	f := p.fit
	last := len(o.Load) - 1
	level := f.level(o.Load, p.levelSteps(o.Interval), p.burstIntervals(o))
	// The decision acts from the next interval; a replica started now is
	// ready StartupDelay later and must then serve one more interval.
	upSteps := stepsIn(p.cfg.StartupDelay, o.Interval) + 1
	downSteps := upSteps + stepsIn(p.cfg.ScaleDownAfter, o.Interval)
	var b bounds
	for h := 1; h <= downSteps; h++ {
		v := f.at(last+h) * level * f.bound
		if h <= upSteps {
			b.up = math.Max(b.up, v)
		}
		b.down = math.Max(b.down, v)
	}
	b.now = f.at(last) * level * f.bound
	b.downSpan = time.Duration(downSteps) * o.Interval
	why := fmt.Sprintf("%s forecasts peak %.4g over the next %s (level %.3g × forecast, + %.3g %% for its error; current %.4g)",
		p.cfg.Model, b.up, time.Duration(upSteps)*o.Interval, level, 100*(f.bound-1), latest(o.Load))
	return b, why
}

// burstIntervals reports, by index into o.Load, the intervals of the level
// window that the burst floor served: a burst of several minutes would
// otherwise move the median and hold the burst's count as if the whole day
// had risen. It also forgets the bursts older than the window.
func (p *predictive) burstIntervals(o Observation) func(i int) bool {
	oldest := o.Step - p.levelSteps(o.Interval)
	for len(p.burstSteps) > 0 && p.burstSteps[0] <= oldest {
		p.burstSteps = p.burstSteps[1:]
	}
	last := len(o.Load) - 1
	return func(i int) bool {
		_, found := slices.BinarySearch(p.burstSteps, o.Step-(last-i))
		return found
	}
}

// levelSteps is LevelWindow in decision intervals, at least one.
func (p *predictive) levelSteps(interval time.Duration) int {
	return max(stepsIn(p.cfg.LevelWindow, interval), 1)
}

// refit fits the model on the last History complete blocks of load; on
// failure it keeps no fit and records why.
func (p *predictive) refit(o Observation, blocks, r, refitEvery int) {
	// Forecast far enough to cover every decision until the next fit,
	// the longest look-ahead and the smoothing window.
	lookAhead := stepsIn(p.cfg.StartupDelay, o.Interval) + 1 + stepsIn(p.cfg.ScaleDownAfter, o.Interval)
	ahead := (refitEvery+lookAhead)/r + 2 + smoothHalfWidth(p.cfg.Season)
	f, err := fitPath(p.cfg.Model, p.cfg.Season, o.Load, blocks, r, p.cfg.History, ahead)
	if err != nil {
		p.fit, p.fitErr = nil, err
		return
	}
	f.measure(o.Load, p.levelSteps(o.Interval), p.cfg.ErrorQuantile)
	p.fit, p.fitErr = f, nil
}
