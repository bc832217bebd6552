// Package agent runs the Learning Plane's agents (the Scanflow idea): an
// Agent resource names sensors (PromQL queries), a model kept in the model
// registry, a policy and an actuator; at each trigger the agent monitors
// (reads its sensors), analyses (retrains and predicts), plans (its
// policy decides) and executes (its actuator acts, unless dry-run), and
// logs all four.
//
// The decisions themselves live in pure packages: predictive scaling in
// learning/autoscale, pre-warming in learning/prewarm, model choice in
// learning/train, placement ranking and migration advice behind the
// Learning Plane's recommendation API. This package does the I/O around
// them: queries, the registry, the orchestrator's API, Kubernetes.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/autoscale"
	"github.com/cloudskin/cloudskin/learning/registry"
	"github.com/cloudskin/cloudskin/learning/train"
	"github.com/cloudskin/cloudskin/telemetry"
)

// DefaultRetrainEvery is how many ticks pass between trainings.
const DefaultRetrainEvery = 10

// Deps are what agents read from and act on.
type Deps struct {
	// Querier is where sensors are read (called at each tick).
	Querier  func() telemetry.Querier
	Registry *registry.Registry
	NBI      NBI
	// Migrations advises migrations (the recommendation API).
	Migrations MigrationAdvisor
	Log        *slog.Logger
}

// MigrationAdvisor answers migration recommendations; *client.Client
// implements it.
type MigrationAdvisor interface {
	RecommendMigration(ctx context.Context, req v1alpha1.MigrationRecommendationRequest) (v1alpha1.MigrationRecommendation, error)
}

// Runner is one agent between ticks: its spec, its actuator and the
// memory of its policy (the scale-down hysteresis).
type Runner struct {
	agent  v1alpha1.Agent
	deps   Deps
	scaler Scaler
	start  time.Time
	ticks  int

	scaling       autoscale.Policy
	scalingKind   string
	scalingSeason int
}

// NewRunner prepares an agent; start is when its step count begins.
func NewRunner(a v1alpha1.Agent, deps Deps, start time.Time) (*Runner, error) {
	s, err := NewScaler(a.Spec.Actuator, deps.NBI)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", a.Metadata.Name, err)
	}
	return &Runner{agent: a, deps: deps, scaler: s, start: start}, nil
}

// Agent returns the spec the runner follows.
func (r *Runner) Agent() v1alpha1.Agent { return r.agent }

// Tick runs one monitor-analyse-plan-execute round at now. Failures are
// part of the tick (its Error), not returned: the log shows them.
func (r *Runner) Tick(ctx context.Context, now time.Time) (v1alpha1.AgentTick, int) {
	t := v1alpha1.AgentTick{Time: now.UTC(), Action: "none"}
	r.ticks++
	readings, err := r.monitor(ctx, now, &t)
	if err != nil {
		t.Error, t.Decision = err.Error(), "no decision: sensors unreadable"
		return t, 0
	}
	var version int
	switch r.agent.Spec.Policy.Type {
	case v1alpha1.PolicyPredictiveScaling:
		version, err = r.scale(ctx, readings[0], &t)
	case v1alpha1.PolicyPreWarming:
		err = r.prewarm(ctx, readings[0], &t)
	case v1alpha1.PolicyPlacementRanking:
		err = r.rank(ctx, &t)
	case v1alpha1.PolicyMigrationTrigger:
		err = r.migrate(ctx, &t)
	default:
		err = fmt.Errorf("unknown policy %q", r.agent.Spec.Policy.Type)
	}
	if err != nil {
		t.Error = err.Error()
		if t.Decision == "" {
			t.Decision = "no decision"
		}
	}
	return t, version
}

// monitor reads every sensor.
func (r *Runner) monitor(ctx context.Context, now time.Time, t *v1alpha1.AgentTick) ([]Reading, error) {
	q := r.deps.Querier()
	if q == nil && len(r.agent.Spec.Sensors) > 0 {
		return nil, errors.New("no telemetry to read sensors from")
	}
	var out []Reading
	t.Inputs = map[string]v1alpha1.SensorReading{}
	for _, s := range r.agent.Spec.Sensors {
		rd, err := ReadSensor(ctx, q, s, now)
		if err != nil {
			return nil, err
		}
		t.Inputs[s.Name] = rd.Summary()
		out = append(out, rd)
	}
	return out, nil
}

// act carries a replica count out, or says what it would have done.
func (r *Runner) act(ctx context.Context, replicas int, t *v1alpha1.AgentTick) error {
	switch {
	case r.scaler == nil:
		t.Action = fmt.Sprintf("none (no actuator): %d replicas recommended", replicas)
	case r.agent.Spec.DryRun:
		t.Action = fmt.Sprintf("dry-run: would set %d replicas", replicas)
	default:
		what, err := r.scaler.Scale(ctx, replicas)
		if err != nil {
			return err
		}
		t.Action = what
	}
	return nil
}

