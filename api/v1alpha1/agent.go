package v1alpha1

import (
	"fmt"
	"net/url"
	"time"
)

// KindAgent is the kind of a Learning Plane agent.
const KindAgent = "Agent"

// Agent is a Learning Plane control loop (the Scanflow idea): at every
// trigger it reads its sensors (monitor), predicts with its model
// (analyse), decides with its policy (plan) and acts through its actuator
// (execute), logging all four.
type Agent struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta  `json:"metadata" yaml:"metadata"`
	Spec     AgentSpec   `json:"spec" yaml:"spec"`
	Status   AgentStatus `json:"status,omitzero" yaml:"status,omitempty"`
}

// AgentSpec is what the agent watches, how it decides and what it moves.
type AgentSpec struct {
	// Trigger says when the agent ticks.
	Trigger AgentTrigger `json:"trigger" yaml:"trigger"`
	// DryRun makes the agent decide and log but never act.
	DryRun bool `json:"dryRun,omitempty" yaml:"dryRun,omitempty"`
	// Sensors are PromQL queries; the first is the input of
	// predictive-scaling (the load) and pre-warming (invocations per
	// minute). Migration-trigger reads cloudskin_cell_qos through the
	// recommendation API and uses a sensor's step only.
	Sensors []Sensor `json:"sensors" yaml:"sensors"`
	// Model is the forecaster, kept in the model registry under its name.
	Model AgentModel `json:"model,omitzero" yaml:"model,omitempty"`
	// Policy turns the prediction into a decision.
	Policy AgentPolicy `json:"policy" yaml:"policy"`
	// Actuator carries the decision out.
	Actuator Actuator `json:"actuator,omitzero" yaml:"actuator,omitempty"`
}

// AgentTrigger is an interval or a cron expression (five fields, or
// descriptors such as @hourly); exactly one.
type AgentTrigger struct {
	Interval Duration `json:"interval,omitzero" yaml:"interval,omitempty"`
	Cron     string   `json:"cron,omitempty" yaml:"cron,omitempty"`
}

// Sensor is a PromQL query read over a window at a step: a range query
// whose series are summed into one.
type Sensor struct {
	Name  string `json:"name" yaml:"name"`
	Query string `json:"query" yaml:"query"`
	// Window is how much history each tick reads; default 6h.
	Window Duration `json:"window,omitzero" yaml:"window,omitempty"`
	// Step is the spacing of the points; default 1m.
	Step Duration `json:"step,omitzero" yaml:"step,omitempty"`
}

// AgentModel names the registry model the agent predicts with, and how
// the agent retrains it.
type AgentModel struct {
	// Name in the model registry; default the agent's name.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Kind of forecaster to train ("seasonal-naive", "holt-winters", ...,
	// or "auto" to pick by back-test); default seasonal-naive, the
	// predictive scaling policy's own default (docs/LEARNING.md).
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Season in steps; 0 means detected from the data.
	Season int `json:"season,omitempty" yaml:"season,omitempty"`
	// RetrainEvery is how many ticks pass between trainings; default 10.
	RetrainEvery int `json:"retrainEvery,omitempty" yaml:"retrainEvery,omitempty"`
}

// Policy types of an Agent.
const (
	PolicyPredictiveScaling = "predictive-scaling"
	PolicyPlacementRanking  = "placement-ranking"
	PolicyMigrationTrigger  = "migration-trigger"
	PolicyPreWarming        = "pre-warming"
)

// AgentPolicy is one of the built-in policies with its parameters.
type AgentPolicy struct {
	Type string `json:"type" yaml:"type"`
	// Scaling parameterises predictive-scaling.
	Scaling *ScalingPolicy `json:"scaling,omitempty" yaml:"scaling,omitempty"`
	// Objective is the SLO of placement-ranking and migration-trigger.
	Objective *Objective `json:"objective,omitempty" yaml:"objective,omitempty"`
	// Horizon is how far ahead migration-trigger looks; default 5 steps.
	Horizon int `json:"horizon,omitempty" yaml:"horizon,omitempty"`
	// PreWarm names the pre-warming policy: "hybrid" (Shahrad et al.),
	// "lsth" (INFless) or "fixed-N"; default hybrid.
	PreWarm string `json:"preWarm,omitempty" yaml:"preWarm,omitempty"`
}

