package tcp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/wire"
)

// serveWrapped serves a store in a temporary directory through wrap, a
// fake Service around the store's own.
func serveWrapped(t *testing.T, wrap func(stream.Service) stream.Service, opts Options) (*Server, string) {
	t.Helper()
	s := serveWith(t, stream.Options{}, opts, wrap)
	return s.srv, s.addr
}

// TestScale splits, merges and scales a stream over the protocol in each
// of the three forms, with events of one key written between, and reads
// the segments back in stream.ReadOrder: the key's events come once each,
// in order, and a sealed segment's read says so and names its successors
// at once instead of waiting.
func TestScale(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	info := mustStream(t, c, cams, 1)
	ctx := ctxT(t)
	n := 0
	write := func(count int) {
		t.Helper()
		for range count {
			n++
			if _, err := c.Append(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "camera-1", Events: [][]byte{fmt.Appendf(nil, "e%03d", n)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(5)
	first := info.Segments[0].ID
	split, err := c.SplitSegment(ctx, cams, first, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(split) != 2 || split[0].Epoch != 1 || split[0].Range != (stream.KeyRange{Low: 0, High: 0.5}) || split[1].Range.High != 1 ||
		!slices.Equal(split[0].Predecessors, []stream.SegmentID{first}) {
		t.Fatalf("a split into the default 2 parts created %+v", split)
	}
	write(5)
	merged, err := c.MergeSegments(ctx, cams, []stream.SegmentID{split[1].ID, split[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(merged) != 1 || merged[0].Epoch != 2 || merged[0].Range != (stream.KeyRange{Low: 0, High: 1}) || len(merged[0].Predecessors) != 2 {
		t.Fatalf("a merge created %+v", merged)
	}
	write(5)
	scaled, err := c.Scale(ctx, cams, []stream.SegmentID{merged[0].ID}, []stream.KeyRange{{Low: 0, High: 0.1}, {Low: 0.1, High: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(scaled) != 2 || scaled[0].Epoch != 3 || scaled[0].Range.High != 0.1 {
		t.Fatalf("a scale created %+v", scaled)
	}
	write(5)

	// Errors come back as the store's.
	errs := []struct {
		what string
		err  func() error
		is   error
		says string
	}{
		{"splitting a sealed segment", func() error { _, err := c.SplitSegment(ctx, cams, first, 2); return err }, stream.ErrSealed, "sealed"},
		{"merging a missing segment", func() error {
			_, err := c.MergeSegments(ctx, cams, []stream.SegmentID{scaled[0].ID, stream.NewSegmentID(9, 9)})
			return err
		}, stream.ErrNotFound, "not found"},
		{"ranges that do not tile", func() error {
			_, err := c.Scale(ctx, cams, []stream.SegmentID{scaled[0].ID}, []stream.KeyRange{{Low: 0, High: 0.05}})
			return err
		}, wire.ErrBadRequest, "want 0.1"},
		{"a split into too many parts", func() error { _, err := c.SplitSegment(ctx, cams, scaled[1].ID, stream.MaxSegments+1); return err }, wire.ErrBadRequest, "parts"},
		{"a missing stream", func() error {
			_, err := c.SplitSegment(ctx, stream.StreamName{Scope: "surgery", Stream: "nope"}, 0, 2)
			return err
		}, stream.ErrNotFound, "nope"},
		{"merging one segment", func() error { _, err := c.MergeSegments(ctx, cams, []stream.SegmentID{scaled[0].ID}); return err }, wire.ErrBadRequest, "at least 2"},
	}
	for _, e := range errs {
		if err := e.err(); !errors.Is(err, e.is) || !strings.Contains(err.Error(), e.says) {
			t.Errorf("%s: %v, want %v saying %q", e.what, err, e.is, e.says)
		}
	}

	desc, err := c.Stream(ctx, cams)
	if err != nil {
		t.Fatal(err)
	}
	if desc.Epoch != 3 || len(desc.Segments) != 6 || len(desc.Active()) != 2 {
		t.Fatalf("after three scales the stream is %+v", desc)
	}
	var got []string
	for _, seg := range stream.ReadOrder(desc.Segments) {
		for from := seg.Start; ; {
			// A sealed segment's end answers at once, even to a read that
			// would wait: this context would time out a wait.
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			b, err := c.ReadSegment(wctx, cams, seg.ID, from, stream.ReadOptions{NoWait: !seg.Sealed})
			cancel()
			if err != nil {
				t.Fatalf("segment %s from %d: %v", seg.ID, from, err)
			}
			for _, e := range b.Events {
				got = append(got, string(e.Data))
			}
			from = b.Next
			if b.Sealed {
				if !slices.Equal(b.Successors, seg.Successors) || b.Next != seg.End {
					t.Fatalf("segment %s ends at %d with successors %v, described as %d and %v", seg.ID, b.Next, b.Successors, seg.End, seg.Successors)
				}
				break
			}
			if len(b.Events) == 0 {
				if seg.Sealed {
					t.Fatalf("sealed segment %s read to %d without saying it is sealed", seg.ID, from)
				}
				break
			}
		}
	}
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("e%03d", i))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read in ReadOrder: %v, want %v", got, want)
	}
}

// TestInstancesOfASingleStore: a server of one store refuses to list or
// set instances with ErrUnsupported and says why.
func TestInstancesOfASingleStore(t *testing.T) {
	noLeaks(t)
	s := serve(t, stream.Options{}, Options{})
	c := dial(t, s.addr, DialOptions{})
	ctx := ctxT(t)
	if _, err := c.Instances(ctx); !errors.Is(err, wire.ErrUnsupported) || !strings.Contains(err.Error(), "single segment store") {
		t.Fatalf("Instances of a single store: %v", err)
	}
	if _, err := c.SetInstances(ctx, 2); !errors.Is(err, wire.ErrUnsupported) {
		t.Fatalf("SetInstances of a single store: %v", err)
	}
	if _, err := c.SetInstances(ctx, 0); !errors.Is(err, wire.ErrBadRequest) {
		t.Fatalf("SetInstances(0): %v", err)
	}
}

// instanceFake is a store that pretends to run segment-store instances.
type instanceFake struct {
	stream.Service
	mu    sync.Mutex
	names []string
}

func (f *instanceFake) Instances() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.names)
}

func (f *instanceFake) SetInstances(ctx context.Context, n int) ([]stream.ContainerMove, error) {
	if n > 4 {
		return nil, fmt.Errorf("cluster: %d instances, at most 4", n)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var moves []stream.ContainerMove
	for len(f.names) < n {
		name := fmt.Sprintf("segment-store-%d", len(f.names))
		moves = append(moves, stream.ContainerMove{Container: len(f.names), From: f.names[0], To: name, Took: time.Duration(len(f.names)) * time.Millisecond, Replayed: 10})
		f.names = append(f.names, name)
	}
	f.names = f.names[:n]
	return moves, nil
}

// TestInstancesOfAnInstanceScaler lists and sets instances of a Service
// that is a stream.InstanceScaler; setting needs a token that may write.
func TestInstancesOfAnInstanceScaler(t *testing.T) {
	noLeaks(t)
	fake := &instanceFake{names: []string{"segment-store-0"}}
	_, addr := serveWrapped(t, func(s stream.Service) stream.Service { fake.Service = s; return fake },
		Options{Auth: func(token string) bool { return token == "secret" }})
	c := dial(t, addr, DialOptions{Token: "secret"})
	ctx := ctxT(t)
	if got, err := c.Instances(ctx); err != nil || !slices.Equal(got, []string{"segment-store-0"}) {
		t.Fatalf("Instances = %v, %v", got, err)
	}
	moves, err := c.SetInstances(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []stream.ContainerMove{
		{Container: 1, From: "segment-store-0", To: "segment-store-1", Took: time.Millisecond, Replayed: 10},
		{Container: 2, From: "segment-store-0", To: "segment-store-2", Took: 2 * time.Millisecond, Replayed: 10},
	}
	if !slices.Equal(moves, want) {
		t.Fatalf("SetInstances(3) moved %+v, want %+v", moves, want)
	}
	if got, err := c.Instances(ctx); err != nil || len(got) != 3 {
		t.Fatalf("Instances after setting 3 = %v, %v", got, err)
	}
	if _, err := c.SetInstances(ctx, 5); !errors.Is(err, wire.ErrBadRequest) || !strings.Contains(err.Error(), "at most 4") {
		t.Fatalf("SetInstances(5): %v, want the cluster's refusal", err)
	}
	reader := dial(t, addr, DialOptions{})
	if _, err := reader.Instances(ctx); err != nil {
		t.Fatalf("listing instances without a token: %v", err)
	}
	if _, err := reader.SetInstances(ctx, 1); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("setting instances without a token: %v, want ErrUnauthorized", err)
	}
	if _, err := reader.SplitSegment(ctx, cams, 0, 2); !errors.Is(err, wire.ErrUnauthorized) {
		t.Fatalf("scaling without a token: %v, want ErrUnauthorized", err)
	}
}

// heldAppends is a store that queues appends and calls them back only
// when told.
type heldAppends struct {
	stream.Service
	mu    sync.Mutex
	reqs  []stream.AppendRequest
	dones []func(stream.AppendResult, error)
}

func (h *heldAppends) AppendAsync(req stream.AppendRequest, done func(stream.AppendResult, error)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs = append(h.reqs, req)
	h.dones = append(h.dones, done)
	return nil
}

func (h *heldAppends) queued() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.reqs)
}

// release calls back every append held, as durable at offset i.
func (h *heldAppends) release() {
	h.mu.Lock()
	dones := h.dones
	h.dones = nil
	h.mu.Unlock()
	for i, done := range dones {
		done(stream.AppendResult{Offset: int64(i)}, nil)
	}
}

// TestLaneDoesNotWaitForDurability: appends of one key sent without
// waiting all reach the store before the first is durable (so that one
// fsync can cover them), in the order they were sent, and each is
// answered once they are.
func TestLaneDoesNotWaitForDurability(t *testing.T) {
	noLeaks(t)
	held := &heldAppends{}
	_, addr := serveWrapped(t, func(s stream.Service) stream.Service { held.Service = s; return held }, Options{})
	c := dial(t, addr, DialOptions{})
	ctx := ctxT(t)
	const n = 50
	var pending []*PendingAppend
	for i := range n {
		p, err := c.AppendAsync(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{fmt.Appendf(nil, "%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	waitUntil(t, func() bool { return held.queued() == n })
	for i, r := range held.reqs {
		if string(r.Events[0]) != fmt.Sprint(i) {
			t.Fatalf("append %d reached the store as %q: out of order", i, r.Events[0])
		}
	}
	held.release()
	for i, p := range pending {
		res, err := p.Wait(ctx)
		if err != nil || res.Offset != int64(i) {
			t.Fatalf("append %d answered %+v, %v", i, res, err)
		}
	}
}

// TestShutdownAbandonsAppendsTheStoreHolds: when shutdown runs out of time
// with appends the store has not answered, the connection still closes
// and nothing is left running; a late callback goes nowhere.
func TestShutdownAbandonsAppendsTheStoreHolds(t *testing.T) {
	noLeaks(t)
	held := &heldAppends{}
	srv, addr := serveWrapped(t, func(s stream.Service) stream.Service { held.Service = s; return held }, Options{})
	c := dial(t, addr, DialOptions{})
	ctx := ctxT(t)
	var pending []*PendingAppend
	for i := range 10 {
		p, err := c.AppendAsync(ctx, stream.AppendRequest{Stream: cams, RoutingKey: "k", Events: [][]byte{fmt.Appendf(nil, "%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	waitUntil(t, func() bool { return held.queued() == 10 })
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with appends the store holds: %v, want it cut short", err)
	}
	if connections(srv) != 0 {
		t.Fatal("a connection outlived Shutdown")
	}
	for i, p := range pending {
		if _, err := p.Wait(ctx); err == nil {
			t.Fatalf("append %d was acknowledged though the store never said it was durable", i)
		}
	}
	held.release() // too late: must not panic or write
}
