package video

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SourceConfig says what ffmpeg reads and how it writes frames.
type SourceConfig struct {
	// FFmpeg is the ffmpeg binary; empty means "ffmpeg" on $PATH.
	FFmpeg string
	// Input is anything ffmpeg takes after -i: a file, a URL, a device.
	// Empty means ffmpeg's testsrc2 pattern of TestWidth×TestHeight at
	// TestRate frames per second.
	Input                           string
	TestWidth, TestHeight, TestRate int
	// Realtime makes ffmpeg read its input at its native frame rate (-re),
	// as a camera delivers it, instead of as fast as it can.
	Realtime bool
	// Frames stops after this many frames; 0 means when the input ends.
	Frames int
	// Quality is the JPEG quantiser scale, 2 (best) to 31; 0 means 5.
	Quality int
	// MaxFrameBytes bounds one image; 0 means DefaultMaxFrameBytes.
	MaxFrameBytes int
	// Camera is put in every frame.
	Camera string
}

// DefaultQuality is the JPEG quantiser scale used when none is given: at
// 1280×720 testsrc2 frames are about 45 KB.
const DefaultQuality = 5

var testSourcePattern = regexp.MustCompile(`^(\d+)x(\d+)@(\d+)$`)

// ParseTestSource parses "WIDTHxHEIGHT@RATE", e.g. "1280x720@30".
func ParseTestSource(s string) (width, height, rate int, err error) {
	m := testSourcePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, 0, fmt.Errorf("test source %q: want WIDTHxHEIGHT@RATE, e.g. 1280x720@30", s)
	}
	width, _ = strconv.Atoi(m[1])
	height, _ = strconv.Atoi(m[2])
	rate, _ = strconv.Atoi(m[3])
	if width < 16 || height < 16 || width > 8192 || height > 8192 || rate < 1 || rate > 1000 {
		return 0, 0, 0, fmt.Errorf("test source %q: want a size from 16x16 to 8192x8192 and a rate from 1 to 1000", s)
	}
	return width, height, rate, nil
}

// Args returns ffmpeg's arguments: MJPEG on standard output, nothing else.
func (c SourceConfig) Args() []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
	switch {
	case c.Input == "":
		// The realtime filter paces the pattern frame by frame; -re lets
		// a burst through at the start.
		pattern := fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", c.TestWidth, c.TestHeight, c.TestRate)
		if c.Realtime {
			pattern += ",realtime"
		}
		args = append(args, "-f", "lavfi", "-i", pattern)
	case c.Realtime:
		args = append(args, "-re", "-i", c.Input)
	default:
		args = append(args, "-i", c.Input)
	}
	q := c.Quality
	if q == 0 {
		q = DefaultQuality
	}
	// yuvj420p: full-range 4:2:0, what browsers and image/jpeg decode.
	args = append(args, "-an", "-c:v", "mjpeg", "-q:v", strconv.Itoa(q), "-pix_fmt", "yuvj420p")
	if c.Frames > 0 {
		args = append(args, "-frames:v", strconv.Itoa(c.Frames))
	}
	return append(args, "-f", "mjpeg", "pipe:1")
}

// Source is a running ffmpeg whose frames are read with Next.
type Source struct {
	cfg      SourceConfig
	cmd      *exec.Cmd
	pipe     *os.File
	splitter *Splitter
	stderr   *tailBuffer
	seq      uint64
	now      func() time.Time

	done    chan struct{} // closed once ffmpeg has exited
	waitErr error         // ffmpeg's exit, set before done is closed
}

// ErrNoFFmpeg is wrapped by StartSource's error when ffmpeg is not installed.
var ErrNoFFmpeg = errors.New("ffmpeg not found: install the Debian package ffmpeg (make deps)")

// StartSource starts ffmpeg as cfg says. It is killed when ctx ends, when
// Close is called, and (on Linux) when this process dies.
func StartSource(ctx context.Context, cfg SourceConfig) (*Source, error) {
	bin := cfg.FFmpeg
	if bin == "" {
		bin = "ffmpeg"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("video: %w (%v)", ErrNoFFmpeg, err)
	}
	if cfg.Input == "" {
		if _, _, _, err := ParseTestSource(fmt.Sprintf("%dx%d@%d", cfg.TestWidth, cfg.TestHeight, cfg.TestRate)); err != nil {
			return nil, fmt.Errorf("video: %w", err)
		}
	}
	// Our own pipe, not cmd.StdoutPipe: Wait closes that one when ffmpeg
	// exits, which could lose the last frames still in it.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("video: pipe for ffmpeg: %w", err)
	}
	s := &Source{
		cfg:      cfg,
		cmd:      exec.CommandContext(ctx, path, cfg.Args()...),
		pipe:     pr,
		splitter: NewSplitter(pr, cfg.MaxFrameBytes),
		stderr:   &tailBuffer{limit: 16 << 10},
		now:      time.Now,
		done:     make(chan struct{}),
	}
	s.cmd.Stdout, s.cmd.Stderr = pw, s.stderr
	s.cmd.WaitDelay = time.Second
	setDeathSignal(s.cmd)
	started := make(chan error, 1)
	go s.run(started)
	err = <-started
	pw.Close() // ffmpeg has its copy; ours would keep the pipe open
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("video: start ffmpeg: %w", err)
	}
	return s, nil
}

// run starts ffmpeg and waits for it on a thread of its own: the death
// signal fires when the thread that started the child exits, so it is
// kept until the child is gone.
func (s *Source) run(started chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := s.cmd.Start(); err != nil {
		started <- err
		return
	}
	started <- nil
	s.waitErr = s.cmd.Wait()
	close(s.done)
}

// Next returns the next frame, stamped with the time its last byte was
// read and numbered from 0. Its JPEG is valid until the next call. At the
// end of ffmpeg's output it returns io.EOF if ffmpeg succeeded, or an
// error with what ffmpeg said.
func (s *Source) Next() (Frame, error) {
	img, err := s.splitter.Next()
	if err == nil {
		f := Frame{Camera: s.cfg.Camera, Seq: s.seq, Captured: s.now(), Width: img.Width, Height: img.Height, JPEG: img.Data}
		s.seq++
		return f, nil
	}
	if errors.Is(err, io.EOF) {
		<-s.done
		if s.waitErr != nil {
			return Frame{}, s.exitError()
		}
		return Frame{}, io.EOF
	}
	// Bad bytes on the pipe, or ffmpeg died mid-frame: say what ffmpeg said.
	s.kill()
	if said := strings.TrimSpace(s.stderr.String()); said != "" {
		return Frame{}, fmt.Errorf("%w; ffmpeg said: %s", err, said)
	}
	return Frame{}, err
}

func (s *Source) exitError() error {
	said := strings.TrimSpace(s.stderr.String())
	if said == "" {
		said = "(nothing)"
	}
	return fmt.Errorf("video: ffmpeg %s: %v; it said: %s", strings.Join(s.cfg.Args(), " "), s.waitErr, said)
}

// kill stops ffmpeg and waits for it.
func (s *Source) kill() {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Close stops ffmpeg if it still runs and releases the pipe.
func (s *Source) Close() error {
	s.kill()
	return s.pipe.Close()
}

// tailBuffer keeps the last limit bytes written to it: ffmpeg's stderr,
// which explains a failure at its end.
type tailBuffer struct {
	mu    sync.Mutex
	limit int
	buf   []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
