package v1alpha1

import (
	"fmt"
	"net"
	"net/url"
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
	// Telemetry configures the observer.
	Telemetry TelemetryConfig `json:"telemetry,omitzero" yaml:"telemetry,omitempty"`
	// Placement chooses how replicas are placed.
	Placement PlacementConfig `json:"placement,omitzero" yaml:"placement,omitempty"`
	// Auth, when enabled, requires bearer tokens with roles on /api/v1.
	Auth AuthConfig `json:"auth,omitzero" yaml:"auth,omitempty"`
	// Sites are started as in-process node agents.
	Sites []SiteTemplate `json:"sites" yaml:"sites"`
	// GEDS configures the ephemeral data store's services in `up`.
	GEDS GEDSSpec `json:"geds" yaml:"geds"`
	// Streams configures the stream store in `up`.
	Streams StreamsSpec `json:"streams,omitzero" yaml:"streams,omitempty"`
	// Cells configures how `up` keeps cell runs.
	Cells CellsSpec `json:"cells,omitzero" yaml:"cells,omitempty"`
}

// Where the control plane of `up` keeps cell checkpoints.
const (
	CellCheckpointsDir  = "dir"  // a directory under dataDir/checkpoints (the default)
	CellCheckpointsGEDS = "geds" // GEDS, persisted to spec.geds.persistent
)

// CellsSpec configures how `up` keeps cell runs.
type CellsSpec struct {
	// Checkpoints is where running cells' periodic checkpoints go: "dir"
	// (the default: dataDir/checkpoints, the control plane's disk) or
	// "geds" (bucket cell-checkpoints of a GEDS node of the control
	// plane's own, each checkpoint persisted to spec.geds.persistent, which
	// it needs, before its upload is acknowledged).
	Checkpoints string `json:"checkpoints,omitempty" yaml:"checkpoints,omitempty"`
}

// The stream store's long-term storage in `up`.
const (
	StreamLTSDir  = "dir"  // a directory under dataDir/streams (the default)
	StreamLTSGEDS = "geds" // GEDS, persisted to spec.geds.persistent
)

// StreamsSpec configures the stream store in `up`.
type StreamsSpec struct {
	// LTS is where segment data goes once it is coalesced into chunks:
	// "dir" (the default: dataDir/streams/lts, the same disk) or "geds"
	// (the seed's arrangement: chunks in GEDS, in the tier 0 of a GEDS
	// node of the stream store and persisted to spec.geds.persistent,
	// which it needs, before the log lets them go).
	LTS string `json:"lts,omitempty" yaml:"lts,omitempty"`
}

// GEDSSpec configures GEDS in `up`: the metadata service (always on the
// control plane's address), the S3 gateway and the GEDS node behind it.
type GEDSSpec struct {
	// S3Listen is the S3 gateway's host:port.
	S3Listen string `json:"s3Listen" yaml:"s3Listen"`
	// Tier0Limit bounds the gateway node's tier 0 (under dataDir).
	Tier0Limit Quantity `json:"tier0Limit" yaml:"tier0Limit"`
	// Persistent, when set, is the S3 store objects spill to; its keys come
	// from $CLOUDSKIN_GEDS_S3_ACCESS_KEY and $CLOUDSKIN_GEDS_S3_SECRET_KEY.
	Persistent *GEDSPersistent `json:"persistent,omitempty" yaml:"persistent,omitempty"`
}

// GEDSPersistent names an S3 endpoint for GEDS's persistency tier.
type GEDSPersistent struct {
	// Endpoint is host:port.
	Endpoint string `json:"endpoint" yaml:"endpoint"`
	Secure   bool   `json:"secure,omitempty" yaml:"secure,omitempty"`
	// BucketPrefix is put before GEDS bucket names in S3.
	BucketPrefix string `json:"bucketPrefix,omitempty" yaml:"bucketPrefix,omitempty"`
	// SignPayload signs every body's SHA-256 over plain HTTP; by default
	// bodies carry a CRC32C checksum instead, which costs both ends far
	// less CPU (s3tier.Config.SignPayload).
	SignPayload bool `json:"signPayload,omitempty" yaml:"signPayload,omitempty"`
}

