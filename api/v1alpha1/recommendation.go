package v1alpha1

import (
	"fmt"
	"math"
)

// KindPlacementRecommendation is the kind of the Learning Plane's answer
// to "where should this component run?".
const KindPlacementRecommendation = "PlacementRecommendation"

// PlacementRecommendationRequest asks the Learning Plane to rank sites for
// a block by the QoS it was observed to reach at each.
type PlacementRecommendationRequest struct {
	// Block is the block's name (its replicas' cloudskin_cell_qos carry it).
	Block string `json:"block"`
	// Objectives say which metrics matter and which way; an
	// Application's objectives fit as they are.
	Objectives []Objective `json:"objectives"`
	// Sites are the candidates.
	Sites []string `json:"sites"`
	// Window is how far back to look ("6h"); empty means 6 h.
	Window Duration `json:"window,omitzero"`
	// Resources are one replica's requested resources (the block's
	// profile), for predicting the QoS at sites where the block has no
	// history; left out, the block's observed usage stands in.
	Resources *Resources `json:"resources,omitempty"`
	// DataSourceLatency is the latency from each site to the
	// application's data source, where known (SiteSpec.DataSources).
	DataSourceLatency map[string]Duration `json:"dataSourceLatency,omitempty"`
	// Costs are each site's cost per replica-hour, in any currency, the
	// same for all; a site left out has no known cost.
	Costs map[string]float64 `json:"costs,omitempty"`
	// CostWeight in [0, 1] is the share of the score that cost takes;
	// 0 (the default) ranks by QoS alone.
	CostWeight float64 `json:"costWeight,omitempty"`
}

// Validate checks a request.
func (r PlacementRecommendationRequest) Validate() error {
	if err := ValidateName(r.Block); err != nil {
		return fmt.Errorf("block: %w", err)
	}
	if len(r.Sites) == 0 {
		return fmt.Errorf("sites: give at least one candidate site")
	}
	for i, o := range r.Objectives {
		if o.Metric == "" || (o.Op != ">=" && o.Op != "<=") {
			return fmt.Errorf("objectives[%d]: want a metric and op >= or <=", i)
		}
	}
	if r.Window.Duration < 0 {
		return fmt.Errorf("window %s: must not be negative", r.Window)
	}
	if r.Resources != nil && (r.Resources.CPU.Sign() < 0 || r.Resources.Memory.Sign() < 0) {
		return fmt.Errorf("resources: cpu and memory must not be negative")
	}
	for site, d := range r.DataSourceLatency {
		if d.Duration < 0 {
			return fmt.Errorf("dataSourceLatency[%s] %s: must not be negative", site, d)
		}
	}
	for site, c := range r.Costs {
		if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
			return fmt.Errorf("costs[%s] %v: must be a number that is not negative", site, c)
		}
	}
	if r.CostWeight < 0 || r.CostWeight > 1 || math.IsNaN(r.CostWeight) {
		return fmt.Errorf("costWeight %v: must be in [0, 1]", r.CostWeight)
	}
	return nil
}

// PlacementRecommendation ranks the candidate sites, best first.
type PlacementRecommendation struct {
	TypeMeta `json:",inline" yaml:",inline"`
	// Model names how the ranking was made.
	Model string               `json:"model" yaml:"model"`
	Sites []SiteRecommendation `json:"sites" yaml:"sites"`
}

// SiteRecommendation is one site's rank.
type SiteRecommendation struct {
	Site string `json:"site" yaml:"site"`
	// Score is in [0, 1]; 0.5 means no opinion.
	Score float64 `json:"score" yaml:"score"`
	// Predicted holds each objective's metric as predicted at the site.
	Predicted map[string]float64 `json:"predicted,omitempty" yaml:"predicted,omitempty"`
	// Confidence is in [0, 1]: how much history the prediction rests on.
	Confidence float64 `json:"confidence" yaml:"confidence"`
	Reason     string  `json:"reason" yaml:"reason"`
	// Basis says per metric where Predicted comes from: "observed" at
	// the site, "predicted" by the QoS model, "pooled" (the other sites'
	// mean, not trusted) or "none".
	Basis map[string]string `json:"basis,omitempty" yaml:"basis,omitempty"`
	// Cost is the site's cost per replica-hour, when the request gave it.
	Cost *float64 `json:"cost,omitempty" yaml:"cost,omitempty"`
}

