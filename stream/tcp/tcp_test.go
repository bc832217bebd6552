package tcp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/wire"
)

var cams = stream.StreamName{Scope: "surgery", Stream: "cams"}

// noLeaks fails the test if goroutines started during it are still running
// once its other cleanups have run. Register it first.
func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines before the test, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond)
		}
	})
}

// served is a store in a temporary directory behind a server on loopback.
type served struct {
	store  *stream.Store
	srv    *Server
	addr   string
	served chan error
}

func serve(t *testing.T, sopts stream.Options, opts Options) *served {
	t.Helper()
	return serveWith(t, sopts, opts, nil)
}

// serveWith is serve with the store's Service passed through wrap (a fake
// around it), if wrap is not nil.
func serveWith(t *testing.T, sopts stream.Options, opts Options, wrap func(stream.Service) stream.Service) *served {
	t.Helper()
	if sopts.Dir == "" {
		sopts.Dir = t.TempDir()
	}
	st, err := stream.Open(context.Background(), sopts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := st.Service()
	if wrap != nil {
		svc = wrap(svc)
	}
	s := &served{store: st, srv: NewServer(svc, opts), addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { s.served <- s.srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		if err := s.srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-s.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		st.Close()
	})
	return s
}

func dial(t *testing.T, addr string, opts DialOptions) *Client {
	t.Helper()
	c, err := Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustStream(t *testing.T, c *Client, name stream.StreamName, segments int) stream.StreamInfo {
	t.Helper()
	ctx := ctxT(t)
	if err := c.CreateScope(ctx, name.Scope); err != nil && !errors.Is(err, stream.ErrExists) {
		t.Fatal(err)
	}
	info, err := c.CreateStream(ctx, name, stream.StreamConfig{Segments: segments})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestRoundTrips runs every operation through a client and checks the
// answers and that the store's errors come back as themselves.
func TestRoundTrips(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	ctx := ctxT(t)

	if err := c.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateScope(ctx, "surgery"); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("creating a scope twice: %v, want ErrExists", err)
	}
	if err := c.CreateScope(ctx, "Bad_Name"); !errors.Is(err, wire.ErrBadRequest) || !strings.Contains(err.Error(), "Bad_Name") {
		t.Fatalf("a bad scope name: %v", err)
	}
	if got, err := c.Scopes(ctx); err != nil || !slices.Equal(got, []string{"surgery"}) {
		t.Fatalf("Scopes = %v, %v", got, err)
	}
	cfg := stream.StreamConfig{Segments: 2, Retention: stream.RetentionPolicy{MaxAge: time.Hour}}
	info, err := c.CreateStream(ctx, cams, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != cams || info.Config.Segments != 2 || info.Config.Retention.MaxAge != time.Hour || len(info.Segments) != 2 {
		t.Fatalf("CreateStream described %+v", info)
	}
	if got, err := c.Streams(ctx, "surgery"); err != nil || !slices.Equal(got, []string{"cams"}) {
		t.Fatalf("Streams = %v, %v", got, err)
	}
	if _, err := c.Stream(ctx, stream.StreamName{Scope: "surgery", Stream: "nope"}); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("describing a missing stream: %v", err)
	}

	res, err := c.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{[]byte("one"), []byte("two")}, WriterID: "w", Seq: 1})
	if err != nil || res.Offset != 0 || res.Duplicate {
		t.Fatalf("Append = %+v, %v", res, err)
	}
	dup, err := c.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{[]byte("one")}, WriterID: "w", Seq: 1})
	if err != nil || !dup.Duplicate {
		t.Fatalf("a retried append = %+v, %v, want a duplicate", dup, err)
	}
	if _, err := c.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{make([]byte, stream.MaxAppendBytes+1)}}); err == nil {
		t.Fatal("an oversized append was taken")
	}
	b, err := c.ReadSegment(ctx, cams, res.Segment, 0, stream.ReadOptions{NoWait: true})
	if err != nil || len(b.Events) != 2 || string(b.Events[1].Data) != "two" || b.Events[1].Offset != 7 || b.Next != 14 || b.Events[0].Time.IsZero() {
		t.Fatalf("ReadSegment = %+v, %v", b, err)
	}
	if _, err := c.ReadSegment(ctx, cams, res.Segment, 3, stream.ReadOptions{NoWait: true}); !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("a read inside an event: %v", err)
	}
	if err := c.Truncate(ctx, cams, stream.StreamCut{res.Segment: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadSegment(ctx, cams, res.Segment, 0, stream.ReadOptions{NoWait: true}); !errors.Is(err, stream.ErrTruncated) {
		t.Fatalf("a read before the start: %v", err)
	}

	g, err := c.CreateReaderGroup(ctx, "viewers", cams)
	if err != nil || g.Name != "viewers" || g.Stream != "surgery/cams" || g.Positions[res.Segment] != 7 {
		t.Fatalf("CreateReaderGroup = %+v, %v", g, err)
	}
	if names, err := c.ReaderGroups(ctx); err != nil || !slices.Equal(names, []string{"viewers"}) {
		t.Fatalf("ReaderGroups = %v, %v", names, err)
	}
	r, err := c.JoinReaderGroup(ctx, "viewers", "a")
	if err != nil {
		t.Fatal(err)
	}
	evs, err := r.Read(ctx)
	if err != nil || len(evs) != 1 || string(evs[0].Data) != "two" {
		t.Fatalf("Reader.Read = %+v, %v", evs, err)
	}
	cut, err := c.Checkpoint(ctx, "viewers")
	if err != nil || cut[res.Segment] != 14 {
		t.Fatalf("Checkpoint = %v, %v", cut, err)
	}
	if g, err := c.ReaderGroup(ctx, "viewers"); err != nil || !slices.Equal(g.Readers, []string{"a"}) {
		t.Fatalf("ReaderGroup = %+v, %v", g, err)
	}
	if err := c.DeleteStream(ctx, cams); !errors.Is(err, wire.ErrConflict) {
		t.Fatalf("deleting a stream a group reads: %v, want a conflict", err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(ctx); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("reading after leaving: %v", err)
	}
	if err := c.DeleteReaderGroup(ctx, "viewers"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteScope(ctx, "surgery"); !errors.Is(err, wire.ErrConflict) {
		t.Fatalf("deleting a scope with streams: %v, want a conflict", err)
	}
	if err := c.DeleteStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Scopes(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Scopes after deleting = %v, %v", got, err)
	}
}

// TestPipelinedAppends sends many appends without waiting and checks that
// their acknowledgements keep each key's order and that the stream holds
// exactly what was acknowledged, in that order.
func TestPipelinedAppends(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	info := mustStream(t, c, cams, 2)
	ctx := ctxT(t)
	const perKey = 300
	keys := []string{"a", "b", "c", "d"}
	type sent struct {
		key  string
		data string
		p    *PendingAppend
	}
	var all []sent
	for i := range perKey {
		for _, k := range keys {
			data := fmt.Sprintf("%s-%04d", k, i)
			p, err := c.AppendAsync(ctx, stream.AppendRequest{Stream: cams, RoutingKey: k, Events: [][]byte{[]byte(data)}})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, sent{k, data, p})
		}
	}
	last := map[string]int64{}
	for _, a := range all {
		res, err := a.p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := last[a.key]; ok && res.Offset <= prev {
			t.Fatalf("%s acknowledged at %d, before the key's previous event at %d", a.data, res.Offset, prev)
		}
		last[a.key] = res.Offset
	}
	got := map[string][]string{}
	for _, seg := range info.Segments {
		for from := int64(0); ; {
			b, err := c.ReadSegment(ctx, cams, seg.ID, from, stream.ReadOptions{NoWait: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Events) == 0 {
				break
			}
			for _, e := range b.Events {
				got[string(e.Data[:1])] = append(got[string(e.Data[:1])], string(e.Data))
			}
			from = b.Next
		}
	}
	for _, k := range keys {
		if len(got[k]) != perKey {
			t.Fatalf("key %s: %d events stored, want %d", k, len(got[k]), perKey)
		}
		for i, d := range got[k] {
			if want := fmt.Sprintf("%s-%04d", k, i); d != want {
				t.Fatalf("key %s: event %d is %s, want %s", k, i, d, want)
			}
		}
	}
}

// TestTailReadDoesNotHoldBackAppends waits at the tail on one connection
// while appends on the same connection go through, and gets the first.
func TestTailReadDoesNotHoldBackAppends(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	info := mustStream(t, c, cams, 1)
	ctx := ctxT(t)
	got := make(chan stream.Batch, 1)
	go func() {
		b, err := c.ReadSegment(ctx, cams, info.Segments[0].ID, 0, stream.ReadOptions{})
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	for i := range 20 {
		if _, err := c.Append(ctx, stream.AppendRequest{Stream: cams, Events: [][]byte{fmt.Appendf(nil, "event-%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	b := <-got
	if len(b.Events) == 0 || string(b.Events[0].Data) != "event-0" {
		t.Fatalf("the tail read got %+v", b)
	}
}

// TestReadWaitEndsWithContext checks that a tail read ends when its
// context does, and that the connection stays usable.
func TestReadWaitEndsWithContext(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	info := mustStream(t, c, cams, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.ReadSegment(ctx, cams, info.Segments[0].ID, 0, stream.ReadOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a tail read past its deadline: %v", err)
	}
	if _, err := c.Scopes(ctxT(t)); err != nil {
		t.Fatalf("the connection after a cancelled read: %v", err)
	}
}

// TestShutdownWithClientsAttached shuts the server down while a client
// waits at the tail and another has appends in flight: every append that
// was acknowledged is stored, the waiting read ends with ErrClosed, and
// nothing is left running.
func TestShutdownWithClientsAttached(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	st, err := stream.Open(context.Background(), stream.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(st.Service(), Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	ctx := ctxT(t)
	reader := dial(t, ln.Addr().String(), DialOptions{})
	writer := dial(t, ln.Addr().String(), DialOptions{})
	info := mustStream(t, writer, cams, 1)
	seg := info.Segments[0].ID
	quiet := mustStream(t, writer, stream.StreamName{Scope: "surgery", Stream: "quiet"}, 1)
	readDone := make(chan error, 1)
	go func() {
		_, err := reader.ReadSegment(ctx, quiet.Name, quiet.Segments[0].ID, 0, stream.ReadOptions{})
		readDone <- err
	}()
	waitUntil(t, func() bool { return waitingReads(srv) == 1 })

	var pending []*PendingAppend
	for i := range 200 {
		p, err := writer.AppendAsync(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{fmt.Appendf(nil, "e%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	acked := 0
	for _, p := range pending {
		if _, err := p.Wait(ctx); err == nil {
			acked++
		}
	}
	if err := <-readDone; !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("a read waiting at the shutdown: %v, want ErrClosed", err)
	}
	b, err := st.ReadSegment(ctx, cams, seg, 0, stream.ReadOptions{NoWait: true, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) < acked {
		t.Fatalf("%d appends acknowledged, %d events stored", acked, len(b.Events))
	}
	if _, err := writer.Scopes(ctx); err == nil {
		t.Fatal("a client still talks to a server that has shut down")
	}
	if _, err := Dial(ctx, ln.Addr().String(), DialOptions{}); err == nil {
		t.Fatal("dialled a server that has shut down")
	}
}

// TestShutdownEndsWaitingReads checks that a read waiting at the tail is
// answered with ErrClosed when the server shuts down.
func TestShutdownEndsWaitingReads(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	info := mustStream(t, c, cams, 1)
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := c.ReadSegment(ctxT(t), cams, info.Segments[0].ID, 0, stream.ReadOptions{})
		done <- err
	}()
	<-started
	waitUntil(t, func() bool { return waitingReads(s.srv) == 1 })
	if err := s.srv.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("a waiting read at shutdown: %v, want ErrClosed", err)
	}
}

func activeRequests(s *Server) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int64(0)
	for c := range s.conns {
		n += c.active.Load()
	}
	return n
}

// waitingReads counts the reads the server has started and not answered.
func waitingReads(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		c.mu.Lock()
		n += len(c.cancels)
		c.mu.Unlock()
	}
	return n
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// rawConn is a TCP connection that speaks the protocol by hand.
func rawConn(t *testing.T, addr string, helloFirst bool) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if helloFirst {
		nc.Write(wire.AppendFrame(nil, 0, &wire.Hello{Version: wire.Version}))
		if m := readMessage(t, nc); m.Type() != wire.TypeWelcome {
			t.Fatalf("hello answered with %s", m.Type())
		}
	}
	return nc
}

func readMessage(t *testing.T, r io.Reader) wire.Message {
	t.Helper()
	f, err := wire.ReadFrame(r)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	m, err := wire.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestClientKilledMidAppend cuts connections inside an append frame and
// with appends in flight: the store stays consistent (every stored event
// whole, in order) and goes on taking appends.
func TestClientKilledMidAppend(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	info := mustStream(t, c, cams, 1)
	ctx := ctxT(t)

	// Half an append frame, then gone.
	nc := rawConn(t, s.addr, true)
	frame := wire.AppendFrame(nil, 1, &wire.Append{Stream: cams, RoutingKey: "k", Events: [][]byte{bytes.Repeat([]byte("x"), 100<<10)}})
	nc.Write(frame[:len(frame)/2])
	nc.Close()

	// Many appends in flight, then gone.
	killed, err := Dial(ctx, s.addr, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := killed.AppendAsync(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{fmt.Appendf(nil, "killed-%03d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	killed.nc.(*net.TCPConn).SetLinger(0)
	killed.Close()

	waitUntil(t, func() bool { return activeRequests(s.srv) == 0 && connections(s.srv) == 1 })
	res, err := c.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{[]byte("after")}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for from := int64(0); ; {
		b, err := c.ReadSegment(ctx, cams, info.Segments[0].ID, from, stream.ReadOptions{NoWait: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) == 0 {
			break
		}
		for _, e := range b.Events {
			got = append(got, string(e.Data))
		}
		from = b.Next
	}
	if len(got) == 0 || got[len(got)-1] != "after" {
		t.Fatalf("the stream ends with %q, want the append made after", got)
	}
	for i, d := range got[:len(got)-1] {
		if want := fmt.Sprintf("killed-%03d", i); d != want {
			t.Fatalf("event %d is %q, want %q: appends of one key out of order or torn", i, d, want)
		}
	}
	if res.Offset != int64(10+4)*int64(len(got)-1) {
		t.Fatalf("the last append went to %d after %d whole events", res.Offset, len(got)-1)
	}
}

func connections(s *Server) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// TestBadFrames sends what a broken or hostile client might, on raw TCP
// connections: each gets an error frame saying what is wrong, and the
// connection is closed; the server goes on serving.
func TestBadFrames(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	oversized := make([]byte, wire.HeaderSize)
	oversized[3], oversized[4] = 0x7f, byte(wire.TypeAppend)
	cases := []struct {
		what  string
		hello bool
		send  []byte
		code  wire.Code
		says  string
	}{
		{"no hello first", false, wire.AppendFrame(nil, 1, &wire.ListScopes{}), wire.CodeBadRequest, "first frame must be a hello"},
		{"another version", false, wire.AppendFrame(nil, 0, &wire.Hello{Version: 99}), wire.CodeVersion, "version 99 is not supported"},
		{"garbage hello", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.CodeBadRequest, "at most"},
		{"an unknown type", true, []byte{0, 0, 0, 0, 0x7e, 5, 0, 0, 0}, wire.CodeBadRequest, "unknown type 0x7e"},
		{"an answer from a client", true, wire.AppendFrame(nil, 5, &wire.OK{}), wire.CodeBadRequest, "not a request"},
		{"a second hello", true, wire.AppendFrame(nil, 5, &wire.Hello{Version: 1}), wire.CodeBadRequest, "not a request"},
		{"an oversized frame", true, oversized, wire.CodeBadRequest, "at most 16777216"},
		{"a payload that does not decode", true, []byte{2, 0, 0, 0, byte(wire.TypeCreateScope), 5, 0, 0, 0, 9, 0}, wire.CodeBadRequest, "want 9 bytes"},
	}
	for _, tc := range cases {
		nc := rawConn(t, s.addr, tc.hello)
		nc.Write(tc.send)
		m := readMessage(t, nc)
		e, ok := m.(*wire.Error)
		if !ok || e.Code != tc.code || !strings.Contains(e.Message, tc.says) {
			t.Errorf("%s: answered %#v, want code %d saying %q", tc.what, m, tc.code, tc.says)
			continue
		}
		if _, err := wire.ReadFrame(nc); err != io.EOF {
			t.Errorf("%s: after the error the connection gave %v, want it closed", tc.what, err)
		}
		nc.Close() // the server lingers until the client closes too
	}
	c := dial(t, s.addr, DialOptions{})
	if _, err := c.Scopes(ctxT(t)); err != nil {
		t.Fatalf("the server after bad frames: %v", err)
	}
}

// TestAuth: without a token a connection reads but may not write; a token
// the server refuses ends the hello; an accepted one writes.
func TestAuth(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{Auth: func(tok string) bool { return tok == "cs_good" }})
	ctx := ctxT(t)
	anon := dial(t, s.addr, DialOptions{})
	if _, err := anon.Scopes(ctx); err != nil {
		t.Fatalf("reading without a token: %v", err)
	}
	if err := anon.CreateScope(ctx, "surgery"); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("writing without a token: %v, want ErrUnauthorized", err)
	}
	if _, err := anon.Append(ctx, stream.AppendRequest{Stream: cams, Events: [][]byte{{1}}}); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("appending without a token: %v, want ErrUnauthorized", err)
	}
	if _, err := Dial(ctx, s.addr, DialOptions{Token: "cs_bad"}); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("dialling with a refused token: %v, want ErrUnauthorized", err)
	}
	good := dial(t, s.addr, DialOptions{Token: "cs_good"})
	mustStream(t, good, cams, 1)
}

// TestIdleTimeout: an idle connection is closed; one waiting on its own
// read is not idle.
func TestIdleTimeout(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{IdleTimeout: 250 * time.Millisecond})
	busy := dial(t, s.addr, DialOptions{})
	info := mustStream(t, busy, cams, 1)
	idle := dial(t, s.addr, DialOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := busy.ReadSegment(ctx, cams, info.Segments[0].ID, 0, stream.ReadOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a read waiting longer than the idle timeout: %v", err)
	}
	if _, err := busy.Scopes(ctxT(t)); err != nil {
		t.Fatalf("a connection that waited on a read was closed: %v", err)
	}
	select {
	case <-idle.done:
	case <-time.After(10 * time.Second):
		t.Fatal("an idle connection was not closed")
	}
	if _, err := idle.Scopes(ctxT(t)); err == nil {
		t.Fatal("a call on a closed connection succeeded")
	}
}

// TestInFlightBound: with two requests allowed in flight and two reads
// waiting, a third call waits for a slot; it goes through once one of the
// reads is cancelled and answered.
func TestInFlightBound(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{MaxInFlight: 2})
	c := dial(t, s.addr, DialOptions{})
	info := mustStream(t, c, cams, 1)
	if cap(c.slots) != 2 {
		t.Fatalf("the client allows %d requests in flight, the server said 2", cap(c.slots))
	}
	readCtx, cancelReads := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { c.ReadSegment(readCtx, cams, info.Segments[0].ID, 0, stream.ReadOptions{}) })
	}
	waitUntil(t, func() bool { return waitingReads(s.srv) == 2 })
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Scopes(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third request with two in flight: %v, want it to wait", err)
	}
	cancelReads()
	wg.Wait()
	if _, err := c.Scopes(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// TestPushedBackWriterGoesBack fills a store's local budget (no long-term
// storage): an idempotent writer's pipelined appends after the one pushed
// back are refused, not stored out of order, until it sends that one again.
func TestPushedBackWriterGoesBack(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{LocalBudgetBytes: 1 << 20, MaxLogFileBytes: 256 << 10}, Options{})
	c := dial(t, s.addr, DialOptions{})
	mustStream(t, c, cams, 1)
	ctx := ctxT(t)
	event := make([]byte, 64<<10)
	seq := int64(0)
	for {
		seq++
		_, err := c.Append(ctx, stream.AppendRequest{Stream: cams, Events: [][]byte{event}, WriterID: "w", Seq: seq})
		if errors.Is(err, stream.ErrBackPressure) {
			break
		}
		if err != nil || seq > 100 {
			t.Fatalf("append %d: %v", seq, err)
		}
	}
	failed := seq
	small := [][]byte{[]byte("small")} // would fit, but must not go first
	for i := range 3 {
		_, err := c.Append(ctx, stream.AppendRequest{Stream: cams, Events: small, WriterID: "w", Seq: failed + 1 + int64(i)})
		if !errors.Is(err, stream.ErrBackPressure) || !strings.Contains(err.Error(), "not tried") {
			t.Fatalf("an append after the pushed-back one: %v, want it refused untried", err)
		}
	}
	// Sent again, it is tried (and pushed back again, or stored).
	if _, err := c.Append(ctx, stream.AppendRequest{Stream: cams, Events: small, WriterID: "w", Seq: failed}); err != nil && strings.Contains(err.Error(), "not tried") {
		t.Fatalf("the pushed-back seq sent again: %v", err)
	}
}
