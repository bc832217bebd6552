package streamapi_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/stream/tcp"
	"github.com/cloudskin/cloudskin/stream/tcp/tcptest"
)

// TestCompareFrames is the video-frame latency benchmark of issue 6, ours
// and NATS JetStream side by side in one run: frames of 720p and 1080p
// MJPEG size, paced at 30 fps per camera, 1, 4 and 16 cameras, each camera
// one writer on its own stream with one tail reader. It measures durable
// append latency (call to acknowledgement) and end-to-end latency (call to
// the tail reader holding the frame). Our store acknowledges after
// fdatasync; JetStream stores to files with sync_interval: always.
// It runs only when CLOUDSKIN_COMPARE_OUT is set (bench/compare-streams.sh)
// and appends TSV rows: benchmark, command, peer, ours, peer. Each
// configuration runs once for CLOUDSKIN_FRAMES_SECONDS (default 5).
func TestCompareFrames(t *testing.T) {
	out := os.Getenv("CLOUDSKIN_COMPARE_OUT")
	if out == "" {
		t.Skip("set CLOUDSKIN_COMPARE_OUT to run the comparison (bench/compare-streams.sh)")
	}
	natsBin := findNATS(t)
	d := time.Duration(envInt("CLOUDSKIN_FRAMES_SECONDS", 5)) * time.Second
	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sizes := []struct {
		label string
		bytes int
	}{
		{"100 KiB (720p MJPEG-size)", 100 << 10},
		{"250 KiB (1080p MJPEG-size)", 250 << 10},
	}
	for _, size := range sizes {
		for _, cameras := range []int{1, 4, 16} {
			w := frameWorkload{frameBytes: size.bytes, cameras: cameras, duration: d}
			t.Run(fmt.Sprintf("%dKiB/%dstreams", size.bytes>>10, cameras), func(t *testing.T) {
				ours := runFrames(t, w, oursCameras(t, cameras))
				oursTCP := runFrames(t, w, tcpCameras(t, cameras))
				peer := runFrames(t, w, natsCameras(t, natsBin, cameras))
				if t.Failed() {
					return
				}
				t.Logf("ours over HTTP: %s; ours over TCP: %s; JetStream: %s", ours, oursTCP, peer)
				what := fmt.Sprintf("video frames of %s at 30 fps per stream, %d stream(s), %s, loopback", size.label, cameras, d)
				writeFrameRows(f, what, httpFramesCmd, w.paced(), ours, peer)
				writeFrameRows(f, what, tcpFramesCmd, w.paced(), oursTCP, peer)
			})
		}
	}
}

// How our rows were measured: the HTTP API's binary forms, or the TCP
// protocol (stream/tcp).
const (
	httpFramesCmd = "stream store over HTTP, binary forms: POST .../events with the frame as the body (fdatasync before ack), tail reader GET .../segments/ID/events?wait=1s with Accept: application/octet-stream"
	tcpFramesCmd  = "stream store over its TCP protocol (stream/tcp): Client.Append per frame (fdatasync before ack), tail reader Client.ReadSegment waiting at the tail; a connection per writer and per reader"
)

func writeFrameRows(w io.Writer, what, ourCmd string, paced int, ours, peer frameLatencies) {
	const peerCmd = "NATS JetStream v2.15.2: js.Publish per frame, file storage, sync_interval: always; ordered consumer (Consume)"
	rows := []struct {
		name string
		of   func(frameLatencies) time.Duration
	}{
		{"durable append p50", func(l frameLatencies) time.Duration { return percentile(l.append, 0.50) }},
		{"durable append p95", func(l frameLatencies) time.Duration { return percentile(l.append, 0.95) }},
		{"durable append p99", func(l frameLatencies) time.Duration { return percentile(l.append, 0.99) }},
		{"end-to-end (append call to reader) p50", func(l frameLatencies) time.Duration { return percentile(l.endToEnd, 0.50) }},
		{"end-to-end (append call to reader) p95", func(l frameLatencies) time.Duration { return percentile(l.endToEnd, 0.95) }},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%s: %s\t%s\t%s\t%.3f ms\t%.3f ms\n", what, r.name, ourCmd, peerCmd, ms(r.of(ours)), ms(r.of(peer)))
	}
	// A writer that falls behind skips frames, as a camera would; the
	// count shows when the latencies above are those of fewer frames.
	fmt.Fprintf(w, "%s: frames acknowledged (of %d paced)\t%s\t%s\t%d frames\t%d frames\n", what, paced, ourCmd, peerCmd, len(ours.append), len(peer.append))
}

