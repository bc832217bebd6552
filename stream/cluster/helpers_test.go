package cluster

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/stream"
)

func openCluster(t testing.TB, dir string, instances int, reg prometheus.Registerer) *Cluster {
	t.Helper()
	cl, err := Open(context.Background(), Options{
		Dir: dir, Containers: 8, Instances: instances, Metrics: reg,
		Store: stream.Options{MaxLogFileBytes: 1 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// checkNoLeak waits until the goroutines are back to before.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// movingName returns a stream name in scope whose container moves when
// the cluster goes to n instances.
func movingName(t testing.TB, cl *Cluster, scope string, n int) stream.StreamName {
	t.Helper()
	cur := cl.Assignment()
	next := Assign(cl.Containers(), instanceNames(cl.Instances(), n), cur)
	moving := map[int]bool{}
	for _, tr := range Plan(cur, next) {
		moving[tr.Container] = true
	}
	for i := range 1000 {
		name := stream.StreamName{Scope: scope, Stream: "s" + strconv.Itoa(i)}
		if moving[ContainerOf(name, cl.Containers())] {
			return name
		}
	}
	t.Fatal("no stream name lands in a moving container")
	return stream.StreamName{}
}

func mustCreate(t testing.TB, cl *Cluster, name stream.StreamName, segments int) {
	t.Helper()
	ctx := context.Background()
	if err := cl.CreateScope(ctx, name.Scope); err != nil && !errors.Is(err, stream.ErrExists) {
		t.Fatal(err)
	}
	if err := cl.CreateStream(ctx, name, stream.StreamConfig{Segments: segments}); err != nil {
		t.Fatal(err)
	}
}
