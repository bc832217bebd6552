package v1alpha1

import (
	"fmt"
	"time"
)

// KindSite is the kind of a Site resource.
const KindSite = "Site"

// SiteType says whether a site is a small edge site or a big cloud site.
type SiteType string

// The site types.
const (
	SiteEdge  SiteType = "edge"
	SiteCloud SiteType = "cloud"
	// SiteKubernetes: a Kubernetes cluster the control plane drives
	// itself with client-go (no agent); see SiteSpec.Kubernetes.
	SiteKubernetes SiteType = "kubernetes"
)

// SitePhase is a site's health as the control plane sees it.
type SitePhase string

// The site phases.
const (
	// SiteReady: the site's agent heartbeats within the allowed silence.
	SiteReady SitePhase = "Ready"
	// SiteNotReady: the agent has been silent for longer than allowed.
	SiteNotReady SitePhase = "NotReady"
)

// Site is one place where work runs: an edge box or a cloud region, with a
// node agent that registers it and heartbeats.
type Site struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta `json:"metadata" yaml:"metadata"`
	Spec     SiteSpec   `json:"spec" yaml:"spec"`
	Status   SiteStatus `json:"status,omitzero" yaml:"status,omitempty"`
}

// SiteSpec is what the site's agent declares.
type SiteSpec struct {
	Type     SiteType `json:"type" yaml:"type"`
	Capacity Capacity `json:"capacity" yaml:"capacity"`
	// DataSources are data sources near the site (a camera, a sensor
	// field) with the latency to reach them from it; applications bound
	// that latency in their requirements.
	DataSources []DataSource `json:"dataSources,omitempty" yaml:"dataSources,omitempty"`
	// Kubernetes says how to reach the cluster of a kubernetes site.
	Kubernetes *KubernetesSite `json:"kubernetes,omitempty" yaml:"kubernetes,omitempty"`
}

// DataSource is a named source of data and its latency from a site.
type DataSource struct {
	Name    string   `json:"name" yaml:"name"`
	Latency Duration `json:"latency" yaml:"latency"`
}

// KubernetesSite points a site at a Kubernetes cluster.
type KubernetesSite struct {
	// Kubeconfig is the path of a kubeconfig file on the control plane's host.
	Kubeconfig string `json:"kubeconfig" yaml:"kubeconfig"`
	// Context in the kubeconfig; empty means its current context.
	Context string `json:"context,omitempty" yaml:"context,omitempty"`
	// Namespace the blocks' objects go to; empty means "default".
	Namespace string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
}

// Capacity is what a site offers to workloads.
type Capacity struct {
	Cores  int      `json:"cores" yaml:"cores"`
	Memory Quantity `json:"memory" yaml:"memory"`
	Disk   Quantity `json:"disk,omitzero" yaml:"disk,omitempty"`
}

// SiteStatus is written by the control plane, never by users.
type SiteStatus struct {
	Phase SitePhase `json:"phase,omitempty" yaml:"phase,omitempty"`
	// Message explains the phase, e.g. how long the agent has been silent.
	Message           string     `json:"message,omitempty" yaml:"message,omitempty"`
	LastHeartbeatTime *time.Time `json:"lastHeartbeatTime,omitempty" yaml:"lastHeartbeatTime,omitempty"`
	Agent             AgentInfo  `json:"agent,omitzero" yaml:"agent,omitempty"`
}

// AgentInfo describes the node agent serving a site.
type AgentInfo struct {
	Version  string `json:"version,omitempty" yaml:"version,omitempty"`
	Hostname string `json:"hostname,omitempty" yaml:"hostname,omitempty"`
	// MetricsURL is where an agent running in its own process serves
	// /metrics; the control plane scrapes it. Agents inside `up` share the
	// control plane's.
	MetricsURL string `json:"metricsURL,omitempty" yaml:"metricsURL,omitempty"`
}

// NewSite returns a Site with its TypeMeta filled in.
func NewSite(name string, spec SiteSpec) Site {
	return Site{
		TypeMeta: TypeMeta{APIVersion: APIVersion, Kind: KindSite},
		Metadata: ObjectMeta{Name: name},
		Spec:     spec,
	}
}

// Validate checks what a user or agent may set on a Site.
func (s *Site) Validate() error {
	if err := ValidateTypeMeta(s.TypeMeta, KindSite); err != nil {
		return err
	}
	if err := ValidateMeta(s.Metadata); err != nil {
		return err
	}
	return s.Spec.Validate()
}

// Validate checks a site's declared type and capacity.
func (s SiteSpec) Validate() error {
	switch s.Type {
	case SiteEdge, SiteCloud:
		if s.Kubernetes != nil {
			return fmt.Errorf("spec.kubernetes: only for sites of type kubernetes")
		}
	case SiteKubernetes:
		if s.Kubernetes == nil || s.Kubernetes.Kubeconfig == "" {
			return fmt.Errorf("spec.kubernetes.kubeconfig: a kubernetes site needs the path of its kubeconfig")
		}
	default:
		return fmt.Errorf("spec.type %q: must be %q, %q or %q", s.Type, SiteEdge, SiteCloud, SiteKubernetes)
	}
	for i, d := range s.DataSources {
		if d.Name == "" || d.Latency.Duration < 0 {
			return fmt.Errorf("spec.dataSources[%d]: want a name and a latency that is not negative", i)
		}
	}
	if s.Capacity.Cores <= 0 {
		return fmt.Errorf("spec.capacity.cores %d: must be positive", s.Capacity.Cores)
	}
	if s.Capacity.Memory.Sign() <= 0 {
		return fmt.Errorf("spec.capacity.memory %s: must be positive", s.Capacity.Memory.String())
	}
	if s.Capacity.Disk.Sign() < 0 {
		return fmt.Errorf("spec.capacity.disk %s: must not be negative", s.Capacity.Disk.String())
	}
	return nil
}

// ValidateTypeMeta checks apiVersion and kind.
func ValidateTypeMeta(t TypeMeta, kind string) error {
	if t.APIVersion != APIVersion {
		return fmt.Errorf("apiVersion %q: want %q", t.APIVersion, APIVersion)
	}
	if t.Kind != kind {
		return fmt.Errorf("kind %q: want %q", t.Kind, kind)
	}
	return nil
}

// SiteList is the answer to listing sites.
type SiteList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Items    []Site `json:"items" yaml:"items"`
}

// Heartbeat is what an agent sends to say it is alive.
type Heartbeat struct {
	Agent AgentInfo `json:"agent" yaml:"agent"`
}
