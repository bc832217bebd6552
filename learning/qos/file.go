package qos

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// FormatVersion is the version of the saved model (docs/formats/qos-model.md).
const FormatVersion = 1

// ModelKind names the model in its saved form.
const ModelKind = "qos-ridge"

// file is the saved form of a Model.
type file struct {
	Model           string    `json:"model"`
	Version         int       `json:"version"`
	Metric          string    `json:"metric"`
	Features        []string  `json:"features"`
	Mean            []float64 `json:"mean"`
	Scale           []float64 `json:"scale"`
	Coef            []float64 `json:"coef"`
	Intercept       float64   `json:"intercept"`
	Lambda          float64   `json:"lambda"`
	Samples         int       `json:"samples"`
	Groups          int       `json:"groups"`
	ErrorRMSE       float64   `json:"errorRMSE"`
	CrossValidation string    `json:"crossValidation"`
	TargetMean      float64   `json:"targetMean"`
	TargetStd       float64   `json:"targetStd"`
}

// MarshalJSON saves a fitted model.
func (m *Model) MarshalJSON() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(file{
		Model: ModelKind, Version: FormatVersion, Metric: m.Metric, Features: FeatureNames,
		Mean: m.Mean, Scale: m.Scale, Coef: m.Coef, Intercept: m.Intercept, Lambda: m.Lambda,
		Samples: m.Samples, Groups: m.Groups, ErrorRMSE: m.ErrorRMSE, CrossValidation: m.CrossValidation,
		TargetMean: m.TargetMean, TargetStd: m.TargetStd,
	})
}

// UnmarshalJSON loads a model saved by MarshalJSON and checks it, so a
// loaded model predicts or fails cleanly, never panics.
func (m *Model) UnmarshalJSON(data []byte) error {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("qos: load model: %w", err)
	}
	if f.Model != ModelKind || f.Version != FormatVersion {
		return fmt.Errorf("qos: load model: %q version %d, want %q version %d", f.Model, f.Version, ModelKind, FormatVersion)
	}
	if !slices.Equal(f.Features, FeatureNames) {
		return fmt.Errorf("qos: load model: features %v, want %v", f.Features, FeatureNames)
	}
	loaded := Model{
		Metric: f.Metric, Mean: f.Mean, Scale: f.Scale, Coef: f.Coef, Intercept: f.Intercept, Lambda: f.Lambda,
		Samples: f.Samples, Groups: f.Groups, ErrorRMSE: f.ErrorRMSE, CrossValidation: f.CrossValidation,
		TargetMean: f.TargetMean, TargetStd: f.TargetStd,
	}
	if err := loaded.validate(); err != nil {
		return fmt.Errorf("qos: load model: %w", err)
	}
	*m = loaded
	return nil
}

// validate checks that a model is complete and its numbers usable.
func (m *Model) validate() error {
	p := len(FeatureNames)
	switch {
	case m == nil:
		return fmt.Errorf("qos: no model")
	case m.Metric == "":
		return fmt.Errorf("qos: model has no metric")
	case len(m.Mean) != p || len(m.Scale) != p || len(m.Coef) != p:
		return fmt.Errorf("qos: model %s: mean, scale and coef need %d values each, have %d, %d, %d", m.Metric, p, len(m.Mean), len(m.Scale), len(m.Coef))
	case m.Samples < MinSamples || m.Groups < 1 || m.Groups > m.Samples:
		return fmt.Errorf("qos: model %s: %d samples at %d sites: need at least %d samples and 1 to %d sites", m.Metric, m.Samples, m.Groups, MinSamples, m.Samples)
	case m.CrossValidation != "leave-one-out" && m.CrossValidation != "leave-one-site-out":
		return fmt.Errorf("qos: model %s: unknown cross-validation %q", m.Metric, m.CrossValidation)
	}
	numbers := append([]float64{m.Intercept, m.Lambda, m.ErrorRMSE, m.TargetMean, m.TargetStd}, m.Mean...)
	numbers = append(append(numbers, m.Scale...), m.Coef...)
	for _, v := range numbers {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("qos: model %s: a number is not finite", m.Metric)
		}
	}
	if m.Lambda < 0 || m.ErrorRMSE < 0 || m.TargetStd < 0 {
		return fmt.Errorf("qos: model %s: lambda, error and target spread must not be negative", m.Metric)
	}
	for j, s := range m.Scale {
		if s < 0 || (s == 0 && m.Coef[j] != 0) {
			return fmt.Errorf("qos: model %s: feature %s: scale %g with weight %g", m.Metric, FeatureNames[j], s, m.Coef[j])
		}
	}
	return nil
}