// season is the model's season length in steps (see seasonFor).
func (r *Runner) season(rd Reading) int {
	return seasonFor(r.agent.Spec.Model.Season, rd.Values, rd.Step)
}

// model returns the production version of the agent's model, retraining
// first when it is due: every RetrainEvery ticks, and while there is none.
func (r *Runner) model(ctx context.Context, rd Reading, season int) (*v1alpha1.ModelVersion, []string) {
	spec := r.agent.Spec.Model
	name := spec.Name
	if name == "" {
		name = r.agent.Metadata.Name
	}
	prod, err := r.deps.Registry.Production(ctx, name)
	var current *v1alpha1.ModelVersion
	if err == nil {
		current = &prod
	} else if !errors.Is(err, registry.ErrNotFound) {
		return nil, []string{fmt.Sprintf("registry: %v", err)}
	}
	every := spec.RetrainEvery
	if every == 0 {
		every = DefaultRetrainEvery
	}
	if current != nil && (r.ticks-1)%every != 0 {
		return current, nil
	}
	sensor := r.agent.Spec.Sensors[0]
	res, err := train.Candidate(rd.Values, train.Config{
		Model: name, Kind: trainingKind(spec.Kind), Season: season,
		Data:      train.Window(sensor.Query, rd.Start, rd.Step, len(rd.Values)),
		TrainedBy: "agent/" + r.agent.Metadata.Name,
	}, current)
	if err != nil {
		return current, []string{fmt.Sprintf("training skipped: %v", err)}
	}
	notes := res.Notes
	mv, err := r.deps.Registry.Register(ctx, res.Version)
	if err != nil {
		return current, append(notes, fmt.Sprintf("registry: %v", err))
	}
	ev := mv.Spec.Evaluation
	if current == nil || (ev != nil && ev.Better) {
		p, err := r.deps.Registry.Promote(ctx, mv.Spec.Model, mv.Status.Version, false)
		if err != nil {
			return current, append(notes, fmt.Sprintf("promote version %d: %v", mv.Status.Version, err))
		}
		return &p, append(notes, fmt.Sprintf("trained version %d (%s) and promoted it", p.Status.Version, p.Spec.Kind))
	}
	why := fmt.Sprintf("held-out %s %.4g, not below production version %d's %.4g", ev.Metric, ev.Candidate, ev.Against, ev.Current)
	if err := r.deps.Registry.Reject(ctx, mv.Spec.Model, mv.Status.Version, why); err != nil {
		notes = append(notes, fmt.Sprintf("registry: %v", err))
	}
	return current, append(notes, fmt.Sprintf("trained version %d (%s), kept version %d: %s", mv.Status.Version, mv.Spec.Kind, current.Status.Version, why))
}

// scale is predictive scaling: the production model's kind forecasts the
// load over the start-up delay (until a version is trained, the kind the
// agent asks for, or autoscale's default: see scalingKind); autoscale's
// predictive policy sizes the replicas and holds scale-downs for its
// hysteresis window.
func (r *Runner) scale(ctx context.Context, rd Reading, t *v1alpha1.AgentTick) (int, error) {
	sp := r.agent.Spec.Policy.Scaling
	season := r.season(rd)
	mv, notes := r.model(ctx, rd, season)
	kind, version := scalingKind(r.agent.Spec.Model.Kind), 0
	if mv != nil {
		kind, version, season = mv.Spec.Kind, mv.Status.Version, mv.Spec.Data.Season
		t.Model = fmt.Sprintf("%s v%d (%s)", mv.Spec.Model, version, kind)
	}
	if r.scaling == nil || r.scalingKind != kind || r.scalingSeason != season {
		cfg := ScalingConfig(*sp, kind, season, rd.Step)
		if err := cfg.Validate(); err != nil {
			return version, err
		}
		r.scaling, r.scalingKind, r.scalingSeason = autoscale.NewPredictive(cfg), kind, season
	}
	desired, ready, err := r.current(ctx, sp.MinReplicas)
	if err != nil {
		return version, err
	}
	d := r.scaling.Decide(autoscale.Observation{
		Step: int(t.Time.Sub(r.start) / rd.Step), Interval: rd.Step, Load: rd.Values,
		Desired: desired, Ready: ready, Capacity: sp.Capacity,
	})
	t.Prediction = []float64{d.Forecast}
	t.Decision = fmt.Sprintf("%d replicas: %s", d.Replicas, d.Reason)
	if len(notes) > 0 {
		t.Decision += " [model: " + strings.Join(notes, "; ") + "]"
	}
	return version, r.act(ctx, d.Replicas, t)
}