// frameWorkload is one configuration of the benchmark.
type frameWorkload struct {
	frameBytes int
	cameras    int
	duration   time.Duration
}

// paced is how many measured frames the cameras would send together if no
// writer fell behind.
func (w frameWorkload) paced() int {
	perCamera := int((w.duration + framePeriod - 1) / framePeriod)
	return perCamera * w.cameras
}

// framePeriod paces each camera at 30 frames per second.
const framePeriod = time.Second / 30

// camera is one camera's stream in the system under test.
type camera struct {
	// append appends a frame and returns once it is durable.
	append func(ctx context.Context, frame []byte) error
	// tail hands each frame of the stream, in order, to deliver until
	// deliver returns false or ctx ends.
	tail func(ctx context.Context, deliver func(frame []byte) bool) error
}

// frameLatencies are the sorted latencies of all cameras' measured frames.
type frameLatencies struct {
	append   []time.Duration
	endToEnd []time.Duration
}

func (l frameLatencies) String() string {
	return fmt.Sprintf("%d frames, append p50 %s p95 %s p99 %s, end-to-end p50 %s p95 %s", len(l.append),
		percentile(l.append, 0.5), percentile(l.append, 0.95), percentile(l.append, 0.99),
		percentile(l.endToEnd, 0.5), percentile(l.endToEnd, 0.95))
}

// percentile returns the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// A frame starts with a header: when its append was called, as
// nanoseconds since the run's clock started (monotonic, one process), and
// its sequence number. Sequence 0 is a warm-up frame (connections, first
// files), the last is an end marker; neither is measured.
const (
	frameHeader = 16
	endOfFrames = math.MaxUint64
)

// runFrames runs w against cameras: one paced writer and one tail reader
// per camera, and returns the latencies of the measured frames. It fails t
// unless every reader got every frame its writer had acknowledged, in order.
func runFrames(t *testing.T, w frameWorkload, cameras []camera) frameLatencies {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), w.duration+time.Minute)
	defer cancel()
	clock := time.Now()
	appendLat := make([][]time.Duration, len(cameras))
	e2eLat := make([][]time.Duration, len(cameras))
	sent := make([]uint64, len(cameras))
	got := make([]uint64, len(cameras))
	var wg sync.WaitGroup
	for i, cam := range cameras {
		warm := make(chan struct{})
		wg.Go(func() {
			var err error
			got[i], e2eLat[i], err = readFrames(ctx, cam, clock, warm)
			if err != nil {
				t.Errorf("camera %d: reader: %v", i, err)
			}
		})
		wg.Go(func() {
			// Cameras are not in step: spread their first frames over a period.
			phase := framePeriod * time.Duration(i) / time.Duration(len(cameras))
			var err error
			sent[i], appendLat[i], err = writeFrames(ctx, cam, w, clock, phase, uint64(i), warm)
			if err != nil {
				t.Errorf("camera %d: writer: %v", i, err)
				cancel() // the reader would wait for the end marker in vain
			}
		})
	}
	wg.Wait()
	for i := range cameras {
		if got[i] != sent[i] {
			t.Errorf("camera %d: reader got %d measured frames in order, writer had %d acknowledged", i, got[i], sent[i])
		}
	}
	l := frameLatencies{append: slices.Concat(appendLat...), endToEnd: slices.Concat(e2eLat...)}
	slices.Sort(l.append)
	slices.Sort(l.endToEnd)
	if len(l.append) == 0 {
		t.Error("no frame was acknowledged")
	}
	return l
}

