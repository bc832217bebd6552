package cell_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/toolchain"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

// The programs of these tests, built migratable once with the real
// toolchain: cell/testdata/streams.c and mpimetric.c, and the mobility
// example's two programs.
var (
	hostBuildOnce sync.Once
	hostModules   map[string][]byte
	hostBuildErr  error
	noToolchain   error
)

func hostModule(t testing.TB, name string) []byte {
	t.Helper()
	hostBuildOnce.Do(func() {
		tc, err := toolchain.Find()
		if err != nil {
			noToolchain = err
			return
		}
		dir, err := os.MkdirTemp("", "cell-hostapi-test")
		if err != nil {
			hostBuildErr = err
			return
		}
		defer os.RemoveAll(dir)
		sources := map[string]string{
			"streams":      "testdata/streams.c",
			"mpimetric":    "testdata/mpimetric.c",
			"usage":        "testdata/usage.c",
			"frame-source": "../examples/mobility/src/frame-source.c",
			"detector":     "../examples/mobility/src/detector.c",
		}
		hostModules = map[string][]byte{}
		for name, src := range sources {
			out := filepath.Join(dir, name+".wasm")
			opts := toolchain.Options{Sources: []string{src}, Output: out, SIMD: true, Migratable: true, ExtraFlags: []string{"-Wall", "-Werror"}}
			if err := tc.Compile(context.Background(), opts); err != nil {
				hostBuildErr = fmt.Errorf("build %s: %w", src, err)
				return
			}
			if hostModules[name], err = os.ReadFile(out); err != nil {
				hostBuildErr = err
				return
			}
		}
	})
	if noToolchain != nil {
		t.Skipf("no C toolchain: %v", noToolchain)
	}
	if hostBuildErr != nil {
		t.Fatalf("building test modules: %v", hostBuildErr)
	}
	return hostModules[name]
}

// programs loads host test programs on one runtime per test.
type programs struct {
	t  testing.TB
	rt *cell.Runtime
}

func newPrograms(t testing.TB) *programs {
	rt := cell.NewRuntime(cell.Options{CacheDir: t.TempDir()})
	t.Cleanup(func() { rt.Close(context.Background()) })
	return &programs{t: t, rt: rt}
}

