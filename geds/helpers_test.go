package geds

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/gedstest"
)

var bg = context.Background()

// metaServer is a metadata service on a real listener over a bbolt file,
// as `cloudskin up` runs it (package gedstest).
type metaServer struct{ *gedstest.Metadata }

func startMeta(t testing.TB, timeout time.Duration) *metaServer {
	return &metaServer{gedstest.StartMetadata(t, timeout)}
}

func (m *metaServer) stop()              { m.Stop() }
func (m *metaServer) start(t testing.TB) { m.Start(t) }

// stepClock advances a millisecond per reading, so access order is exact.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// node opens a Client; tweak adjusts its options.
func node(t testing.TB, m *metaServer, id string, limit int64, s3 Persistent, tweak ...func(*Options)) *Client {
	t.Helper()
	opts := Options{
		NodeID: id, Dir: t.TempDir(), Limit: limit, MetadataURL: m.URL, Persistent: s3,
		HeartbeatInterval: 100 * time.Millisecond, SpillBackoffMin: 10 * time.Millisecond, SpillBackoffMax: 50 * time.Millisecond,
		Now: (&stepClock{t: time.Unix(1e9, 0)}).Now,
	}
	for _, f := range tweak {
		f(&opts)
	}
	c, err := Open(bg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// crash stops a client the way a killed process stops: no goodbye to the
// metadata server, connections cut.
func (c *Client) crash() {
	if c.closed.Swap(true) {
		return
	}
	close(c.done)
	c.peerSrv.Close()
	c.stop()
	c.meta.Close()
	c.t0.Close()
}

func put(t testing.TB, c *Client, bucket, key string, data []byte) {
	t.Helper()
	w, err := c.Create(bg, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Seal(bg); err != nil {
		t.Fatal(err)
	}
}

func readAll(t testing.TB, c *Client, bucket, key string) []byte {
	t.Helper()
	r, err := c.Open(bg, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes %.40q, want %d bytes %.40q", what, len(got), got, len(want), want)
	}
}

// eventually waits for cond, failing after 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*31)
	}
	return b
}
