package video

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/stream"
)

// Boundary separates the parts of an MJPEG answer.
const Boundary = "cloudskin-frame"

// Headers of each part of an MJPEG answer besides Content-Type and
// Content-Length (docs/formats/stream-video.md).
const (
	HeaderCaptureTime = "X-Capture-Time"
	HeaderSeq         = "X-Frame-Seq"
	HeaderCamera      = "X-Camera"
	HeaderPosition    = "X-Stream-Position"
)

// Mux is where the routes are registered: an *http.ServeMux or the shared
// server (internal/httpserver).
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Handler is the video server: a page per stream with the video in an
// <img>, and the frames as MJPEG (multipart/x-mixed-replace), which every
// browser shows in an <img> without a script or a codec.
type Handler struct {
	client Client
	log    *slog.Logger
	// ReadWait bounds one read at the tail; 0 means DefaultReadWait.
	ReadWait time.Duration

	served  prometheus.Counter
	clients prometheus.Gauge
	skipped prometheus.Counter
}

// NewHandler returns the video server of the store c talks to. reg, if not
// nil, receives its metrics; log nil discards what it says.
func NewHandler(c Client, log *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		client: c,
		log:    log,
		served: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "video_frames_served_total", Help: "Frames sent to MJPEG clients.",
		}),
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "video_clients", Help: "MJPEG clients connected.",
		}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "video_events_skipped_total", Help: "Events read for MJPEG clients that were not video frames.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{h.served, h.clients, h.skipped} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("video: register metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Register mounts the routes on m.
func (h *Handler) Register(m Mux) {
	m.Handle("GET /{$}", http.HandlerFunc(h.index))
	m.Handle("GET /video/{scope}/{stream}", http.HandlerFunc(h.page))
	m.Handle("GET /video/{scope}/{stream}/mjpeg", http.HandlerFunc(h.mjpeg))
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>CloudSkin video</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}li{margin:.3em 0}</style></head>
<body><h1>Streams</h1>
{{if .}}<ul>{{range .}}<li><a href="{{.Link}}">{{.Name}}</a> (<a href="{{.Link}}?from=start">from the start</a>)</li>{{end}}</ul>
{{else}}<p>No streams yet. Start one with <code>cloudskin stream video ingest SCOPE/STREAM</code>.</p>{{end}}
</body></html>
`))

var videoPage = template.Must(template.New("video").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Name}}: CloudSkin video</title>
<style>body{font-family:system-ui,sans-serif;margin:1em;background:#111;color:#eee}a{color:#9cf}
img{display:block;max-width:100%;margin-top:.5em;background:#000}</style></head>
<body><a href="/">streams</a> · <b>{{.Name}}</b> · camera {{.Camera}} ·
<a href="{{.Live}}">live</a> · <a href="{{.Start}}">from the start</a>
<img id="video" alt="{{.Name}} camera {{.Camera}}" src="{{.Src}}">
</body></html>
`))

type streamLink struct {
	Name string
	Link string
}