func (ps *programs) load(name string, e cell.EngineChoice) *cell.Program {
	ps.t.Helper()
	p, err := ps.rt.Load(context.Background(), hostModule(ps.t, name), e)
	if err != nil {
		ps.t.Fatalf("load %s on %s: %v", name, e, err)
	}
	ps.t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// store is a real stream store behind its REST API on loopback.
type store struct {
	client  *streamapi.Client
	streams cell.Streams
	// reads counts the event reads the store served.
	reads atomic.Int64
}

func serveStreams(t testing.TB, names ...string) *store {
	t.Helper()
	ctx := context.Background()
	s, err := stream.Open(ctx, stream.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	streamapi.NewHandler(s.Service(), nil).Register(mux)
	st := &store{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/events") {
			st.reads.Add(1)
		}
		mux.ServeHTTP(w, r)
	}))
	c, err := streamapi.NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		s.Close()
	})
	scopes := map[string]bool{}
	for _, name := range names {
		n, err := streamapi.ParseStreamName(name)
		if err != nil {
			t.Fatal(err)
		}
		if !scopes[n.Scope] {
			if err := c.CreateScope(ctx, n.Scope); err != nil {
				t.Fatal(err)
			}
			scopes[n.Scope] = true
		}
		if _, err := c.CreateStream(ctx, n, streamapi.StreamSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	st.client, st.streams = c, cell.StreamsFromAPI(c)
	return st
}

// events returns every event of segment 0 of a stream.
func (s *store) events(t testing.TB, name string) [][]byte {
	t.Helper()
	n, _ := streamapi.ParseStreamName(name)
	var out [][]byte
	for from := int64(0); ; {
		got, err := s.client.ReadSegmentBinary(context.Background(), n, 0, from, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Events) == 0 {
			return out
		}
		for _, e := range got.Events {
			out = append(out, bytes.Clone(e.Data))
		}
		from = got.Next
	}
}

// testEvent is event n as streams.c's append mode makes it.
func testEvent(n, size int) []byte {
	b := make([]byte, size)
	copy(b, fmt.Sprintf("event %06d", n))
	for i := 12; i < size; i++ {
		b[i] = byte('a' + (n+i)%26)
	}
	return b
}

func (s *store) appendTestEvents(t testing.TB, name string, from, to, size int) {
	t.Helper()
	n, _ := streamapi.ParseStreamName(name)
	for i := from; i < to; i++ {
		if _, err := s.client.AppendBinary(context.Background(), n, "key", testEvent(i, size), "", 0); err != nil {
			t.Fatal(err)
		}
	}
}

// watched passes a cell's stream calls to a real Streams and tells the
// test what happened: how many events reads returned, and when a read
// found nothing.
type watched struct {
	cell.Streams
	onRead func(events int, empty bool)

	mu     sync.Mutex
	events int
}

func (w *watched) ReadNext(ctx context.Context, name string, segment uint32, offset uint64, wait time.Duration) ([]byte, uint64, error) {
	ev, next, err := w.Streams.ReadNext(ctx, name, segment, offset, wait)
	w.mu.Lock()
	if ev != nil {
		w.events++
	}
	n := w.events
	w.mu.Unlock()
	if w.onRead != nil {
		w.onRead(n, ev == nil && err == nil)
	}
	return ev, next, err
}

// signal is closed once.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }
func (s *signal) fire()  { s.once.Do(func() { close(s.ch) }) }

// metrics collects what cells report.
type metrics struct {
	mu      sync.Mutex
	samples []sample
}

type sample struct {
	name  string
	value float64
}

func (m *metrics) record(name string, value float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, sample{name, value})
}

func (m *metrics) get() []sample {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sample(nil), m.samples...)
}

// outBuffer is a bytes.Buffer that a cell and the test share.
type outBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *outBuffer) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *outBuffer) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

func other(e cell.EngineChoice) cell.EngineChoice {
	if e == cell.Wasmtime {
		return cell.Wazero
	}
	return cell.Wasmtime
}

// checkReadLines checks streams.c's read output: one "NNNNNN LEN OFFSET"
// line per event, numbered from 0, offsets increasing.
func checkReadLines(t *testing.T, out string, n, size int) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n {
		t.Fatalf("reader printed %d lines, want %d:\n%s", len(lines), n, out)
	}
	last := uint64(0)
	for i, l := range lines {
		var idx, length int
		var off uint64
		if _, err := fmt.Sscanf(l, "%d %d %d", &idx, &length, &off); err != nil || idx != i || length != size || off <= last {
			t.Fatalf("line %d %q: want event %d of %d bytes at an offset beyond %d (%v)", i, l, i, size, last, err)
		}
		last = off
	}
}

// A cell appends events while another reads them as they come, on the
// other engine: every event arrives once, in order, with its content.
func TestStreamsCellToCell(t *testing.T) {
	const n, size = 120, 3000
	for _, e := range engines {
		t.Run("writer on "+string(e), func(t *testing.T) {
			ps := newPrograms(t)
			s := serveStreams(t, "test/cells")
			writer, reader := ps.load("streams", e), ps.load("streams", other(e))
			var wout, rout outBuffer
			var wg sync.WaitGroup
			var rres cell.Result
			var rerr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				rres, rerr = reader.Run(context.Background(), cell.Spec{
					Args: []string{"read", "test/cells", fmt.Sprint(n), "4096", "2000"}, Stdout: &rout, Streams: s.streams, Timeout: 50 * time.Second,
				})
			}()
			wres, werr := writer.Run(context.Background(), cell.Spec{
				Args: []string{"append", "test/cells", fmt.Sprint(n), fmt.Sprint(size)}, Stdout: &wout, Streams: s.streams, Timeout: 50 * time.Second,
			})
			wg.Wait()
			if werr != nil || wres.ExitCode != 0 || wout.String() != fmt.Sprintf("appended %d\n", n) {
				t.Fatalf("writer: exit %d, %v, output %q", wres.ExitCode, werr, wout.String())
			}
			if rerr != nil || rres.ExitCode != 0 {
				t.Fatalf("reader: exit %d, %v, output %q", rres.ExitCode, rerr, rout.String())
			}
			checkReadLines(t, rout.String(), n, size)
			stored := s.events(t, "test/cells")
			if len(stored) != n || !bytes.Equal(stored[n-1], testEvent(n-1, size)) {
				t.Fatalf("the store holds %d events, want %d ending with event %d", len(stored), n, n-1)
			}
		})
	}
}

