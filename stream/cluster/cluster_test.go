package cluster

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cloudskin/cloudskin/stream"
)

// TestScalingUnderLoad runs idempotent pipelined writers and reader groups
// on six streams of an 8-container cluster while the instances go
// 1 -> 3 -> 2 -> 1 -> 4: every write is acknowledged (requests during a
// move wait and succeed), every acknowledged event is read back exactly
// once and in order per routing key, and no goroutine is left behind.
func TestScalingUnderLoad(t *testing.T) {
	before := runtime.NumGoroutine()
	reg := prometheus.NewRegistry()
	cl, err := Open(context.Background(), Options{Dir: t.TempDir(), Instances: 1, Metrics: reg, Store: stream.Options{MaxLogFileBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	names := loadNames("load", 6)
	for _, name := range names {
		mustCreate(t, cl, name, 3)
	}
	totalMoves := 0
	runLoad(t, loadRun{
		streams: len(names), keys: 4, window: 32, step: 50,
		writer: func(i int) appendFunc {
			return writerAppends(t, cl, names[i], "writer-"+strconv.Itoa(i))
		},
		// A group per stream, two readers each.
		readers: func(i int) []stream.GroupReader {
			g, err := cl.CreateReaderGroup(ctx, "g-"+strconv.Itoa(i), names[i])
			if err != nil {
				t.Fatal(err)
			}
			var members []stream.GroupReader
			for r := range 2 {
				rd, err := g.Join("r" + strconv.Itoa(r))
				if err != nil {
					t.Fatal(err)
				}
				members = append(members, rd)
			}
			return members
		},
		scale: func(n int) { totalMoves += scaleChecked(t, cl, n) },
	})
	if v := gauge(t, reg, "stream_cluster_instances"); v != 4 {
		t.Errorf("stream_cluster_instances = %v, want 4", v)
	}
	if v := counter(t, reg, "stream_cluster_container_moves_total"); v != float64(totalMoves) {
		t.Errorf("moves counted %v, made %d", v, totalMoves)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoLeak(t, before)
}

// scaleChecked goes to n instances and returns how many containers moved,
// each a real move that took time, leaving n instances and the containers
// balanced over them.
func scaleChecked(t *testing.T, cl *Cluster, n int) int {
	t.Helper()
	moves, err := cl.SetInstances(context.Background(), n)
	if err != nil {
		t.Fatalf("to %d instances: %v", n, err)
	}
	if len(moves) == 0 {
		t.Fatalf("to %d instances: nothing moved", n)
	}
	for _, m := range moves {
		if m.From == m.To || m.Took <= 0 {
			t.Fatalf("move %+v", m)
		}
	}
	checkBalanced(t, 8, cl.Instances(), cl.Assignment())
	if len(cl.Instances()) != n {
		t.Fatalf("instances %v, want %d", cl.Instances(), n)
	}
	return len(moves)
}

func metric(t *testing.T, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0]
		}
	}
	t.Fatalf("metric %s not registered", name)
	return nil
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	return metric(t, reg, name).GetGauge().GetValue()
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	return metric(t, reg, name).GetCounter().GetValue()
}

// TestMoveWakesWaitingReads starts a tail read of a segment and a reader
// group's read on an empty stream, moves the stream's container, and checks
// that both go on against the target and get the event appended after the
// move.
func TestMoveWakesWaitingReads(t *testing.T) {
	ctx := context.Background()
	cl := openCluster(t, t.TempDir(), 1, nil)
	name := movingName(t, cl, "tail", 2)
	mustCreate(t, cl, name, 1)
	g, err := cl.CreateReaderGroup(ctx, "tail-group", name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Join("r1")
	if err != nil {
		t.Fatal(err)
	}
	seg := stream.NewSegmentID(0, 0)
	type result struct {
		data string
		err  error
	}
	tail, group := make(chan result, 1), make(chan result, 1)
	go func() {
		b, err := cl.ReadSegment(ctx, name, seg, 0, stream.ReadOptions{})
		if err == nil && len(b.Events) != 1 {
			err = fmt.Errorf("%d events", len(b.Events))
		}
		if err != nil {
			tail <- result{err: err}
			return
		}
		tail <- result{data: string(b.Events[0].Data)}
	}()
	go func() {
		ev, err := r.Read(ctx)
		group <- result{string(ev.Data), err}
	}()
	c := cl.containerOf(name)
	waitFor(t, "both reads to hold the container", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.active == 2
	})

	moves, err := cl.SetInstances(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	movedIt := false
	for _, m := range moves {
		movedIt = movedIt || m.Container == c.n
	}
	if !movedIt {
		t.Fatalf("container %d did not move: %v", c.n, moves)
	}
	select {
	case res := <-tail:
		t.Fatalf("tail read returned during the move: %+v", res)
	case res := <-group:
		t.Fatalf("group read returned during the move: %+v", res)
	default:
	}
	if _, err := cl.Append(ctx, stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("after")}}); err != nil {
		t.Fatal(err)
	}
	for what, ch := range map[string]chan result{"tail read": tail, "group read": group} {
		if res := <-ch; res.err != nil || res.data != "after" {
			t.Fatalf("%s: %+v, want the event appended after the move", what, res)
		}
	}
	if got := r.Segments(); len(got) != 1 {
		t.Fatalf("reader holds %v after the move, want the one segment", got)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRequestsWaitForMove holds a container's lease so that a move stops
// halfway, and checks that an append made meanwhile waits (and gives up
// when its context ends), then succeeds on the target once the move is
// over; and that a retried append with the same writer id and sequence
// number is dropped as a duplicate on the target.
func TestRequestsWaitForMove(t *testing.T) {
	ctx := context.Background()
	cl := openCluster(t, t.TempDir(), 1, nil)
	name := movingName(t, cl, "wait", 2)
	mustCreate(t, cl, name, 1)
	req := stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("one")}, WriterID: "w", Seq: 1}
	if res, err := cl.Append(ctx, req); err != nil || res.Duplicate {
		t.Fatalf("first append: %+v, %v", res, err)
	}

	c := cl.containerOf(name)
	held, err := c.acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	moved := make(chan error, 1)
	go func() {
		_, err := cl.SetInstances(ctx, 2)
		moved <- err
	}()
	waitFor(t, "the move to start", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.moving != nil
	})
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = cl.Append(short, stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("late")}})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for container") {
		t.Fatalf("append during a stalled move: %v, want a deadline while waiting for the container", err)
	}
	during := make(chan error, 1)
	go func() {
		req2 := req
		req2.Events, req2.Seq = [][]byte{[]byte("two")}, 2
		_, err := cl.Append(ctx, req2)
		during <- err
	}()
	held.release()
	if err := <-moved; err != nil {
		t.Fatal(err)
	}
	if err := <-during; err != nil {
		t.Fatalf("append made during the move: %v", err)
	}
	if got := c.host(); got != "ss-1" {
		t.Fatalf("container on %q, want ss-1", got)
	}
	if res, err := cl.Append(ctx, req); err != nil || !res.Duplicate {
		t.Fatalf("retry of seq 1 after the move: %+v, %v; want a duplicate", res, err)
	}
	w, err := cl.NewWriter(name, "w")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, "k", []byte("three")); err != nil {
		t.Fatal(err)
	}
	b, err := cl.ReadSegment(ctx, name, stream.NewSegmentID(0, 0), 0, stream.ReadOptions{NoWait: true})
	if err != nil {
		t.Fatal(err)
	}
	var data []string
	for _, ev := range b.Events {
		data = append(data, string(ev.Data))
	}
	if fmt.Sprint(data) != "[one two three]" {
		t.Fatalf("stream holds %v, want [one two three]", data)
	}
}
