package continuum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/stream/tcp"
)

// streamServer serves the stream store's TCP protocol (stream/tcp) in up,
// on a listener bound before anything is set up, for the store (a cluster
// of segment-store instances) that the stream component opens.
type streamServer struct {
	ln    net.Listener
	auth  func(token string) bool
	log   *slog.Logger
	store *streamapi.Component
	srv   *tcp.Server
}

// streamProtocol binds opts.StreamListen, or returns nil if it is empty.
// With spec.auth enabled, writing needs a token of role operator or admin,
// as the API does.
func streamProtocol(cfg v1alpha1.Continuum, opts UpOptions, log *slog.Logger) (*streamServer, error) {
	if opts.StreamListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", opts.StreamListen)
	if err != nil {
		return nil, fmt.Errorf("stream protocol: listen on %s: %w (set --stream-listen, or empty to serve none)", opts.StreamListen, err)
	}
	s := &streamServer{ln: ln, log: log}
	if cfg.Spec.Auth.Enabled {
		a, err := auth.Load(filepath.Join(cfg.Spec.DataDir, TokensFile))
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.auth = func(token string) bool {
			r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/streams"}, Header: http.Header{"Authorization": {"Bearer " + token}}}
			_, err := a.Check(r, auth.Operator)
			return err == nil
		}
	}
	return s, nil
}

func (s *streamServer) close() {
	if s != nil {
		s.ln.Close()
	}
}

// Name implements component.Component.
func (s *streamServer) Name() string { return "stream-tcp" }

// Setup implements component.Component; the stream component, set up
// before, has opened the store.
func (s *streamServer) Setup(h *component.Host) error {
	svc := s.store.Service()
	if svc == nil {
		s.ln.Close()
		return errors.New("stream protocol: the stream store is not open")
	}
	log := s.log
	if log == nil {
		log = h.Log
	}
	s.srv = tcp.NewServer(svc, tcp.Options{Auth: s.auth, Log: log.With("component", "stream-tcp")})
	h.Announce("stream", "stream store protocol (TCP)", "tcp://"+s.ln.Addr().String())
	return nil
}

// Run implements component.Component: it serves until ctx ends, then
// shuts down gracefully (appends in flight are answered).
func (s *streamServer) Run(ctx context.Context) error {
	return s.srv.Serve(ctx, s.ln)
}