// cloudskin_metric passes valid samples to Spec.Metrics and refuses bad
// names with -1; without Metrics, valid samples still return 0.
func TestStreamsMetrics(t *testing.T) {
	want := "fps=0\nlatency_ms=0\nspace=-1\ndigit=-1\nempty=-1\nlong=-1\nmax=0\noutside=-1\n"
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := newPrograms(t).load("streams", e)
			var m metrics
			var out bytes.Buffer
			res, err := p.Run(context.Background(), cell.Spec{Args: []string{"metrics"}, Stdout: &out, Metrics: m.record})
			if err != nil || res.ExitCode != 0 || out.String() != want {
				t.Fatalf("exit %d, %v, output:\n%s\nwant:\n%s", res.ExitCode, err, out.String(), want)
			}
			got := m.get()
			wantSamples := []sample{{"fps", 25.5}, {"latency_ms", 3.25}, {strings.Repeat("x", 64), 64}}
			if fmt.Sprint(got) != fmt.Sprint(wantSamples) {
				t.Fatalf("samples %v, want %v", got, wantSamples)
			}
			out.Reset()
			if _, err := p.Run(context.Background(), cell.Spec{Args: []string{"metrics"}, Stdout: &out}); err != nil || out.String() != want {
				t.Fatalf("without Metrics: %v, output:\n%s", err, out.String())
			}
		})
	}
}

// Each way a stream call can fail returns its documented code, and a read
// into a buffer too small says how large the event is without moving on.
func TestStreamsErrorCodes(t *testing.T) {
	want := strings.Join([]string{
		"append_creates=0", "append_badname=-5", "append_outside=-5",
		"read_unknown=-2", "read_segment=-2", "read_badoffset=-5",
		"read_small=1 needed=100 offset=0", "read=100 advanced=1", "read_end=0 same=1",
		"read_midevent=-5",
	}, "\n") + "\n"
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			p := newPrograms(t).load("streams", e)
			s := serveStreams(t, "test/errors")
			s.appendTestEvents(t, "test/errors", 0, 1, 100)
			var out bytes.Buffer
			res, err := p.Run(context.Background(), cell.Spec{Args: []string{"errors", "test/errors"}, Stdout: &out, Streams: s.streams})
			if err != nil || res.ExitCode != 0 || out.String() != want {
				t.Fatalf("exit %d, %v, output:\n%s\nwant:\n%s", res.ExitCode, err, out.String(), want)
			}

			out.Reset()
			if _, err := p.Run(context.Background(), cell.Spec{Args: []string{"errors", "test/errors"}, Stdout: &out}); err != nil {
				t.Fatal(err)
			}
			for _, line := range []string{"append_creates=-1\n", "read_unknown=-1\n", "read_badoffset=-1\n"} {
				if !strings.Contains(out.String(), line) {
					t.Errorf("without Streams, want %q in:\n%s", line, out.String())
				}
			}
		})
	}
}