// ScalingPolicy sizes replicas to a load forecast.
type ScalingPolicy struct {
	// Capacity is the load one replica serves within its SLO, in the
	// sensor's unit (for example requests per second).
	Capacity float64 `json:"capacity" yaml:"capacity"`
	// TargetUtilization of a replica's capacity, in (0, 1]; default 0.8.
	TargetUtilization float64 `json:"targetUtilization,omitempty" yaml:"targetUtilization,omitempty"`
	// Headroom on top of the forecast; default 0.1.
	Headroom float64 `json:"headroom,omitempty" yaml:"headroom,omitempty"`
	// StartupDelay is how long a new replica takes to serve (its cold
	// start); the forecast looks at least this far ahead.
	StartupDelay Duration `json:"startupDelay,omitzero" yaml:"startupDelay,omitempty"`
	// ScaleDownAfter is how long a lower count must be recommended before
	// replicas go down (hysteresis); default 5m.
	ScaleDownAfter Duration `json:"scaleDownAfter,omitzero" yaml:"scaleDownAfter,omitempty"`
	MinReplicas    int      `json:"minReplicas,omitempty" yaml:"minReplicas,omitempty"`
	// MaxReplicas bounds the count; default 10.
	MaxReplicas int `json:"maxReplicas,omitempty" yaml:"maxReplicas,omitempty"`
}

// Actuator types of an Agent.
const (
	ActuatorNone        = "none"        // decide and log only
	ActuatorApplication = "application" // the orchestrator NBI: a component's replicas, or a migration
	ActuatorKubernetes  = "kubernetes"  // the scale subresource of a Deployment
	ActuatorStream      = "stream"      // the stream store's segment-store instances
)

// Actuator says what the agent changes.
type Actuator struct {
	Type string `json:"type" yaml:"type"`
	// Application and Component name an application's component (for the
	// application actuator, and the component placement-ranking and
	// migration-trigger reason about).
	Application string `json:"application,omitempty" yaml:"application,omitempty"`
	Component   string `json:"component,omitempty" yaml:"component,omitempty"`
	// Kubeconfig, Namespace and Deployment name a Deployment.
	Kubeconfig string `json:"kubeconfig,omitempty" yaml:"kubeconfig,omitempty"`
	Namespace  string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	Deployment string `json:"deployment,omitempty" yaml:"deployment,omitempty"`
	// Server is the URL of the stream store's API for the stream
	// actuator; empty means the continuum the Learning Plane runs in.
	Server string `json:"server,omitempty" yaml:"server,omitempty"`
}

// AgentStatus is what the agent did last.
type AgentStatus struct {
	Ticks        int        `json:"ticks,omitempty" yaml:"ticks,omitempty"`
	LastTick     *time.Time `json:"lastTick,omitempty" yaml:"lastTick,omitempty"`
	LastDecision string     `json:"lastDecision,omitempty" yaml:"lastDecision,omitempty"`
	LastError    string     `json:"lastError,omitempty" yaml:"lastError,omitempty"`
	// ModelVersion is the registry version the last tick predicted with.
	ModelVersion int `json:"modelVersion,omitempty" yaml:"modelVersion,omitempty"`
}

// AgentTick is one monitor-analyse-plan-execute round, as logged.
type AgentTick struct {
	Time time.Time `json:"time" yaml:"time"`
	// Inputs are the sensors' latest values and how many points were read.
	Inputs map[string]SensorReading `json:"inputs,omitempty" yaml:"inputs,omitempty"`
	// Prediction is the model's forecast the policy used.
	Prediction []float64 `json:"prediction,omitempty" yaml:"prediction,omitempty"`
	Model      string    `json:"model,omitempty" yaml:"model,omitempty"`
	Decision   string    `json:"decision" yaml:"decision"`
	// Action is what the actuator did ("none", "dry-run: ...", "scaled ...").
	Action string `json:"action" yaml:"action"`
	Error  string `json:"error,omitempty" yaml:"error,omitempty"`
}

// SensorReading summarises what a sensor returned in one tick.
type SensorReading struct {
	Points int     `json:"points" yaml:"points"`
	Last   float64 `json:"last" yaml:"last"`
	// Filled counts NaN or missing points replaced by the previous value.
	Filled int `json:"filled,omitempty" yaml:"filled,omitempty"`
}

// Validate checks what a user may set on an Agent.
func (a *Agent) Validate() error {
	if err := ValidateTypeMeta(a.TypeMeta, KindAgent); err != nil {
		return err
	}
	if err := ValidateMeta(a.Metadata); err != nil {
		return err
	}
	s := a.Spec
	if err := s.Trigger.validate(); err != nil {
		return err
	}
	needsSensor := s.Policy.Type == PolicyPredictiveScaling || s.Policy.Type == PolicyPreWarming
	if len(s.Sensors) == 0 && needsSensor {
		return fmt.Errorf("spec.sensors: the %s policy needs at least one sensor", s.Policy.Type)
	}
	for i, se := range s.Sensors {
		if se.Name == "" || se.Query == "" {
			return fmt.Errorf("spec.sensors[%d]: want a name and a query", i)
		}
		if se.Window.Duration < 0 || se.Step.Duration < 0 {
			return fmt.Errorf("spec.sensors[%d] (%s): window and step must not be negative", i, se.Name)
		}
	}
	if s.Model.Season < 0 || s.Model.RetrainEvery < 0 {
		return fmt.Errorf("spec.model: season and retrainEvery must not be negative")
	}
	if err := s.Policy.validate(); err != nil {
		return err
	}
	return s.Actuator.validate(s.Policy.Type)
}

