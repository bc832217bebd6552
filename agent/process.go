package agent

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// processGrace is how long a process asked to stop (its run deleted, the
// agent shutting down) has after SIGTERM before SIGKILL.
const processGrace = 5 * time.Second

// runProcess runs a block of type process: a native program, with only
// the run's environment plus PATH, its output kept like a cell's. It has
// no sandbox and cannot migrate live (the orchestrator moves it by
// start-new-then-stop-old), so agents run processes only when allowed.
func (a *Agent) runProcess(ctx context.Context, run v1alpha1.CellRun, st v1alpha1.CellRunStatus) (v1alpha1.CellRunStatus, outcome) {
	finish := func(code int, msg string) (v1alpha1.CellRunStatus, outcome) {
		now := time.Now().UTC()
		st.Phase, st.ExitCode, st.Message, st.FinishTime = v1alpha1.CellSucceeded, code, msg, &now
		if code != 0 {
			st.Phase = v1alpha1.CellFailed
		}
		return st, toReport
	}
	if !a.allowProcesses {
		return finish(-1, fmt.Sprintf("site %s does not run native processes (start its agent with --allow-processes)", a.site.Metadata.Name))
	}
	p := run.Spec.Process
	out := &cappedBuffer{limit: maxOutput}
	cmd := exec.CommandContext(ctx, p.Command[0], p.Command[1:]...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, p.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that stopping it stops its children; and
	// killed if the agent dies without stopping it (a crash, SIGKILL): a
	// restarted agent reports its old runs failed and the control plane
	// starts them again, so a survivor would be a duplicate. Pdeathsig
	// fires when the thread that started the child exits, so this
	// goroutine keeps its thread until the child has been waited for.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = processGrace
	st.Engine = "process"
	if err := cmd.Start(); err != nil {
		return finish(-1, fmt.Sprintf("start %s: %v", p.Command[0], err))
	}
	a.usage.trackProcess(run, cmd.Process.Pid)
	defer a.usage.forget(run)
	endLogs := a.reportOutput(ctx, run.Metadata.Name, st, "", out)
	err := cmd.Wait()
	endLogs()
	st.Output = out.String()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return finish(0, "")
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return finish(exit.ExitCode(), fmt.Sprintf("exit status %d", exit.ExitCode()))
	case ctx.Err() != nil:
		return finish(-1, "stopped: "+ctx.Err().Error())
	}
	return finish(-1, err.Error())
}