// A read of an event that truncation discarded says so and moves the
// cell's offset to the segment's first retained event.
// A reader catching up on a backlog of small events is served from the
// events its reads fetched ahead: every event once, in order, with far
// fewer requests than events. Two readers of one stream at different
// offsets, reading in turn, each read their own events.
func TestStreamsReadAhead(t *testing.T) {
	s := serveStreams(t, "test/backlog")
	const events, size = 500, 100
	s.appendTestEvents(t, "test/backlog", 0, events, size)
	ctx := context.Background()
	read := func(offset uint64) (string, uint64) {
		t.Helper()
		data, next, err := s.streams.ReadNext(ctx, "test/backlog", 0, offset, 0)
		if err != nil || data == nil {
			t.Fatalf("read at %d: %q, %v", offset, data, err)
		}
		return string(data[:12]), next
	}
	offsets := make([]uint64, events+1)
	for i := range events {
		var got string
		got, offsets[i+1] = read(offsets[i])
		if want := fmt.Sprintf("event %06d", i); got != want {
			t.Fatalf("event %d is %q, want %q", i, got, want)
		}
	}
	perRequest := cell.ReadAheadBytes / (size + 16)
	if n := s.reads.Load(); n > int64(events/perRequest)+2 {
		t.Fatalf("%d read requests for %d events of %d bytes (about %d fit a request)", n, events, size, perRequest)
	}

	a, b := offsets[0], offsets[250]
	for i := range 100 {
		var got string
		if got, a = read(a); got != fmt.Sprintf("event %06d", i) {
			t.Fatalf("reader a's event %d is %q", i, got)
		}
		if got, b = read(b); got != fmt.Sprintf("event %06d", 250+i) {
			t.Fatalf("reader b's event %d is %q", 250+i, got)
		}
	}
}

func TestStreamsTruncatedRead(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			s := serveStreams(t, "test/truncated")
			s.appendTestEvents(t, "test/truncated", 0, 3, 40)
			n, _ := streamapi.ParseStreamName("test/truncated")
			info, err := s.client.Stream(context.Background(), n)
			if err != nil {
				t.Fatal(err)
			}
			third := info.Segments[0].End * 2 / 3 // events of equal size: the third starts here
			if err := s.client.Truncate(context.Background(), n, map[uint64]int64{0: third}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res, err := newPrograms(t).load("streams", e).Run(context.Background(), cell.Spec{Args: []string{"truncated", "test/truncated"}, Stdout: &out, Streams: s.streams})
			want := fmt.Sprintf("truncated=-6 offset=%d\nthen=event 000002\n", third)
			if err != nil || res.ExitCode != 0 || out.String() != want {
				t.Fatalf("exit %d, %v, output:\n%s\nwant:\n%s", res.ExitCode, err, out.String(), want)
			}
		})
	}
}

// A reader stopped at any of its host calls mid-stream, snapshotted and
// resumed on the other engine reads every event once, in order: its
// offset travels in its memory.
func TestStreamsReaderMovesBetweenEngines(t *testing.T) {
	const n, size = 30, 500
	s := serveStreams(t, "test/move")
	s.appendTestEvents(t, "test/move", 0, n, size)
	args := []string{"read", "test/move", fmt.Sprint(n), "1024", "0"}
	for _, e := range engines {
		t.Run("from "+string(e), func(t *testing.T) {
			ps := newPrograms(t)
			from, to := ps.load("streams", e), ps.load("streams", other(e))
			for _, at := range []uint64{1, 9, 17, 26, 33} {
				var before, after bytes.Buffer
				snap, res, err := from.RunUntil(context.Background(), cell.Spec{Args: args, Stdout: &before, Streams: s.streams}, at)
				if err != nil || snap == nil {
					t.Fatalf("stop at host call %d: snapshot %v, exit %d, %v", at, snap != nil, res.ExitCode, err)
				}
				res, err = to.Resume(context.Background(), cell.Spec{Stdout: &after, Streams: s.streams}, snap)
				if err != nil || res.ExitCode != 0 {
					t.Fatalf("resume at host call %d: exit %d, %v, output %q", at, res.ExitCode, err, after.String())
				}
				checkReadLines(t, before.String()+after.String(), n, size)
			}
		})
	}
}