// KindMigrationRecommendation is the kind of the Learning Plane's answer
// to "should this component's replica move?".
const KindMigrationRecommendation = "MigrationRecommendation"

// MigrationRecommendationRequest asks whether a component's replica at a
// site is heading for an objective violation, and where to move it.
type MigrationRecommendationRequest struct {
	Application string `json:"application"`
	Component   string `json:"component"`
	// Replica is the replica's index; empty means the mean of the
	// component's replicas at the site.
	Replica string `json:"replica,omitempty"`
	// Site is where the replica runs now.
	Site      string    `json:"site"`
	Objective Objective `json:"objective"`
	// Sites are the candidates to move to; empty means every site that
	// telemetry says is ready.
	Sites []string `json:"sites,omitempty"`
	// Window is how much of the recent series to forecast from ("30m"
	// when empty), Step its interval ("1m"), Horizon how far ahead to
	// look ("5m").
	Window  Duration `json:"window,omitzero"`
	Step    Duration `json:"step,omitzero"`
	Horizon Duration `json:"horizon,omitzero"`
	// Margin is the hysteresis as a fraction of the objective's value
	// (0.1 when 0); MinConfidence the least confidence to act on (0.3
	// when 0).
	Margin        float64 `json:"margin,omitempty"`
	MinConfidence float64 `json:"minConfidence,omitempty"`
}

// Validate checks a request.
func (r MigrationRecommendationRequest) Validate() error {
	for _, f := range []struct{ name, value string }{{"application", r.Application}, {"component", r.Component}, {"site", r.Site}} {
		if err := ValidateName(f.value); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	o := r.Objective
	if o.Metric == "" || (o.Op != ">=" && o.Op != "<=") || o.Value <= 0 || math.IsNaN(o.Value) || math.IsInf(o.Value, 0) {
		return fmt.Errorf("objective: want a metric, op >= or <= and a positive value")
	}
	for i, s := range r.Sites {
		if err := ValidateName(s); err != nil {
			return fmt.Errorf("sites[%d]: %w", i, err)
		}
	}
	if r.Window.Duration < 0 || r.Step.Duration < 0 || r.Horizon.Duration < 0 {
		return fmt.Errorf("window, step and horizon must not be negative")
	}
	if r.Margin < 0 || r.Margin >= 1 || math.IsNaN(r.Margin) {
		return fmt.Errorf("margin %v: must be in [0, 1)", r.Margin)
	}
	if r.MinConfidence < 0 || r.MinConfidence > 1 || math.IsNaN(r.MinConfidence) {
		return fmt.Errorf("minConfidence %v: must be in [0, 1]", r.MinConfidence)
	}
	return nil
}

// MigrationRecommendation is the answer: move or stay, and why.
type MigrationRecommendation struct {
	TypeMeta `json:",inline" yaml:",inline"`
	// Model names the forecaster used at the current site.
	Model   string `json:"model" yaml:"model"`
	Migrate bool   `json:"migrate" yaml:"migrate"`
	From    string `json:"from" yaml:"from"`
	// To is the site to move to; empty when staying.
	To     string `json:"to,omitempty" yaml:"to,omitempty"`
	Metric string `json:"metric" yaml:"metric"`
	// PredictedViolationAt is in steps ahead: 0 means the objective is
	// violated now, -1 that no violation is predicted within the horizon.
	PredictedViolationAt int      `json:"predictedViolationAt" yaml:"predictedViolationAt"`
	Step                 Duration `json:"step" yaml:"step"`
	// Predicted is the forecast at the violation, or at the horizon.
	Predicted float64 `json:"predicted" yaml:"predicted"`
	// Forecast holds one value per step after the last observation.
	Forecast   []float64 `json:"forecast" yaml:"forecast"`
	Confidence float64   `json:"confidence" yaml:"confidence"`
	Reason     string    `json:"reason" yaml:"reason"`
	// Candidates are the other sites as the placement ranking scored them.
	Candidates []SiteRecommendation `json:"candidates,omitempty" yaml:"candidates,omitempty"`
}
