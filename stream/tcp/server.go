// Package tcp serves a stream store over the protocol of package
// stream/wire (docs/formats/stream-wire.md) and is its Go client.
//
// A Server runs one goroutine per connection reading requests, and one per
// request being answered, so a tail read that waits never holds back the
// requests behind it. Appends are the exception that keeps order: appends
// on one connection with the same stream and routing key (or, for an
// idempotent writer, the same writer id) go through a lane that hands them
// to the store in the order they arrived, without waiting for each to be
// durable (so that one fsync covers all a client has in flight), while
// other appends and requests proceed side by side. Each append is
// acknowledged from the store's callback once durable. Each connection may have a bounded number of requests (and request
// bytes) in flight; beyond that the server stops reading from it, which is
// back-pressure through TCP.
//
// The Client is safe for concurrent use and multiplexes every call over one
// connection. It does not reconnect: once its connection fails every call
// fails, and the caller dials again (an idempotent writer's id and
// sequence numbers make its retries safe).
package tcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// Options configure a Server.
type Options struct {
	// Auth, if set, decides whether a hello's bearer token may write
	// (create, delete, truncate, append, create and delete reader
	// groups). A connection without a token may only read; one with a
	// token Auth refuses is closed. Nil lets every connection write.
	Auth func(token string) bool
	// IdleTimeout closes a connection that has sent nothing and has had
	// no request in flight for this long; 0 means never (TCP keep-alives
	// still find dead peers).
	IdleTimeout time.Duration
	// MaxInFlight bounds the requests in flight on one connection; 0
	// means 256. The client learns it from the welcome.
	MaxInFlight int
	// MaxInFlightBytes bounds the request payload bytes in flight on one
	// connection; 0 means 64 MiB. It must be at least wire.MaxPayload.
	MaxInFlightBytes int64
	// WriteTimeout bounds writing one answer to a client that does not
	// read; 0 means 30 s. A client that misses it is disconnected.
	WriteTimeout time.Duration
	// Log receives what the server has to say; nil discards it.
	Log *slog.Logger
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("stream server: closed")

// shutdownGrace bounds the graceful shutdown Serve does when its context
// ends.
const shutdownGrace = 10 * time.Second

// Server serves one store (stream.Service: a Store or a cluster). It may serve several listeners at once.
type Server struct {
	store stream.Service
	opts  Options
	log   *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	conWG     sync.WaitGroup
}

// NewServer returns a server for store.
func NewServer(store stream.Service, opts Options) *Server {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 256
	}
	if opts.MaxInFlightBytes <= 0 {
		opts.MaxInFlightBytes = 64 << 20
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{store: store, opts: opts, log: log, listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
}

// Serve accepts connections on ln and serves them until Shutdown, or until
// ctx ends, which shuts the server down gracefully (in-flight appends
// finish, waiting reads end) within 10 s. It returns once every connection
// is closed: nil after a shutdown, or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		if err := s.Shutdown(sctx); err != nil {
			s.log.Warn("stream server: shutdown cut short", "err", err)
		}
	})
	defer stop()
	for delay := time.Duration(0); ; {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				s.conWG.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, as
				// net/http does, rather than spin or give up.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			s.mu.Lock()
			delete(s.listeners, ln)
			s.mu.Unlock()
			return fmt.Errorf("stream server: accept on %s: %w", ln.Addr(), err)
		}
		delay = 0
		s.start(nc)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) start(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		nc.Close()
		return
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.conWG.Add(1)
	go func() {
		defer s.conWG.Done()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Shutdown stops accepting connections, stops reading new requests,
// answers waiting reads with an error saying the server is shutting down,
// lets in-flight appends finish and be acknowledged, and closes every
// connection. If ctx ends first, it closes the rest at once and returns
// ctx's error. The store stays open: its owner closes it afterwards.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
		delete(s.listeners, ln)
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.conWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.kill()
		}
		s.mu.Unlock()
		<-done
		return fmt.Errorf("stream server: shutdown: %w", ctx.Err())
	}
}
