package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProcessWorkloadsDieWithTheirAgent kills `up` without warning and
// checks that the native process it ran does not outlive it: a restarted
// agent reports the run failed and the control plane starts a new one, so
// a survivor would be a duplicate.
func TestProcessWorkloadsDieWithTheirAgent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"))
	pidFile := filepath.Join(dir, "pid")
	f := filepath.Join(dir, "app.yaml")
	os.WriteFile(f, []byte(`apiVersion: cloudskin.io/v1alpha1
kind: Block
metadata: {name: sleeper}
spec:
  version: 1.0.0
  type: process
  process:
    command: ["sh", "-c", "echo $$ > `+pidFile+`; exec sleep 3600"]
---
apiVersion: cloudskin.io/v1alpha1
kind: Application
metadata: {name: sleepy}
spec:
  components:
    - {name: s, block: sleeper}
`), 0o644)
	if out, err := run(t, nil, "apply", "-f", f, "--server", base); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	var pid int
	for deadline := time.Now().Add(30 * time.Second); pid == 0; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the process never started")
		}
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("process %d is not running: %v", pid, err)
	}
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d outlived its agent by 10 s", pid)
		}
	}
}
