package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/placement"
	"github.com/cloudskin/cloudskin/orchestrator/reconcile"
)

// pendingMoves are the restart-style moves under way, for the reconciler:
// it starts the replica's new workload at the destination and stops the
// old one once the new one runs.
func (cp *ControlPlane) pendingMoves(ctx context.Context) ([]reconcile.Move, error) {
	ms, err := cp.apps.ListMigrations(ctx)
	if err != nil {
		return nil, err
	}
	var out []reconcile.Move
	for _, m := range ms {
		if m.Status.Phase != v1alpha1.MigrationRunning {
			continue
		}
		for _, mv := range m.Status.Moves {
			if mv.Method == v1alpha1.MigrateRestart && !mv.Done {
				out = append(out, reconcile.Move{Application: m.Spec.Application, Component: m.Spec.Component, Index: mv.Replica, To: mv.To})
			}
		}
	}
	return out, nil
}

// progressMigrations starts pending migrations and records the progress
// of running ones.
func (cp *ControlPlane) progressMigrations(ctx context.Context, in reconcile.Input) error {
	ms, err := cp.apps.ListMigrations(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range ms {
		var st v1alpha1.MigrationStatus
		switch m.Status.Phase {
		case v1alpha1.MigrationPending:
			st = cp.startMigration(ctx, m, in)
		case v1alpha1.MigrationRunning:
			st = cp.followMigration(ctx, m, in)
		default:
			continue
		}
		if st.Phase != m.Status.Phase {
			cp.log.Info("migration", "migration", m.Metadata.Name, "phase", string(st.Phase), "message", st.Message)
		}
		if _, err := cp.apps.SetMigrationStatus(ctx, m.Metadata.Name, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func failMigration(st v1alpha1.MigrationStatus, now time.Time, format string, args ...any) v1alpha1.MigrationStatus {
	st.Phase, st.Message = v1alpha1.MigrationFailed, fmt.Sprintf(format, args...)
	st.FinishTime = &now
	return st
}

// startMigration checks a migration and sets its moves going: a running
// migratable cell moves live (stop at a host call, resume from the
// snapshot at the destination); anything else by start-new-then-stop-old.
func (cp *ControlPlane) startMigration(ctx context.Context, m v1alpha1.Migration, in reconcile.Input) v1alpha1.MigrationStatus {
	now := in.Now.UTC()
	st := v1alpha1.MigrationStatus{Phase: v1alpha1.MigrationRunning, StartTime: &now}
	app, comp, res, ok := findComponent(in, m.Spec.Application, m.Spec.Component)
	if !ok {
		return failMigration(st, now, "application %s has no component %s", m.Spec.Application, m.Spec.Component)
	}
	if res.Err != nil {
		return failMigration(st, now, "component %s: %v", comp.Name, res.Err)
	}
	if res.Block.Spec.Type == v1alpha1.BlockKubernetes {
		return failMigration(st, now, "component %s is a kubernetes block: move it by changing its requirements", comp.Name)
	}
	to, ok := findSite(in.Sites, m.Spec.To)
	if !ok {
		return failMigration(st, now, "no site %s", m.Spec.To)
	}
	req := placement.Request{Application: app.Metadata.Name, Component: comp, BlockType: res.Block.Spec.Type,
		CPUMilli: res.Block.Spec.Resources.CPU.MilliValue(), Memory: res.Block.Spec.Resources.Memory.Value()}
	req.Component.Requirements.Site = "" // the migration chooses the site
	if why := placement.Filter(req, to); len(why) > 0 {
		return failMigration(st, now, "site %s cannot take %s: %s", to.Name, comp.Name, strings.Join(why, "; "))
	}
	live := liveWorkloads(in.Workloads, app.Metadata.Name, comp.Name)
	for _, w := range live {
		if m.Spec.Replica != nil && w.Index != *m.Spec.Replica || w.Site == to.Name {
			continue
		}
		if w.Phase != reconcile.Running {
			return failMigration(st, now, "replica %d (%s) is %s, not Running; try again when it runs", w.Index, w.Name, w.Phase)
		}
		mv := v1alpha1.ReplicaMove{Replica: w.Index, From: w.Site, To: to.Name, Workload: w.Name, Method: v1alpha1.MigrateRestart}
		if res.Block.Spec.Type == v1alpha1.BlockCell && cp.moduleMigratable(res.Block.Spec.Cell.Module) {
			mv.Method = v1alpha1.MigrateLive
			if _, err := cp.cells.Migrate(ctx, w.Name, to.Name); err != nil {
				return failMigration(st, now, "moving %s: %v", w.Name, err)
			}
		}
		st.Moves = append(st.Moves, mv)
	}
	if len(st.Moves) == 0 {
		if m.Spec.Replica != nil && !slices.ContainsFunc(live, func(w reconcile.Workload) bool { return w.Index == *m.Spec.Replica }) {
			return failMigration(st, now, "component %s has no running replica %d", comp.Name, *m.Spec.Replica)
		}
		st.Phase, st.Message, st.FinishTime = v1alpha1.MigrationSucceeded, "nothing to move: the replicas run at "+to.Name+" already", &now
		return st
	}
	st.Method = st.Moves[0].Method
	st.Message = fmt.Sprintf("moving %d replica(s) to %s", len(st.Moves), to.Name)
	return st
}

// followMigration records the moves that completed.
func (cp *ControlPlane) followMigration(ctx context.Context, m v1alpha1.Migration, in reconcile.Input) v1alpha1.MigrationStatus {
	now := in.Now.UTC()
	st := m.Status
	st.Moves = slices.Clone(st.Moves)
	done := 0
	for i := range st.Moves {
		mv := &st.Moves[i]
		if !mv.Done {
			switch mv.Method {
			case v1alpha1.MigrateLive:
				if err := cp.followLiveMove(ctx, mv, *st.StartTime); err != nil {
					return failMigration(st, now, "%v", err)
				}
			case v1alpha1.MigrateRestart:
				followRestartMove(mv, liveWorkloads(in.Workloads, m.Spec.Application, m.Spec.Component))
			}
		}
		if mv.Done {
			done++
		}
	}
	if done == len(st.Moves) {
		st.Phase, st.FinishTime = v1alpha1.MigrationSucceeded, &now
		var downtime []string
		for _, mv := range st.Moves {
			downtime = append(downtime, fmt.Sprintf("replica %d %s→%s %s, downtime %s", mv.Replica, mv.From, mv.To, mv.Method, mv.Downtime.Duration))
		}
		st.Message = strings.Join(downtime, "; ")
		return st
	}
	if now.Sub(*st.StartTime) > migrationTimeout {
		return failMigration(st, now, "%d of %d replica(s) moved within %s", done, len(st.Moves), migrationTimeout)
	}
	return st
}

// followLiveMove completes a live move when the cell run records its
// arrival at the destination.
func (cp *ControlPlane) followLiveMove(ctx context.Context, mv *v1alpha1.ReplicaMove, since time.Time) error {
	run, err := cp.cells.Get(ctx, mv.Workload)
	if err != nil {
		return fmt.Errorf("replica %d: %w", mv.Replica, err)
	}
	for _, cm := range slices.Backward(run.Status.Migrations) {
		if cm.To == mv.To && cm.From == mv.From {
			mv.Done, mv.Downtime, mv.Bytes = true, cm.Downtime, cm.Bytes
			return nil
		}
	}
	if run.Status.Phase.Done() {
		if run.Status.Site == mv.From && run.Status.FinishTime != nil && run.Status.FinishTime.After(since) {
			mv.Done = true // it ended before it could stop: nothing left to move
			return nil
		}
		return fmt.Errorf("replica %d (%s) ended %s during the move: %s", mv.Replica, mv.Workload, run.Status.Phase, run.Status.Message)
	}
	return nil
}

// followRestartMove completes a restart move when the replica's only
// live workload runs at the destination; no replica stopped before its
// successor ran, so there was no downtime.
func followRestartMove(mv *v1alpha1.ReplicaMove, live []reconcile.Workload) {
	var of []reconcile.Workload
	for _, w := range live {
		if w.Index == mv.Replica {
			of = append(of, w)
		}
	}
	if len(of) == 1 && of[0].Site == mv.To && of[0].Phase == reconcile.Running {
		mv.Done, mv.Workload = true, of[0].Name
	}
}

func findComponent(in reconcile.Input, app, component string) (v1alpha1.Application, v1alpha1.Component, reconcile.Resolved, bool) {
	for _, a := range in.Apps {
		if a.App.Metadata.Name != app {
			continue
		}
		c, ok := a.App.Component(component)
		return a.App, c, a.Resolved[component], ok
	}
	return v1alpha1.Application{}, v1alpha1.Component{}, reconcile.Resolved{}, false
}

func findSite(sites []placement.Site, name string) (placement.Site, bool) {
	for _, s := range sites {
		if s.Name == name {
			return s, true
		}
	}
	return placement.Site{}, false
}

func liveWorkloads(ws []reconcile.Workload, app, component string) []reconcile.Workload {
	var out []reconcile.Workload
	for _, w := range ws {
		if w.Application == app && w.Component == component && w.Phase != reconcile.Succeeded && w.Phase != reconcile.Failed {
			out = append(out, w)
		}
	}
	return out
}