// TelemetryConfig configures where metrics are kept and queried.
type TelemetryConfig struct {
	// Retention is how long the embedded TSDB keeps samples; zero means 15 days.
	Retention Duration `json:"retention,omitzero" yaml:"retention,omitempty"`
	// PrometheusURL, when set, is an external Prometheus or Thanos to
	// query instead of the embedded TSDB (which is then not kept, and
	// nothing is scraped: that Prometheus scrapes the agents).
	PrometheusURL string `json:"prometheusURL,omitempty" yaml:"prometheusURL,omitempty"`
}

// PlacementConfig chooses the placement scorer.
type PlacementConfig struct {
	// Scorer is "learning" (the heuristic plus the Learning Plane's rank
	// of sites by the QoS a block was observed to reach; the default) or
	// "heuristic".
	Scorer string `json:"scorer,omitempty" yaml:"scorer,omitempty"`
}

// AuthConfig turns on bearer-token authentication of the API.
type AuthConfig struct {
	// Enabled requires a token on every /api/v1 call; `up` makes one per
	// role in <dataDir>/tokens.yaml the first time and gives the client
	// configuration the admin one.
	Enabled bool `json:"enabled" yaml:"enabled"`
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
	if _, _, err := net.SplitHostPort(c.Spec.GEDS.S3Listen); err != nil {
		return fmt.Errorf("spec.geds.s3Listen %q: %w", c.Spec.GEDS.S3Listen, err)
	}
	if c.Spec.GEDS.Tier0Limit.Sign() <= 0 {
		return fmt.Errorf("spec.geds.tier0Limit %s: must be positive", c.Spec.GEDS.Tier0Limit.String())
	}
	if p := c.Spec.GEDS.Persistent; p != nil {
		if _, _, err := net.SplitHostPort(p.Endpoint); err != nil {
			return fmt.Errorf("spec.geds.persistent.endpoint %q: want host:port: %w", p.Endpoint, err)
		}
	}
	if err := validateDirOrGEDS("spec.streams.lts", c.Spec.Streams.LTS, StreamLTSDir, StreamLTSGEDS, c.Spec.GEDS.Persistent,
		"a chunk only in a GEDS tier 0 would be lost with it, after the stream's log let it go"); err != nil {
		return err
	}
	if err := validateDirOrGEDS("spec.cells.checkpoints", c.Spec.Cells.Checkpoints, CellCheckpointsDir, CellCheckpointsGEDS, c.Spec.GEDS.Persistent,
		"a checkpoint only in a GEDS tier 0 would not outlive its host"); err != nil {
		return err
	}
	if u := c.Spec.Telemetry.PrometheusURL; u != "" {
		if parsed, err := url.Parse(u); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return fmt.Errorf("spec.telemetry.prometheusURL %q: want an http or https URL", u)
		}
	}
	if c.Spec.Telemetry.Retention.Duration < 0 {
		return fmt.Errorf("spec.telemetry.retention %s: must not be negative", c.Spec.Telemetry.Retention)
	}
	switch c.Spec.Placement.Scorer {
	case "", "learning", "heuristic":
	default:
		return fmt.Errorf("spec.placement.scorer %q: want learning or heuristic", c.Spec.Placement.Scorer)
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
	// S3Endpoint is the GEDS S3 gateway's host:port.
	S3Endpoint string `json:"s3Endpoint,omitempty" yaml:"s3Endpoint,omitempty"`
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

// validateDirOrGEDS checks a setting that keeps data in a directory or in
// GEDS: GEDS needs the persistency tier, for the reason why.
func validateDirOrGEDS(field, value, dir, gedsValue string, persistent *GEDSPersistent, why string) error {
	switch value {
	case "", dir:
		return nil
	case gedsValue:
		if persistent == nil {
			return fmt.Errorf("%s %q needs spec.geds.persistent: %s", field, gedsValue, why)
		}
		return nil
	}
	return fmt.Errorf("%s %q: want %q or %q", field, value, dir, gedsValue)
}
