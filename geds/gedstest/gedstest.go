// Package gedstest starts a real GEDS metadata service for tests: on a
// loopback listener over a bbolt file, as `cloudskin up` runs it, and
// restartable on the same file and address.
package gedstest

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpserver"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/internal/metrics"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// Metadata is a running metadata service.
type Metadata struct {
	// URL is where it answers, e.g. http://127.0.0.1:40123.
	URL      string
	addr, db string
	timeout  time.Duration
	stop     func()
}

// StartMetadata starts a metadata service that declares a holder dead
// after holderTimeout of silence; it stops at the end of the test.
func StartMetadata(t testing.TB, holderTimeout time.Duration) *Metadata {
	t.Helper()
	m := &Metadata{db: filepath.Join(t.TempDir(), "state.db"), addr: "127.0.0.1:0", timeout: holderTimeout}
	m.Start(t)
	return m
}

// Stop stops the service; its state stays in its file.
func (m *Metadata) Stop() { m.stop() }

// Start (re)starts the service on the same file and address.
func (m *Metadata) Start(t testing.TB) {
	t.Helper()
	if err := m.start(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
}

// Run starts a metadata service over the bbolt file db without a test:
// for examples. It declares a holder dead after holderTimeout of silence.
// Stop it with Stop.
func Run(db string, holderTimeout time.Duration) (*Metadata, error) {
	m := &Metadata{db: db, addr: "127.0.0.1:0", timeout: holderTimeout}
	if err := m.start(filepath.Dir(db)); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metadata) start(dataDir string) error {
	st, err := bolt.Open(m.db)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		st.Close()
		return err
	}
	m.addr = ln.Addr().String()
	m.URL = "http://" + m.addr
	reg := metrics.New("test", "test")
	host := &component.Host{
		Log: logging.Discard(), Metrics: reg.Registerer, Server: httpserver.New(logging.Discard(), reg),
		Store: st, DataDir: dataDir, ControlPlaneURL: m.URL,
	}
	svc := metadata.NewService(metadata.Config{HolderTimeout: m.timeout, SweepInterval: m.timeout / 4})
	if err := svc.Setup(host); err != nil {
		ln.Close()
		st.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); host.Server.Serve(ctx, ln) }()
	go func() { defer wg.Done(); svc.Run(ctx) }()
	var once sync.Once
	m.stop = func() { once.Do(func() { cancel(); wg.Wait(); st.Close() }) }
	return nil
}
