package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell"
)

// cellPoll is how often the agent asks for cell runs assigned to its site.
const cellPoll = 250 * time.Millisecond

// maxOutput bounds the output of a cell kept in its status.
const maxOutput = 1 << 20

// runCells takes the site's Pending cell runs and runs each in its own
// goroutine until ctx ends; it waits for the running ones to finish.
func (a *Agent) runCells(ctx context.Context) {
	rt := cell.NewRuntime(cell.Options{CacheDir: a.cacheDir})
	defer rt.Close(context.WithoutCancel(ctx))
	var running sync.WaitGroup
	defer running.Wait()
	ticker := time.NewTicker(cellPoll)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		pending, err := a.client.ListCellRuns(ctx, a.site.Metadata.Name, v1alpha1.CellPending)
		if err != nil {
			continue // the heartbeat loop reports connectivity
		}
		for _, run := range pending {
			now := time.Now().UTC()
			status := v1alpha1.CellRunStatus{Phase: v1alpha1.CellRunning, StartTime: &now}
			if _, err := a.client.SetCellRunStatus(ctx, run.Metadata.Name, status); err != nil {
				a.log.Warn("claiming cell run", "cell", run.Metadata.Name, "err", err)
				continue
			}
			running.Add(1)
			go func() {
				defer running.Done()
				a.finish(ctx, run.Metadata.Name, a.runCell(ctx, rt, run, status))
			}()
		}
	}
}

// runCell runs one cell run to its end and returns its final status.
func (a *Agent) runCell(ctx context.Context, rt *cell.Runtime, run v1alpha1.CellRun, st v1alpha1.CellRunStatus) v1alpha1.CellRunStatus {
	fail := func(err error) v1alpha1.CellRunStatus {
		st.Phase, st.ExitCode, st.Message = v1alpha1.CellFailed, -1, err.Error()
		return st
	}
	prog, err := a.load(ctx, rt, run.Spec)
	if err != nil {
		return fail(err)
	}
	defer prog.Close(context.WithoutCancel(ctx))
	st.Engine = string(prog.Engine)
	out := &cappedBuffer{limit: maxOutput}
	res, err := prog.Run(ctx, cell.Spec{
		Name: run.Metadata.Name, Args: run.Spec.Args, Env: run.Spec.Env,
		Stdout: out, Stderr: out,
		MemoryLimit: run.Spec.Memory.Value(), Timeout: run.Spec.Timeout.Duration,
	})
	st.Output = out.String()
	if err != nil {
		return fail(err)
	}
	st.ExitCode, st.Phase = res.ExitCode, v1alpha1.CellSucceeded
	if res.ExitCode != 0 {
		st.Phase, st.Message = v1alpha1.CellFailed, fmt.Sprintf("exit status %d", res.ExitCode)
	}
	return st
}

// load compiles the run's module, fetching it from the control plane the
// first time this agent sees it.
func (a *Agent) load(ctx context.Context, rt *cell.Runtime, spec v1alpha1.CellRunSpec) (*cell.Program, error) {
	var sum [32]byte
	if _, err := hex.Decode(sum[:], []byte(spec.Module)); err != nil {
		return nil, fmt.Errorf("module digest %q: %w", spec.Module, err)
	}
	wasm, err := rt.Kept(sum)
	if err != nil {
		if wasm, err = a.client.GetModule(ctx, spec.Module); err != nil {
			return nil, err
		}
		if err := rt.Keep(wasm); err != nil {
			return nil, err
		}
	}
	choice, err := cell.ParseEngine(spec.Engine)
	if err != nil {
		return nil, err
	}
	return rt.Load(ctx, wasm, choice)
}

// finish reports a run's final status, even while the agent stops.
func (a *Agent) finish(ctx context.Context, name string, st v1alpha1.CellRunStatus) {
	now := time.Now().UTC()
	st.FinishTime = &now
	reportCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := a.client.SetCellRunStatus(reportCtx, name, st); err != nil {
		a.log.Warn("reporting cell run", "cell", name, "err", err)
		return
	}
	a.log.Info("cell run finished", "cell", name, "phase", string(st.Phase), "exit", st.ExitCode)
}

// cappedBuffer keeps the first limit bytes written to it, safely for the
// cell's stdout and stderr writing at once.
type cappedBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	limit int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
