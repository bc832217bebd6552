package agent

import (
	"fmt"
	"math"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/autoscale"
	"github.com/cloudskin/cloudskin/learning/prewarm"
	"github.com/cloudskin/cloudskin/learning/trace"
	"github.com/cloudskin/cloudskin/learning/train"
)

// RecommendScaling sizes replicas for a load series (one value per step,
// oldest first) the way a predictive-scaling agent does at one tick: the
// model kind is chosen and back-tested by train.Candidate (when no model
// can be trained, the kind asked for, or autoscale's default), and
// autoscale's predictive policy sizes for the forecast peak over the
// start-up delay. Stateless, so without scale-down hysteresis. Pure.
func RecommendScaling(load []float64, step time.Duration, req v1alpha1.ScalingRecommendationRequest) (v1alpha1.ScalingRecommendation, error) {
	out := v1alpha1.ScalingRecommendation{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindScalingRecommendation}}
	if len(load) == 0 {
		return out, fmt.Errorf("no load values")
	}
	season := seasonFor(req.Season, load, step)
	kind, notes := req.Model, ""
	horizon := stepsAhead(req.Scaling.StartupDelay.Duration, step)
	res, err := train.Candidate(load, train.Config{Model: "request", Kind: req.Model, Season: season, Horizon: horizon}, nil)
	if err == nil {
		kind = res.Version.Spec.Kind
		out.Confidence = math.Max(0, 1-res.Version.Spec.Metrics["smape"]/100)
		if out.Forecast, err = res.Model.Predict(horizon); err != nil {
			out.Forecast = nil
		}
	} else {
		notes = fmt.Sprintf(" (no model: %v)", err)
		kind = scalingKind(kind)
	}
	cfg := ScalingConfig(req.Scaling, kind, season, step)
	if err := cfg.Validate(); err != nil {
		return out, err
	}
	d := autoscale.NewPredictive(cfg).Decide(autoscale.Observation{
		Interval: step, Load: load, Capacity: req.Scaling.Capacity,
	})
	out.Model, out.Season, out.Replicas = kind, season, d.Replicas
	out.Current, out.SizedFor = load[len(load)-1], d.Forecast
	out.Reason = d.Reason + notes
	return out, nil
}

// stepsAhead is how many steps a decision must see: the start-up delay
// plus one step.
func stepsAhead(delay, step time.Duration) int {
	return int((delay+step-1)/step) + 1
}

// seasonFor is the given season, or the one detected in the data among
// the cycles its step suggests (trace.DetectSeason, as `lp forecast`
// does), cut to what the values can fit (two seasons and one value).
func seasonFor(given int, y []float64, step time.Duration) int {
	m := given
	if m == 0 {
		m = 1
		if detected, _, err := trace.DetectSeason(y, step); err == nil {
			m = detected
		}
	}
	if limit := (len(y) - 1) / 2; m > limit {
		m = max(limit, 1)
	}
	return m
}

// RecommendPrewarm says when to load an application's instance, from its
// invocations per minute (the last value is the current minute). Pure.
func RecommendPrewarm(invocations []float64, policy string) (v1alpha1.PrewarmRecommendation, error) {
	out := v1alpha1.PrewarmRecommendation{TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindPrewarmRecommendation}}
	if policy == "" {
		policy = "hybrid"
	}
	p, err := prewarm.ParsePolicy(policy)
	if err != nil {
		return out, err
	}
	adv := prewarm.Advise(p, Counts(invocations))
	out.Policy, out.Mode = adv.Policy, string(adv.Mode)
	out.PrewarmAfter, out.KeepAliveUntil = adv.Window.Start, adv.Window.End
	out.IdleFor, out.Warm, out.Confidence, out.Reason = adv.IdleFor, adv.Warm, adv.Confidence, adv.Reason
	if adv.LastInvocation < 0 {
		out.IdleFor = -1
	}
	return out, nil
}