// A reader waiting at the end of a stream, with a wait of a minute, stops
// for migration within a wait slice when asked to, and goes on elsewhere
// with the events that came meanwhile.
func TestStreamsWaitingReaderStops(t *testing.T) {
	const size = 200
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			ps := newPrograms(t)
			s := serveStreams(t, "test/wait")
			s.appendTestEvents(t, "test/wait", 0, 10, size)
			waiting := newSignal()
			w := &watched{Streams: s.streams, onRead: func(events int, empty bool) {
				if events == 10 && empty {
					waiting.fire()
				}
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			stop := make(chan struct{})
			go func() {
				<-waiting.ch
				close(stop)
			}()
			var before, after bytes.Buffer
			spec := cell.Spec{Args: []string{"read", "test/wait", "20", "1024", "60000"}, Stdout: &before, Streams: w}
			snap, res, err := ps.load("streams", e).RunStoppable(ctx, spec, nil, stop)
			if err != nil || snap == nil {
				t.Fatalf("stopping a waiting reader: snapshot %v, exit %d, %v", snap != nil, res.ExitCode, err)
			}
			s.appendTestEvents(t, "test/wait", 10, 20, size)
			res, err = ps.load("streams", other(e)).Resume(ctx, cell.Spec{Stdout: &after, Streams: s.streams}, snap)
			if err != nil || res.ExitCode != 0 {
				t.Fatalf("resume: exit %d, %v", res.ExitCode, err)
			}
			checkReadLines(t, before.String()+after.String(), 20, size)
		})
	}
}

// A cell waiting for events ends promptly when its context does, even an
// uninterruptible one.
func TestStreamsWaitEndsWithTheContext(t *testing.T) {
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			s := serveStreams(t, "test/cancel")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := &watched{Streams: s.streams, onRead: func(_ int, empty bool) {
				if empty {
					cancel()
				}
			}}
			p := newPrograms(t).load("streams", e)
			done := make(chan error, 1)
			go func() {
				_, err := p.Run(ctx, cell.Spec{Args: []string{"read", "test/cancel", "1", "64", "60000"}, Streams: w, Uninterruptible: true})
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("cell waiting for an event, context cancelled: err = %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("a cancelled cell is still waiting for an event after 30 s")
			}
		})
	}
}

