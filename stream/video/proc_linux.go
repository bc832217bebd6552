package video

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill ffmpeg if this process dies
// without stopping it (a crash, SIGKILL), so no orphan keeps a camera. Its
// own process group keeps a terminal's Ctrl-C from reaching it: we stop
// it, after the frames in flight are stored.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
