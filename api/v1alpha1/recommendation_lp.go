package v1alpha1

import (
	"fmt"
	"math"
)

// Kinds of the Learning Plane's scaling and pre-warming answers.
const (
	KindScalingRecommendation = "ScalingRecommendation"
	KindPrewarmRecommendation = "PrewarmRecommendation"
)

// SeriesSource is where a recommendation reads its input: a PromQL query
// over a window at a step, or the values themselves (one per step, oldest
// first). Exactly one of Query and Values.
type SeriesSource struct {
	Query  string    `json:"query,omitempty"`
	Values []float64 `json:"values,omitempty"`
	// Window and Step of the query ("6h" and "1m" when empty); Step is
	// also the spacing of Values.
	Window Duration `json:"window,omitzero"`
	Step   Duration `json:"step,omitzero"`
}

func (s SeriesSource) validate() error {
	switch {
	case s.Query == "" && len(s.Values) == 0:
		return fmt.Errorf("give a query or values")
	case s.Query != "" && len(s.Values) > 0:
		return fmt.Errorf("give a query or values, not both")
	case s.Window.Duration < 0 || s.Step.Duration < 0:
		return fmt.Errorf("window and step must not be negative")
	}
	for i, v := range s.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("values[%d] = %v: want a finite value ≥ 0", i, v)
		}
	}
	return nil
}

// ScalingRecommendationRequest asks how many replicas a service needs for
// the load its series forecasts.
type ScalingRecommendationRequest struct {
	// Load is the demand series (for example requests per second).
	Load SeriesSource `json:"load"`
	// Scaling sizes replicas; only capacity is required.
	Scaling ScalingPolicy `json:"scaling"`
	// Model is a forecaster kind or "auto" (default); Season in steps, 0
	// to detect it from the step.
	Model  string `json:"model,omitempty"`
	Season int    `json:"season,omitempty"`
}

// Validate checks a request.
func (r ScalingRecommendationRequest) Validate() error {
	if err := r.Load.validate(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := (AgentPolicy{Type: PolicyPredictiveScaling, Scaling: &r.Scaling}).validate(); err != nil {
		return fmt.Errorf("scaling: %w", err)
	}
	if r.Season < 0 {
		return fmt.Errorf("season %d: must not be negative", r.Season)
	}
	return nil
}

// ScalingRecommendation is the replica count for the forecast load.
type ScalingRecommendation struct {
	TypeMeta `json:",inline" yaml:",inline"`
	// Model is the forecaster that was fitted and its season.
	Model  string `json:"model" yaml:"model"`
	Season int    `json:"season" yaml:"season"`
	// Replicas is the recommended count (no scale-down hysteresis: the
	// caller holds the history an agent would).
	Replicas int `json:"replicas" yaml:"replicas"`
	// Current is the latest load, SizedFor the load the count serves (the
	// higher of the current and the peak forecast over the start-up delay).
	Current  float64 `json:"current" yaml:"current"`
	SizedFor float64 `json:"sizedFor" yaml:"sizedFor"`
	// Forecast holds one value per step after the last, over the horizon.
	Forecast []float64 `json:"forecast" yaml:"forecast"`
	// Confidence is 1 − sMAPE/100 of the model's held-out back-test,
	// floored at 0; 0 when it could not be back-tested.
	Confidence float64 `json:"confidence" yaml:"confidence"`
	Reason     string  `json:"reason" yaml:"reason"`
}

// PrewarmRecommendationRequest asks when an application's instance should
// be loaded, from its invocations per minute.
type PrewarmRecommendationRequest struct {
	// Invocations per minute; Step must be 1m (the default).
	Invocations SeriesSource `json:"invocations"`
	// Policy is "hybrid" (default), "lsth" or "fixed-N".
	Policy string `json:"policy,omitempty"`
}

// Validate checks a request.
func (r PrewarmRecommendationRequest) Validate() error {
	if err := r.Invocations.validate(); err != nil {
		return fmt.Errorf("invocations: %w", err)
	}
	if s := r.Invocations.Step.Duration; s != 0 && s.Seconds() != 60 {
		return fmt.Errorf("invocations.step %s: pre-warming counts invocations per minute; give 1m", r.Invocations.Step)
	}
	return nil
}

// PrewarmRecommendation says when to load the instance.
type PrewarmRecommendation struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Policy   string `json:"policy" yaml:"policy"`
	// Mode says which branch of the policy decided (histogram, a fallback).
	Mode string `json:"mode" yaml:"mode"`
	// PrewarmAfter and KeepAliveUntil are minutes after the last
	// invocation: load then, unload after.
	PrewarmAfter   int `json:"prewarmAfter" yaml:"prewarmAfter"`
	KeepAliveUntil int `json:"keepAliveUntil" yaml:"keepAliveUntil"`
	// IdleFor is the minutes since the last invocation (-1: none seen).
	IdleFor int `json:"idleFor" yaml:"idleFor"`
	// Warm says whether the instance should be loaded now.
	Warm bool `json:"warm" yaml:"warm"`
	// Confidence is the share of past idle times the window catches.
	Confidence float64 `json:"confidence" yaml:"confidence"`
	Reason     string  `json:"reason" yaml:"reason"`
}
