//go:build !linux

package video

import "os/exec"

// setDeathSignal does nothing where the kernel has no parent-death signal;
// ffmpeg is still killed when the context ends or Close is called.
func setDeathSignal(*exec.Cmd) {}