// MPI worlds give every rank its own spec's Streams and Metrics, also
// after a world is stopped and resumed; forks use their parent's when their
// spec has none.
func TestStreamsInWorldsAndForks(t *testing.T) {
	ps := newPrograms(t)
	s := serveStreams(t, "test/world", "test/moved", "test/fork")
	ctx := context.Background()

	var m metrics
	p := ps.load("mpimetric", cell.Wazero)
	var out syncBuffer
	_, err := p.RunMPI(ctx, 3, func(int) cell.Spec {
		return cell.Spec{Args: []string{"test/world"}, Stdout: &out, Streams: s.streams, Metrics: m.record}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.lines(), "|"); got != "rank 0 metric 0 append 0|rank 1 metric 0 append 0|rank 2 metric 0 append 0" {
		t.Fatalf("world output %s", got)
	}
	if len(m.get()) != 3 || len(s.events(t, "test/world")) != 3 {
		t.Fatalf("world of 3: samples %v, %d events", m.get(), len(s.events(t, "test/world")))
	}

	// Stopped at the first barrier, resumed with other specs: the calls
	// after it go to the resumed world's Streams and Metrics.
	snaps, _, err := p.RunMPIStoppable(ctx, 2, func(int) cell.Spec {
		return cell.Spec{Args: []string{"test/moved"}, Stdout: &bytes.Buffer{}}
	}, nil, cell.WorldStop{Collective: 1})
	if err != nil || snaps == nil {
		t.Fatalf("stopping the world: %v", err)
	}
	var moved metrics
	_, _, err = ps.load("mpimetric", cell.Wasmtime).RunMPIStoppable(ctx, 0, func(int) cell.Spec {
		return cell.Spec{Stdout: &bytes.Buffer{}, Streams: s.streams, Metrics: moved.record}
	}, snaps, cell.WorldStop{})
	if err != nil {
		t.Fatal(err)
	}
	if len(moved.get()) != 2 || len(s.events(t, "test/moved")) != 2 {
		t.Fatalf("resumed world of 2: samples %v, %d events", moved.get(), len(s.events(t, "test/moved")))
	}

	var forked metrics
	var fout syncBuffer
	res, forks, err := ps.load("streams", cell.Wazero).RunForking(ctx, cell.Spec{Args: []string{"fork", "test/fork"}, Stdout: &fout, Streams: s.streams, Metrics: forked.record},
		func(int) cell.Spec { return cell.Spec{Stdout: &fout} })
	if err != nil || res.ExitCode != 0 || len(forks) != 1 || forks[0].Err != nil {
		t.Fatalf("fork: exit %d, %v, forks %+v", res.ExitCode, err, forks)
	}
	if got := strings.Join(fout.lines(), "|"); got != "child fork=0 append=0 metric=0|parent fork=1 append=0 metric=0" {
		t.Fatalf("fork output %s", got)
	}
	if len(forked.get()) != 2 || len(s.events(t, "test/fork")) != 2 {
		t.Fatalf("fork: samples %v, %d events", forked.get(), len(s.events(t, "test/fork")))
	}
}

var summaryRE = regexp.MustCompile(`detector: done frames=(\d+) first=(\d+) last=(\d+) gaps=(\d+) dups=(\d+) bad=(\d+) errors=\d+ objects=(\d+) work_ms_avg=([0-9.]+)`)

// The mobility example: frame-source and detector run together against
// the real store; the detector moves from one engine to the other halfway,
// processes every frame once, in order, and reports plausible metrics.
func TestMobilityPipeline(t *testing.T) {
	const frames = 300
	ps := newPrograms(t)
	s := serveStreams(t, "mobility/frames")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	var sourceMetrics, detectorMetrics metrics
	var sourceOut outBuffer
	var sourceRes cell.Result
	var sourceErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sourceRes, sourceErr = ps.load("frame-source", cell.Wazero).Run(ctx, cell.Spec{
			Args:    []string{"--stream", "mobility/frames", "--fps", "400", "--frames", fmt.Sprint(frames), "--width", "64", "--height", "48", "--shapes", "3"},
			Stdout:  &sourceOut,
			Streams: s.streams, Metrics: sourceMetrics.record,
		})
	}()

	halfway := newSignal()
	w := &watched{Streams: s.streams, onRead: func(events int, _ bool) {
		if events >= frames/3 {
			halfway.fire()
		}
	}}
	stop := make(chan struct{})
	go func() {
		<-halfway.ch
		close(stop)
	}()
	var before, after outBuffer
	args := []string{"--stream", "mobility/frames", "--frames", fmt.Sprint(frames), "--every", "60", "--work", "1"}
	snap, res, err := ps.load("detector", cell.Wasmtime).RunStoppable(ctx, cell.Spec{Args: args, Stdout: &before, Streams: w, Metrics: detectorMetrics.record}, nil, stop)
	if err != nil || snap == nil {
		t.Fatalf("stopping the detector: snapshot %v, exit %d, %v, output %s", snap != nil, res.ExitCode, err, before.String())
	}
	res, err = ps.load("detector", cell.Wazero).Resume(ctx, cell.Spec{Stdout: &after, Streams: s.streams, Metrics: detectorMetrics.record}, snap)
	wg.Wait()
	if sourceErr != nil || sourceRes.ExitCode != 0 || !strings.Contains(sourceOut.String(), fmt.Sprintf("sent %d frames of 64x48, dropped 0", frames)) {
		t.Fatalf("frame-source: exit %d, %v, output %q", sourceRes.ExitCode, sourceErr, sourceOut.String())
	}
	out := before.String() + after.String()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("detector: exit %d, %v, output:\n%s", res.ExitCode, err, out)
	}
	m := summaryRE.FindStringSubmatch(out)
	want := []string{fmt.Sprint(frames), "0", fmt.Sprint(frames - 1), "0", "0", "0"}
	if m == nil || strings.Join(m[1:7], " ") != strings.Join(want, " ") {
		t.Fatalf("detector summary: %q, want frames first last gaps dups bad = %v; output:\n%s", m, want, out)
	}
	if objects, _ := strconv.Atoi(m[7]); objects < 1 {
		t.Errorf("detector found no objects in a scene of 3 shapes:\n%s", out)
	}
	if lines := strings.Count(out, "detector: frame "); lines != frames/60 {
		t.Errorf("detector printed %d progress lines, want %d:\n%s", lines, frames/60, out)
	}
	t.Logf("frame-source: %sdetector:\n%sframe-source metrics %v\ndetector metrics %v", sourceOut.String(), out, sourceMetrics.get(), detectorMetrics.get())
	checkMetric(t, "frame-source", sourceMetrics.get(), "fps")
	checkMetric(t, "detector", detectorMetrics.get(), "fps", "latency_ms", "work_ms")
}

