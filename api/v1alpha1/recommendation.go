package v1alpha1

import "fmt"

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
}
