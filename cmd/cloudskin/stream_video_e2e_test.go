package main

import (
	"bufio"
	"bytes"
	"context"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/tcp"
	"github.com/cloudskin/cloudskin/stream/video"
)

// TestStreamVideoThroughUp ingests 30 frames of ffmpeg's test pattern into
// the store of `cloudskin up` over its TCP protocol (--stream-listen),
// serves them with `stream video serve` and fetches them as MJPEG over
// HTTP, as a user would.
func TestStreamVideoThroughUp(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (make deps installs the Debian package)")
	}
	t.Parallel()
	up, _ := start(t, "up", "--listen", "127.0.0.1:0", "--stream-listen", "127.0.0.1:0", "--data", t.TempDir())
	addr := streamAddr(t, up)
	server := []string{"--server", addr}

	out, err := run(t, nil, append([]string{"stream", "video", "ingest", "surgery/or-1", "--frames", "30"}, server...)...)
	if err != nil || !regexp.MustCompile(`^stored surgery/or-1: camera camera-1, segment 0, offsets 0 to \d+: 30 frames \(1280x720\) in .*fps, .*MB/s, append latency p50 .* p99 .*\n$`).MatchString(out) {
		t.Fatalf("ingest: %v\n%s", err, out)
	}

	serve, videoURL := startVideoServer(t, server...)
	resp, err := http.Get(videoURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	index, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(index), `href="/video/surgery/or-1"`) {
		t.Fatalf("the index does not link the stream:\n%s", index)
	}

	resp, err = http.Get(videoURL + "/video/surgery/or-1/mjpeg?from=start&speed=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mjpeg: %s %q %v", resp.Status, resp.Header.Get("Content-Type"), err)
	}
	parts := multipart.NewReader(resp.Body, params["boundary"])
	for i := range 30 {
		p, err := parts.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width != 1280 || cfg.Height != 720 || p.Header.Get("X-Frame-Seq") != strconv.Itoa(i) {
			t.Fatalf("part %d: frame %s, %dx%d, %v", i, p.Header.Get("X-Frame-Seq"), cfg.Width, cfg.Height, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, p.Header.Get("X-Capture-Time")); err != nil {
			t.Fatalf("part %d: X-Capture-Time: %v", i, err)
		}
	}
	resp.Body.Close()

	// SIGINT stops the server, even with a client connected.
	live, err := http.Get(videoURL + "/video/surgery/or-1/mjpeg")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Body.Close()
	if took, err := serve.interrupt(t); err != nil || took > 5*time.Second {
		t.Fatalf("serve exited after %s with %v", took, err)
	}

	// Ctrl-C stops ingest cleanly: what it says it stored is what is there.
	ingest := exec.Command(binary, append([]string{"stream", "video", "ingest", "surgery/or-2", "--duration", "1m"}, server...)...)
	var ingestOut bytes.Buffer
	ingest.Stdout, ingest.Stderr = &ingestOut, &ingestOut
	if err := ingest.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store, err := tcp.Dial(ctx, addr, tcp.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	or2 := stream.StreamName{Scope: "surgery", Stream: "or-2"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err := store.Stream(ctx, or2); err == nil && st.Segments[0].End > 0 {
			break
		}
		if time.Now().After(deadline) {
			ingest.Process.Kill()
			ingest.Wait()
			t.Fatalf("no frame stored within 20 s: %s", ingestOut.String())
		}
	}
	ingest.Process.Signal(syscall.SIGINT)
	if err := ingest.Wait(); err != nil {
		t.Fatalf("ingest after SIGINT: %v\n%s", err, ingestOut.String())
	}
	m := regexp.MustCompile(`^interrupted; stored surgery/or-2: .*: (\d+) frames`).FindStringSubmatch(ingestOut.String())
	if m == nil {
		t.Fatalf("ingest after SIGINT printed %q", ingestOut.String())
	}
	st, err := store.Stream(ctx, or2)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for off := int64(0); off < st.Segments[0].End; {
		b, err := store.ReadSegment(ctx, or2, st.Segments[0].ID, off, stream.ReadOptions{NoWait: true})
		if err != nil {
			t.Fatal(err)
		}
		stored += len(b.Events)
		off = b.Next
	}
	if strconv.Itoa(stored) != m[1] {
		t.Fatalf("ingest said it stored %s frames; the stream has %d", m[1], stored)
	}

	// Bad input is a clear error.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ffmpeg", "/no/such/ffmpeg"}, "ffmpeg not found"},
		{[]string{"--test-source", "huge"}, "want WIDTHxHEIGHT@RATE"},
		{[]string{"--test-source", "64x64@30", "--input", "x.mp4"}, "give one source"},
		{[]string{"--input", "/no/such/video.mp4"}, "No such file or directory"},
	} {
		out, err := run(t, nil, append(append([]string{"stream", "video", "ingest", "surgery/or-1"}, c.args...), server...)...)
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("ingest %v: %v, %q; want an error saying %q", c.args, err, out, c.want)
		}
	}
	// Nothing listening at --server: said before ffmpeg starts.
	if out, err := run(t, nil, "stream", "video", "ingest", "surgery/or-1", "--ffmpeg", "/no/such/ffmpeg", "--server", freeAddr(t)); err == nil || !strings.Contains(out, "is a stream store listening there?") {
		t.Errorf("ingest to a closed port: %v, %q", err, out)
	}
	for _, sub := range []string{"ingest", "serve"} {
		if out, err := run(t, nil, "stream", "video", sub, "--help"); err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, `of the stream store's TCP protocol (default "`+tcp.DefaultAddr+`")`) {
			t.Errorf("stream video %s --help has no examples or not the stream commands' --server:\n%s", sub, out)
		}
	}
}

var videoServerLine = regexp.MustCompile(`video server at (http://127\.0\.0\.1:\d+)`)

// startVideoServer runs `stream video serve` on a free port and returns
// it and its URL.
func startVideoServer(t *testing.T, args ...string) (*process, string) {
	t.Helper()
	p := &process{cmd: exec.Command(binary, append([]string{"stream", "video", "serve", "--listen", "127.0.0.1:0"}, args...)...),
		done: make(chan error, 1)}
	p.cmd.Stderr = &lockedWriter{p: p}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := videoServerLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("output of stream video serve:\n%s", p.output())
		}
	})
	select {
	case u := <-urls:
		return p, u
	case err := <-p.done:
		p.done <- err
		t.Fatalf("stream video serve exited early: %v\n%s", err, p.output())
	case <-time.After(15 * time.Second):
		t.Fatalf("stream video serve did not say where it listens\n%s", p.output())
	}
	return nil, ""
}

// TestVideoIngestProgressLine: the progress line is rewritten in place and
// cleared when ingest ends (lockedBuffer is flaky_test.go's).
func TestVideoIngestProgressLine(t *testing.T) {
	var out lockedBuffer
	stop := progressLoop(&out, &video.Ingester{}, time.Millisecond)
	for !strings.Contains(out.String(), "0 frames") {
		time.Sleep(time.Millisecond)
	}
	stop()
	if s := out.String(); !strings.HasPrefix(s, "\r\033[K0 frames (0x0)") || !strings.HasSuffix(s, "\r\033[K") {
		t.Fatalf("progress wrote %q", s)
	}
}
