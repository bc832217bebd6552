package main

import (
	"bytes"
	"fmt"
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

// tcpAddrPattern finds where a stream store serves its TCP protocol in
// the output of up (its start-up report) or of stream serve.
var tcpAddrPattern = regexp.MustCompile(`tcp://(127\.0\.0\.1:\d+)`)

// streamAddr waits for p to say where its stream protocol listens.
func streamAddr(t *testing.T, p *process) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := tcpAddrPattern.FindStringSubmatch(p.output()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream protocol address in 30 s:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startStreamServe runs `cloudskin stream serve` and returns it and its
// address.
func startStreamServe(t *testing.T, args ...string) (*process, string) {
	t.Helper()
	p := launch(t, []string{"CLOUDSKIN_TOKEN="}, append([]string{"stream", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	return p, streamAddr(t, p)
}

// TestStreamCLIThroughUp creates, writes, reads, tails and deletes a stream
// in the store that `cloudskin up` runs, through its TCP protocol
// (--stream-listen), across a restart of up.
func TestStreamCLIThroughUp(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	up, _ := start(t, "up", "--listen", "127.0.0.1:0", "--stream-listen", "127.0.0.1:0", "--data", data)
	server := []string{"--server", streamAddr(t, up)}
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
	up, _ = start(t, "up", "--listen", "127.0.0.1:0", "--stream-listen", "127.0.0.1:0", "--data", data)
	server = []string{"--server", streamAddr(t, up)}
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
	for _, sub := range []string{"create", "ls", "describe", "write", "read", "tail", "delete", "serve", "bench"} {
		out := must("", "stream", sub, "--help")
		if !strings.Contains(out, "Examples:") {
			t.Errorf("stream %s --help has no examples:\n%s", sub, out)
		}
		// The stream command's --server (host:port of the protocol)
		// shadows the global one (the control plane's URL).
		if !strings.Contains(out, `address (host:port) of the stream store's TCP protocol (default "127.0.0.1:7072")`) || strings.Contains(out, "control plane URL") {
			t.Errorf("stream %s --help does not show the stream store's --server alone:\n%s", sub, out)
		}
	}
}

// TestStreamServe runs a standalone store with `stream serve`: the client
// commands work against it (the global flag order too), `stream bench`
// measures it, a pipelined write is acknowledged line by line, and SIGINT
// stops it gracefully with the data kept.
func TestStreamServe(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	serve, addr := startStreamServe(t, "--data", data)
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := runIn(t, stdin, append(args, "--server", addr)...)
		if err != nil {
			t.Fatalf("cloudskin %v: %v\n%s", args, err, out)
		}
		return out
	}
	must("", "stream", "create", "lab/events", "--segments", "3")
	var in strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&in, "event-%d\n", i)
	}
	out := must(in.String(), "stream", "write", "lab/events", "--key", "k")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2000 {
		t.Fatalf("write acknowledged %d lines, want 2000", len(lines))
	}
	var seg string
	for i, l := range lines {
		num, pos, ok := strings.Cut(l, "\t")
		s, _, _ := strings.Cut(pos, ":")
		if !ok || num != fmt.Sprint(i+1) || (seg != "" && s != seg) {
			t.Fatalf("write line %d is %q: want the line number, a tab and a position in the key's one segment", i+1, l)
		}
		seg = s
	}
	read := must("", "stream", "read", "lab/events")
	if read != in.String() {
		t.Fatalf("read printed %d bytes, want the 2000 lines written in order", len(read))
	}
	// --from a position printed by write: from line 1999 on.
	_, pos, _ := strings.Cut(lines[1998], "\t")
	if out := must("", "stream", "read", "lab/events", "--from", pos); out != "event-1999\nevent-2000\n" {
		t.Fatalf("read --from %s printed %q", pos, out)
	}
	if out, err := runIn(t, "", "stream", "read", "lab/events", "--from", "yesterday", "--server", addr); err == nil || !strings.Contains(out, "SEGMENT:OFFSET") {
		t.Fatalf("a bad --from: %v %q", err, out)
	}
	// The global flag's place before the subcommand finds the stream's flag too.
	if out, err := runIn(t, "", "--server", addr, "stream", "ls"); err != nil || out != "lab/events\n" {
		t.Fatalf("cloudskin --server ADDR stream ls: %v %q", err, out)
	}
	out = must("", "stream", "bench", "lab/bench", "--writers", "2", "--size", "512", "--duration", "1s")
	if !regexp.MustCompile(`throughput: \d+ events acknowledged, \d+ events/s`).MatchString(out) || !regexp.MustCompile(`p50 [\d.]+ ms  p95 [\d.]+ ms  p99 [\d.]+ ms`).MatchString(out) {
		t.Fatalf("bench printed %q", out)
	}
	if _, err := serve.interrupt(t); err != nil {
		t.Fatalf("stream serve exited with %v after SIGINT", err)
	}
	if !strings.Contains(serve.output(), "stopped") {
		t.Fatalf("stream serve did not say it stopped:\n%s", serve.output())
	}
	if out, err := runIn(t, "", "stream", "ls", "--server", addr); err == nil || !strings.Contains(out, "is a stream store listening there") {
		t.Fatalf("ls with no store: %v %q", err, out)
	}
	_, addr = startStreamServe(t, "--data", data)
	if out := must("", "stream", "read", "lab/events", "--count", "2"); out != "event-1\nevent-2\n" {
		t.Fatalf("read after a restart printed %q", out)
	}
}
