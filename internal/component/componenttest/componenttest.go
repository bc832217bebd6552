// Package componenttest runs components the way `cloudskin up` does (one
// HTTP server on loopback, a bbolt store, a data directory) inside a
// test, and stops them when the test ends.
package componenttest

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// Start serves comps on a free loopback port with a fresh store and data
// directory. prepare, if not nil, sees the host before the components are
// set up (to guard routes, say). The host's ControlPlaneURL is the
// server's URL.
func Start(t testing.TB, prepare func(*component.Host), comps ...component.Component) *component.Host {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New("test", "test")
	host := &component.Host{
		Log:             logging.Discard(),
		Metrics:         reg.Registerer,
		Server:          httpserver.New(logging.Discard(), reg),
		Store:           st,
		DataDir:         t.TempDir(),
		ControlPlaneURL: "http://" + ln.Addr().String(),
	}
	if prepare != nil {
		prepare(host)
	}
	for _, c := range comps {
		if err := c.Setup(host); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { host.Server.Serve(ctx, ln) })
	for _, c := range comps {
		wg.Go(func() { c.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait(); st.Close() })
	return host
}
