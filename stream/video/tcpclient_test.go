package video

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/tcp"
	"github.com/cloudskin/cloudskin/stream/tcp/tcptest"
)

// tcpStore is a real store in a temporary directory, served over the TCP
// protocol on loopback.
type tcpStore struct {
	store *stream.Store
	addr  string
	stop  func() // shuts the server down (the store stays open)
}

func newTCPStore(t *testing.T, opts stream.Options) *tcpStore {
	t.Helper()
	opts.Dir = t.TempDir()
	s, err := stream.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // after the server's shutdown (cleanups run last first)
	ts := &tcpStore{store: s}
	ts.serve(t, "127.0.0.1:0")
	return ts
}

// serve serves the store on addr until stop is called.
func (ts *tcpStore) serve(t *testing.T, addr string) {
	t.Helper()
	ts.addr, ts.stop = tcptest.Serve(t, ts.store.Service(), addr, tcp.Options{})
}

func (ts *tcpStore) client(t *testing.T) *TCPClient {
	t.Helper()
	c := NewTCPClient(dialer(ts.addr))
	t.Cleanup(func() { c.Close() })
	return c
}

var cams = stream.StreamName{Scope: "surgery", Stream: "cams"}

// readAll reads every event of a segment from its start, without waiting.
func readAll(t *testing.T, c Client, name stream.StreamName, seg uint64) []Event {
	t.Helper()
	segs, err := c.Segments(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if s.ID != seg {
			continue
		}
		var out []Event
		for off := s.Start; off < s.End; {
			b, err := c.ReadSegment(context.Background(), name, seg, off, 0)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b.Events...)
			off = b.Next
		}
		return out
	}
	t.Fatalf("%s has no segment %d", name, seg)
	return nil
}

// TestTCPClientKeepsEachKeysOrder pipelines appends with two keys, sizes
// varying, without waiting: each key's events are stored in the order
// they were queued, and every outcome says where its event went.
func TestTCPClientKeepsEachKeysOrder(t *testing.T) {
	ts := newTCPStore(t, stream.Options{})
	c := ts.client(t)
	ctx := context.Background()
	if err := c.EnsureStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureStream(ctx, cams); err != nil {
		t.Fatalf("ensuring a stream that exists: %v", err)
	}
	const n = 300
	type queued struct {
		data []byte
		res  <-chan Appended
	}
	var all []queued
	for i := range n {
		for _, key := range []string{"cam-a", "cam-b"} {
			data := append([]byte(fmt.Sprintf("%s %04d ", key, i)), bytes.Repeat([]byte{'x'}, (i*7919)%2000)...)
			all = append(all, queued{data, c.AppendAsync(ctx, cams, key, data)})
		}
	}
	offsets := map[string]int64{}
	where := map[int64][]byte{}
	for _, q := range all {
		res := <-q.res
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		key := string(q.data[:5])
		if last, ok := offsets[key]; ok && res.Offset <= last {
			t.Fatalf("%.14s stored at %d, not after the one queued before it at %d", q.data, res.Offset, last)
		}
		offsets[key] = res.Offset
		where[res.Offset] = q.data
	}
	events := readAll(t, c, cams, 0)
	if len(events) != 2*n {
		t.Fatalf("%d events stored, want %d", len(events), 2*n)
	}
	next := map[string]int{}
	for _, e := range events {
		if !bytes.Equal(e.Data, where[e.Offset]) {
			t.Fatalf("at %d: %.14q, acknowledged there: %.14q", e.Offset, e.Data, where[e.Offset])
		}
		key, i := string(e.Data[:5]), 0
		fmt.Sscanf(string(e.Data[6:10]), "%d", &i)
		if i != next[key] {
			t.Fatalf("%s event %d stored where event %d belongs", key, i, next[key])
		}
		next[key]++
	}
}