// trainingKind is the kind a scaling agent trains: the one it asks for,
// "auto" (pick by back-test) only when asked, and otherwise the predictive
// policy's default. Back-tests rank kinds by forecast error, and the kind
// with the least error is not the one that scales best: on the generated
// operating-room trace both Holt-Winters kinds back-test better than
// seasonal-naive and scale worse with it (docs/LEARNING.md, "Model choice
// for scaling").
func trainingKind(kind string) string {
	if kind == "" {
		return scalingKind(kind)
	}
	return kind
}

// scalingKind is the model kind the predictive policy runs when no trained
// version names one: the kind asked for or, when none is (or "auto", which
// needs a trained version to mean anything), the policy's own default,
// seasonal-naive, so an agent scales as `lp scale simulate` measured it
// (the policy reads the shape of the model's path, and yesterday's shape
// did better than Holt-Winters' smoothed one; docs/LEARNING.md).
func scalingKind(kind string) string {
	if kind == "" || kind == train.KindAuto {
		return autoscale.PredictiveConfig{}.WithDefaults().Model
	}
	return kind
}

// ScalingConfig maps an Agent's scaling policy onto autoscale's predictive
// policy, refitting at every decision on the sensor's steps.
func ScalingConfig(sp v1alpha1.ScalingPolicy, kind string, season int, step time.Duration) autoscale.PredictiveConfig {
	maxReplicas := sp.MaxReplicas
	if maxReplicas == 0 {
		maxReplicas = 10
	}
	headroom := sp.Headroom
	if headroom == 0 {
		headroom = 0.1
	}
	return autoscale.PredictiveConfig{
		Model: kind, Season: season, Resolution: step, RefitEvery: 1,
		StartupDelay: sp.StartupDelay.Duration, Headroom: headroom, TargetUtilization: sp.TargetUtilization,
		ScaleDownAfter: sp.ScaleDownAfter.Duration, MinReplicas: max(sp.MinReplicas, 0), MaxReplicas: maxReplicas,
	}
}

// current is the actuator's desired and ready count (without an actuator,
// the minimum: the agent only recommends).
func (r *Runner) current(ctx context.Context, minReplicas int) (int, int, error) {
	if r.scaler == nil {
		return max(minReplicas, 1), max(minReplicas, 1), nil
	}
	return r.scaler.Replicas(ctx)
}

// prewarm keeps one instance loaded only inside the window the
// pre-warming policy predicts after the last invocation: the sensor
// counts invocations per minute.
func (r *Runner) prewarm(ctx context.Context, rd Reading, t *v1alpha1.AgentTick) error {
	if rd.Step != time.Minute {
		return fmt.Errorf("pre-warming reads invocations per minute: give the sensor step 1m, not %s", rd.Step)
	}
	rec, err := RecommendPrewarm(rd.Values, r.agent.Spec.Policy.PreWarm)
	if err != nil {
		return err
	}
	t.Model = rec.Policy
	t.Prediction = []float64{float64(rec.PrewarmAfter), float64(rec.KeepAliveUntil)}
	replicas := 0
	if rec.Warm {
		replicas = 1
	}
	t.Decision = fmt.Sprintf("%d replicas: %s", replicas, rec.Reason)
	return r.act(ctx, replicas, t)
}

// Counts rounds a per-minute invocation series to whole counts.
func Counts(values []float64) []int {
	out := make([]int, len(values))
	for i, v := range values {
		if v > 0 && !math.IsInf(v, 0) {
			out[i] = int(math.Round(v))
		}
	}
	return out
}

// rank asks the recommendation API to rank every site for the actuator's
// component by the policy's objective; the orchestrator's learning scorer
// asks the same at each placement, so the agent logs the ranking.
func (r *Runner) rank(ctx context.Context, t *v1alpha1.AgentTick) error {
	act := r.agent.Spec.Actuator
	block, err := r.block(ctx, act.Application, act.Component)
	if err != nil {
		return err
	}
	sites, err := r.deps.NBI.ListSites(ctx)
	if err != nil {
		return fmt.Errorf("sites: %w", err)
	}
	var names []string
	for _, s := range sites {
		names = append(names, s.Metadata.Name)
	}
	if len(names) == 0 {
		return errors.New("no sites to rank")
	}
	rec, err := r.deps.NBI.RecommendPlacement(ctx, v1alpha1.PlacementRecommendationRequest{
		Block: block, Objectives: []v1alpha1.Objective{*r.agent.Spec.Policy.Objective}, Sites: names,
	})
	if err != nil {
		return fmt.Errorf("placement recommendation: %w", err)
	}
	t.Model = rec.Model
	var parts []string
	for _, s := range rec.Sites {
		parts = append(parts, fmt.Sprintf("%s %.2f", s.Site, s.Score))
		t.Prediction = append(t.Prediction, s.Score)
	}
	t.Decision = "rank: " + strings.Join(parts, ", ")
	t.Action = "none: the orchestrator's learning scorer applies the ranking at each placement"
	return nil
}

