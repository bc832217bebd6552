package autoscale

import (
	"fmt"
	"math"
	"time"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// PredictiveConfig tunes the predictive policy. Zero fields take the
// defaults named on each.
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
	// policy sizes for the highest load forecast over StartupDelay plus
	// one decision interval, so replicas it starts now are ready in time.
	StartupDelay time.Duration
	// Headroom is the extra fraction of capacity kept above the forecast
	// for its error (0.1 = 10 %); default 0, a negative value is an error.
	Headroom float64
	// TargetUtilization as in HPAConfig; default 0.8.
	TargetUtilization float64
	// ScaleDownAfter is the hysteresis window: the policy scales down only
	// after a lower count has been recommended continuously for this
	// long, and then to the highest count recommended meanwhile. Default
	// 300 s, like the HPA's stabilisation window; a negative value means
	// none (scale down at once).
	ScaleDownAfter time.Duration
	// MinReplicas and MaxReplicas as in HPAConfig.
	MinReplicas, MaxReplicas int
}

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
		c.TargetUtilization = DefaultTargetUtilization
	}
	switch {
	case c.ScaleDownAfter == 0:
		c.ScaleDownAfter = DefaultDownscaleWindow
	case c.ScaleDownAfter < 0:
		c.ScaleDownAfter = 0
	}
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
	if c.TargetUtilization > 1 || math.IsNaN(c.TargetUtilization) {
		return fmt.Errorf("autoscale: predictive: target utilisation %v is not in (0, 1]", c.TargetUtilization)
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

	// The fitted model, the decision step it was fitted at and the number
	// of Resolution blocks it was fitted on (its forecast origin).
	model    forecast.Model
	fitStep  int
	fitBlock int
	fitErr   error

	// Hysteresis: since which step a lower count has been recommended
	// without a break (-1: not now), and the highest such count.
	downSince int
	downMax   int
}

// NewPredictive returns the predictive policy: every RefitEvery decisions
// it fits cfg.Model on the recent load (averaged to cfg.Resolution), sizes
// for the highest of the current load and the load forecast over the
// start-up delay plus one interval, with cfg.Headroom on top, and scales
// down only after the lower count has been recommended continuously for
// cfg.ScaleDownAfter. While there is too little history to fit, or a fit
// fails, it follows the reactive rule and says so in Reason. Check cfg
// with Validate first: an invalid one makes every decision reactive.
func NewPredictive(cfg PredictiveConfig) Policy {
	return &predictive{cfg: cfg.withDefaults(), fitStep: -1, downSince: -1}
}

// Name implements Policy.
func (p *predictive) Name() string { return p.cfg.Name }

// Decide implements Policy.
func (p *predictive) Decide(o Observation) Decision {
	now := latest(o.Load)
	peak, why := p.forecastPeak(o)
	sized := math.Max(now, peak)
	rec := replicasFor(sized*(1+p.cfg.Headroom), o.Capacity, p.cfg.TargetUtilization)
	rec = clampReplicas(rec, p.cfg.MinReplicas, p.cfg.MaxReplicas)
	final, held := p.hysteresis(o, rec)
	if held {
		why = fmt.Sprintf("%s; %d recommended, holding %d for the %s scale-down window", why, rec, final, p.cfg.ScaleDownAfter)
	}
	return Decision{Replicas: final, Forecast: sized, Reason: why}
}

// blockSteps is the number of decision intervals in one Resolution step.
func (p *predictive) blockSteps(interval time.Duration) int {
	if p.cfg.Resolution <= 0 || interval <= 0 {
		return 1
	}
	return max(int((p.cfg.Resolution+interval/2)/interval), 1)
}

// forecastPeak is the highest forecast load over the horizon, or 0 with a
// reason when the policy has to be reactive.
func (p *predictive) forecastPeak(o Observation) (float64, string) {
	r := p.blockSteps(o.Interval)
	blocks := len(o.Load) / r // complete blocks seen, aligned to step 0
	if blocks < p.cfg.MinHistory {
		return 0, fmt.Sprintf("reactive: %d of %d history steps needed to fit %s; sized for load %.4g", blocks, p.cfg.MinHistory, p.cfg.Model, latest(o.Load))
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
		return 0, fmt.Sprintf("reactive: %s fit failed (%v); sized for load %.4g", p.cfg.Model, p.fitErr, latest(o.Load))
	}
	// The decision acts from the next interval; a replica started now is
	// ready StartupDelay later and must then serve one more interval.
	horizon := stepsIn(p.cfg.StartupDelay, o.Interval) + 1
	first := len(o.Load) / r                // block of the next interval
	last := (len(o.Load) + horizon - 1) / r // block of the horizon's last interval
	ahead := last - p.fitBlock + 1          // forecast steps needed after the fit's origin
	pred, err := p.model.Predict(ahead)
	if err != nil {
		return 0, fmt.Sprintf("reactive: %s predict failed (%v); sized for load %.4g", p.cfg.Model, err, latest(o.Load))
	}
	peak := 0.0
	for b := max(first, p.fitBlock); b <= last; b++ {
		peak = math.Max(peak, pred[b-p.fitBlock])
	}
	return peak, fmt.Sprintf("%s forecasts peak %.4g over the next %s (current %.4g)", p.cfg.Model, peak, time.Duration(horizon)*o.Interval, latest(o.Load))
}

// fit refits the model on the last History complete blocks of load.
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
}

// hysteresis returns the count to answer and whether it holds above rec.
func (p *predictive) hysteresis(o Observation, rec int) (int, bool) {
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
