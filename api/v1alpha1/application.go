package v1alpha1

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// KindApplication is the kind of a deployed service chain.
const KindApplication = "Application"

// Application is a service chain of blocks the orchestrator places on
// sites and keeps running.
type Application struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta        `json:"metadata" yaml:"metadata"`
	Spec     ApplicationSpec   `json:"spec" yaml:"spec"`
	Status   ApplicationStatus `json:"status,omitzero" yaml:"status,omitempty"`
}

// ApplicationSpec is the desired state.
type ApplicationSpec struct {
	Components []Component `json:"components" yaml:"components"`
	// Objectives are the QoS the application should meet; the
	// orchestrator marks it Degraded when a measured one is missed.
	Objectives []Objective `json:"objectives,omitempty" yaml:"objectives,omitempty"`
}

// Component is one block of the chain, with its replicas.
type Component struct {
	Name string `json:"name" yaml:"name"`
	// Block names a catalog entry as "name" (the newest version) or
	// "name@version".
	Block string `json:"block" yaml:"block"`
	// Replicas defaults to 1; 0 keeps the component but runs nothing.
	Replicas   *int              `json:"replicas,omitempty" yaml:"replicas,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty" yaml:"parameters,omitempty"`
	// Links name the components this one consumes from (upstream in the
	// chain). Links may not form a cycle; replicas of a component are
	// started after its upstream ones run.
	Links        []string     `json:"links,omitempty" yaml:"links,omitempty"`
	Requirements Requirements `json:"requirements,omitzero" yaml:"requirements,omitempty"`
}

// Requirements restrict where a component's replicas may run.
type Requirements struct {
	// Site pins the replicas to one site.
	Site string `json:"site,omitempty" yaml:"site,omitempty"`
	// SiteType is edge, cloud or kubernetes.
	SiteType SiteType `json:"siteType,omitempty" yaml:"siteType,omitempty"`
	// Labels a site must carry with these values (gpu, sgx, arch...).
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// MaxLatency bounds the latency from the site to named data sources,
	// as the sites declare them (SiteSpec.DataSources).
	MaxLatency []LatencyBound `json:"maxLatency,omitempty" yaml:"maxLatency,omitempty"`
}

// LatencyBound is a bound on the latency to one data source.
type LatencyBound struct {
	DataSource string   `json:"dataSource" yaml:"dataSource"`
	Max        Duration `json:"max" yaml:"max"`
}

// Objective is a QoS target on a metric the replicas report.
type Objective struct {
	// Metric is a name cells report (fps, latency_ms...).
	Metric string `json:"metric" yaml:"metric"`
	// Component is the component that reports it; empty means any.
	Component string `json:"component,omitempty" yaml:"component,omitempty"`
	// Op is ">=" or "<=".
	Op    string  `json:"op" yaml:"op"`
	Value float64 `json:"value" yaml:"value"`
}

// AppPhase is an application's overall state.
type AppPhase string

// The application phases.
const (
	AppPending   AppPhase = "Pending"   // accepted, nothing placed yet
	AppDeploying AppPhase = "Deploying" // replicas placed, not all running
	AppRunning   AppPhase = "Running"   // every replica runs, objectives met
	AppDegraded  AppPhase = "Degraded"  // runs, but replicas are missing or objectives missed
	AppFailed    AppPhase = "Failed"    // cannot run: no block, no site fits, replicas gave up
)

// ApplicationStatus is written by the orchestrator.
type ApplicationStatus struct {
	Phase AppPhase `json:"phase,omitempty" yaml:"phase,omitempty"`
	// ObservedGeneration is the metadata.generation the status describes.
	ObservedGeneration int64             `json:"observedGeneration,omitempty" yaml:"observedGeneration,omitempty"`
	Conditions         []Condition       `json:"conditions,omitempty" yaml:"conditions,omitempty"`
	Components         []ComponentStatus `json:"components,omitempty" yaml:"components,omitempty"`
}

