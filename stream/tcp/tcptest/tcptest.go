// Package tcptest serves a stream store over its TCP protocol for tests of
// the packages that talk to one (the video path, the API comparisons): on
// a loopback port, shut down gracefully when the test ends.
package tcptest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/tcp"
)

// Serve serves svc on addr ("127.0.0.1:0" for a free port) and returns the
// address it listens on and a function that shuts the server down (within
// 10 s) and fails the test if that goes wrong. The function also runs when
// the test ends; calls after the first do nothing.
func Serve(t testing.TB, svc stream.Service, addr string, opts tcp.Options) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := tcp.NewServer(svc, opts)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("tcptest: shutdown: %v", err)
			}
			if err := <-served; err != nil {
				t.Errorf("tcptest: serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// Store opens a store in a temporary directory and serves it on a free
// loopback port until the test ends, when it is shut down and closed.
func Store(t testing.TB) (*stream.Store, string) {
	t.Helper()
	s, err := stream.Open(context.Background(), stream.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after the server's shutdown (cleanups run last first)
	addr, _ := Serve(t, s.Service(), "127.0.0.1:0", tcp.Options{})
	return s, addr
}
