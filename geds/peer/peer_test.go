package peer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/tier0"
)

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

type fixture struct {
	t0   *tier0.Store
	srv  *Server
	url  string
	ln   *countingListener
	cli  *Client
	done chan error
}

func serve(t *testing.T, drop func(ctx context.Context, bucket, key, id string) error) *fixture {
	t.Helper()
	t0, err := tier0.New(tier0.Config{Dir: t.TempDir(), Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t0: t0, ln: &countingListener{Listener: inner}, url: "http://" + inner.Addr().String(), cli: NewClient(ClientConfig{}), done: make(chan error, 1)}
	f.srv = NewServer(ServerConfig{Tier0: t0, Drop: drop})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { f.done <- f.srv.Serve(ctx, f.ln) }()
	t.Cleanup(func() {
		f.cli.Close()
		cancel()
		if err := <-f.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		t0.Close()
	})
	return f
}

func (f *fixture) put(t *testing.T, key string, data []byte, seal bool) {
	t.Helper()
	w, err := f.t0.Create("bkt", key, "id-"+key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if seal {
		w.Seal()
	}
}

var ctx = context.Background()

func TestRangeReadsOverH2C(t *testing.T) {
	f := serve(t, nil)
	data := []byte("0123456789abcdefghij")
	f.put(t, "dir/k ü", data, true)

	for _, c := range []struct {
		off, n int64
		want   string
	}{
		{0, -1, string(data)}, {5, 5, "56789"}, {15, -1, "fghij"}, {0, 1, "0"}, {19, 1, "j"}, {3, 0, ""},
	} {
		rc, err := f.cli.ReadRange(ctx, f.url, "bkt", "dir/k ü", "id-dir/k ü", c.off, c.n)
		if err != nil {
			t.Fatalf("ReadRange(%d, %d): %v", c.off, c.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(got) != c.want {
			t.Errorf("ReadRange(%d, %d) = %q %v, want %q", c.off, c.n, got, err, c.want)
		}
	}
	p := make([]byte, 4)
	if n, err := f.cli.ReadAt(ctx, f.url, "bkt", "dir/k ü", "", p, 10); n != 4 || err != nil || string(p) != "abcd" {
		t.Errorf("ReadAt = %d %v %q", n, err, p)
	}

	// The transport really is HTTP/2 without TLS, and the headers say the size.
	req, _ := http.NewRequest("GET", objectURL(f.url, "bkt", "dir/k ü", ""), nil)
	req.Header.Set("Range", "bytes=-3")
	resp, err := f.cli.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusPartialContent || string(body) != "hij" ||
		resp.Header.Get(HeaderSize) != "20" || resp.Header.Get("Content-Range") != "bytes 17-19/20" || resp.Header.Get(HeaderID) != "id-dir/k ü" {
		t.Errorf("answer %s %d %q %v", resp.Proto, resp.StatusCode, body, resp.Header)
	}
}

func TestRefusals(t *testing.T) {
	f := serve(t, nil)
	f.put(t, "open", []byte("partial"), false)
	f.put(t, "sealed", []byte("done"), true)
	p := make([]byte, 2)

	_, err := f.cli.ReadAt(ctx, f.url, "bkt", "open", "", p, 0)
	if !errors.Is(err, ErrNotSealed) || !strings.Contains(err.Error(), "not sealed") {
		t.Errorf("unsealed object: %v, want ErrNotSealed", err)
	}
	if _, err := f.cli.ReadAt(ctx, f.url, "bkt", "missing", "", p, 0); !errors.Is(err, ErrNotHeld) {
		t.Errorf("missing object: %v, want ErrNotHeld", err)
	}
	if _, err := f.cli.ReadAt(ctx, f.url, "bkt", "sealed", "another-life", p, 0); !errors.Is(err, ErrNotHeld) {
		t.Errorf("another id: %v, want ErrNotHeld", err)
	}
	for _, c := range []struct {
		path, rng string
		code      int
	}{
		{"/geds/peer/v1/objects/bkt/a%2F..%2Fb", "", http.StatusBadRequest},
		{"/geds/peer/v1/objects/BAD/k", "", http.StatusBadRequest},
		{"/geds/peer/v1/objects/bkt/sealed", "bytes=9-", http.StatusRequestedRangeNotSatisfiable},
		{"/geds/peer/v1/objects/bkt/sealed", "bytes=0-1,2-3", http.StatusBadRequest},
		{"/geds/peer/v1/objects/bkt/sealed", "lines=1-2", http.StatusBadRequest},
	} {
		req, _ := http.NewRequest("GET", f.url+c.path, nil)
		if c.rng != "" {
			req.Header.Set("Range", c.rng)
		}
		resp, err := f.cli.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("GET %s Range %q = %d, want %d", c.path, c.rng, resp.StatusCode, c.code)
		}
	}
	if _, err := f.cli.ReadAt(ctx, "http://127.0.0.1:1", "bkt", "k", "", p, 0); !errors.Is(err, ErrPeerUnavailable) {
		t.Errorf("unreachable peer: %v, want ErrPeerUnavailable", err)
	}
}

func TestConcurrentStreamsShareOneConnection(t *testing.T) {
	f := serve(t, nil)
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	f.put(t, "big", data, true)
	warm := make([]byte, 1)
	if _, err := f.cli.ReadAt(ctx, f.url, "bkt", "big", "", warm, 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(i) * 16384
			p := make([]byte, 16384)
			if _, err := f.cli.ReadAt(ctx, f.url, "bkt", "big", "", p, off); err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(p, data[off:off+16384]) {
				t.Errorf("stream %d: wrong bytes", i)
			}
		}()
	}
	wg.Wait()
	// One connection carries them all: reads are streams on it, read to
	// their end (a stream reset early counts against the connection's
	// concurrency for a while), and the transport dials no second
	// connection for a burst of reads.
	if n := f.ln.accepted.Load(); n != 1 {
		t.Errorf("%d connections for 65 reads, want 1 (streams multiplexed)", n)
	}
}

func TestHolderDiesMidRead(t *testing.T) {
	f := serve(t, nil)
	f.put(t, "huge", make([]byte, 32<<20), true)
	rc, err := f.cli.ReadRange(ctx, f.url, "bkt", "huge", "", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	f.srv.Close() // the holder vanishes with the read under way

	result := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rc)
		result <- err
	}()
	select {
	case err := <-result:
		if !errors.Is(err, ErrPeerUnavailable) || !strings.Contains(err.Error(), "huge") {
			t.Errorf("read after the holder died: %v, want ErrPeerUnavailable naming the object", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("read hangs after the holder died")
	}
}

func TestDrop(t *testing.T) {
	var dropped []string
	var mu sync.Mutex
	f := serve(t, func(_ context.Context, bucket, key, id string) error {
		mu.Lock()
		defer mu.Unlock()
		dropped = append(dropped, bucket+"/"+key+"#"+id)
		return nil
	})
	if err := f.cli.Drop(ctx, f.url, "bkt", "a/b", "x1"); err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0] != "bkt/a/b#x1" {
		t.Errorf("dropped %v", dropped)
	}
	g := serve(t, nil)
	if err := g.cli.Drop(ctx, g.url, "bkt", "k", ""); err == nil {
		t.Error("drop accepted by a server without a Drop hook")
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		h          string
		size       int64
		off, n     int64
		bad, unsat bool
	}{
		{"", 10, 0, 10, false, false},
		{"bytes=0-9", 10, 0, 10, false, false},
		{"bytes=2-4", 10, 2, 3, false, false},
		{"bytes=2-", 10, 2, 8, false, false},
		{"bytes=5-100", 10, 5, 5, false, false},
		{"bytes=-3", 10, 7, 3, false, false},
		{"bytes=-30", 10, 0, 10, false, false},
		{"bytes=10-", 10, 0, 0, false, true},
		{"bytes=-1", 0, 0, 0, false, true},
		{"bytes=4-2", 10, 0, 0, true, false},
		{"bytes=-0", 10, 0, 0, true, false},
		{"bytes=+1-2", 10, 0, 0, true, false},
		{"bytes=1-2,4-5", 10, 0, 0, true, false},
		{"bytes=1", 10, 0, 0, true, false},
		{"bytes=99999999999999999999-", 10, 0, 0, true, false},
		{"items=1-2", 10, 0, 0, true, false},
	} {
		off, n, err := parseRange(c.h, c.size)
		switch {
		case c.bad:
			if !errors.Is(err, errBadRange) {
				t.Errorf("parseRange(%q, %d): err %v, want errBadRange", c.h, c.size, err)
			}
		case c.unsat:
			if !errors.Is(err, errUnsatisfiable) {
				t.Errorf("parseRange(%q, %d): err %v, want errUnsatisfiable", c.h, c.size, err)
			}
		case err != nil || off != c.off || n != c.n:
			t.Errorf("parseRange(%q, %d) = %d, %d, %v; want %d, %d", c.h, c.size, off, n, err, c.off, c.n)
		}
	}
}

// FuzzParseRange checks that every accepted range lies inside the object,
// and that formatRange's output parses back to what it says.
func FuzzParseRange(f *testing.F) {
	for _, h := range []string{"bytes=0-0", "bytes=-5", "bytes=5-", "bytes= 1-2", "bytes=1-2,3-4", "bytes=-", "bytes=18446744073709551615-"} {
		f.Add(h, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		off, n, err := parseRange(h, size)
		if err != nil {
			return
		}
		if off < 0 || n < 0 || off+n > size || off+n < off || (h != "" && n == 0) {
			t.Fatalf("parseRange(%q, %d) = %d, %d: outside the object", h, size, off, n)
		}
		if n > 0 {
			if o2, n2, err := parseRange(formatRange(off, n), size); err != nil || o2 != off || n2 != n {
				t.Fatalf("formatRange(%d, %d) parses to %d, %d, %v", off, n, o2, n2, err)
			}
		}
	})
}

func BenchmarkRemoteReadAt4KiB(b *testing.B) {
	benchmarkRemote(b, 4096)
}

func BenchmarkRemoteReadAt1MiB(b *testing.B) {
	benchmarkRemote(b, 1<<20)
}

func benchmarkRemote(b *testing.B, size int) {
	t0, err := tier0.New(tier0.Config{Dir: b.TempDir(), Limit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer t0.Close()
	w, _ := t0.Create("bkt", "k", "id")
	w.Write(make([]byte, 4<<20))
	w.Seal()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := NewServer(ServerConfig{Tier0: t0})
	c, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(c, ln); close(done) }()
	defer func() { cancel(); <-done }()
	cli := NewClient(ClientConfig{})
	defer cli.Close()
	url := "http://" + ln.Addr().String()
	p := make([]byte, size)
	b.SetBytes(int64(size))
	for i := 0; b.Loop(); i++ {
		off := int64(i%4) * int64(size) % (4 << 20)
		if _, err := cli.ReadAt(ctx, url, "bkt", "k", "id", p, off); err != nil {
			b.Fatal(err)
		}
	}
}
