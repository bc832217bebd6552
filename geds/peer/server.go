package peer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/tier0"
	"github.com/cloudskin/cloudskin/internal/httpapi"
)

// Path is the prefix of the peer API.
const Path = "/geds/peer/v1/objects/"

// Response headers.
const (
	// HeaderSize is the whole object's size on every successful answer.
	HeaderSize = "Geds-Object-Size"
	// HeaderID is the object's id (one life of its key).
	HeaderID = "Geds-Object-Id"
)

// Reasons of the error answers, in the Status body.
const (
	ReasonNotHeld   = "NotHeld"
	ReasonNotSealed = "NotSealed"
)

// ShutdownTimeout bounds how long Serve waits for reads in flight once its
// context ends.
const ShutdownTimeout = 3 * time.Second

// ServerConfig configures a Server.
type ServerConfig struct {
	// Tier0 is the store whose sealed objects are served.
	Tier0 *tier0.Store
	// Drop removes the local copy of an object at a peer's request (after a
	// delete or a spill done on another node). It should check with the
	// metadata service that this node is no longer the object's holder. Nil
	// refuses such requests.
	Drop func(ctx context.Context, bucket, key, id string) error
	Log  *slog.Logger
	// MaxConcurrentStreams per connection; 0 means 1000.
	MaxConcurrentStreams int
}

// Server serves one tier 0 to peers over h2c.
type Server struct {
	cfg ServerConfig
	srv *http.Server
}

// NewServer returns a server; Serve runs it.
func NewServer(cfg ServerConfig) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxConcurrentStreams <= 0 {
		cfg.MaxConcurrentStreams = 1000
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path+"{bucket}/{key}", s.get)
	mux.HandleFunc("DELETE "+Path+"{bucket}/{key}", s.drop)
	var protocols http.Protocols
	protocols.SetHTTP1(true) // for curl and debugging; peers use h2c
	protocols.SetUnencryptedHTTP2(true)
	s.srv = &http.Server{
		Handler:           mux,
		Protocols:         &protocols,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.MaxConcurrentStreams},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler returns the server's handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.srv.Handler }

// Serve serves on ln until ctx ends, then shuts down, giving reads in
// flight up to ShutdownTimeout. It returns nil after a clean shutdown or
// after Close.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("geds peer server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = s.srv.Close()
	}
	<-errc
	if err != nil {
		return fmt.Errorf("geds peer server on %s: shutdown: %w", ln.Addr(), err)
	}
	return nil
}

// Close stops the server at once, cutting reads in flight.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	if err := metadata.ValidateObjectName(bucket, key); err != nil {
		s.fail(w, &httpapi.Error{Code: http.StatusBadRequest, Reason: "InvalidName", Err: err})
		return
	}
	// With an id, that life of the object, even if the key was replaced
	// since (ids are never reused); without, the key's current life.
	obj, err := s.cfg.Tier0.Open(bucket, key, r.URL.Query().Get("id"))
	if errors.Is(err, fs.ErrNotExist) {
		s.fail(w, notHeld(bucket, key))
		return
	}
	if err != nil {
		s.fail(w, err)
		return
	}
	defer obj.Close()
	if !obj.Sealed() {
		s.fail(w, &httpapi.Error{Code: http.StatusConflict, Reason: ReasonNotSealed,
			Err: fmt.Errorf("object %s/%s is still being written (not sealed): only its writer's process may read it", bucket, key)})
		return
	}
	data, err := obj.Bytes()
	if err != nil {
		s.fail(w, err)
		return
	}
	size := int64(len(data))
	off, n, err := parseRange(r.Header.Get("Range"), size)
	switch {
	case errors.Is(err, errUnsatisfiable):
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		s.fail(w, &httpapi.Error{Code: http.StatusRequestedRangeNotSatisfiable, Reason: "RangeNotSatisfiable", Err: err})
		return
	case err != nil:
		s.fail(w, httpapi.BadRequest(err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	h.Set(HeaderSize, strconv.FormatInt(size, 10))
	h.Set(HeaderID, obj.ID())
	code := http.StatusOK
	if r.Header.Get("Range") != "" {
		code = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size))
	}
	w.WriteHeader(code)
	_, _ = w.Write(data[off : off+n]) // a reader that went away is not our error
}

func (s *Server) drop(w http.ResponseWriter, r *http.Request) {
	bucket, key := r.PathValue("bucket"), r.PathValue("key")
	if err := metadata.ValidateObjectName(bucket, key); err != nil {
		s.fail(w, &httpapi.Error{Code: http.StatusBadRequest, Reason: "InvalidName", Err: err})
		return
	}
	if s.cfg.Drop == nil {
		s.fail(w, &httpapi.Error{Code: http.StatusMethodNotAllowed, Reason: "MethodNotAllowed", Err: errors.New("this node does not drop objects at a peer's request")})
		return
	}
	if err := s.cfg.Drop(r.Context(), bucket, key, r.URL.Query().Get("id")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			err = notHeld(bucket, key)
		}
		s.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func notHeld(bucket, key string) error {
	return &httpapi.Error{Code: http.StatusNotFound, Reason: ReasonNotHeld,
		Err: fmt.Errorf("object %s/%s is not held by this node", bucket, key)}
}

func (s *Server) fail(w http.ResponseWriter, err error) {
	httpapi.WriteError(w, s.cfg.Log, err)
}

// objectURL is where a peer serves an object.
func objectURL(peerURL, bucket, key, id string) string {
	u := peerURL + Path + url.PathEscape(bucket) + "/" + url.PathEscape(key)
	if id != "" {
		u += "?id=" + url.QueryEscape(id)
	}
	return u
}
