package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
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
	for _, sub := range []string{"create", "ls", "describe", "write", "read", "tail", "delete", "truncate", "scale", "instances", "serve", "bench"} {
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
	for _, inFlight := range []string{"1", "8"} {
		out = must("", "stream", "bench", "lab/bench", "--writers", "2", "--in-flight", inFlight, "--size", "512", "--duration", "1s")
		if !strings.Contains(out, "up to "+inFlight+" append(s) in flight each") ||
			!regexp.MustCompile(`throughput: [1-9]\d* events acknowledged, \d+ events/s`).MatchString(out) || !regexp.MustCompile(`p50 [\d.]+ ms  p95 [\d.]+ ms  p99 [\d.]+ ms`).MatchString(out) {
			t.Fatalf("bench --in-flight %s printed %q", inFlight, out)
		}
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

// segmentIDPattern finds a segment's numeric id in what describe and
// scale print: NUMBER.#epoch.EPOCH, then the numeric id.
var segmentIDPattern = regexp.MustCompile(`\d+\.#epoch\.\d+\s+(\d+)`)

// TestStreamScaleCLI writes a stream, splits it, writes, merges, writes,
// through a real `stream serve`: `stream read --from start` (and with
// --follow) prints every event once with each key's events in order,
// describe shows the epochs and sealed segments, a follower moves onto a
// split segment's successors, scale errors say what is wrong, and a
// scaling policy given at create comes back from describe.
func TestStreamScaleCLI(t *testing.T) {
	t.Parallel()
	_, addr := startStreamServe(t, "--data", t.TempDir())
	run := func(stdin string, args ...string) (string, error) {
		return runIn(t, stdin, append(args, "--server", addr)...)
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := run(stdin, args...)
		if err != nil {
			t.Fatalf("cloudskin %v: %v\n%s", args, err, out)
		}
		return out
	}
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5"}
	written := 0
	write := func(phase string) {
		t.Helper()
		for _, k := range keys {
			var in strings.Builder
			for i := range 20 {
				fmt.Fprintf(&in, "%s %s-%02d\n", k, phase, i)
			}
			must(in.String(), "stream", "write", "lab/scaled", "--key", k)
			written += 20
		}
	}
	// ids returns the numeric ids of the segments a scale printed.
	ids := func(out string) []string {
		var ids []string
		for _, m := range segmentIDPattern.FindAllStringSubmatch(out, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}

	must("", "stream", "create", "lab/scaled", "--segments", "1")
	write("a")
	out := must("", "stream", "scale", "lab/scaled", "--split", "0")
	split := ids(out)
	if !strings.Contains(out, "scaled lab/scaled to epoch 1: 2 new segment(s)") || len(split) != 2 || !strings.Contains(out, "[0, 0.5)") {
		t.Fatalf("split printed %q", out)
	}
	write("b")
	out = must("", "stream", "scale", "lab/scaled", "--merge", split[0]+","+split[1])
	merged := ids(out)
	if !strings.Contains(out, "to epoch 2: 1 new segment(s)") || len(merged) != 1 || !strings.Contains(out, "[0, 1)") {
		t.Fatalf("merge printed %q", out)
	}
	write("c")
	out = must("", "stream", "scale", "lab/scaled", "--seal", merged[0], "--ranges", "0-0.25,0.25-1")
	if !strings.Contains(out, "to epoch 3: 2 new segment(s)") || !strings.Contains(out, "[0.25, 1)") {
		t.Fatalf("seal and ranges printed %q", out)
	}
	write("d")

	desc := must("", "stream", "describe", "lab/scaled")
	if !strings.Contains(desc, "Epoch:      3") || strings.Count(desc, " sealed ") != 4 || strings.Count(desc, " active ") != 2 || !strings.Contains(desc, "Scaling:    fixed") {
		t.Fatalf("describe after three scales printed:\n%s", desc)
	}

	// Every event once, each key's in the order written.
	checkRead := func(what, out string) {
		t.Helper()
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != written {
			t.Fatalf("%s printed %d events, want %d:\n%s", what, len(lines), written, out)
		}
		last := map[string]string{}
		for _, l := range lines {
			k, ev, _ := strings.Cut(l, " ")
			if ev <= last[k] {
				t.Fatalf("%s: key %s printed %q after %q: out of order or twice", what, k, ev, last[k])
			}
			last[k] = ev
		}
		for _, k := range keys {
			if last[k] != "d-19" {
				t.Fatalf("%s: key %s ends with %q, want d-19", what, k, last[k])
			}
		}
	}
	checkRead("read --from start", must("", "stream", "read", "lab/scaled", "--from", "start"))
	checkRead("read --follow --count", must("", "stream", "read", "lab/scaled", "--follow", "--count", fmt.Sprint(written)))

	// Scale errors name what is wrong.
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--split", "0"}, "sealed"},
		{[]string{"--merge", "0,12345"}, "not found"},
		{[]string{"--split", "0", "--merge", "1,2"}, "exactly one of"},
		{[]string{"--parts", "3", "--merge", "1,2"}, "--parts goes with --split"},
		{[]string{"--seal", "0"}, "--seal and --ranges go together"},
		{[]string{"--seal", "0", "--ranges", "0.5-0.2"}, "0 <= LOW < HIGH <= 1"},
		{[]string{"--split", "seven"}, "segment \"seven\""},
		{[]string{"--merge", split[0]}, "at least 2"},
		{[]string{"--split", "0", "--parts", "1"}, "--parts 1: want 2 to"},
	} {
		out, err := run("", append([]string{"stream", "scale", "lab/scaled"}, c.args...)...)
		if err == nil || !strings.Contains(out, c.says) {
			t.Errorf("stream scale %v: %v, printed %q; want an error saying %q", c.args, err, out, c.says)
		}
	}

	// A follower moves onto the successors of a segment split under it.
	must("", "stream", "create", "lab/follow", "--segments", "1")
	must("before\n", "stream", "write", "lab/follow", "--key", "k")
	follower := launch(t, nil, "stream", "read", "lab/follow", "--follow", "--count", "3", "--server", addr)
	waitFor(t, func() bool { return follower.output() == "before\n" }, follower)
	must("", "stream", "scale", "lab/follow", "--split", "0", "--parts", "3")
	must("after-1\nafter-2\n", "stream", "write", "lab/follow", "--key", "k")
	select {
	case err := <-follower.done:
		follower.done <- err // for its cleanup
		if err != nil || follower.output() != "before\nafter-1\nafter-2\n" {
			t.Fatalf("the follower: %v, printed %q", err, follower.output())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the follower did not move onto the successors in 20 s; printed %q", follower.output())
	}

	// A policy given at create comes back from describe, in the same syntax.
	must("", "stream", "create", "lab/policy", "--segments", "2", "--scale-policy", "bytes:10MiB,factor=3,min=2")
	if desc := must("", "stream", "describe", "lab/policy"); !strings.Contains(desc, "Scaling:    bytes:10MiB,factor=3,min=2\n") {
		t.Fatalf("describe of a stream created with a policy:\n%s", desc)
	}
	if out, err := run("", "stream", "create", "lab/bad", "--scale-policy", "events:fast"); err == nil || !strings.Contains(out, `rate "fast" is not a positive number`) {
		t.Fatalf("a bad policy: %v %q", err, out)
	}
}

// waitFor waits up to 20 s for cond, failing with p's output.
func waitFor(t *testing.T, cond func() bool, p *process) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in 20 s; output:\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStreamInstancesCLI: a single store refuses to list or set
// instances, saying so; a cluster lists them, and setting their number
// prints each container move with its time.
func TestStreamInstancesCLI(t *testing.T) {
	t.Parallel()
	// `stream serve` runs one store unless --instances asks for a cluster.
	_, single := startStreamServe(t, "--data", t.TempDir())
	for _, args := range [][]string{{"stream", "instances"}, {"stream", "instances", "2"}} {
		out, err := runIn(t, "", append(args, "--server", single)...)
		if err == nil || !strings.Contains(out, "single segment store") || !strings.Contains(out, "not supported") {
			t.Errorf("%v on a single store: %v, printed %q", args, err, out)
		}
	}
	if out, err := runIn(t, "", "stream", "instances", "none", "--server", single); err == nil || !strings.Contains(out, "want a whole number") {
		t.Errorf("instances none: %v %q", err, out)
	}

	serve, cluster := startStreamServe(t, "--data", t.TempDir(), "--instances", "1", "--http-listen", "127.0.0.1:0")
	out, err := runIn(t, "", "stream", "instances", "--server", cluster)
	if err != nil || strings.Count(out, "\n") != 1 {
		t.Fatalf("instances of a 1-instance cluster: %v, printed %q", err, out)
	}
	out, err = runIn(t, "", "stream", "instances", "2", "--server", cluster)
	moves := regexp.MustCompile(`(?m)^moved container \d+ from \S+ to \S+ in \S+ \(\d+ log records replayed\)$`).FindAllString(out, -1)
	if err != nil || len(moves) == 0 || strings.Count(out, "\n") != len(moves)+2 {
		t.Fatalf("instances 2: %v, printed %q; want the moves, then 2 instances", err, out)
	}

	// The same count through the REST API that --http-listen serves (what
	// the Learning Plane's stream actuator calls).
	m := regexp.MustCompile(`REST API at (http://\S+)`).FindStringSubmatch(serve.output())
	if m == nil {
		t.Fatalf("stream serve did not say where its REST API is:\n%s", serve.output())
	}
	resp, err := http.Get(m[1] + "/instances")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ Count, Containers int }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK || got.Count != 2 || got.Containers != 8 {
		t.Fatalf("GET %s/instances: %s, %+v, %v; want 2 instances of 8 containers", m[1], resp.Status, got, err)
	}
}

// TestScalePolicySyntax: every policy the syntax can say parses back from
// its formatting to itself, and bad ones are errors that say what is
// wrong.
func TestScalePolicySyntax(t *testing.T) {
	for in, want := range map[string]string{
		"fixed":                        "fixed",
		"events:1000":                  "events:1000",
		"events:2.5,min=1":             "events:2.5,min=1",
		"events:1e6,factor=4,min=2":    "events:1e+06,factor=4,min=2",
		"bytes:10MiB,factor=2,min=1":   "bytes:10MiB,factor=2,min=1",
		"bytes:1.5kB":                  "bytes:1500",
		"bytes:2048":                   "bytes:2KiB",
		"bytes:3GB,min=3":              "bytes:3GB,min=3",
		"bytes:10mib":                  "bytes:10MiB",
		"bytes:1000000,factor=2":       "bytes:1MB,factor=2",
		"events:0.001,factor=2,min=64": "events:0.001,factor=2,min=64",
	} {
		p, err := parseScalePolicy(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		got := formatScalePolicy(p)
		if got != want {
			t.Errorf("%q formats as %q, want %q", in, got, want)
		}
		if again, err := parseScalePolicy(got); err != nil || again != p {
			t.Errorf("%q: its formatting %q parses to %+v, %v; want %+v", in, got, again, err, p)
		}
	}
	for in, says := range map[string]string{
		"events":                  "no rate",
		"packets:10":              `kind "packets"`,
		"events:-1":               "not a positive number",
		"events:NaN":              "not a positive number",
		"bytes:10XB":              `unknown unit "XB"`,
		"bytes:1e999":             "out of range",
		"events:10,factor=1":      "at least 2 parts",
		"events:10,min=0":         "min=N with N from 1",
		"events:10,min=1,min=2":   "min given twice",
		"events:10,speed=3":       "unknown option",
		"events:10,factor":        "factor=N",
		"events:10,factor=100000": "factor=N with N from 1 to",
	} {
		if _, err := parseScalePolicy(in); err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want an error saying %q", in, err, says)
		}
	}
}

// FuzzScalePolicy: whatever parses formats to a string that parses back
// to the same policy.
func FuzzScalePolicy(f *testing.F) {
	for _, s := range []string{"fixed", "events:1000,factor=2,min=1", "bytes:10MiB", "bytes:1.5e3kB,min=4", "events:1e-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseScalePolicy(s)
		if err != nil {
			return
		}
		again, err := parseScalePolicy(formatScalePolicy(p))
		if err != nil || again != p {
			t.Fatalf("%q parsed to %+v, formatted as %q, parsed again to %+v, %v", s, p, formatScalePolicy(p), again, err)
		}
	})
}

// TestStreamReadSkipsTruncatedEvents: `stream truncate` discards events
// before a position, and reading from a position that was truncated away
// prints what is left, and says on stderr what was skipped, rather than
// failing.
func TestStreamReadSkipsTruncatedEvents(t *testing.T) {
	t.Parallel()
	_, addr := startStreamServe(t, "--data", t.TempDir())
	if out, err := runIn(t, "", "stream", "create", "farm/soil", "--server", addr); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	out, err := runIn(t, "e1\ne2\ne3\ne4\n", "stream", "write", "farm/soil", "--server", addr)
	if err != nil {
		t.Fatalf("write: %v\n%s", err, out)
	}
	// "3<TAB>SEGMENT:OFFSET": cut the stream before the third event.
	third := strings.Fields(strings.Split(out, "\n")[2])[1]
	seg, off, _ := strings.Cut(third, ":")
	offset, _ := strconv.ParseInt(off, 10, 64)
	if out, err := runIn(t, "", "stream", "truncate", "farm/soil", "--to", third, "--server", addr); err != nil || !strings.Contains(out, "truncated stream farm/soil before "+third) {
		t.Fatalf("truncate: %v\n%s", err, out)
	}
	if out, err := runIn(t, "", "stream", "truncate", "farm/soil", "--to", "soon", "--server", addr); err == nil || !strings.Contains(out, "--to \"soon\": want SEGMENT:OFFSET") {
		t.Fatalf("truncate --to soon: %v\n%s", err, out)
	}

	cmd := exec.Command(binary, "stream", "read", "farm/soil", "--from", seg+":0", "--server", addr)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("read from a truncated position: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if stdout.String() != "e3\ne4\n" {
		t.Fatalf("read from a truncated position printed %q, want the events left", stdout.String())
	}
	if want := fmt.Sprintf("events at offsets 0 to %d were truncated", offset); !strings.Contains(stderr.String(), want) {
		t.Fatalf("stderr %q does not say %q", stderr.String(), want)
	}
}