// Condition is one aspect of a resource's state, the Kubernetes way.
type Condition struct {
	// Type: Placed, Available, ObjectivesMet...
	Type string `json:"type" yaml:"type"`
	// Status: True, False or Unknown.
	Status             string    `json:"status" yaml:"status"`
	Reason             string    `json:"reason,omitempty" yaml:"reason,omitempty"`
	Message            string    `json:"message,omitempty" yaml:"message,omitempty"`
	LastTransitionTime time.Time `json:"lastTransitionTime" yaml:"lastTransitionTime"`
}

// ComponentStatus is the state of one component's replicas.
type ComponentStatus struct {
	Name string `json:"name" yaml:"name"`
	// Block is the resolved "name@version".
	Block    string          `json:"block,omitempty" yaml:"block,omitempty"`
	Desired  int             `json:"desired" yaml:"desired"`
	Ready    int             `json:"ready" yaml:"ready"`
	Replicas []ReplicaStatus `json:"replicas,omitempty" yaml:"replicas,omitempty"`
}

// ReplicaStatus is one replica: the workload that realises it.
type ReplicaStatus struct {
	// Name of the workload (a cell run, a process, Kubernetes objects).
	Name     string `json:"name" yaml:"name"`
	Index    int    `json:"index" yaml:"index"`
	Site     string `json:"site" yaml:"site"`
	Phase    string `json:"phase" yaml:"phase"`
	Restarts int    `json:"restarts,omitempty" yaml:"restarts,omitempty"`
	Message  string `json:"message,omitempty" yaml:"message,omitempty"`
}

// ApplicationList is the answer to listing applications.
type ApplicationList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ListMeta      `json:"metadata,omitzero" yaml:"metadata,omitempty"`
	Items    []Application `json:"items" yaml:"items"`
}

// Labels and annotations the orchestrator puts on the workloads (cell
// runs, Kubernetes objects) that realise an application's replicas: the
// reconciler finds them again by these, whatever it remembered.
const (
	LabelApplication = "app.cloudskin.io/application"
	LabelComponent   = "app.cloudskin.io/component"
	LabelBlock       = "app.cloudskin.io/block"
	LabelIndex       = "app.cloudskin.io/index"
	LabelSerial      = "app.cloudskin.io/serial"
	LabelTemplate    = "app.cloudskin.io/template"
	LabelRestarts    = "app.cloudskin.io/restarts"
	AnnotationCPU    = "app.cloudskin.io/cpu-milli"
	AnnotationMemory = "app.cloudskin.io/memory-bytes"
)

// DesiredReplicas returns the component's replica count, 1 when unset.
func (c Component) DesiredReplicas() int {
	if c.Replicas == nil {
		return 1
	}
	return *c.Replicas
}

// MaxReplicas bounds a component's replicas.
const MaxReplicas = 10000

// Validate checks what a user may set on an Application: names, replica
// counts, requirements, objectives, and that links name components of
// the application and form no cycle. Whether the blocks exist is checked
// against the catalog by the orchestrator.
func (a *Application) Validate() error {
	if err := ValidateTypeMeta(a.TypeMeta, KindApplication); err != nil {
		return err
	}
	if err := ValidateMeta(a.Metadata); err != nil {
		return err
	}
	if len(a.Spec.Components) == 0 {
		return fmt.Errorf("spec.components: an application needs at least one component")
	}
	names := map[string]bool{}
	for i, c := range a.Spec.Components {
		if err := c.validate(i); err != nil {
			return err
		}
		if names[c.Name] {
			return fmt.Errorf("spec.components[%d]: duplicate component name %q", i, c.Name)
		}
		names[c.Name] = true
	}
	for i, c := range a.Spec.Components {
		for j, l := range c.Links {
			if !names[l] {
				return fmt.Errorf("spec.components[%d] (%s).links[%d]: no component %q in this application", i, c.Name, j, l)
			}
		}
	}
	if cycle := a.linkCycle(); cycle != nil {
		return fmt.Errorf("spec.components: links form a cycle: %s", strings.Join(cycle, " -> "))
	}
	for i, o := range a.Spec.Objectives {
		if o.Metric == "" {
			return fmt.Errorf("spec.objectives[%d].metric is required", i)
		}
		if o.Op != ">=" && o.Op != "<=" {
			return fmt.Errorf("spec.objectives[%d].op %q: want >= or <=", i, o.Op)
		}
		if o.Component != "" && !names[o.Component] {
			return fmt.Errorf("spec.objectives[%d].component: no component %q in this application", i, o.Component)
		}
	}
	return nil
}