// writeFrames appends a warm-up frame and waits until the reader has it
// (warm closed), then appends a frame every framePeriod (after phase) for
// w.duration, then the end marker. It returns the number of measured
// frames and their append latencies.
func writeFrames(ctx context.Context, cam camera, w frameWorkload, clock time.Time, phase time.Duration, seed uint64, warm <-chan struct{}) (uint64, []time.Duration, error) {
	frame := make([]byte, w.frameBytes)
	fillRandom(frame, seed) // incompressible, like JPEG
	send := func(seq uint64) (time.Duration, error) {
		start := time.Now()
		binary.BigEndian.PutUint64(frame[0:8], uint64(start.Sub(clock)))
		binary.BigEndian.PutUint64(frame[8:16], seq)
		err := cam.append(ctx, frame)
		return time.Since(start), err
	}
	if _, err := send(0); err != nil {
		return 0, nil, fmt.Errorf("warm-up frame: %w", err)
	}
	select {
	case <-warm:
	case <-ctx.Done():
		return 0, nil, fmt.Errorf("waiting for the reader to get the warm-up frame: %w", ctx.Err())
	}
	lat := make([]time.Duration, 0, int(w.duration/framePeriod)+1)
	begin := time.Now().Add(phase)
	next := begin
	seq := uint64(0)
	for next.Sub(begin) < w.duration {
		time.Sleep(time.Until(next)) // pacing, as a camera would
		seq++
		d, err := send(seq)
		if err != nil {
			return seq - 1, lat, fmt.Errorf("frame %d: %w", seq, err)
		}
		lat = append(lat, d)
		next = next.Add(framePeriod)
		if late := time.Since(next); late > framePeriod {
			next = time.Now() // a camera drops frames rather than bursting
		}
	}
	if _, err := send(endOfFrames); err != nil {
		return seq, lat, fmt.Errorf("end marker: %w", err)
	}
	return seq, lat, nil
}

// readFrames tails a camera's stream until the end marker, closing warm
// when the warm-up frame arrives, and returns the number of measured frames
// received in order and their end-to-end latencies.
func readFrames(ctx context.Context, cam camera, clock time.Time, warm chan<- struct{}) (uint64, []time.Duration, error) {
	var (
		mu     sync.Mutex // deliver may be called from the peer client's goroutines
		inSeq  uint64     // measured frames received in order
		lat    []time.Duration
		warmed bool
		ended  bool
		badErr error
	)
	err := cam.tail(ctx, func(frame []byte) bool {
		now := time.Since(clock)
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return false
		}
		if len(frame) < frameHeader {
			badErr = fmt.Errorf("frame of %d bytes, shorter than its header", len(frame))
			return false
		}
		stamp := time.Duration(binary.BigEndian.Uint64(frame[0:8]))
		switch seq := binary.BigEndian.Uint64(frame[8:16]); {
		case seq == endOfFrames:
			ended = true
			return false
		case seq == 0 && !warmed:
			warmed = true
			close(warm)
		case seq == inSeq+1:
			inSeq = seq
			lat = append(lat, now-stamp)
		default:
			badErr = fmt.Errorf("frame %d after frame %d", seq, inSeq)
			return false
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	ended = true // a late callback of the peer client must not touch lat
	switch {
	case badErr != nil:
		return inSeq, lat, badErr
	case err != nil:
		return inSeq, lat, err
	case !ended:
		return inSeq, lat, fmt.Errorf("stopped before the end marker: %w", ctx.Err())
	}
	return inSeq, lat, nil
}

func fillRandom(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0x6672616d6573))
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
}

