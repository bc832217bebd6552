package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// FrameSource yields frames until io.EOF; *Source is one.
type FrameSource interface {
	Next() (Frame, error)
}

// Defaults of an Ingester.
const (
	DefaultCamera        = "camera-1"
	DefaultInFlight      = 8
	DefaultAppendTimeout = 30 * time.Second
)

// Ingester appends a source's frames to a stream, one event per frame,
// with the camera name as routing key. Appends are pipelined: a frame is
// sent without waiting for the one before it to be acknowledged, up to
// InFlight at a time, and the client keeps them in order.
type Ingester struct {
	Client Client
	Stream stream.StreamName
	// Camera names the source and is the routing key; empty means
	// DefaultCamera.
	Camera string
	// InFlight bounds the appends sent and not yet acknowledged; 0 means
	// DefaultInFlight.
	InFlight int
	// MaxFrames and MaxDuration stop ingest after that many frames or
	// that long; 0 means no limit.
	MaxFrames   int
	MaxDuration time.Duration
	// AppendTimeout bounds one append, also while stopping; 0 means
	// DefaultAppendTimeout.
	AppendTimeout time.Duration

	mu    sync.Mutex
	stats IngestStats
	hist  latencyHistogram
	began time.Time
	ended time.Time
}

// IngestStats is what an ingest has stored so far.
type IngestStats struct {
	// Frames and Bytes count the acknowledged frames and their events' bytes.
	Frames int64
	Bytes  int64
	// Elapsed runs from the first frame read to the last acknowledgement.
	Elapsed       time.Duration
	Width, Height int
	// AppendP50, AppendP95 and AppendP99 are percentiles of the time from
	// sending a frame's append to its acknowledgement (to within 5 %).
	AppendP50, AppendP95, AppendP99 time.Duration
	// First and Last are where the first and last acknowledged frames went.
	Segment     uint64
	First, Last int64
}

// FPS is the acknowledged frames per second.
func (s IngestStats) FPS() float64 { return perSecond(float64(s.Frames), s.Elapsed) }

// MBPerSecond is the acknowledged megabytes (10^6 bytes) per second.
func (s IngestStats) MBPerSecond() float64 { return perSecond(float64(s.Bytes)/1e6, s.Elapsed) }

func perSecond(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// String is a one-line summary.
func (s IngestStats) String() string {
	return fmt.Sprintf("%d frames (%dx%d) in %s: %.1f fps, %.2f MB/s, append latency p50 %s p99 %s",
		s.Frames, s.Width, s.Height, s.Elapsed.Round(time.Millisecond), s.FPS(), s.MBPerSecond(),
		roundLatency(s.AppendP50), roundLatency(s.AppendP99))
}

func roundLatency(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}

// Stats returns what has been stored so far; safe to call while Run runs.
func (in *Ingester) Stats() IngestStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.stats
	switch {
	case !in.ended.IsZero():
		s.Elapsed = in.ended.Sub(in.began)
	case !in.began.IsZero():
		s.Elapsed = time.Since(in.began)
	}
	s.AppendP50, s.AppendP95, s.AppendP99 = in.hist.quantile(0.5), in.hist.quantile(0.95), in.hist.quantile(0.99)
	return s
}

// pendingAppend is a frame sent and not yet acknowledged.
type pendingAppend struct {
	seq    uint64
	size   int
	sent   time.Time
	result <-chan Appended
	cancel context.CancelFunc
}

