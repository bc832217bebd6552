package cluster

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/cloudskin/cloudskin/stream"
)

// TestServiceAppendAsyncAcrossMoves drives the cluster through its
// stream.Service face only: writers queue appends with AppendAsync (up to
// 16 in flight each, per-key payloads "k<key>:<n>") while the instances go
// 1 -> 3 -> 2 -> 1 -> 4 through the InstanceScaler, and a reader of a group
// made through the Service reads on across the moves. Every append is
// acknowledged, and every acknowledged event is read exactly once, in
// order per key; no goroutine is left behind.
func TestServiceAppendAsyncAcrossMoves(t *testing.T) {
	before := runtime.NumGoroutine()
	cl, err := Open(context.Background(), Options{Dir: t.TempDir(), Containers: 8, Instances: 1, Store: stream.Options{MaxLogFileBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	svc := cl.Service()
	scaler, ok := svc.(stream.InstanceScaler)
	if !ok {
		t.Fatal("the cluster's Service is not a stream.InstanceScaler")
	}
	ctx := context.Background()
	if err := svc.CreateScope(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	names := loadNames("svc", 4)
	groups := make([]stream.Group, len(names))
	for i, name := range names {
		if err := svc.CreateStream(ctx, name, stream.StreamConfig{Segments: 2}); err != nil {
			t.Fatal(err)
		}
		if groups[i], err = svc.CreateReaderGroup(ctx, "g-"+strconv.Itoa(i), name); err != nil {
			t.Fatal(err)
		}
	}
	runLoad(t, loadRun{
		streams: len(names), keys: 3, window: 16, step: 40,
		writer: func(i int) appendFunc { return serviceAppends(svc, names[i]) },
		readers: func(i int) []stream.GroupReader {
			r, err := groups[i].Join("r")
			if err != nil {
				t.Fatal(err)
			}
			return []stream.GroupReader{r}
		},
		scale: func(n int) {
			moves, err := scaler.SetInstances(ctx, n)
			if err != nil {
				t.Fatalf("to %d instances: %v", n, err)
			}
			if len(moves) == 0 || len(scaler.Instances()) != n {
				t.Fatalf("to %d instances: %d moves, instances %v", n, len(moves), scaler.Instances())
			}
		},
	})
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, before)
}

// TestServiceAppendAsyncHoldsTheLease checks that a move waits for an
// append queued with AppendAsync until its done has run, and that an
// append asked for during the move is queued on the target after it.
func TestServiceAppendAsyncHoldsTheLease(t *testing.T) {
	cl := openCluster(t, t.TempDir(), 1, nil)
	svc := cl.Service()
	name := movingName(t, cl, "lease", 2)
	mustCreate(t, cl, name, 1)
	c := cl.containerOf(name)

	release := make(chan struct{})
	first := make(chan stream.AppendResult, 1)
	err := svc.AppendAsync(stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("first")}}, func(r stream.AppendResult, err error) {
		if err != nil {
			t.Error(err)
		}
		<-release // a slow done: the move must wait for it
		first <- r
	})
	if err != nil {
		t.Fatal(err)
	}
	moved := make(chan error, 1)
	go func() {
		_, err := cl.SetInstances(context.Background(), 2)
		moved <- err
	}()
	waitFor(t, "the move to begin", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.moving != nil
	})
	second := make(chan stream.AppendResult, 1)
	queued := make(chan error, 1)
	go func() {
		// Waits for the move, then queues on the target.
		queued <- svc.AppendAsync(stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("second")}}, func(r stream.AppendResult, err error) {
			if err != nil {
				t.Error(err)
			}
			second <- r
		})
	}()
	c.mu.Lock()
	active := c.active
	c.mu.Unlock()
	select {
	case err := <-moved:
		t.Fatalf("the move ended (%v) while an append's done had not run", err)
	case err := <-queued:
		t.Fatalf("an append was queued (%v) during the move", err)
	default:
	}
	if active != 1 {
		t.Fatalf("%d leases held during the move, want the pending append's 1", active)
	}
	close(release)
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	r1, r2 := <-first, <-second
	if r2.Segment != r1.Segment || r2.Offset <= r1.Offset {
		t.Fatalf("the second append (%+v) is not after the first (%+v)", r2, r1)
	}
	if c.host() != "ss-1" {
		t.Fatalf("container on %q, want ss-1", c.host())
	}
}

// TestServiceGroups checks the reader-group adapters: handles from
// CreateReaderGroup and ReaderGroup name the same group, and missing ones
// are stream.ErrNotFound with a nil Group.
func TestServiceGroups(t *testing.T) {
	cl := openCluster(t, t.TempDir(), 2, nil)
	svc := cl.Service()
	ctx := context.Background()
	name := stream.StreamName{Scope: "g", Stream: "s"}
	mustCreate(t, cl, name, 1)
	if _, err := svc.Append(ctx, stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("e")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateReaderGroup(ctx, "grp", name); err != nil {
		t.Fatal(err)
	}
	g, err := svc.ReaderGroup("grp")
	if err != nil || g.Name() != "grp" || g.Stream() != name {
		t.Fatalf("ReaderGroup = %v, %v", g, err)
	}
	r, err := g.Join("r1")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := r.Read(ctx)
	if err != nil || string(ev.Data) != "e" {
		t.Fatalf("Read = %q, %v", ev.Data, err)
	}
	if got := g.Readers(); !slices.Equal(got, []string{"r1"}) || r.ID() != "r1" || len(r.Segments()) != 1 {
		t.Fatalf("readers %v, id %q, segments %v", got, r.ID(), r.Segments())
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if g, err := svc.ReaderGroup("nope"); !errors.Is(err, stream.ErrNotFound) || g != nil {
		t.Fatalf("missing group: %v, %v", g, err)
	}
	if g, err := svc.CreateReaderGroup(ctx, "grp", name); !errors.Is(err, stream.ErrExists) || g != nil {
		t.Fatalf("duplicate group: %v, %v", g, err)
	}
	if err := svc.DeleteReaderGroup(ctx, "grp"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Err(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := svc.Err(); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("Err after Close = %v, want ErrClosed", err)
	}
	if err := svc.AppendAsync(stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("e")}}, func(stream.AppendResult, error) {
		t.Error("done called for an append that was refused")
	}); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("AppendAsync after Close = %v, want ErrClosed", err)
	}
}