// TestTCPClientLeavesNoGapAfterAFailedAppend: an append pushed back by the
// store (its local budget is full) fails, and so do those queued after it
// with the same key, even the small ones the budget would take, and even
// once the failure has been seen; none of them is stored. Another client
// appends with the key again.
func TestTCPClientLeavesNoGapAfterAFailedAppend(t *testing.T) {
	const budget = 1 << 20
	ts := newTCPStore(t, stream.Options{LocalBudgetBytes: budget})
	c := ts.client(t)
	ctx := context.Background()
	if err := c.EnsureStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{"before-1", "before-2"} {
		if res := <-c.AppendAsync(ctx, cams, "cam", []byte(data)); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	big := c.AppendAsync(ctx, cams, "cam", bytes.Repeat([]byte{'b'}, budget+1))
	var after []<-chan Appended
	for i := range 20 {
		after = append(after, c.AppendAsync(ctx, cams, "cam", []byte(fmt.Sprintf("after-%d", i))))
	}
	if res := <-big; !errors.Is(res.Err, stream.ErrBackPressure) {
		t.Fatalf("an append beyond the budget: %v, want back-pressure", res.Err)
	}
	for i, ch := range after {
		if res := <-ch; !errors.Is(res.Err, ErrEarlierAppendFailed) {
			t.Fatalf("append %d after the failed one: %+v, want ErrEarlierAppendFailed", i, res)
		}
	}
	if res := <-c.AppendAsync(ctx, cams, "cam", []byte("too late")); !errors.Is(res.Err, ErrEarlierAppendFailed) {
		t.Fatalf("an append after the failed ones settled: %+v, want ErrEarlierAppendFailed", res)
	}
	if res := <-ts.client(t).AppendAsync(ctx, cams, "cam", []byte("later")); res.Err != nil {
		t.Fatalf("an append through another client: %v", res.Err)
	}
	var got []string
	for _, e := range readAll(t, c, cams, 0) {
		got = append(got, string(e.Data))
	}
	if strings.Join(got, " ") != "before-1 before-2 later" {
		t.Fatalf("stored %q, want before-1 before-2 later", got)
	}
}

// TestTCPClientRefusesAnEventTooLargeForTheStore: the append fails with
// a clear error without being sent (which would cost the connection), the
// ones queued after it are not sent, and the connection still serves.
func TestTCPClientRefusesAnEventTooLargeForTheStore(t *testing.T) {
	ts := newTCPStore(t, stream.Options{})
	c := ts.client(t)
	ctx := context.Background()
	if err := c.EnsureStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	huge := c.AppendAsync(ctx, cams, "cam", make([]byte, stream.MaxAppendBytes+1))
	next := c.AppendAsync(ctx, cams, "cam", []byte("next"))
	if res := <-huge; res.Err == nil || !strings.Contains(res.Err.Error(), "at most 8388608 fit in one append") {
		t.Fatalf("an oversized event: %v", res.Err)
	}
	if res := <-next; !errors.Is(res.Err, ErrEarlierAppendFailed) {
		t.Fatalf("the append after it: %v", res.Err)
	}
	if res := <-c.AppendAsync(ctx, cams, "other", []byte("fine")); res.Err != nil {
		t.Fatal(res.Err)
	}
	if events := readAll(t, c, cams, 0); len(events) != 1 || string(events[0].Data) != "fine" {
		t.Fatalf("stored %d events", len(events))
	}
}

// TestTCPClientReadsWaitAtTheTail: a read at the end of a segment waits
// up to its wait (and an empty wait is no error), returns an event
// appended meanwhile, and at the end of a sealed segment says so at once.
func TestTCPClientReadsWaitAtTheTail(t *testing.T) {
	ts := newTCPStore(t, stream.Options{})
	c := ts.client(t)
	ctx := context.Background()
	if err := c.EnsureStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	first := <-c.AppendAsync(ctx, cams, "cam", []byte("first"))
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	end := first.Offset + 4 + int64(len("first"))

	begin := time.Now()
	b, err := c.ReadSegment(ctx, cams, 0, end, 300*time.Millisecond)
	if err != nil || len(b.Events) != 0 || b.Next != end || b.Sealed {
		t.Fatalf("a read at the tail with nothing coming: %+v, %v", b, err)
	}
	if took := time.Since(begin); took < 300*time.Millisecond {
		t.Fatalf("a read at the tail returned after %s, before its wait of 300ms", took)
	}

	type result struct {
		b   Batch
		err error
	}
	got := make(chan result, 1)
	go func() {
		b, err := c.ReadSegment(ctx, cams, 0, end, time.Minute)
		got <- result{b, err}
	}()
	// Usually the read is waiting by now; if not, it finds the event at
	// once. Either way it must return it, well before its minute.
	if res := <-c.AppendAsync(ctx, cams, "cam", []byte("second")); res.Err != nil {
		t.Fatal(res.Err)
	}
	select {
	case r := <-got:
		if r.err != nil || len(r.b.Events) != 1 || string(r.b.Events[0].Data) != "second" || r.b.Events[0].Offset != end {
			t.Fatalf("the waiting read: %+v, %v", r.b, r.err)
		}
		end = r.b.Next
	case <-time.After(20 * time.Second):
		t.Fatal("a read waiting at the tail did not return the event appended")
	}

	// A split seals segment 0: a read at its end says sealed without
	// waiting, and the successors own its key range.
	if _, err := ts.store.SplitSegment(ctx, cams, 0, 2); err != nil {
		t.Fatal(err)
	}
	begin = time.Now()
	b, err = c.ReadSegment(ctx, cams, 0, end, time.Minute)
	if err != nil || !b.Sealed || len(b.Events) != 0 || b.Next != end {
		t.Fatalf("a read at the end of a sealed segment: %+v, %v", b, err)
	}
	if took := time.Since(begin); took > 20*time.Second {
		t.Fatalf("a read at the end of a sealed segment took %s", took)
	}
	segs, err := c.Segments(ctx, cams)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 3 || !segs[0].Sealed || segs[0].End != end || segs[1].Sealed || segs[1].Low != 0 || segs[2].High != 1 || segs[1].High != segs[2].Low {
		t.Fatalf("segments after the split: %+v", segs)
	}
}

// TestTCPClientErrorsWrapTheStoresSentinels: what is missing wraps
// stream.ErrNotFound, a read before the retained start
// stream.ErrTruncated, as the Reader and Handler expect.
func TestTCPClientErrorsWrapTheStoresSentinels(t *testing.T) {
	ts := newTCPStore(t, stream.Options{})
	c := ts.client(t)
	ctx := context.Background()
	missing := stream.StreamName{Scope: "surgery", Stream: "missing"}
	if _, err := c.Segments(ctx, missing); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("describing a missing stream: %v", err)
	}
	if _, err := c.ReadSegment(ctx, missing, 0, 0, time.Second); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("reading a missing stream: %v", err)
	}
	if res := <-c.AppendAsync(ctx, missing, "cam", []byte("x")); !errors.Is(res.Err, stream.ErrNotFound) {
		t.Fatalf("appending to a missing stream: %v", res.Err)
	}
	if err := c.EnsureStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadSegment(ctx, cams, 99, 0, time.Second); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("reading a missing segment: %v", err)
	}
	var offsets []int64
	for i := range 3 {
		res := <-c.AppendAsync(ctx, cams, "cam", []byte(fmt.Sprintf("event-%d", i)))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		offsets = append(offsets, res.Offset)
	}
	if err := ts.store.Truncate(ctx, cams, stream.StreamCut{0: offsets[2]}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadSegment(ctx, cams, 0, offsets[0], time.Second); !errors.Is(err, stream.ErrTruncated) {
		t.Fatalf("reading before the start: %v", err)
	}
	b, err := c.ReadSegment(ctx, cams, 0, offsets[2], time.Second)
	if err != nil || len(b.Events) != 1 || string(b.Events[0].Data) != "event-2" {
		t.Fatalf("reading at the start: %+v, %v", b, err)
	}
	names, err := c.ListStreams(ctx)
	if err != nil || len(names) != 1 || names[0] != cams {
		t.Fatalf("streams: %v, %v", names, err)
	}
}

