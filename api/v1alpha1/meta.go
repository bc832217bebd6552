package v1alpha1

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Group and Version name this API; APIVersion is what manifests carry.
const (
	Group      = "cloudskin.io"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
)

// TypeMeta says what a document is.
type TypeMeta struct {
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"`
}

// ObjectMeta is the metadata every resource carries.
type ObjectMeta struct {
	Name        string            `json:"name" yaml:"name"`
	Labels      map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty" yaml:"annotations,omitempty"`
	// Generation counts changes of the spec; the control plane sets it.
	Generation int64 `json:"generation,omitempty" yaml:"generation,omitempty"`
	// CreationTimestamp is set by the control plane when it first stores the object.
	CreationTimestamp *time.Time `json:"creationTimestamp,omitempty" yaml:"creationTimestamp,omitempty"`
}

// ValidateName reports whether name can name a resource: a DNS-1123 label,
// as in Kubernetes, so names are safe in URLs, file names and hostnames.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("metadata.name is required")
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("metadata.name %q: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// ValidateLabels checks label keys and values with Kubernetes' rules.
func ValidateLabels(labels map[string]string) error {
	for k, v := range labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("metadata.labels key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("metadata.labels[%s] value %q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	return nil
}

// ValidateMeta checks a resource's metadata.
func ValidateMeta(m ObjectMeta) error {
	if err := ValidateName(m.Name); err != nil {
		return err
	}
	return ValidateLabels(m.Labels)
}
