package cluster

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream"
)

// TestRunFollowsMoves runs the cluster as a component (metrics on the
// host's registry) while containers move, and checks that Run returns when
// its context ends, the containers' metrics carry their label and no
// goroutine is left once it is closed.
func TestRunFollowsMoves(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := context.Background()
	cl, err := Open(ctx, Options{Dir: t.TempDir(), Instances: 1, Store: stream.Options{MaxLogFileBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := cl.Setup(&component.Host{Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cl.Run(runCtx) }()
	name := movingName(t, cl, "run", 3)
	mustCreate(t, cl, name, 1)
	if _, err := cl.Append(ctx, stream.AppendRequest{Stream: name, RoutingKey: "k", Events: [][]byte{[]byte("x")}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{3, 1, 2} {
		if _, err := cl.SetInstances(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labelled := 0
	for _, mf := range mfs {
		if mf.GetName() != "stream_events_appended_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "container" {
					labelled++
				}
			}
		}
	}
	if labelled == 0 {
		t.Fatal("no container-labelled stream_events_appended_total after the moves")
	}
	if err := cl.Err(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Err(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Err after Close: %v", err)
	}
	checkNoLeak(t, before)
}
