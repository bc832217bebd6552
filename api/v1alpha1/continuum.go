package v1alpha1

import (
	"fmt"
	"net"
)

// KindContinuum is the kind of the resource that configures `cloudskin up`.
const KindContinuum = "Continuum"

// Continuum configures the embedded continuum that `cloudskin up` runs:
// where it listens, where it keeps state, and which sites it starts agents for.
type Continuum struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta    `json:"metadata" yaml:"metadata"`
	Spec     ContinuumSpec `json:"spec" yaml:"spec"`
}

// ContinuumSpec is the configuration proper.
type ContinuumSpec struct {
	// Listen is the control plane's host:port.
	Listen string `json:"listen" yaml:"listen"`
	// DataDir holds all state: the store, the client config, later GEDS and streams.
	DataDir string `json:"dataDir" yaml:"dataDir"`
	// Heartbeat sets how agents prove they are alive.
	Heartbeat HeartbeatPolicy `json:"heartbeat" yaml:"heartbeat"`
	// Sites are started as in-process node agents.
	Sites []SiteTemplate `json:"sites" yaml:"sites"`
}

// HeartbeatPolicy sets heartbeat period and the silence after which a site is NotReady.
type HeartbeatPolicy struct {
	Interval      Duration `json:"interval" yaml:"interval"`
	NotReadyAfter Duration `json:"notReadyAfter" yaml:"notReadyAfter"`
}

// SiteTemplate declares a site that `up` starts an agent for.
type SiteTemplate struct {
	Name   string            `json:"name" yaml:"name"`
	Labels map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Spec   SiteSpec          `json:"spec" yaml:"spec"`
}

// Validate checks the whole configuration and names the first wrong field.
func (c *Continuum) Validate() error {
	if err := ValidateTypeMeta(c.TypeMeta, KindContinuum); err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(c.Spec.Listen); err != nil {
		return fmt.Errorf("spec.listen %q: %w", c.Spec.Listen, err)
	}
	if c.Spec.DataDir == "" {
		return fmt.Errorf("spec.dataDir is required")
	}
	hb := c.Spec.Heartbeat
	if hb.Interval.Duration <= 0 {
		return fmt.Errorf("spec.heartbeat.interval %s: must be positive", hb.Interval)
	}
	if hb.NotReadyAfter.Duration <= hb.Interval.Duration {
		return fmt.Errorf("spec.heartbeat.notReadyAfter %s: must exceed the interval %s", hb.NotReadyAfter, hb.Interval)
	}
	seen := map[string]bool{}
	for i, s := range c.Spec.Sites {
		if err := ValidateMeta(ObjectMeta{Name: s.Name, Labels: s.Labels}); err != nil {
			return fmt.Errorf("spec.sites[%d]: %w", i, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("spec.sites[%d]: duplicate site name %q", i, s.Name)
		}
		seen[s.Name] = true
		if err := s.Spec.Validate(); err != nil {
			return fmt.Errorf("spec.sites[%d] (%s): %w", i, s.Name, err)
		}
	}
	return nil
}

// KindClientConfig is the kind of the client configuration file.
const KindClientConfig = "ClientConfig"

// ClientConfig tells client commands where the control plane is, like a
// kubeconfig. `cloudskin up` writes one under its data directory.
type ClientConfig struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta       `json:"metadata" yaml:"metadata"`
	Spec     ClientConfigSpec `json:"spec" yaml:"spec"`
}

// ClientConfigSpec holds the server address and, later, credentials.
type ClientConfigSpec struct {
	Server string `json:"server" yaml:"server"`
	Token  string `json:"token,omitempty" yaml:"token,omitempty"`
}

// Validate checks the client configuration.
func (c *ClientConfig) Validate() error {
	if err := ValidateTypeMeta(c.TypeMeta, KindClientConfig); err != nil {
		return err
	}
	if c.Spec.Server == "" {
		return fmt.Errorf("spec.server is required")
	}
	return nil
}