// oursCameras starts our store behind its HTTP API for the rest of the
// test and creates a one-segment stream per camera.
func oursCameras(t *testing.T, n int) []camera {
	s, err := stream.Open(context.Background(), stream.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mux := http.NewServeMux()
	streamapi.NewHandler(s.Service(), nil).Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c, err := streamapi.NewClient("http://"+ln.Addr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	if err := c.CreateScope(ctx, "frames"); err != nil {
		t.Fatal(err)
	}
	cams := make([]camera, n)
	for i := range cams {
		name := stream.StreamName{Scope: "frames", Stream: "camera-" + strconv.Itoa(i)}
		info, err := c.CreateStream(ctx, name, streamapi.StreamSpec{Segments: 1})
		if err != nil {
			t.Fatal(err)
		}
		seg := info.Segments[0].ID
		cams[i] = camera{
			append: func(ctx context.Context, frame []byte) error {
				_, err := c.AppendBinary(ctx, name, "camera", frame, "", 0)
				return err
			},
			tail: func(ctx context.Context, deliver func([]byte) bool) error {
				for from := int64(0); ; {
					b, err := c.ReadSegmentBinary(ctx, name, seg, from, 0, time.Second)
					if err != nil {
						return err
					}
					for _, e := range b.Events {
						if !deliver(e.Data) {
							return nil
						}
					}
					if len(b.Events) > 0 {
						from = b.Next
					}
				}
			},
		}
	}
	return cams
}

// tcpCameras starts our store behind its TCP protocol for the rest of the
// test and creates a one-segment stream per camera; each writer and each
// reader has its own connection, as JetStream's here do.
func tcpCameras(t *testing.T, n int) []camera {
	_, addr := tcptest.Store(t)
	ctx := context.Background()
	connect := func() *tcp.Client {
		c, err := tcp.Dial(ctx, addr, tcp.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	admin := connect()
	if err := admin.CreateScope(ctx, "frames"); err != nil {
		t.Fatal(err)
	}
	cams := make([]camera, n)
	for i := range cams {
		name := stream.StreamName{Scope: "frames", Stream: "camera-" + strconv.Itoa(i)}
		info, err := admin.CreateStream(ctx, name, stream.StreamConfig{Segments: 1})
		if err != nil {
			t.Fatal(err)
		}
		seg := info.Segments[0].ID
		writer, reader := connect(), connect()
		cams[i] = camera{
			append: func(ctx context.Context, frame []byte) error {
				_, err := writer.Append(ctx, stream.AppendRequest{Stream: name, RoutingKey: "camera", Events: [][]byte{frame}})
				return err
			},
			tail: func(ctx context.Context, deliver func([]byte) bool) error {
				for from := int64(0); ; {
					b, err := reader.ReadSegment(ctx, name, seg, from, stream.ReadOptions{})
					if err != nil {
						return err
					}
					for _, e := range b.Events {
						if !deliver(e.Data) {
							return nil
						}
					}
					from = b.Next
				}
			},
		}
	}
	return cams
}

// natsCameras starts a nats-server for the rest of the test and creates a
// file-backed JetStream stream per camera. Each writer and each reader has
// its own connection, as each of ours has its own HTTP connection.
func natsCameras(t *testing.T, bin string, n int) []camera {
	url := startNATS(t, bin)
	connect := func() jetstream.JetStream {
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	ctx := context.Background()
	cams := make([]camera, n)
	for i := range cams {
		subject := "camera." + strconv.Itoa(i)
		writer, reader := connect(), connect()
		st, err := writer.CreateStream(ctx, jetstream.StreamConfig{Name: "CAMERA" + strconv.Itoa(i), Subjects: []string{subject}, Storage: jetstream.FileStorage})
		if err != nil {
			t.Fatal(err)
		}
		readerStream, err := reader.Stream(ctx, st.CachedInfo().Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		cams[i] = camera{
			append: func(ctx context.Context, frame []byte) error {
				_, err := writer.Publish(ctx, subject, frame)
				return err
			},
			tail: func(ctx context.Context, deliver func([]byte) bool) error {
				cons, err := readerStream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
				if err != nil {
					return err
				}
				stop := make(chan struct{})
				var once sync.Once
				cc, err := cons.Consume(func(m jetstream.Msg) {
					if !deliver(m.Data()) {
						once.Do(func() { close(stop) })
					}
				})
				if err != nil {
					return err
				}
				defer cc.Stop()
				select {
				case <-stop:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			},
		}
	}
	return cams
}