// block is the name of the block an application's component runs.
func (r *Runner) block(ctx context.Context, app, comp string) (string, error) {
	a, err := r.deps.NBI.GetApplication(ctx, app)
	if err != nil {
		return "", fmt.Errorf("application %s: %w", app, err)
	}
	for _, c := range a.Spec.Components {
		if c.Name == comp {
			name, _, err := v1alpha1.ParseBlockRef(c.Block)
			return name, err
		}
	}
	return "", fmt.Errorf("application %s has no component %q", app, comp)
}

// migrate asks, for each site where the component has replicas, whether
// they are heading for a violation of the objective, and starts the
// migration the recommendation API advises (one at a time: not while
// another migration of the component is under way).
func (r *Runner) migrate(ctx context.Context, t *v1alpha1.AgentTick) error {
	if r.deps.Migrations == nil {
		return errors.New("no migration recommendations to ask")
	}
	act, pol := r.agent.Spec.Actuator, r.agent.Spec.Policy
	a, err := r.deps.NBI.GetApplication(ctx, act.Application)
	if err != nil {
		return fmt.Errorf("application %s: %w", act.Application, err)
	}
	sites := map[string]bool{}
	for _, c := range a.Status.Components {
		for _, rep := range c.Replicas {
			if c.Name == act.Component && rep.Site != "" {
				sites[rep.Site] = true
			}
		}
	}
	if len(sites) == 0 {
		t.Decision = fmt.Sprintf("stay: %s/%s has no placed replica", act.Application, act.Component)
		return nil
	}
	step := time.Minute
	if len(r.agent.Spec.Sensors) > 0 && r.agent.Spec.Sensors[0].Step.Duration > 0 {
		step = r.agent.Spec.Sensors[0].Step.Duration
	}
	horizon := pol.Horizon
	if horizon == 0 {
		horizon = 5
	}
	var decisions []string
	for _, site := range slices.Sorted(maps.Keys(sites)) {
		rec, err := r.deps.Migrations.RecommendMigration(ctx, v1alpha1.MigrationRecommendationRequest{
			Application: act.Application, Component: act.Component, Site: site, Objective: *pol.Objective,
			Step: v1alpha1.Duration{Duration: step}, Horizon: v1alpha1.Duration{Duration: time.Duration(horizon) * step},
		})
		if err != nil {
			return fmt.Errorf("migration recommendation for %s: %w", site, err)
		}
		t.Model = rec.Model
		t.Prediction = append(t.Prediction, rec.Predicted)
		if !rec.Migrate {
			decisions = append(decisions, fmt.Sprintf("stay at %s: %s", site, rec.Reason))
			continue
		}
		decisions = append(decisions, fmt.Sprintf("move from %s to %s: %s", site, rec.To, rec.Reason))
		if err := r.startMigration(ctx, rec, t); err != nil {
			return err
		}
		break // one move per tick: the next tick sees its effect
	}
	t.Decision = strings.Join(decisions, "; ")
	return nil
}

func (r *Runner) startMigration(ctx context.Context, rec v1alpha1.MigrationRecommendation, t *v1alpha1.AgentTick) error {
	act := r.agent.Spec.Actuator
	if r.agent.Spec.DryRun {
		t.Action = fmt.Sprintf("dry-run: would migrate %s/%s from %s to %s", act.Application, act.Component, rec.From, rec.To)
		return nil
	}
	running, err := r.deps.NBI.ListMigrations(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, m := range running {
		busy := m.Status.Phase == v1alpha1.MigrationPending || m.Status.Phase == v1alpha1.MigrationRunning
		if busy && m.Spec.Application == act.Application && m.Spec.Component == act.Component {
			t.Action = fmt.Sprintf("none: migration %s of %s/%s is still %s", m.Metadata.Name, act.Application, act.Component, m.Status.Phase)
			return nil
		}
	}
	m, err := r.deps.NBI.CreateMigration(ctx, v1alpha1.Migration{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindMigration},
		Spec:     v1alpha1.MigrationSpec{Application: act.Application, Component: act.Component, To: rec.To},
	})
	if err != nil {
		return fmt.Errorf("migrate %s/%s to %s: %w", act.Application, act.Component, rec.To, err)
	}
	t.Action = fmt.Sprintf("migration %s: %s/%s from %s to %s", m.Metadata.Name, act.Application, act.Component, rec.From, rec.To)
	return nil
}