// Run creates the stream if it is missing and appends src's frames until
// src ends, a limit is reached, an append fails or ctx ends. When ctx ends
// it stops reading (src should end with ctx, as a Source started with it
// does) and waits for the frames in flight to be acknowledged; that is a
// clean stop (nil error). A frame that cannot be stored stops
// ingest with its error: no frame is dropped silently.
func (in *Ingester) Run(ctx context.Context, src FrameSource) (IngestStats, error) {
	camera := in.Camera
	if camera == "" {
		camera = DefaultCamera
	}
	if len(camera) > MaxCameraName {
		return IngestStats{}, fmt.Errorf("video: camera name of %d bytes, more than %d", len(camera), MaxCameraName)
	}
	if err := in.Stream.Validate(); err != nil {
		return IngestStats{}, fmt.Errorf("video: %w", err)
	}
	if err := in.Client.EnsureStream(ctx, in.Stream); err != nil {
		return IngestStats{}, err
	}
	inFlight := orDefault(in.InFlight, DefaultInFlight)
	slots := make(chan struct{}, inFlight)
	queue := make(chan pendingAppend, inFlight)
	failed := make(chan struct{})
	var appendErr error
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for p := range queue {
			res := <-p.result
			p.cancel()
			if res.Err != nil && appendErr == nil {
				appendErr = fmt.Errorf("video: frame %d of %s not stored, ingest stopped: %w", p.seq, camera, res.Err)
				close(failed)
			} else if res.Err == nil {
				in.acknowledged(p, res)
			}
			<-slots
		}
	}()

	readErr := in.send(ctx, src, camera, slots, queue, failed)
	close(queue)
	<-collected
	in.mu.Lock()
	if !in.began.IsZero() {
		in.ended = time.Now()
	}
	in.mu.Unlock()
	stats := in.Stats()
	if appendErr != nil {
		return stats, appendErr
	}
	return stats, readErr
}

// send reads frames and queues their appends until it should stop.
func (in *Ingester) send(ctx context.Context, src FrameSource, camera string, slots chan struct{}, queue chan<- pendingAppend, failed <-chan struct{}) error {
	appendCtx := context.WithoutCancel(ctx) // frames in flight finish after ctx ends
	timeout := orDefault(in.AppendTimeout, DefaultAppendTimeout)
	start := time.Now()
	for n := 0; ; n++ {
		if (in.MaxFrames > 0 && n >= in.MaxFrames) || (in.MaxDuration > 0 && time.Since(start) >= in.MaxDuration) {
			return nil
		}
		select {
		case <-failed:
			return nil
		case <-ctx.Done():
			return nil
		default:
		}
		f, err := src.Next()
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil && ctx.Err() != nil:
			return nil // the source was stopped with us
		case err != nil:
			return fmt.Errorf("video: reading frame %d: %w", n, err)
		}
		f.Camera = camera
		event, err := EncodeFrame(f)
		if err != nil {
			return err
		}
		if n == 0 {
			in.start(f)
		}
		select {
		case slots <- struct{}{}:
		case <-failed:
			return nil
		}
		actx, cancel := context.WithTimeout(appendCtx, timeout)
		queue <- pendingAppend{seq: f.Seq, size: len(event), sent: time.Now(), cancel: cancel,
			result: in.Client.AppendAsync(actx, in.Stream, camera, event)}
	}
}

func (in *Ingester) start(f Frame) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.began = time.Now()
	in.stats.Width, in.stats.Height = f.Width, f.Height
}

func (in *Ingester) acknowledged(p pendingAppend, res Appended) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.hist.observe(time.Since(p.sent))
	if in.stats.Frames == 0 {
		in.stats.Segment, in.stats.First = res.Segment, res.Offset
	}
	in.stats.Frames++
	in.stats.Bytes += int64(p.size)
	in.stats.Last = res.Offset
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// latencyHistogram counts durations in buckets 5 % wide from 1 µs, so
// percentiles of a long ingest cost constant memory.
type latencyHistogram struct {
	counts [400]int64
	total  int64
}

const histBase = 1.05

func (h *latencyHistogram) observe(d time.Duration) {
	i := 0
	if us := float64(d) / float64(time.Microsecond); us > 1 {
		i = min(int(math.Log(us)/math.Log(histBase))+1, len(h.counts)-1)
	}
	h.counts[i]++
	h.total++
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.total)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(math.Pow(histBase, float64(i)) * float64(time.Microsecond))
		}
	}
	return 0
}
