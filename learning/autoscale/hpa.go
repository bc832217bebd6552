package autoscale

import (
	"fmt"
	"math"
	"time"
)

// HPAConfig tunes the Kubernetes HPA rule. Zero fields take the Kubernetes
// defaults.
type HPAConfig struct {
	// Name is what the policy reports; "hpa" if empty ("keda" from NewKEDA).
	Name string
	// TargetUtilization is the wanted load per ready replica as a fraction
	// of its Capacity (the HPA's target average value); default 0.8.
	TargetUtilization float64
	// Tolerance: no change while |ratio-1| ≤ Tolerance; default 0.1, a
	// negative value means none.
	Tolerance float64
	// DownscaleWindow is the scale-down stabilisation window: the policy
	// answers the highest recommendation of the window, so a short dip
	// does not remove replicas; default 300 s, a negative value means none.
	DownscaleWindow time.Duration
	// MinReplicas and MaxReplicas bound the answer; MinReplicas defaults
	// to 1 and MaxReplicas ≤ 0 means no bound.
	MinReplicas, MaxReplicas int
	// PollInterval, if positive, is how often the metric is read: between
	// polls the rule sees the load of the last poll (KEDA's external
	// metrics). Zero reads the latest load at every decision.
	PollInterval time.Duration
	// PollPhase shifts the polls: a poll happens at the decisions whose
	// time (Step·Interval + PollPhase) falls within one interval after a
	// multiple of PollInterval. KEDA's poll loop is aligned neither with
	// the HPA's sync loop nor with the trace's minutes; NewKEDA sets half
	// a poll interval, so the metric is on average as stale as in a
	// cluster.
	PollPhase time.Duration
}

func (c HPAConfig) withDefaults() HPAConfig {
	if c.Name == "" {
		c.Name = "hpa"
	}
	if c.TargetUtilization <= 0 {
		c.TargetUtilization = DefaultTargetUtilization
	}
	c.Tolerance = orDefault(c.Tolerance, DefaultTolerance)
	c.DownscaleWindow = orDefault(c.DownscaleWindow, DefaultDownscaleWindow)
	if c.MinReplicas == 0 {
		c.MinReplicas = 1
	}
	return c
}

// Validate reports a configuration the rule cannot follow.
func (c HPAConfig) Validate() error {
	if math.IsNaN(c.TargetUtilization) || c.TargetUtilization > 1 {
		return fmt.Errorf("autoscale: target utilisation %v is not in (0, 1]", c.TargetUtilization)
	}
	return checkRange(c.MinReplicas, c.MaxReplicas)
}

// hpa is the Kubernetes HorizontalPodAutoscaler's replica calculation
// (pkg/controller/podautoscaler) for one average-value metric: the load per
// ready replica against a target of TargetUtilization·Capacity.
type hpa struct {
	cfg HPAConfig
	// recent holds the recommendations of the stabilisation window,
	// newest last, with the step each was made at.
	recent []recommendation
	// polled is the metric value read at the last poll, pollStep its step.
	polled   float64
	pollStep int
}

type recommendation struct {
	step, replicas int
}

// NewHPA returns the Kubernetes HPA rule: desired = ceil(ready ·
// metric/target) with metric the load per ready replica, unchanged while
// the ratio is within the tolerance of 1, and on the way down the highest
// recommendation of the stabilisation window.
func NewHPA(cfg HPAConfig) Policy {
	return &hpa{cfg: cfg.withDefaults(), pollStep: -1}
}

// NewKEDA returns the HPA rule fed by a metric polled every 30 s, KEDA's
// default pollingInterval, half a poll out of phase with the decisions,
// named "keda". Other fields of cfg apply as in NewHPA.
func NewKEDA(cfg HPAConfig) Policy {
	if cfg.Name == "" {
		cfg.Name = "keda"
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultKEDAPollInterval
		cfg.PollPhase = DefaultKEDAPollInterval / 2
	}
	return NewHPA(cfg)
}

// Name implements Policy.
func (h *hpa) Name() string { return h.cfg.Name }

// Decide implements Policy.
func (h *hpa) Decide(o Observation) Decision {
	load := h.metric(o)
	target := h.cfg.TargetUtilization * o.Capacity
	raw, why := h.rawRecommendation(o, load, target)
	raw = clampReplicas(raw, h.cfg.MinReplicas, h.cfg.MaxReplicas)
	final := h.stabilise(o, raw)
	if final != raw {
		why = fmt.Sprintf("%s; held at %d, the highest recommendation of the last %s", why, final, h.cfg.DownscaleWindow)
	}
	return Decision{Replicas: final, Forecast: load, Reason: why}
}

// metric is the load the rule sees: the latest, or the one read at the
// last poll when polling.
func (h *hpa) metric(o Observation) float64 {
	if h.cfg.PollInterval <= 0 || o.Interval <= 0 {
		return latest(o.Load)
	}
	at := time.Duration(o.Step)*o.Interval + h.cfg.PollPhase
	due := h.pollStep < 0 || at%h.cfg.PollInterval < o.Interval
	if due {
		h.polled, h.pollStep = latest(o.Load), o.Step
	}
	return h.polled
}

// rawRecommendation is the HPA ratio rule before stabilisation.
func (h *hpa) rawRecommendation(o Observation, load, target float64) (int, string) {
	if target <= 0 {
		return o.Desired, "no capacity per replica: keep"
	}
	if o.Ready == 0 {
		// No ready replica reports a metric; size from the load alone,
		// as KEDA's activation does when scaling from zero.
		n := replicasFor(load, o.Capacity, h.cfg.TargetUtilization)
		return n, fmt.Sprintf("no ready replica: load %.4g needs %d", load, n)
	}
	perReplica := load / float64(o.Ready)
	ratio := perReplica / target
	if math.Abs(ratio-1) <= h.cfg.Tolerance {
		return o.Desired, fmt.Sprintf("ratio %.3f within tolerance %.2g: keep %d", ratio, h.cfg.Tolerance, o.Desired)
	}
	n := int(math.Ceil(ratio*float64(o.Ready) - 1e-9))
	return n, fmt.Sprintf("load %.4g over %d ready = %.3g per replica, ratio %.3f: %d", load, o.Ready, perReplica, ratio, n)
}

// stabilise records raw and returns the highest recommendation within the
// downscale window (which is raw itself when scaling up).
func (h *hpa) stabilise(o Observation, raw int) int {
	h.recent = append(h.recent, recommendation{step: o.Step, replicas: raw})
	keep := 1
	if o.Interval > 0 {
		// Recommendations made less than the window ago count, as in
		// Kubernetes (timestamp after now - window).
		keep = max(int(h.cfg.DownscaleWindow/o.Interval), 1)
	}
	cut := 0
	for cut < len(h.recent) && o.Step-h.recent[cut].step >= keep {
		cut++
	}
	h.recent = h.recent[cut:]
	best := raw
	for _, r := range h.recent {
		best = max(best, r.replicas)
	}
	return best
}
