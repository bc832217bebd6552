package v1alpha1

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
)

// KindBlock is the kind of a catalog entry.
const KindBlock = "Block"

// BlockType says how a block's replicas run.
type BlockType string

// The block types.
const (
	// BlockCell: a WebAssembly module run as a C-Cell by a site's agent.
	BlockCell BlockType = "cell"
	// BlockProcess: a native program run by a site's agent, for what
	// cannot be a cell.
	BlockProcess BlockType = "process"
	// BlockKubernetes: manifests rendered from a template and applied to a
	// site of type kubernetes.
	BlockKubernetes BlockType = "kubernetes"
)

// Block is a versioned application component published in the catalog
// (the marketplace). A block is immutable once published: a change is a
// new version.
type Block struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta  `json:"metadata" yaml:"metadata"`
	Spec     BlockSpec   `json:"spec" yaml:"spec"`
	Status   BlockStatus `json:"status,omitzero" yaml:"status,omitempty"`
}

// BlockSpec is what a block runs and what it needs.
type BlockSpec struct {
	// Version is a semantic version, MAJOR.MINOR.PATCH.
	Version     string    `json:"version" yaml:"version"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	Type        BlockType `json:"type" yaml:"type"`
	// Exactly one of Cell, Process, Kubernetes, matching Type.
	Cell       *CellTemplate       `json:"cell,omitempty" yaml:"cell,omitempty"`
	Process    *ProcessTemplate    `json:"process,omitempty" yaml:"process,omitempty"`
	Kubernetes *KubernetesTemplate `json:"kubernetes,omitempty" yaml:"kubernetes,omitempty"`
	// Parameters an application sets per component; args, env and
	// manifests refer to them as {{ .Params.NAME }}.
	Parameters []ParameterSpec `json:"parameters,omitempty" yaml:"parameters,omitempty"`
	// Resources one replica needs at its site.
	Resources Resources `json:"resources,omitzero" yaml:"resources,omitempty"`
	// Restart says when a replica that ended is started again: Always
	// (services, the default), OnFailure (jobs) or Never.
	Restart RestartPolicy `json:"restart,omitempty" yaml:"restart,omitempty"`
}

// RestartPolicy says when a replica that ended is started again.
type RestartPolicy string

// The restart policies.
const (
	RestartAlways    RestartPolicy = "Always"
	RestartOnFailure RestartPolicy = "OnFailure"
	RestartNever     RestartPolicy = "Never"
)

// CellTemplate is a C-Cell module and how to run it.
type CellTemplate struct {
	// Module is the SHA-256 of the module, uploaded to /api/v1/modules.
	Module string   `json:"module" yaml:"module"`
	Args   []string `json:"args,omitempty" yaml:"args,omitempty"`
	Env    []string `json:"env,omitempty" yaml:"env,omitempty"`
	Engine string   `json:"engine,omitempty" yaml:"engine,omitempty"`
	// Memory caps linear memory; zero means 4 GiB.
	Memory Quantity `json:"memory,omitzero" yaml:"memory,omitempty"`
	Ranks  int      `json:"ranks,omitempty" yaml:"ranks,omitempty"`
	Dirs   []string `json:"dirs,omitempty" yaml:"dirs,omitempty"`
	// CheckpointInterval makes replicas checkpoint this often (see CellRunSpec).
	CheckpointInterval Duration `json:"checkpointInterval,omitzero" yaml:"checkpointInterval,omitempty"`
}

// ProcessTemplate is a native program an agent starts.
type ProcessTemplate struct {
	// Command is the program and its arguments.
	Command []string `json:"command" yaml:"command"`
	Env     []string `json:"env,omitempty" yaml:"env,omitempty"`
}

// KubernetesTemplate is a Go text/template that renders to one or more
// YAML Kubernetes manifests.
type KubernetesTemplate struct {
	Manifest string `json:"manifest" yaml:"manifest"`
}

// ParameterType is the type of a block parameter's value.
type ParameterType string

// The parameter types.
const (
	ParamString ParameterType = "string"
	ParamInt    ParameterType = "int"
	ParamNumber ParameterType = "number"
	ParamBool   ParameterType = "bool"
)

// ParameterSpec declares one typed parameter of a block.
type ParameterSpec struct {
	Name        string        `json:"name" yaml:"name"`
	Type        ParameterType `json:"type" yaml:"type"`
	Description string        `json:"description,omitempty" yaml:"description,omitempty"`
	// Default is used when the application does not set the parameter;
	// a parameter without a default is required.
	Default *string `json:"default,omitempty" yaml:"default,omitempty"`
}

// Resources is what one replica needs.
type Resources struct {
	// CPU in cores, the Kubernetes way ("500m", "2").
	CPU    Quantity `json:"cpu,omitzero" yaml:"cpu,omitempty"`
	Memory Quantity `json:"memory,omitzero" yaml:"memory,omitempty"`
}

// BlockStatus is written by the catalog.
type BlockStatus struct {
	// Digest is the SHA-256 of the block's spec as published: two
	// publications of one version must carry the same digest.
	Digest string `json:"digest,omitempty" yaml:"digest,omitempty"`
}

// BlockList is the answer to listing the catalog.
type BlockList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ListMeta `json:"metadata,omitzero" yaml:"metadata,omitempty"`
	Items    []Block  `json:"items" yaml:"items"`
}

var semverPattern = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

var paramNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidateVersion checks a semantic version MAJOR.MINOR.PATCH[-PRE].
func ValidateVersion(v string) error {
	if !semverPattern.MatchString(v) {
		return fmt.Errorf("version %q: want a semantic version such as 1.2.0", v)
	}
	return nil
}

// CompareVersions orders two valid semantic versions: -1, 0 or 1. A
// pre-release sorts before its release; pre-releases compare as strings.
func CompareVersions(a, b string) int {
	pa, pb := semverPattern.FindStringSubmatch(a), semverPattern.FindStringSubmatch(b)
	if pa == nil || pb == nil {
		return strings.Compare(a, b)
	}
	for i := 1; i <= 3; i++ {
		x, _ := strconv.ParseUint(pa[i], 10, 64)
		y, _ := strconv.ParseUint(pb[i], 10, 64)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case pa[4] == pb[4]:
		return 0
	case pa[4] == "":
		return 1
	case pb[4] == "":
		return -1
	}
	return strings.Compare(pa[4], pb[4])
}

// Validate checks what a publisher may set on a Block.
func (b *Block) Validate() error {
	if err := ValidateTypeMeta(b.TypeMeta, KindBlock); err != nil {
		return err
	}
	if err := ValidateMeta(b.Metadata); err != nil {
		return err
	}
	if err := ValidateVersion(b.Spec.Version); err != nil {
		return fmt.Errorf("spec.%w", err)
	}
	return b.Spec.validate()
}

func (s BlockSpec) validate() error {
	set := 0
	for _, p := range []bool{s.Cell != nil, s.Process != nil, s.Kubernetes != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("spec: set exactly one of cell, process, kubernetes (found %d)", set)
	}
	switch s.Type {
	case BlockCell:
		if s.Cell == nil {
			return fmt.Errorf("spec.type is cell but spec.cell is not set")
		}
		if err := s.Cell.validate(); err != nil {
			return err
		}
	case BlockProcess:
		if s.Process == nil {
			return fmt.Errorf("spec.type is process but spec.process is not set")
		}
		if len(s.Process.Command) == 0 || s.Process.Command[0] == "" {
			return fmt.Errorf("spec.process.command: want the program and its arguments")
		}
	case BlockKubernetes:
		if s.Kubernetes == nil {
			return fmt.Errorf("spec.type is kubernetes but spec.kubernetes is not set")
		}
		if strings.TrimSpace(s.Kubernetes.Manifest) == "" {
			return fmt.Errorf("spec.kubernetes.manifest: want a template of Kubernetes YAML")
		}
		if _, err := template.New("manifest").Option("missingkey=error").Parse(s.Kubernetes.Manifest); err != nil {
			return fmt.Errorf("spec.kubernetes.manifest: %w", err)
		}
	default:
		return fmt.Errorf("spec.type %q: want cell, process or kubernetes", s.Type)
	}
	switch s.Restart {
	case "", RestartAlways, RestartOnFailure, RestartNever:
	default:
		return fmt.Errorf("spec.restart %q: want Always, OnFailure or Never", s.Restart)
	}
	if s.Resources.CPU.Sign() < 0 || s.Resources.Memory.Sign() < 0 {
		return fmt.Errorf("spec.resources: cpu and memory must not be negative")
	}
	return validateParameters(s.Parameters)
}

func (c *CellTemplate) validate() error {
	if err := ValidateDigest(c.Module); err != nil {
		return fmt.Errorf("spec.cell.module: %w", err)
	}
	switch c.Engine {
	case "", "auto", "wasmtime", "wazero":
	default:
		return fmt.Errorf("spec.cell.engine %q: want wasmtime, wazero or auto", c.Engine)
	}
	if c.Ranks < 0 || c.Ranks > MaxRanks {
		return fmt.Errorf("spec.cell.ranks %d: want 1 to %d (0 means 1)", c.Ranks, MaxRanks)
	}
	if c.Memory.Sign() < 0 || c.CheckpointInterval.Duration < 0 {
		return fmt.Errorf("spec.cell: memory and checkpointInterval must not be negative")
	}
	return nil
}

func validateParameters(params []ParameterSpec) error {
	seen := map[string]bool{}
	for i, p := range params {
		if !paramNamePattern.MatchString(p.Name) {
			return fmt.Errorf("spec.parameters[%d].name %q: want a letter or _ then letters, digits or _", i, p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("spec.parameters[%d]: duplicate parameter %q", i, p.Name)
		}
		seen[p.Name] = true
		switch p.Type {
		case ParamString, ParamInt, ParamNumber, ParamBool:
		default:
			return fmt.Errorf("spec.parameters[%d] (%s).type %q: want string, int, number or bool", i, p.Name, p.Type)
		}
		if p.Default != nil {
			if err := p.Check(*p.Default); err != nil {
				return fmt.Errorf("spec.parameters[%d].default: %w", i, err)
			}
		}
	}
	return nil
}

// Check reports whether value is a valid value of the parameter's type.
func (p ParameterSpec) Check(value string) error {
	var err error
	switch p.Type {
	case ParamInt:
		_, err = strconv.ParseInt(value, 10, 64)
	case ParamNumber:
		_, err = strconv.ParseFloat(value, 64)
	case ParamBool:
		_, err = strconv.ParseBool(value)
	}
	if err != nil {
		return fmt.Errorf("parameter %s: %q is not a valid %s", p.Name, value, p.Type)
	}
	return nil
}

// ResolveParameters checks values against the block's parameters and
// returns every parameter's value, defaults filled in. Unknown names,
// missing required ones and values of the wrong type are errors.
func (s BlockSpec) ResolveParameters(values map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(s.Parameters))
	known := map[string]bool{}
	for _, p := range s.Parameters {
		known[p.Name] = true
		v, ok := values[p.Name]
		if !ok {
			if p.Default == nil {
				return nil, fmt.Errorf("parameter %s (%s) is required", p.Name, p.Type)
			}
			v = *p.Default
		}
		if err := p.Check(v); err != nil {
			return nil, err
		}
		out[p.Name] = v
	}
	for name := range values {
		if !known[name] {
			return nil, fmt.Errorf("parameter %s: the block has no such parameter", name)
		}
	}
	return out, nil
}

// Ref returns "name@version", how applications name a block version.
func (b *Block) Ref() string { return b.Metadata.Name + "@" + b.Spec.Version }

// ParseBlockRef splits "name" or "name@version"; an empty version means
// the newest published one.
func ParseBlockRef(ref string) (name, version string, err error) {
	name, version, _ = strings.Cut(ref, "@")
	if err := ValidateName(name); err != nil {
		return "", "", fmt.Errorf("block %q: %w", ref, err)
	}
	if version != "" {
		if err := ValidateVersion(version); err != nil {
			return "", "", fmt.Errorf("block %q: %w", ref, err)
		}
	}
	return name, version, nil
}
