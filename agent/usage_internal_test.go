package agent

import (
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/procfs"
)

// A process's usage counts the CPU time of the children it waited for
// (a shell running commands, as process blocks do), and its resident
// memory, read from /proc.
func TestProcessUsageCountsWaitedChildren(t *testing.T) {
	// The shell itself does nothing; its child burns CPU and exits.
	cmd := exec.Command("sh", "-c", `sh -c 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'; sleep 30`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := cmd.Process.Pid
	var cpu time.Duration
	var rss int64
	for deadline := time.Now().Add(30 * time.Second); cpu < 50*time.Millisecond; time.Sleep(50 * time.Millisecond) {
		var err error
		if cpu, rss, err = processUsage(pid); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpu %s after 30 s: the child's loop was not counted", cpu)
		}
	}
	p, _ := procfs.NewProc(pid)
	own, err := p.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if ownCPU := time.Duration(own.CPUTime() * float64(time.Second)); ownCPU > cpu/2 {
		t.Fatalf("the shell's own CPU %s is most of the %s counted: its child's is missing", ownCPU, cpu)
	}
	if rss < 100<<10 {
		t.Fatalf("resident memory %d bytes, want at least a shell's", rss)
	}
	if _, _, err := processUsage(1 << 30); err == nil {
		t.Fatal("read the usage of a process that does not exist")
	}
}