// checkMetric checks that each name was reported, always positive, finite.
func checkMetric(t *testing.T, who string, got []sample, names ...string) {
	t.Helper()
	for _, name := range names {
		n := 0
		for _, s := range got {
			if s.name != name {
				continue
			}
			n++
			if !(s.value > 0 && s.value < 1e9) {
				t.Errorf("%s reported %s = %v", who, name, s.value)
			}
		}
		if n == 0 {
			t.Errorf("%s never reported %s; it reported %v", who, name, got)
		}
	}
}

// BenchmarkStreamAppend measures one durable append of a size through the
// REST API, from a cell (cloudskin_stream_append) and from Go
// (streamapi.Client.AppendBinary) for comparison; 230432 bytes is a
// 640x360 grey frame with its header.
func BenchmarkStreamAppend(b *testing.B) {
	for _, size := range []int{1024, 230432} {
		for _, e := range engines {
			b.Run(fmt.Sprintf("%s/%dB", e, size), func(b *testing.B) {
				p := newPrograms(b).load("streams", e)
				s := serveStreams(b, "bench/append")
				b.SetBytes(int64(size))
				b.ResetTimer()
				res, err := p.Run(context.Background(), cell.Spec{Args: []string{"flood", "bench/append", strconv.Itoa(b.N), strconv.Itoa(size)}, Streams: s.streams})
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("exit %d, %v", res.ExitCode, err)
				}
			})
		}
		b.Run(fmt.Sprintf("go/%dB", size), func(b *testing.B) {
			s := serveStreams(b, "bench/append")
			n, _ := streamapi.ParseStreamName("bench/append")
			event := testEvent(0, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.client.AppendBinary(context.Background(), n, "key", event, "", 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamRead measures reading stored events from a cell draining
// a backlog (cloudskin_stream_read: 1 KiB events come about 250 to a
// read-ahead request, 230 KB frames one each) and from Go
// (ReadSegmentBinary asking for one event at a time).
func BenchmarkStreamRead(b *testing.B) {
	for _, size := range []int{1024, 230432} {
		for _, e := range engines {
			b.Run(fmt.Sprintf("%s/%dB", e, size), func(b *testing.B) {
				p := newPrograms(b).load("streams", e)
				s := serveStreams(b, "bench/read")
				s.appendTestEvents(b, "bench/read", 0, b.N, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				res, err := p.Run(context.Background(), cell.Spec{Args: []string{"drain", "bench/read", strconv.Itoa(b.N), strconv.Itoa(size)}, Streams: s.streams})
				if err != nil || res.ExitCode != 0 {
					b.Fatalf("exit %d, %v", res.ExitCode, err)
				}
			})
		}
		b.Run(fmt.Sprintf("go/%dB", size), func(b *testing.B) {
			s := serveStreams(b, "bench/read")
			s.appendTestEvents(b, "bench/read", 0, b.N, size)
			n, _ := streamapi.ParseStreamName("bench/read")
			b.SetBytes(int64(size))
			b.ResetTimer()
			from := int64(0)
			for range b.N {
				got, err := s.client.ReadSegmentBinary(context.Background(), n, 0, from, 1, 0)
				if err != nil || len(got.Events) != 1 {
					b.Fatalf("%d events, %v", len(got.Events), err)
				}
				from = got.Next
			}
		})
	}
}

// BenchmarkDetector runs the mobility detector over stored 640x360 frames
// on each engine, and on wazero without its cancellation checks
// (Spec.Uninterruptible): ns/op is per frame, reads included;
// work-ms/frame is the detector's own measure of its per-frame work (blur,
// Sobel, labelling).
func BenchmarkDetector(b *testing.B) {
	for _, run := range []struct {
		name            string
		engine          cell.EngineChoice
		uninterruptible bool
	}{{"wasmtime", cell.Wasmtime, false}, {"wazero", cell.Wazero, false}, {"wazero-uninterruptible", cell.Wazero, true}} {
		e := run.engine
		b.Run(run.name+"/640x360", func(b *testing.B) {
			ps := newPrograms(b)
			s := serveStreams(b, "mobility/frames")
			res, err := ps.load("frame-source", cell.Auto).Run(context.Background(), cell.Spec{
				Args: []string{"--fps", "0", "--frames", strconv.Itoa(b.N)}, Streams: s.streams,
			})
			if err != nil || res.ExitCode != 0 {
				b.Fatalf("frame-source: exit %d, %v", res.ExitCode, err)
			}
			p := ps.load("detector", e)
			var out bytes.Buffer
			b.ResetTimer()
			res, err = p.Run(context.Background(), cell.Spec{Args: []string{"--frames", strconv.Itoa(b.N), "--every", "0"}, Stdout: &out, Streams: s.streams, Uninterruptible: run.uninterruptible})
			b.StopTimer()
			m := summaryRE.FindStringSubmatch(out.String())
			if err != nil || res.ExitCode != 0 || m == nil {
				b.Fatalf("detector: exit %d, %v, output %q", res.ExitCode, err, out.String())
			}
			work, _ := strconv.ParseFloat(m[8], 64)
			b.ReportMetric(work, "work-ms/frame")
		})
	}
}

// cloudskin_parallelism answers what Spec.Parallelism says at each call
// (at least 1), and 1 without it.
func TestParallelismHook(t *testing.T) {
	for _, e := range engines {
		p := load(t, "parallel", e)
		grants := []int{1, 4, 0}
		calls := 0
		var out bytes.Buffer
		if _, err := p.Run(context.Background(), cell.Spec{Stdout: &out, Parallelism: func() int {
			calls++
			return grants[(calls-1)%len(grants)]
		}}); err != nil {
			t.Fatal(err)
		}
		if want := "phase 0: 1 cores\nphase 1: 4 cores\nphase 2: 1 cores\n"; out.String() != want || calls != 3 {
			t.Fatalf("%s: %d calls, output %q, want %q", e, calls, out.String(), want)
		}
		out.Reset()
		if _, err := p.Run(context.Background(), cell.Spec{Stdout: &out}); err != nil || out.String() != "phase 0: 1 cores\nphase 1: 1 cores\nphase 2: 1 cores\n" {
			t.Fatalf("%s without a grant: %v %q", e, err, out.String())
		}
	}
}

// BenchmarkStreamsReadBacklog reads a backlog of 1000 events of 100 bytes
// through the calls a cell's stream_read makes, from a real store on
// loopback.
func BenchmarkStreamsReadBacklog(b *testing.B) {
	s := serveStreams(b, "test/bench")
	const events = 1000
	s.appendTestEvents(b, "test/bench", 0, events, 100)
	ctx := context.Background()
	for b.Loop() {
		offset := uint64(0)
		for range events {
			data, next, err := s.streams.ReadNext(ctx, "test/bench", 0, offset, 0)
			if err != nil || data == nil {
				b.Fatalf("read at %d: %v", offset, err)
			}
			offset = next
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
}
