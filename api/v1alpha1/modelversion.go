package v1alpha1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// KindModelVersion is the kind of one trained version of a Learning Plane
// model in the model registry.
const KindModelVersion = "ModelVersion"

// Stages of a model version.
const (
	StageCandidate  = "candidate"  // trained, not serving
	StageProduction = "production" // the version predictions use
	StageArchived   = "archived"   // served once, replaced by a newer one
	StageRolledBack = "rolled-back"
	StageRejected   = "rejected" // lost its held-out comparison
)

// ModelVersion is one trained version of a named model: what it is, what it
// learnt from, how good it was on held-out data, where it came from.
type ModelVersion struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta         `json:"metadata" yaml:"metadata"`
	Spec     ModelVersionSpec   `json:"spec" yaml:"spec"`
	Status   ModelVersionStatus `json:"status,omitzero" yaml:"status,omitempty"`
}

// ModelVersionSpec is fixed when the version is registered.
type ModelVersionSpec struct {
	// Model is the registry name (the resource's name is model-vN).
	Model string `json:"model" yaml:"model"`
	// Kind is the forecaster kind ("holt-winters", ...).
	Kind string `json:"kind" yaml:"kind"`
	// Parameters are the fitted parameters, for reading.
	Parameters map[string]float64 `json:"parameters,omitempty" yaml:"parameters,omitempty"`
	// Data is the training window.
	Data TrainingData `json:"data" yaml:"data"`
	// Metrics are held-out back-test metrics (mae, smape, mase).
	Metrics map[string]float64 `json:"metrics,omitempty" yaml:"metrics,omitempty"`
	// Evaluation compares it with the production version on the same
	// held-out data, when there was one.
	Evaluation *ModelEvaluation `json:"evaluation,omitempty" yaml:"evaluation,omitempty"`
	// Parent is the version it was trained to replace (lineage), 0 if none.
	Parent int `json:"parent,omitempty" yaml:"parent,omitempty"`
	// TrainedBy says who made it ("agent/NAME", "cli").
	TrainedBy string `json:"trainedBy,omitempty" yaml:"trainedBy,omitempty"`
	// Artifact is the saved model (docs/formats/learning-model.md).
	Artifact json.RawMessage `json:"artifact" yaml:"-"`
}

// TrainingData says what a version learnt from.
type TrainingData struct {
	// Source is the PromQL query or file the series came from.
	Source string     `json:"source" yaml:"source"`
	Start  *time.Time `json:"start,omitempty" yaml:"start,omitempty"`
	End    *time.Time `json:"end,omitempty" yaml:"end,omitempty"`
	Points int        `json:"points" yaml:"points"`
	Step   Duration   `json:"step,omitzero" yaml:"step,omitempty"`
	Season int        `json:"season,omitempty" yaml:"season,omitempty"`
}

// ModelEvaluation is a candidate against the production version, both
// back-tested on the same held-out data.
type ModelEvaluation struct {
	// Against is the production version compared with.
	Against   int     `json:"against" yaml:"against"`
	Metric    string  `json:"metric" yaml:"metric"`
	Candidate float64 `json:"candidate" yaml:"candidate"`
	Current   float64 `json:"current" yaml:"current"`
	// Better is true when the candidate strictly won.
	Better bool `json:"better" yaml:"better"`
}

// ModelVersionStatus moves as the version is promoted and replaced.
type ModelVersionStatus struct {
	Version    int        `json:"version" yaml:"version"`
	Stage      string     `json:"stage" yaml:"stage"`
	Created    *time.Time `json:"created,omitempty" yaml:"created,omitempty"`
	PromotedAt *time.Time `json:"promotedAt,omitempty" yaml:"promotedAt,omitempty"`
	// Replaced is the production version this one replaced when promoted:
	// where a rollback returns to.
	Replaced int    `json:"replaced,omitempty" yaml:"replaced,omitempty"`
	Message  string `json:"message,omitempty" yaml:"message,omitempty"`
}

// ModelVersionName is the resource name of a model's version.
func ModelVersionName(model string, version int) string {
	return fmt.Sprintf("%s-v%d", model, version)
}

// Validate checks a version as registered (its status is the registry's).
func (m *ModelVersion) Validate() error {
	if err := ValidateName(m.Spec.Model); err != nil {
		return fmt.Errorf("spec.model: %w", err)
	}
	if m.Spec.Kind == "" {
		return fmt.Errorf("spec.kind is required")
	}
	if a := bytes.TrimSpace(m.Spec.Artifact); len(a) == 0 || a[0] != '{' || !json.Valid(a) {
		return fmt.Errorf("spec.artifact: the saved model is required, as a JSON object")
	}
	if m.Spec.Data.Points < 0 || m.Spec.Parent < 0 {
		return fmt.Errorf("spec: data.points and parent must not be negative")
	}
	return nil
}

// ModelSummary is one model of the registry: its versions and which serves.
type ModelSummary struct {
	Model    string `json:"model" yaml:"model"`
	Versions int    `json:"versions" yaml:"versions"`
	Latest   int    `json:"latest" yaml:"latest"`
	// Production is the serving version (0: none) and Kind its forecaster.
	Production int    `json:"production,omitempty" yaml:"production,omitempty"`
	Kind       string `json:"kind,omitempty" yaml:"kind,omitempty"`
}

// ModelList is the answer to listing the registry's models.
type ModelList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Items    []ModelSummary `json:"items" yaml:"items"`
}

// ModelVersionList is the answer to listing a model's versions.
type ModelVersionList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Items    []ModelVersion `json:"items" yaml:"items"`
}
