package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell/migrate"
	"github.com/cloudskin/cloudskin/orchestrator/apps"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
	"github.com/cloudskin/cloudskin/orchestrator/placement"
	"github.com/cloudskin/cloudskin/orchestrator/reconcile"
)

// Reconciliation timing: a pass runs on every change of applications,
// migrations or cell runs, and at least every resyncEvery; restarts back
// off from backoffBase to backoffMax.
const (
	resyncEvery = 2 * time.Second
	backoffBase = time.Second
	backoffMax  = 5 * time.Minute
	// migrationTimeout fails a migration that has not completed.
	migrationTimeout = 2 * time.Minute
)

// reconcileLoop runs reconciliation passes until ctx ends.
func (cp *ControlPlane) reconcileLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		_, cellsChanged := cp.cells.Changes()
		appsChanged := cp.apps.Changed()
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-appsChanged:
		case <-cellsChanged:
		}
		next, err := cp.reconcileOnce(ctx)
		if err != nil && ctx.Err() == nil {
			cp.log.Warn("reconciling applications", "err", err)
		}
		if next <= 0 || next > resyncEvery {
			next = resyncEvery
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// reconcileOnce reads the state, computes a plan and carries it out. It
// returns when the next pass is due at the latest.
func (cp *ControlPlane) reconcileOnce(ctx context.Context) (time.Duration, error) {
	cp.reconcileMu.Lock()
	defer cp.reconcileMu.Unlock()
	in, err := cp.reconcileInput(ctx)
	if err != nil {
		return 0, err
	}
	plan := reconcile.Compute(in)
	var errs []error
	for _, d := range plan.Deletes {
		cp.log.Info("deleting workload", "workload", d.Name, "reason", d.Reason)
		if err := cp.deleteWorkload(ctx, d.Name); err != nil {
			errs = append(errs, err)
		}
	}
	createFailed := map[string]string{}
	for _, c := range slices.Concat(plan.Creates, plan.Scales) {
		if err := cp.createWorkload(ctx, c); err != nil {
			createFailed[c.Workload.Application] = fmt.Sprintf("creating %s: %v", c.Workload.Name, err)
			continue
		}
		cp.log.Info("workload applied", "workload", c.Workload.Name, "site", c.Workload.Site, "block", c.Block.Ref())
	}
	for name, st := range plan.Status {
		if msg, ok := createFailed[name]; ok {
			st.Phase = v1alpha1.AppFailed
			st.Conditions = append(st.Conditions, v1alpha1.Condition{Type: "WorkloadsCreated", Status: "False", Reason: "CreateFailed", Message: msg, LastTransitionTime: in.Now})
		}
		if err := cp.apps.SetStatus(ctx, name, st); err != nil && ctx.Err() == nil {
			errs = append(errs, err)
		}
	}
	for name, ds := range plan.Decisions {
		if err := cp.recordDecisions(ctx, name, in.Scorer.Name(), ds); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cp.progressMigrations(ctx, in); err != nil {
		errs = append(errs, err)
	}
	return plan.RequeueAfter, errors.Join(errs...)
}

// createWorkload makes a workload: a cell run for the agents, or the
// objects of a kubernetes block applied to its cluster (also how a
// kubernetes workload is scaled or updated).
func (cp *ControlPlane) createWorkload(ctx context.Context, c reconcile.Create) error {
	if c.Block.Spec.Type == v1alpha1.BlockKubernetes {
		return cp.applyKube(ctx, c)
	}
	run, err := workloadRun(c)
	if err == nil {
		_, err = cp.cells.Create(ctx, run)
	}
	return err
}

// deleteWorkload removes a workload of either kind.
func (cp *ControlPlane) deleteWorkload(ctx context.Context, name string) error {
	if r, ok, err := cp.kubeRecord(ctx, name); err != nil || ok {
		if err != nil {
			return err
		}
		return cp.deleteKube(ctx, r)
	}
	if err := cp.cells.Delete(ctx, name); err != nil && !errors.Is(err, cells.ErrNotFound) {
		return err
	}
	return nil
}

// reconcileInput gathers what the reconciler looks at.
func (cp *ControlPlane) reconcileInput(ctx context.Context) (reconcile.Input, error) {
	in := reconcile.Input{Now: cp.opts.Now(), Scorer: placement.Heuristic{}, BackoffBase: backoffBase, BackoffMax: backoffMax}
	siteList, err := cp.sites.List(ctx)
	if err != nil {
		return in, err
	}
	for _, s := range siteList {
		in.Sites = append(in.Sites, placement.FromSite(s))
	}
	apps, err := cp.apps.List(ctx)
	if err != nil {
		return in, err
	}
	for _, a := range apps {
		ra := reconcile.App{App: a, Resolved: map[string]reconcile.Resolved{}}
		for _, c := range a.Spec.Components {
			ra.Resolved[c.Name] = cp.resolve(ctx, c)
		}
		if cp.observe != nil {
			ra.Observed = cp.observe(ctx, a)
		}
		in.Apps = append(in.Apps, ra)
	}
	runs, err := cp.cells.List(ctx, cells.Filter{})
	if err != nil {
		return in, err
	}
	for _, r := range runs {
		if w, ok := workloadOf(r); ok {
			in.Workloads = append(in.Workloads, w)
		}
	}
	kw, err := cp.kubeWorkloads(ctx, siteList)
	if err != nil {
		return in, err
	}
	in.Workloads = append(in.Workloads, kw...)
	in.Moves, err = cp.pendingMoves(ctx)
	in.Scorer = cp.scorer(ctx, in)
	return in, err
}

func (cp *ControlPlane) resolve(ctx context.Context, c v1alpha1.Component) reconcile.Resolved {
	b, err := cp.catalog.Resolve(ctx, c.Block)
	if err != nil {
		return reconcile.Resolved{Err: err}
	}
	params, err := b.Spec.ResolveParameters(c.Parameters)
	if err != nil {
		return reconcile.Resolved{Err: fmt.Errorf("block %s: %w", b.Ref(), err)}
	}
	return reconcile.Resolved{Block: b, Params: params}
}

// workloadOf reads a replica's workload back from its cell run's labels;
// runs that no application made are not workloads.
func workloadOf(r v1alpha1.CellRun) (reconcile.Workload, bool) {
	l := r.Metadata.Labels
	app, ok := l[v1alpha1.LabelApplication]
	if !ok {
		return reconcile.Workload{}, false
	}
	num := func(m map[string]string, k string) int64 {
		n, _ := strconv.ParseInt(m[k], 10, 64)
		return n
	}
	w := reconcile.Workload{
		Name: r.Metadata.Name, Application: app, Component: l[v1alpha1.LabelComponent],
		Index: int(num(l, v1alpha1.LabelIndex)), Serial: int(num(l, v1alpha1.LabelSerial)),
		Hash: l[v1alpha1.LabelTemplate], Restarts: int(num(l, v1alpha1.LabelRestarts)),
		Site: r.Spec.Site, Phase: reconcile.Phase(r.Status.Phase), Started: r.Status.Claim != "",
		Message:  r.Status.Message,
		CPUMilli: num(r.Metadata.Annotations, v1alpha1.AnnotationCPU), Memory: num(r.Metadata.Annotations, v1alpha1.AnnotationMemory),
	}
	if w.Phase == "" {
		w.Phase = reconcile.Pending
	}
	if r.Status.FinishTime != nil {
		w.Finished = *r.Status.FinishTime
	}
	return w, true
}

// templateData is what a block's args and env may refer to.
type templateData struct {
	Params      map[string]string
	Application string
	Component   string
	Replica     int
}

// workloadRun makes the cell run that realises a new workload: the
// block's template with its parameters filled in, labelled so the
// reconciler finds it again.
func workloadRun(c reconcile.Create) (v1alpha1.CellRun, error) {
	w, spec := c.Workload, c.Block.Spec
	data := templateData{Params: c.Params, Application: w.Application, Component: w.Component, Replica: w.Index}
	run := v1alpha1.CellRun{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindCellRun},
		Metadata: v1alpha1.ObjectMeta{
			Name: w.Name,
			Labels: map[string]string{
				v1alpha1.LabelApplication: w.Application, v1alpha1.LabelComponent: w.Component, v1alpha1.LabelBlock: c.Block.Metadata.Name,
				v1alpha1.LabelIndex: strconv.Itoa(w.Index), v1alpha1.LabelSerial: strconv.Itoa(w.Serial),
				v1alpha1.LabelTemplate: w.Hash, v1alpha1.LabelRestarts: strconv.Itoa(w.Restarts),
			},
			Annotations: map[string]string{
				v1alpha1.AnnotationCPU: strconv.FormatInt(w.CPUMilli, 10), v1alpha1.AnnotationMemory: strconv.FormatInt(w.Memory, 10),
			},
		},
		Spec: v1alpha1.CellRunSpec{Site: w.Site},
	}
	env := []string{
		"CLOUDSKIN_APPLICATION=" + w.Application, "CLOUDSKIN_COMPONENT=" + w.Component,
		"CLOUDSKIN_REPLICA=" + strconv.Itoa(w.Index), "CLOUDSKIN_WORKLOAD=" + w.Name,
	}
	var err error
	switch spec.Type {
	case v1alpha1.BlockCell:
		t := spec.Cell
		run.Spec.Module, run.Spec.Engine, run.Spec.Memory = t.Module, t.Engine, t.Memory
		run.Spec.Ranks, run.Spec.Dirs, run.Spec.CheckpointInterval = t.Ranks, t.Dirs, t.CheckpointInterval
		if run.Spec.Args, err = expand(t.Args, data); err == nil {
			run.Spec.Env, err = expand(append(env, t.Env...), data)
		}
	case v1alpha1.BlockProcess:
		p := &v1alpha1.ProcessTemplate{}
		if p.Command, err = expand(spec.Process.Command, data); err == nil {
			p.Env, err = expand(append(env, spec.Process.Env...), data)
		}
		run.Spec.Process = p
	default:
		err = fmt.Errorf("blocks of type %s are not run by agents", spec.Type)
	}
	if err != nil {
		return run, fmt.Errorf("block %s: %w", c.Block.Ref(), err)
	}
	return run, nil
}

// expand fills {{ .Params.x }} and friends into each string.
func expand(in []string, data templateData) ([]string, error) {
	out := make([]string, len(in))
	for i, s := range in {
		if !strings.Contains(s, "{{") {
			out[i] = s
			continue
		}
		t, err := template.New("arg").Option("missingkey=error").Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out[i] = b.String()
	}
	return out, nil
}

// recordDecisions merges new placement decisions into the application's
// Placement, keeping the latest decision per replica.
func (cp *ControlPlane) recordDecisions(ctx context.Context, app, scorer string, ds []v1alpha1.PlacementDecision) error {
	p, err := cp.apps.GetPlacement(ctx, app)
	if err != nil && !errors.Is(err, apps.ErrNotFound) {
		return err
	}
	p.Application, p.Scorer = app, scorer
	latest := map[string]int{}
	for i, d := range p.Decisions {
		latest[fmt.Sprintf("%s/%d", d.Component, d.Replica)] = i
	}
	for _, d := range ds {
		k := fmt.Sprintf("%s/%d", d.Component, d.Replica)
		if i, ok := latest[k]; ok {
			p.Decisions[i] = d
			continue
		}
		latest[k] = len(p.Decisions)
		p.Decisions = append(p.Decisions, d)
	}
	return cp.apps.PutPlacement(ctx, p)
}

// moduleMigratable reports, from the module itself, whether its cells can
// stop at a host call and move live; answers are cached by digest.
func (cp *ControlPlane) moduleMigratable(digest string) bool {
	cp.migratableMu.Lock()
	defer cp.migratableMu.Unlock()
	if v, ok := cp.migratable[digest]; ok {
		return v
	}
	f, err := cp.cells.OpenModule(digest)
	if err != nil {
		return false
	}
	defer f.Close()
	wasm, err := io.ReadAll(f)
	if err != nil {
		return false
	}
	v := migrate.Migratable(wasm)
	cp.migratable[digest] = v
	return v
}