func videoPath(n stream.StreamName) string {
	return "/video/" + url.PathEscape(n.Scope) + "/" + url.PathEscape(n.Stream)
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	names, err := h.client.ListStreams(r.Context())
	if err != nil {
		h.fail(w, err)
		return
	}
	links := make([]streamLink, len(names))
	for i, n := range names {
		links[i] = streamLink{Name: n.String(), Link: videoPath(n)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	indexPage.Execute(w, links)
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	name, err := pathStream(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	if _, err := ParseFrom(q.Get("from")); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	camera := q.Get("camera")
	if camera == "" {
		camera = DefaultCamera
	}
	live := url.Values{"camera": {camera}}
	start := url.Values{"camera": {camera}, "from": {"start"}}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	videoPage.Execute(w, map[string]string{
		"Name":   name.String(),
		"Camera": camera,
		"Live":   videoPath(name) + "?" + live.Encode(),
		"Start":  videoPath(name) + "?" + start.Encode(),
		"Src":    videoPath(name) + "/mjpeg?" + r.URL.RawQuery,
	})
}

func pathStream(r *http.Request) (stream.StreamName, error) {
	n := stream.StreamName{Scope: r.PathValue("scope"), Stream: r.PathValue("stream")}
	if err := n.Validate(); err != nil {
		return n, fmt.Errorf("video: %w", err)
	}
	return n, nil
}

// fail answers an error: 404 for a missing stream, 400 for a start it
// does not have, 502 otherwise (the store is another server).
func (h *Handler) fail(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	switch {
	case errors.Is(err, stream.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrBadStart):
		code = http.StatusBadRequest
	}
	http.Error(w, err.Error(), code)
}

// mjpeg answers multipart/x-mixed-replace with one image/jpeg part per
// frame until the client goes away (or the server stops).
func (h *Handler) mjpeg(w http.ResponseWriter, r *http.Request) {
	name, err := pathStream(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := r.URL.Query()
	from, err := ParseFrom(q.Get("from"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	speed, err := parseSpeed(q.Get("speed"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	rd := NewReader(h.client, name, q.Get("camera"), from)
	rd.Wait = h.ReadWait
	var skipped int
	rd.OnSkip = func(e Event, err error) {
		h.skipped.Inc()
		if skipped++; skipped == 1 {
			h.log.Warn("video: skipping events that are not frames", "stream", name.String(), "segment", e.Segment, "offset", e.Offset, "err", err)
		}
	}
	// Find where to start before answering, so that a missing stream is a
	// 404 and a client that has the headers knows it will see every frame
	// appended from then on.
	if err := rd.Open(ctx); err != nil {
		h.fail(w, err)
		return
	}
	h.clients.Inc()
	defer h.clients.Dec()
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+Boundary)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if _, err := fmt.Fprintf(w, "--%s\r\n", Boundary); err != nil {
		return
	}
	rc.Flush()
	p := pacer{speed: speed, live: from.Kind == FromTail}
	for {
		f, err := rd.Next(ctx)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("video: stopping an MJPEG answer", "stream", name.String(), "err", err)
			}
			return
		}
		if err := p.wait(ctx, f.Captured); err != nil {
			return
		}
		if err := writePart(w, f); err != nil {
			return // the client went away
		}
		if err := rc.Flush(); err != nil {
			return
		}
		h.served.Inc()
	}
}

func parseSpeed(s string) (float64, error) {
	if s == "" {
		return 1, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("speed %q: want a number, 0 (as fast as possible) or more", s)
	}
	return v, nil
}

// writePart writes one frame as a part and, at once, the boundary after
// it, so that a client knows the part is complete without waiting for the
// next frame.
func writePart(w http.ResponseWriter, f StoredFrame) error {
	head := fmt.Sprintf("Content-Type: image/jpeg\r\nContent-Length: %d\r\n%s: %s\r\n%s: %d\r\n%s: %s\r\n%s: %d:%d\r\n\r\n",
		len(f.JPEG), HeaderCaptureTime, f.Captured.Format(time.RFC3339Nano), HeaderSeq, f.Seq,
		HeaderCamera, url.QueryEscape(f.Camera), HeaderPosition, f.Segment, f.Offset)
	if _, err := w.Write([]byte(head)); err != nil {
		return err
	}
	if _, err := w.Write(f.JPEG); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\r\n--%s\r\n", Boundary)
	return err
}

// pacer spaces a replay's frames as they were captured, divided by speed;
// a live answer (from the tail) and speed 0 send frames as they come.
type pacer struct {
	speed          float64
	live           bool
	started        bool
	wall, captured time.Time // when the first frame was sent, and its capture time
}

func (p *pacer) wait(ctx context.Context, captured time.Time) error {
	if p.live || p.speed == 0 {
		return nil
	}
	if !p.started {
		p.started, p.wall, p.captured = true, time.Now(), captured
		return nil
	}
	due := p.wall.Add(time.Duration(float64(captured.Sub(p.captured)) / p.speed))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