func (t AgentTrigger) validate() error {
	switch {
	case t.Interval.Duration == 0 && t.Cron == "":
		return fmt.Errorf("spec.trigger: give an interval or a cron expression")
	case t.Interval.Duration != 0 && t.Cron != "":
		return fmt.Errorf("spec.trigger: give an interval or a cron expression, not both")
	case t.Interval.Duration < 0:
		return fmt.Errorf("spec.trigger.interval %s: must be positive", t.Interval)
	case t.Interval.Duration != 0 && t.Interval.Duration < time.Second:
		return fmt.Errorf("spec.trigger.interval %s: at least 1s", t.Interval)
	}
	return nil
}

func (p AgentPolicy) validate() error {
	switch p.Type {
	case PolicyPredictiveScaling:
		sc := p.Scaling
		if sc == nil || sc.Capacity <= 0 {
			return fmt.Errorf("spec.policy.scaling.capacity: predictive-scaling needs a positive capacity per replica")
		}
		if sc.TargetUtilization < 0 || sc.TargetUtilization > 1 || sc.Headroom < 0 {
			return fmt.Errorf("spec.policy.scaling: targetUtilization must be in (0, 1] and headroom not negative")
		}
		if sc.MinReplicas < 0 || (sc.MaxReplicas != 0 && sc.MaxReplicas < sc.MinReplicas) || sc.MaxReplicas > MaxReplicas {
			return fmt.Errorf("spec.policy.scaling: want 0 <= minReplicas <= maxReplicas <= %d", MaxReplicas)
		}
	case PolicyPlacementRanking, PolicyMigrationTrigger:
		o := p.Objective
		if o == nil || o.Metric == "" || (o.Op != ">=" && o.Op != "<=") {
			return fmt.Errorf("spec.policy.objective: %s needs an objective with a metric and op >= or <=", p.Type)
		}
		if p.Horizon < 0 {
			return fmt.Errorf("spec.policy.horizon: must not be negative")
		}
	case PolicyPreWarming:
	default:
		return fmt.Errorf("spec.policy.type %q: want %s, %s, %s or %s", p.Type,
			PolicyPredictiveScaling, PolicyPlacementRanking, PolicyMigrationTrigger, PolicyPreWarming)
	}
	return nil
}

func (a Actuator) validate(policy string) error {
	switch a.Type {
	case "", ActuatorNone:
	case ActuatorApplication:
		if err := ValidateName(a.Application); err != nil {
			return fmt.Errorf("spec.actuator.application: %w", err)
		}
		if err := ValidateName(a.Component); err != nil {
			return fmt.Errorf("spec.actuator.component: %w", err)
		}
	case ActuatorKubernetes:
		if policy != PolicyPredictiveScaling && policy != PolicyPreWarming {
			return fmt.Errorf("spec.actuator: the kubernetes actuator scales; it serves predictive-scaling and pre-warming, not %s", policy)
		}
		if a.Kubeconfig == "" || a.Deployment == "" {
			return fmt.Errorf("spec.actuator: the kubernetes actuator needs a kubeconfig and a deployment")
		}
	case ActuatorStream:
		if policy != PolicyPredictiveScaling {
			return fmt.Errorf("spec.actuator: the stream actuator sets the stream store's instance count; it serves predictive-scaling, not %s", policy)
		}
		if u, err := url.Parse(a.Server); a.Server != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return fmt.Errorf("spec.actuator.server %q: want the stream store API's URL, such as http://127.0.0.1:7070", a.Server)
		}
	default:
		return fmt.Errorf("spec.actuator.type %q: want none, application, kubernetes or stream", a.Type)
	}
	if (policy == PolicyPlacementRanking || policy == PolicyMigrationTrigger) && (a.Application == "" || a.Component == "") {
		return fmt.Errorf("spec.actuator: %s needs the application and component it is about", policy)
	}
	return nil
}

// AgentList is the answer to listing agents.
type AgentList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Items    []Agent `json:"items" yaml:"items"`
}

// AgentTickList is an agent's log, oldest first.
type AgentTickList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Items    []AgentTick `json:"items" yaml:"items"`
}