func (c Component) validate(i int) error {
	if err := ValidateName(c.Name); err != nil {
		return fmt.Errorf("spec.components[%d].name: %w", i, err)
	}
	if c.Block == "" {
		return fmt.Errorf("spec.components[%d] (%s).block is required", i, c.Name)
	}
	if _, _, err := ParseBlockRef(c.Block); err != nil {
		return fmt.Errorf("spec.components[%d] (%s).block: %w", i, c.Name, err)
	}
	if n := c.DesiredReplicas(); n < 0 || n > MaxReplicas {
		return fmt.Errorf("spec.components[%d] (%s).replicas %d: want 0 to %d", i, c.Name, n, MaxReplicas)
	}
	r := c.Requirements
	if r.Site != "" {
		if err := ValidateName(r.Site); err != nil {
			return fmt.Errorf("spec.components[%d] (%s).requirements.site: %w", i, c.Name, err)
		}
	}
	switch r.SiteType {
	case "", SiteEdge, SiteCloud, SiteKubernetes:
	default:
		return fmt.Errorf("spec.components[%d] (%s).requirements.siteType %q: want edge, cloud or kubernetes", i, c.Name, r.SiteType)
	}
	if err := ValidateLabels(r.Labels); err != nil {
		return fmt.Errorf("spec.components[%d] (%s).requirements: %w", i, c.Name, err)
	}
	for j, b := range r.MaxLatency {
		if b.DataSource == "" || b.Max.Duration <= 0 {
			return fmt.Errorf("spec.components[%d] (%s).requirements.maxLatency[%d]: want a dataSource and a positive max", i, c.Name, j)
		}
	}
	return nil
}

// linkCycle returns the components of a cycle of links, or nil.
func (a *Application) linkCycle() []string {
	links := map[string][]string{}
	for _, c := range a.Spec.Components {
		links[c.Name] = c.Links
	}
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(n string) []string
	visit = func(n string) []string {
		state[n] = onPath
		path = append(path, n)
		for _, m := range links[n] {
			switch state[m] {
			case onPath:
				start := slices.Index(path, m)
				return append(slices.Clone(path[start:]), m)
			case unseen:
				if c := visit(m); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, c := range a.Spec.Components {
		if state[c.Name] == unseen {
			if cyc := visit(c.Name); cyc != nil {
				return cyc
			}
		}
	}
	return nil
}

// Component returns the named component.
func (a *Application) Component(name string) (Component, bool) {
	for _, c := range a.Spec.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// KindApplicationLogs is the kind of an application's logs.
const KindApplicationLogs = "ApplicationLogs"

// ApplicationLogs is the output of an application's workloads, as their
// agents last reported it.
type ApplicationLogs struct {
	TypeMeta    `json:",inline" yaml:",inline"`
	Application string     `json:"application" yaml:"application"`
	Entries     []LogEntry `json:"entries" yaml:"entries"`
}

// LogEntry is one workload's output.
type LogEntry struct {
	Component string `json:"component" yaml:"component"`
	Replica   int    `json:"replica" yaml:"replica"`
	Workload  string `json:"workload" yaml:"workload"`
	Site      string `json:"site,omitempty" yaml:"site,omitempty"`
	Phase     string `json:"phase,omitempty" yaml:"phase,omitempty"`
	Output    string `json:"output" yaml:"output"`
}