// TestTCPClientDialsAgainAfterTheConnectionFails: a call on a connection
// the server closed fails; the next one dials again. After Close, calls
// fail at once.
func TestTCPClientDialsAgainAfterTheConnectionFails(t *testing.T) {
	ts := newTCPStore(t, stream.Options{})
	c := ts.client(t)
	ctx := context.Background()
	if err := c.EnsureStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	if res := <-c.AppendAsync(ctx, cams, "cam", []byte("before")); res.Err != nil {
		t.Fatal(res.Err)
	}
	ts.stop()
	ts.serve(t, ts.addr) // the same store on the same address, a new connection needed
	var err error
	for range 2 { // the first call may be the one to find the connection closed
		if _, err = c.ListStreams(ctx); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("listing after the server came back: %v", err)
	}
	// The key's lane was on the old connection and is idle: its next
	// append goes on the new one.
	if res := <-c.AppendAsync(ctx, cams, "cam", []byte("after")); res.Err != nil {
		t.Fatalf("appending after the server came back: %v", res.Err)
	}
	if events := readAll(t, c, cams, 0); len(events) != 2 || string(events[1].Data) != "after" {
		t.Fatalf("stored %d events", len(events))
	}

	c.Close()
	if _, err := c.ListStreams(ctx); !errors.Is(err, tcp.ErrClientClosed) {
		t.Fatalf("a call after Close: %v", err)
	}
	if res := <-c.AppendAsync(ctx, cams, "cam", []byte("closed")); !errors.Is(res.Err, tcp.ErrClientClosed) {
		t.Fatalf("an append after Close: %v", res.Err)
	}
}
