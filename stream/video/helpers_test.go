package video

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/tcp"
	"github.com/cloudskin/cloudskin/stream/tcp/tcptest"
)

// fixture is a real stream store served over its TCP protocol on
// loopback, and the video server reading it through TCPClient.
type fixture struct {
	store   *stream.Store
	addr    string // the store's TCP address
	client  *TCPClient
	handler *Handler
	reg     *prometheus.Registry
	video   string // the video server's URL
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	s, addr := tcptest.Store(t)
	fx := &fixture{store: s, addr: addr, reg: prometheus.NewRegistry()}
	fx.client = NewTCPClient(dialer(fx.addr))
	var err error
	if fx.handler, err = NewHandler(fx.client, nil, fx.reg); err != nil {
		t.Fatal(err)
	}
	fx.handler.ReadWait = time.Second
	vmux := http.NewServeMux()
	fx.handler.Register(vmux)
	videoSrv := httptest.NewServer(vmux)
	fx.video = videoSrv.URL
	t.Cleanup(func() {
		videoSrv.CloseClientConnections()
		videoSrv.Close()
		fx.client.Close()
	})
	return fx
}

// dialer dials the stream server at addr.
func dialer(addr string) Dialer {
	return func(ctx context.Context) (*tcp.Client, error) {
		return tcp.Dial(ctx, addr, tcp.DialOptions{})
	}
}

func needFFmpeg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg is not installed (make deps installs the Debian package)")
	}
}

// ingest stores n frames of ffmpeg's testsrc2 at w×h, as fast as ffmpeg
// makes them.
func (fx *fixture) ingest(t testing.TB, name stream.StreamName, n, w, h int) IngestStats {
	t.Helper()
	src, err := StartSource(context.Background(), SourceConfig{TestWidth: w, TestHeight: h, TestRate: 30, Frames: n})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	in := &Ingester{Client: fx.client, Stream: name}
	stats, err := in.Run(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

// events reads every event of a stream's segments as they are now.
func (fx *fixture) events(t testing.TB, name stream.StreamName) []Event {
	t.Helper()
	ctx := context.Background()
	segs, err := fx.client.Segments(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	for _, s := range segs {
		for off := s.Start; off < s.End; {
			b, err := fx.client.ReadSegment(ctx, name, s.ID, off, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b.Events...)
			off = b.Next
		}
	}
	return out
}

// part is one part of an MJPEG answer.
type part struct {
	header http.Header
	jpeg   []byte
	at     time.Time // when it had been read
}

// mjpegClient is an open MJPEG answer.
type mjpegClient struct {
	resp   *http.Response
	parts  *multipart.Reader
	cancel context.CancelFunc
}

// openMJPEG requests url and checks that the answer is multipart MJPEG.
func openMJPEG(t testing.TB, url string) *mjpegClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || err != nil || mt != "multipart/x-mixed-replace" || params["boundary"] == "" {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %s, %q: %s", url, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	c := &mjpegClient{resp: resp, parts: multipart.NewReader(resp.Body, params["boundary"]), cancel: cancel}
	t.Cleanup(c.close)
	return c
}

func (c *mjpegClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next reads one part.
func (c *mjpegClient) next() (part, error) {
	p, err := c.parts.NextPart()
	if err != nil {
		return part{}, err
	}
	data, err := io.ReadAll(p)
	if err != nil {
		return part{}, err
	}
	if ct := p.Header.Get("Content-Type"); ct != "image/jpeg" {
		return part{}, fmt.Errorf("part of type %q", ct)
	}
	return part{header: http.Header(p.Header), jpeg: data, at: time.Now()}, nil
}

// readParts reads n parts, failing t if they do not come within d.
func (c *mjpegClient) readParts(t testing.TB, n int, d time.Duration) []part {
	t.Helper()
	type result struct {
		parts []part
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var out []part
		for range n {
			p, err := c.next()
			if err != nil {
				done <- result{out, err}
				return
			}
			out = append(out, p)
		}
		done <- result{out, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("after %d parts: %v", len(r.parts), r.err)
		}
		return r.parts
	case <-time.After(d):
		c.close()
		r := <-done
		t.Fatalf("%d of %d parts within %s", len(r.parts), n, d)
	}
	return nil
}

// fakeClient is an in-memory Client for what a real store cannot be made
// to do on demand: fail an append, seal a segment.
type fakeClient struct {
	mu       sync.Mutex
	segs     []Segment
	data     map[uint64][]Event
	appended [][]byte
	// failAt makes the append of that event (0-based) fail; -1 never.
	failAt int
	// ackDelay delays every acknowledgement.
	ackDelay time.Duration
	// changed is closed and replaced when something is appended.
	changed chan struct{}
}

func newFakeClient(segs ...Segment) *fakeClient {
	return &fakeClient{segs: segs, data: map[uint64][]Event{}, failAt: -1, changed: make(chan struct{})}
}

func (f *fakeClient) EnsureStream(context.Context, stream.StreamName) error { return nil }

func (f *fakeClient) ListStreams(context.Context) ([]stream.StreamName, error) {
	return []stream.StreamName{{Scope: "s", Stream: "v"}}, nil
}

func (f *fakeClient) Segments(context.Context, stream.StreamName) ([]Segment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Segment(nil), f.segs...), nil
}

// add puts an event at the end of a segment.
func (f *fakeClient) add(seg uint64, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.segs {
		if f.segs[i].ID == seg {
			off := f.segs[i].End
			f.segs[i].End += int64(4 + len(data))
			f.data[seg] = append(f.data[seg], Event{Segment: seg, Offset: off, Next: f.segs[i].End, Data: data})
		}
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeClient) seal(seg uint64, successors ...Segment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.segs {
		if f.segs[i].ID == seg {
			f.segs[i].Sealed = true
		}
	}
	f.segs = append(f.segs, successors...)
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeClient) ReadSegment(ctx context.Context, _ stream.StreamName, seg uint64, from int64, wait time.Duration) (Batch, error) {
	deadline := time.After(wait)
	for {
		f.mu.Lock()
		var b Batch
		b.Next = from
		for _, e := range f.data[seg] {
			if e.Offset >= from {
				b.Events = append(b.Events, e)
				b.Next = e.Next
			}
		}
		for _, s := range f.segs {
			if s.ID == seg && s.Sealed && len(b.Events) == 0 && from == s.End {
				b.Sealed = true
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if len(b.Events) > 0 || b.Sealed {
			return b, nil
		}
		select {
		case <-changed:
		case <-deadline:
			return b, nil
		case <-ctx.Done():
			return b, ctx.Err()
		}
	}
}

func (f *fakeClient) AppendAsync(ctx context.Context, _ stream.StreamName, _ string, event []byte) <-chan Appended {
	out := make(chan Appended, 1)
	f.mu.Lock()
	n := len(f.appended)
	f.appended = append(f.appended, event)
	f.mu.Unlock()
	go func() {
		if f.ackDelay > 0 {
			time.Sleep(f.ackDelay)
		}
		switch {
		case n == f.failAt:
			out <- Appended{Err: fmt.Errorf("disk full (fake)")}
		case f.failAt >= 0 && n > f.failAt:
			out <- Appended{Err: ErrEarlierAppendFailed} // as Client promises: no gaps
		default:
			out <- Appended{Offset: int64(n)}
		}
	}()
	return out
}
