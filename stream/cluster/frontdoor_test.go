package cluster

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/stream"
)

// TestReopenFindsEverything fills a cluster spread over three instances,
// reads part of it through a reader group, closes it and opens it again
// from its directory with another number of instances: scopes, streams,
// events, groups and their positions are all there.
func TestReopenFindsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cl, err := Open(ctx, Options{Dir: dir, Instances: 3, Store: stream.Options{MaxLogFileBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	var names []stream.StreamName
	for _, scope := range []string{"a", "b"} {
		for _, s := range []string{"x", "y", "z", "w"} {
			n := stream.StreamName{Scope: scope, Stream: s}
			mustCreate(t, cl, n, 2)
			names = append(names, n)
			w, err := cl.NewWriter(n, "")
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if err := w.Write(ctx, string(rune('a'+i)), []byte(n.String())); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	containers := map[int]bool{}
	for _, n := range names {
		containers[ContainerOf(n, 8)] = true
	}
	if len(containers) < 3 {
		t.Fatalf("test streams fall in only %d containers", len(containers))
	}
	g, err := cl.CreateReaderGroup(ctx, "half", names[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := g.Join("r")
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := r.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	positions := g.Positions()
	infos := map[stream.StreamName]stream.StreamInfo{}
	for _, n := range names {
		if infos[n], err = cl.Stream(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Stream(names[0]); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("closed cluster: %v, want ErrClosed", err)
	}

	if _, err := Open(ctx, Options{Dir: dir, Containers: 4}); err == nil {
		t.Fatal("reopening with another container count succeeded")
	}
	cl = openCluster(t, dir, 2, nil)
	if got := cl.Scopes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("scopes %v", got)
	}
	if got, err := cl.Streams("b"); err != nil || !slices.Equal(got, []string{"w", "x", "y", "z"}) {
		t.Fatalf("streams of b: %v, %v", got, err)
	}
	for _, n := range names {
		info, err := cl.Stream(n)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(info.Tail(), infos[n].Tail()) {
			t.Fatalf("%s: tail %v, was %v", n, info.Tail(), infos[n].Tail())
		}
		count := 0
		for _, seg := range info.Segments {
			b, err := cl.ReadSegment(ctx, n, seg.ID, 0, stream.ReadOptions{NoWait: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range b.Events {
				if string(ev.Data) != n.String() {
					t.Fatalf("%s holds %q", n, ev.Data)
				}
				count++
			}
		}
		if count != 10 {
			t.Fatalf("%s: %d events, want 10", n, count)
		}
	}
	if got := cl.ReaderGroups(); !slices.Equal(got, []string{"half"}) {
		t.Fatalf("groups %v", got)
	}
	g, err = cl.ReaderGroup("half")
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Positions(); !maps.Equal(got, positions) {
		t.Fatalf("group positions %v, were %v", got, positions)
	}
}

// TestFrontDoor checks scopes across containers, global group names, and
// that the store's error sentinels come through.
func TestFrontDoor(t *testing.T) {
	ctx := context.Background()
	cl := openCluster(t, t.TempDir(), 2, nil)
	if err := cl.CreateScope(ctx, "sc"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl.containers {
		if !slices.Contains(c.current().Scopes(), "sc") {
			t.Fatalf("container %d lacks the scope", c.n)
		}
	}
	if err := cl.CreateScope(ctx, "sc"); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if err := cl.CreateScope(ctx, "Bad_Name"); err == nil || errors.Is(err, stream.ErrExists) {
		t.Fatalf("bad scope name: %v", err)
	}
	a, b := stream.StreamName{Scope: "sc", Stream: "a"}, stream.StreamName{Scope: "sc", Stream: "b"}
	if err := cl.CreateStream(ctx, stream.StreamName{Scope: "nope", Stream: "a"}, stream.StreamConfig{}); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("stream in a missing scope: %v", err)
	}
	mustCreate(t, cl, a, 1)
	mustCreate(t, cl, b, 1)
	if err := cl.CreateStream(ctx, a, stream.StreamConfig{}); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := cl.Stream(stream.StreamName{Scope: "sc", Stream: "c"}); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("missing stream: %v", err)
	}
	if _, err := cl.Append(ctx, stream.AppendRequest{Stream: a, Events: [][]byte{make([]byte, stream.MaxAppendBytes+1)}}); err == nil {
		t.Fatal("oversized append accepted")
	}
	if err := cl.DeleteScope(ctx, "sc"); err == nil || !strings.Contains(err.Error(), "still has stream") {
		t.Fatalf("deleting a scope with streams: %v", err)
	}
	if _, err := cl.CreateReaderGroup(ctx, "g", a); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateReaderGroup(ctx, "g", b); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("group name reused for another stream: %v", err)
	}
	if _, err := cl.ReaderGroup("h"); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("missing group: %v", err)
	}
	if err := cl.DeleteStream(ctx, a); err == nil {
		t.Fatal("deleted a stream a group reads")
	}
	if err := cl.DeleteReaderGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	res, err := cl.Append(ctx, stream.AppendRequest{Stream: a, RoutingKey: "k", Events: [][]byte{[]byte("x"), []byte("y")}})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := cl.ReadSegment(ctx, a, res.Segment, 0, stream.ReadOptions{NoWait: true})
	if err != nil || len(b2.Events) != 2 {
		t.Fatalf("read: %+v, %v", b2, err)
	}
	if err := cl.Truncate(ctx, a, stream.StreamCut{res.Segment: b2.Events[1].Offset}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ReadSegment(ctx, a, res.Segment, 0, stream.ReadOptions{NoWait: true}); !errors.Is(err, stream.ErrTruncated) {
		t.Fatalf("read before the truncation point: %v", err)
	}
	for _, n := range []stream.StreamName{a, b} {
		if err := cl.DeleteStream(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.DeleteScope(ctx, "sc"); err != nil {
		t.Fatal(err)
	}
	if got := cl.Scopes(); len(got) != 0 {
		t.Fatalf("scopes after delete: %v", got)
	}
	if err := cl.DeleteScope(ctx, "sc"); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := cl.Streams("sc"); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("streams of a deleted scope: %v", err)
	}
}

func TestInstanceRequests(t *testing.T) {
	ctx := context.Background()
	cl := openCluster(t, t.TempDir(), 1, nil)
	for _, n := range []int{0, -1, MaxInstances + 1} {
		if _, err := cl.SetInstances(ctx, n); err == nil {
			t.Errorf("SetInstances(%d) accepted", n)
		}
	}
	for _, name := range []string{"", "Big", "-a", "a-", "a_b", strings.Repeat("a", 64)} {
		if _, err := cl.AddInstance(ctx, name); err == nil {
			t.Errorf("AddInstance(%q) accepted", name)
		}
	}
	if _, err := cl.AddInstance(ctx, "ss-0"); !errors.Is(err, stream.ErrExists) {
		t.Fatalf("adding an existing instance: %v", err)
	}
	if _, err := cl.RemoveInstance(ctx, "ss-0"); err == nil {
		t.Fatal("removed the last instance")
	}
	if _, err := cl.RemoveInstance(ctx, "edge-9"); !errors.Is(err, stream.ErrNotFound) {
		t.Fatalf("removing an unknown instance: %v", err)
	}
	moves, err := cl.AddInstance(ctx, "edge-1")
	if err != nil || len(moves) != 4 {
		t.Fatalf("adding an instance to 8 containers: %d moves, %v; want 4", len(moves), err)
	}
	for _, m := range moves {
		if m.From != "ss-0" || m.To != "edge-1" {
			t.Fatalf("move %+v", m)
		}
	}
	moves, err = cl.RemoveInstance(ctx, "ss-0")
	if err != nil || len(moves) != 4 {
		t.Fatalf("removing: %d moves, %v; want 4", len(moves), err)
	}
	if got := cl.Instances(); !slices.Equal(got, []string{"edge-1"}) {
		t.Fatalf("instances %v", got)
	}
	if moves, err := cl.SetInstances(ctx, 1); err != nil || len(moves) != 0 {
		t.Fatalf("no-op: %v, %v", moves, err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.SetInstances(ctx, 2); !errors.Is(err, stream.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestScaleAcrossMove splits a segment through the cluster, moves the
// stream's container, and checks that the split survives and a writer's
// retry from before the split is still a duplicate.
func TestScaleAcrossMove(t *testing.T) {
	ctx := context.Background()
	cl := openCluster(t, t.TempDir(), 1, nil)
	name := movingName(t, cl, "scale", 2)
	mustCreate(t, cl, name, 1)
	req := stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("x")}, WriterID: "w", Seq: 1}
	if _, err := cl.Append(ctx, req); err != nil {
		t.Fatal(err)
	}
	segs, err := cl.SplitSegment(ctx, name, stream.NewSegmentID(0, 0), 2)
	if err != nil || len(segs) != 2 {
		t.Fatalf("split: %v, %v", segs, err)
	}
	if _, err := cl.SetInstances(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if res, err := cl.Append(ctx, req); err != nil || !res.Duplicate {
		t.Fatalf("retry after split and move: %+v, %v; want a duplicate", res, err)
	}
	merged, err := cl.MergeSegments(ctx, name, []stream.SegmentID{segs[0].ID, segs[1].ID})
	if err != nil || len(merged) != 1 {
		t.Fatalf("merge after the move: %v, %v", merged, err)
	}
	if _, err := cl.Loads(name); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AutoScale(ctx); err != nil {
		t.Fatal(err)
	}
}
