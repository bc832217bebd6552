package v1alpha1

import (
	"fmt"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Quantity is an amount of memory or disk written the Kubernetes way
// ("2Gi", "512Mi", "64G"). It wraps apimachinery's resource.Quantity so that
// users see the notation they know, and adds the YAML form that
// apimachinery leaves to its JSON path.
type Quantity struct {
	resource.Quantity
}

// MustParseQuantity parses s and panics if it is malformed; for constants only.
func MustParseQuantity(s string) Quantity {
	return Quantity{resource.MustParse(s)}
}

// ParseQuantity parses s, for example "2Gi".
func ParseQuantity(s string) (Quantity, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return Quantity{}, fmt.Errorf("quantity %q: %w", s, err)
	}
	return Quantity{q}, nil
}

// UnmarshalYAML accepts a scalar such as 2Gi or 1024. Errors are yaml
// TypeErrors carrying the line so the config decoder can point at it.
func (q *Quantity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s into quantity (want e.g. 2Gi)", n.Line, kindName(n))}}
	}
	parsed, err := resource.ParseQuantity(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %q into quantity (want e.g. 2Gi)", n.Line, n.Value)}}
	}
	q.Quantity = parsed
	return nil
}

// MarshalYAML writes the canonical string form.
func (q Quantity) MarshalYAML() (any, error) {
	return q.String(), nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a document"
	}
}
