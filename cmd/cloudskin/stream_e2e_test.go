package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runIn runs a client command with stdin.
func runIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "CLOUDSKIN_SERVER=")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestStreamCLIThroughUp creates, writes, reads, tails and deletes a stream
// in the store that `cloudskin up` runs, across a restart of up.
func TestStreamCLIThroughUp(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	up, base := start(t, "up", "--listen", "127.0.0.1:0", "--data", data)
	server := []string{"--server", base}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := runIn(t, stdin, append(args, server...)...)
		if err != nil {
			t.Fatalf("cloudskin %v: %v\n%s", args, err, out)
		}
		return out
	}

	if out := must("", "stream", "create", "surgery/cams", "--segments", "2"); !strings.Contains(out, "created stream surgery/cams with 2 segments") {
		t.Fatalf("create said %q", out)
	}
	out := must("frame-1\nframe-2\nframe-3\n", "stream", "write", "surgery/cams", "--key", "camera-1")
	if !regexp.MustCompile(`^1\t\d+:0\n2\t\d+:11\n3\t\d+:22\n$`).MatchString(out) {
		t.Fatalf("write printed %q, want line numbers and positions", out)
	}
	if out := must("", "stream", "read", "surgery/cams"); out != "frame-1\nframe-2\nframe-3\n" {
		t.Fatalf("read printed %q", out)
	}
	if out := must("", "stream", "ls"); out != "surgery/cams\n" {
		t.Fatalf("ls printed %q", out)
	}
	if out := must("", "stream", "describe", "surgery/cams"); !strings.Contains(out, "0.#epoch.0") || !strings.Contains(out, "[0.5, 1)") {
		t.Fatalf("describe printed %q", out)
	}

	// tail waits for the next event and stops after --count.
	tail := exec.Command(binary, append([]string{"stream", "tail", "surgery/cams", "--count", "1"}, server...)...)
	var tailOut bytes.Buffer
	tail.Stdout, tail.Stderr = &tailOut, &tailOut
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	tailDone := make(chan error, 1)
	go func() { tailDone <- tail.Wait() }()
	// Keep writing until the tail has seen something: it may start reading
	// after the first write.
	for i := 0; ; i++ {
		must("live\n", "stream", "write", "surgery/cams", "--key", "camera-1")
		select {
		case err := <-tailDone:
			if err != nil || tailOut.String() != "live\n" {
				t.Fatalf("tail: %v, printed %q", err, tailOut.String())
			}
		case <-time.After(200 * time.Millisecond):
			if i == 50 {
				tail.Process.Kill()
				t.Fatalf("tail printed nothing in 10 s: %q", tailOut.String())
			}
			continue
		}
		break
	}

	// What was acknowledged survives a restart of up.
	if _, err := up.interrupt(t); err != nil {
		t.Fatalf("up exited with %v", err)
	}
	_, base = start(t, "up", "--listen", "127.0.0.1:0", "--data", data)
	server = []string{"--server", base}
	out = must("", "stream", "read", "surgery/cams", "--count", "3")
	if out != "frame-1\nframe-2\nframe-3\n" {
		t.Fatalf("read after restart printed %q", out)
	}

	// Bad input is a clear error.
	if out, err := runIn(t, "", append([]string{"stream", "read", "surgery/nope"}, server...)...); err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("reading a missing stream: %v %q", err, out)
	}
	if out, err := runIn(t, "", append([]string{"stream", "create", "no-slash"}, server...)...); err == nil || !strings.Contains(out, "SCOPE/STREAM") {
		t.Fatalf("a bad stream name: %v %q", err, out)
	}
	must("", "stream", "delete", "surgery/cams")
	if out := must("", "stream", "ls"); out != "" {
		t.Fatalf("ls after delete printed %q", out)
	}
	for _, sub := range []string{"create", "ls", "describe", "write", "read", "tail", "delete"} {
		if out := must("", "stream", sub, "--help"); !strings.Contains(out, "Examples:") {
			t.Errorf("stream %s --help has no examples:\n%s", sub, out)
		}
	}
}
