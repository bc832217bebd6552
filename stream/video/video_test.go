package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cloudskin/cloudskin/dashboard/dashboardtest"
	"github.com/cloudskin/cloudskin/stream"
)

var orRoom = stream.StreamName{Scope: "surgery", Stream: "or-1"}

// TestVideoPathWithRealFFmpeg ingests 60 frames of ffmpeg's testsrc2 at
// 1280×720 into a real store and reads them back: as events, as MJPEG from
// the start, from a time, from a position, paced, and in a browser.
func TestVideoPathWithRealFFmpeg(t *testing.T) {
	needFFmpeg(t)
	fx := newFixture(t)
	stats := fx.ingest(t, orRoom, 60, 1280, 720)
	if stats.Frames != 60 || stats.Width != 1280 || stats.Height != 720 {
		t.Fatalf("ingest says %s", stats)
	}

	events := fx.events(t, orRoom)
	if len(events) != 60 {
		t.Fatalf("%d events stored, want 60", len(events))
	}
	frames := make([]Frame, len(events))
	for i, e := range events {
		f, err := DecodeFrame(e.Data)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.JPEG))
		if err != nil || cfg.Width != 1280 || cfg.Height != 720 || f.Width != 1280 || f.Height != 720 {
			t.Fatalf("frame %d: image/jpeg says %dx%d (%v), header says %dx%d", i, cfg.Width, cfg.Height, err, f.Width, f.Height)
		}
		if f.Seq != uint64(i) || f.Camera != DefaultCamera {
			t.Fatalf("event %d is frame %d of %q", i, f.Seq, f.Camera)
		}
		if i > 0 && !f.Captured.After(frames[i-1].Captured) {
			t.Fatalf("frame %d captured at %s, not after frame %d at %s", i, f.Captured, i-1, frames[i-1].Captured)
		}
		frames[i] = f
	}
	if _, err := jpeg.Decode(bytes.NewReader(frames[59].JPEG)); err != nil {
		t.Fatalf("the last frame does not decode: %v", err)
	}

	base := fx.video + "/video/surgery/or-1/mjpeg"
	t.Run("from start as fast as possible", func(t *testing.T) {
		parts := openMJPEG(t, base+"?from=start&speed=0").readParts(t, 60, 20*time.Second)
		for i, p := range parts {
			if !bytes.Equal(p.jpeg, frames[i].JPEG) || p.header.Get(HeaderSeq) != strconv.Itoa(i) {
				t.Fatalf("part %d is frame %s (%d bytes), want frame %d", i, p.header.Get(HeaderSeq), len(p.jpeg), i)
			}
			captured, err := time.Parse(time.RFC3339Nano, p.header.Get(HeaderCaptureTime))
			if err != nil || !captured.Equal(frames[i].Captured) {
				t.Fatalf("part %d: %s %q, want %s", i, HeaderCaptureTime, p.header.Get(HeaderCaptureTime), frames[i].Captured)
			}
		}
	})
	t.Run("from a time", func(t *testing.T) {
		from := url.QueryEscape(frames[30].Captured.Format(time.RFC3339Nano))
		parts := openMJPEG(t, base+"?speed=0&from="+from).readParts(t, 30, 20*time.Second)
		for i, p := range parts {
			if !bytes.Equal(p.jpeg, frames[30+i].JPEG) {
				t.Fatalf("part %d is frame %s, want %d", i, p.header.Get(HeaderSeq), 30+i)
			}
		}
	})
	t.Run("from a position", func(t *testing.T) {
		pos := fmt.Sprintf("%d:%d", events[45].Segment, events[45].Offset)
		parts := openMJPEG(t, base+"?speed=0&from="+pos).readParts(t, 15, 20*time.Second)
		if parts[0].header.Get(HeaderPosition) != pos || parts[0].header.Get(HeaderSeq) != "45" || parts[14].header.Get(HeaderSeq) != "59" {
			t.Fatalf("from %s: frames %s to %s at %s", pos, parts[0].header.Get(HeaderSeq), parts[14].header.Get(HeaderSeq), parts[0].header.Get(HeaderPosition))
		}
	})
	t.Run("paced by capture times", func(t *testing.T) {
		// At speed 0.5, frame 10 goes out no sooner than twice its capture
		// time after frame 0's (which goes out after the request).
		asked := time.Now()
		parts := openMJPEG(t, base+"?from=start&speed=0.5").readParts(t, 11, 20*time.Second)
		span := 2 * frames[10].Captured.Sub(frames[0].Captured)
		if took := parts[10].at.Sub(asked); took < span {
			t.Fatalf("frames 0 to 10 captured over %s were all received %s after asking at speed 0.5, want at least %s", span/2, took, span)
		}
	})
	t.Run("in a browser", func(t *testing.T) {
		b := dashboardtest.New(t)
		b.Do(t, 15*time.Second, chromedp.Navigate(fx.video+"/"))
		if n := dashboardtest.Eval[int](t, b, `document.querySelectorAll('a[href="/video/surgery/or-1"]').length`); n != 1 {
			t.Fatalf("the index links the stream %d times", n)
		}
		b.Do(t, 15*time.Second, chromedp.Navigate(fx.video+"/video/surgery/or-1?from=start&speed=0"))
		b.WaitFor(t, 15*time.Second, "the video image", `document.getElementById('video').naturalWidth === 1280`,
			`document.getElementById('video').naturalWidth`)
		if h := dashboardtest.Eval[int](t, b, `document.getElementById('video').naturalHeight`); h != 720 {
			t.Fatalf("naturalHeight %d", h)
		}
		b.NoExceptions(t)
	})
	waitFor(t, "every MJPEG client to be gone", func() bool { return testutil.ToFloat64(fx.handler.clients) == 0 })
	if served := testutil.ToFloat64(fx.handler.served); served < 60+30+15+11+1 {
		t.Fatalf("frames served metric %v", served)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestMJPEGTailGetsFramesAppendedAfterConnecting: a live client sees the
// frame appended once it had the answer's headers, and nothing older.
func TestMJPEGTailGetsFramesAppendedAfterConnecting(t *testing.T) {
	fx := newFixture(t)
	old := Frame{Camera: DefaultCamera, Seq: 0, Captured: time.Now(), JPEG: encodeJPEG(t, 32, 16, 0)}
	appendFrames(t, fx.client, orRoom, old)

	c := openMJPEG(t, fx.video+"/video/surgery/or-1/mjpeg?from=tail")
	live := Frame{Camera: DefaultCamera, Seq: 1, Captured: time.Now(), JPEG: encodeJPEG(t, 32, 16, 99)}
	appendFrames(t, fx.client, orRoom, live)
	parts := c.readParts(t, 1, 10*time.Second)
	if !bytes.Equal(parts[0].jpeg, live.JPEG) || parts[0].header.Get(HeaderSeq) != "1" {
		t.Fatalf("the tail client got frame %s", parts[0].header.Get(HeaderSeq))
	}
	// The client goes away: its handler ends.
	c.close()
	waitFor(t, "the handler to notice the client left", func() bool { return testutil.ToFloat64(fx.handler.clients) == 0 })
}

func appendFrames(t testing.TB, c Client, name stream.StreamName, frames ...Frame) {
	t.Helper()
	ctx := context.Background()
	if err := c.EnsureStream(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		event, err := EncodeFrame(f)
		if err != nil {
			t.Fatal(err)
		}
		if res := <-c.AppendAsync(ctx, name, f.Camera, event); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
}

// TestMJPEGSkipsEventsThatAreNotFrames: a stream of text events gives no
// parts (each counted as skipped, none a panic); a frame after them is
// served.
func TestMJPEGSkipsEventsThatAreNotFrames(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	if err := fx.client.EnsureStream(ctx, orRoom); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"frame-1", "CSVF but not really", "", "\xFF\xD8\xFF\xD9"} {
		if res := <-fx.client.AppendAsync(ctx, orRoom, DefaultCamera, []byte(text)); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	// Another camera's frame in the same segment is not this camera's.
	other := Frame{Camera: "camera-2", Captured: time.Now(), JPEG: encodeJPEG(t, 16, 16, 1)}
	mine := Frame{Camera: DefaultCamera, Seq: 5, Captured: time.Now(), JPEG: encodeJPEG(t, 16, 16, 2)}
	appendFrames(t, fx.client, orRoom, other, mine)

	parts := openMJPEG(t, fx.video+"/video/surgery/or-1/mjpeg?from=start&speed=0").readParts(t, 1, 10*time.Second)
	if !bytes.Equal(parts[0].jpeg, mine.JPEG) {
		t.Fatalf("got frame %s of %s", parts[0].header.Get(HeaderSeq), parts[0].header.Get(HeaderCamera))
	}
	if n := testutil.ToFloat64(fx.handler.skipped); n != 4 {
		t.Fatalf("%v events skipped, want 4", n)
	}
	// camera-2's frames are there for whoever asks for them.
	parts = openMJPEG(t, fx.video+"/video/surgery/or-1/mjpeg?from=start&speed=0&camera=camera-2").readParts(t, 1, 10*time.Second)
	if !bytes.Equal(parts[0].jpeg, other.JPEG) || parts[0].header.Get(HeaderCamera) != "camera-2" {
		t.Fatalf("camera-2's frame: got %s", parts[0].header.Get(HeaderCamera))
	}
}

func TestVideoServerRefusesBadRequests(t *testing.T) {
	fx := newFixture(t)
	appendFrames(t, fx.client, orRoom, Frame{Camera: DefaultCamera, Captured: time.Now(), JPEG: encodeJPEG(t, 16, 16, 0)})
	for path, want := range map[string]struct {
		code int
		body string
	}{
		"/video/surgery/nope/mjpeg":                {404, "not found"},
		"/video/surgery/nope":                      {200, "surgery/nope"}, // the page; its image fails
		"/video/surgery/or-1/mjpeg?from=yesterday": {400, "want tail, start"},
		"/video/surgery/or-1/mjpeg?speed=-1":       {400, "speed"},
		"/video/surgery/or-1/mjpeg?speed=fast":     {400, "speed"},
		"/video/surgery/or-1/mjpeg?from=0:99999":   {400, "holds offsets"},
		"/video/surgery/or-1/mjpeg?from=7:0":       {400, "no segment 7"},
		"/video/surgery/or-1?from=never":           {400, "want tail, start"},
		"/video/surgery/or-1/nothing":              {404, ""},
	} {
		resp, err := http.Get(fx.video + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.code || !strings.Contains(string(body), want.body) {
			t.Errorf("GET %s: %d %q, want %d saying %q", path, resp.StatusCode, body, want.code, want.body)
		}
	}
}

// TestSourceErrors: what comes out of a bad ffmpeg, or none, is a clear error.
func TestSourceErrors(t *testing.T) {
	dir := t.TempDir()
	good := encodeJPEG(t, 16, 16, 0)
	if err := os.WriteFile(filepath.Join(dir, "frame.jpg"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	// Stand-ins for ffmpeg that write something else on the pipe.
	fake := func(name, script string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	read := func(cfg SourceConfig) ([]Frame, error) {
		if cfg.TestWidth == 0 {
			cfg.TestWidth, cfg.TestHeight, cfg.TestRate = 64, 48, 30
		}
		src, err := StartSource(context.Background(), cfg)
		if err != nil {
			return nil, err
		}
		defer src.Close()
		var out []Frame
		for {
			f, err := src.Next()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			out = append(out, f)
		}
	}
	cases := []struct {
		name   string
		cfg    SourceConfig
		frames int
		want   string
		is     error
	}{
		{"garbage on the pipe", SourceConfig{FFmpeg: fake("garbage", "echo this is not video")}, 0, "starts with 74 68", ErrNotJPEG},
		{"a truncated JPEG", SourceConfig{FFmpeg: fake("truncated", fmt.Sprintf("cat %s; head -c 100 %s", filepath.Join(dir, "frame.jpg"), filepath.Join(dir, "frame.jpg")))}, 1, "ends 100 bytes into it", io.ErrUnexpectedEOF},
		{"ffmpeg fails", SourceConfig{FFmpeg: fake("fails", "echo 'no such camera' >&2; exit 1")}, 0, "it said: no such camera", nil},
		{"ffmpeg missing", SourceConfig{FFmpeg: filepath.Join(dir, "no-ffmpeg-here")}, 0, "install the Debian package ffmpeg", ErrNoFFmpeg},
		{"a bad test source", SourceConfig{TestWidth: 1, TestHeight: 1, TestRate: 30}, 0, "want a size from 16x16", nil},
	}
	if _, err := os.Stat("/usr/bin/ffmpeg"); err == nil {
		cases = append(cases, struct {
			name   string
			cfg    SourceConfig
			frames int
			want   string
			is     error
		}{"a missing input file", SourceConfig{Input: filepath.Join(dir, "missing.mp4")}, 0, "No such file or directory", nil})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frames, err := read(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
				t.Fatalf("got %v, want an error saying %q (wrapping %v)", err, c.want, c.is)
			}
			if len(frames) != c.frames {
				t.Fatalf("%d frames before the error, want %d", len(frames), c.frames)
			}
		})
	}
}

func TestParseTestSource(t *testing.T) {
	if w, h, r, err := ParseTestSource("1920x1080@25"); err != nil || w != 1920 || h != 1080 || r != 25 {
		t.Fatalf("got %d %d %d %v", w, h, r, err)
	}
	for _, bad := range []string{"", "1280x720", "1280x720@0", "big@30", "99999x720@30"} {
		if _, _, _, err := ParseTestSource(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseFrom(t *testing.T) {
	when := time.Date(2026, 5, 1, 12, 0, 0, 5, time.UTC)
	for in, want := range map[string]From{
		"":                               {Kind: FromTail},
		"tail":                           {Kind: FromTail},
		"start":                          {Kind: FromStart},
		"3:4096":                         {Kind: FromPosition, Segment: 3, Offset: 4096},
		"2026-05-01T12:00:00.000000005Z": {Kind: FromTime, Time: when},
	} {
		got, err := ParseFrom(in)
		if err != nil || got.Kind != want.Kind || got.Segment != want.Segment || got.Offset != want.Offset || !got.Time.Equal(want.Time) {
			t.Errorf("%q: %+v %v", in, got, err)
		}
		if again, _ := ParseFrom(got.String()); again.Kind != got.Kind {
			t.Errorf("%q does not survive String", in)
		}
	}
	for _, bad := range []string{"end", "1:", ":2", "-1:0", "99999999999999999999:0", "2026-05-01"} {
		if _, err := ParseFrom(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// frameSource is a FrameSource of n small frames.
type frameSource struct {
	n, next int
	jpeg    []byte
	stop    func(i int) // called before frame i is returned, if set
}

func (s *frameSource) Next() (Frame, error) {
	if s.next == s.n {
		return Frame{}, io.EOF
	}
	if s.stop != nil {
		s.stop(s.next)
	}
	f := Frame{Seq: uint64(s.next), Captured: time.Now(), Width: 16, Height: 16, JPEG: s.jpeg}
	s.next++
	return f, nil
}

func TestIngestStopsAtTheFirstFrameNotStored(t *testing.T) {
	c := newFakeClient()
	c.failAt = 5
	in := &Ingester{Client: c, Stream: orRoom, InFlight: 3}
	stats, err := in.Run(context.Background(), &frameSource{n: 100, jpeg: encodeJPEG(t, 16, 16, 0)})
	if err == nil || !strings.Contains(err.Error(), "frame 5 of camera-1 not stored") || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v", err)
	}
	if stats.Frames != 5 {
		t.Fatalf("%d frames acknowledged, want the 5 before the failure", stats.Frames)
	}
	// Ingest stopped: at most the window after the failed frame was sent.
	if sent := len(c.appended); sent > 5+1+3 {
		t.Fatalf("%d appends sent after frame 5 failed with 3 in flight", sent)
	}
}

func TestIngestStopsCleanlyWhenCancelled(t *testing.T) {
	c := newFakeClient()
	c.ackDelay = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := &Ingester{Client: c, Stream: orRoom, InFlight: 4}
	src := &frameSource{n: 1000, jpeg: encodeJPEG(t, 16, 16, 0), stop: func(i int) {
		if i == 10 {
			cancel()
		}
	}}
	stats, err := in.Run(ctx, src)
	if err != nil {
		t.Fatalf("a cancelled ingest: %v, want a clean stop", err)
	}
	// Every frame sent was acknowledged before Run returned; frame 10 was
	// read as ctx ended and is stored too.
	if int(stats.Frames) != len(c.appended) || stats.Frames != 11 {
		t.Fatalf("%d acknowledged of %d sent, want 11 of 11", stats.Frames, len(c.appended))
	}
}

func TestIngestLimits(t *testing.T) {
	c := newFakeClient()
	in := &Ingester{Client: c, Stream: orRoom, MaxFrames: 7, Camera: "cam-x"}
	stats, err := in.Run(context.Background(), &frameSource{n: 100, jpeg: encodeJPEG(t, 16, 16, 0)})
	if err != nil || stats.Frames != 7 || len(c.appended) != 7 {
		t.Fatalf("%s, %d sent, %v", stats, len(c.appended), err)
	}
	for i, e := range c.appended {
		f, err := DecodeFrame(e)
		if err != nil || f.Seq != uint64(i) || f.Camera != "cam-x" {
			t.Fatalf("event %d: %+v %v", i, f, err)
		}
	}
	if _, err := (&Ingester{Client: c, Stream: stream.StreamName{Scope: "no slash"}}).Run(context.Background(), &frameSource{}); err == nil {
		t.Fatal("a bad stream name was taken")
	}
}

// TestReaderMovesOnFromSealedSegments: a camera's frames are read across
// a sealed segment and its successor, in order, skipping segments that
// do not own the camera's key.
func TestReaderMovesOnFromSealedSegments(t *testing.T) {
	key := stream.KeyPosition(DefaultCamera)
	owner := Segment{ID: 0, Low: 0, High: 1}
	c := newFakeClient(owner)
	frame := func(seq uint64) []byte {
		e, _ := EncodeFrame(Frame{Camera: DefaultCamera, Seq: seq, Captured: time.Unix(int64(seq), 0), JPEG: encodeJPEG(t, 8, 8, 0)})
		return e
	}
	c.add(0, frame(0))
	c.add(0, frame(1))
	r := NewReader(c, orRoom, "", From{Kind: FromStart})
	r.Wait = 50 * time.Millisecond
	ctx := context.Background()
	for want := range uint64(2) {
		f, err := r.Next(ctx)
		if err != nil || f.Seq != want {
			t.Fatalf("frame %d: %+v %v", want, f.Frame, err)
		}
	}
	// Scaling seals segment 0 and splits it: segment 2 gets the camera's
	// key, segment 1 the rest, whose frames are not read.
	split := key + (1-key)/2
	c.seal(0, Segment{ID: 1, Low: split, High: 1}, Segment{ID: 2, Low: 0, High: split})
	c.add(1, frame(100))
	c.add(2, frame(2))
	f, err := r.Next(ctx)
	if err != nil || f.Seq != 2 || f.Segment != 2 {
		t.Fatalf("after the seal: frame %d in segment %d, %v; want frame 2 in segment 2", f.Seq, f.Segment, err)
	}
}
