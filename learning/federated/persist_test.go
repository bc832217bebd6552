package federated

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/store/bolt"
)

// aggregatorOn opens an aggregator of two sites a round on the store file
// at path; the function it returns closes the store.
func aggregatorOn(t *testing.T, path string) (*Aggregator, func()) {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAggregator(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.useStore(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return a, func() { st.Close() }
}

// An aggregator restarted on the same store file goes on at the same
// round, with the same global network and the update still pending.
func TestAggregatorSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	start := func() (*Aggregator, func()) { return aggregatorOn(t, path) }
	a, stop := start()
	if err := a.Register("load", netConfig); err != nil {
		t.Fatal(err)
	}
	for _, u := range []Update{update(t, "a", 0, 0.1), update(t, "b", 0, 0.3), update(t, "c", 1, 0.5)} {
		if _, err := a.Submit("load", u); err != nil {
			t.Fatal(err)
		}
	}
	before, err := a.Global("load")
	if err != nil {
		t.Fatal(err)
	}
	if before.Round != 1 || !slices.Equal(before.Sites, []string{"a", "b"}) {
		t.Fatalf("before the restart: round %d, sites %v; want round 1 averaged from a and b", before.Round, before.Sites)
	}
	stop()

	a, stop = start()
	defer stop()
	after, err := a.Global("load")
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if after.Round != before.Round || !slices.Equal(after.Sites, before.Sites) || after.Samples != before.Samples || !bytes.Equal(after.Model, before.Model) {
		t.Fatalf("after the restart: round %d sites %v samples %d (model equal: %v), want round %d sites %v samples %d",
			after.Round, after.Sites, after.Samples, bytes.Equal(after.Model, before.Model), before.Round, before.Sites, before.Samples)
	}
	// c's update, sent before the restart, still counts: d completes round 1.
	acc, err := a.Submit("load", update(t, "d", 1, 0.7))
	if err != nil {
		t.Fatal(err)
	}
	if !acc.Averaged || acc.Round != 2 {
		t.Fatalf("d's update after the restart: %+v, want round 2 averaged with c's pending update", acc)
	}
	if g, _ := a.Global("load"); !slices.Equal(g.Sites, []string{"c", "d"}) {
		t.Fatalf("round 2 averaged sites %v, want [c d]", g.Sites)
	}
}

// update is a site's update: the starting network's weights moved by shift.
func update(t *testing.T, site string, round int, shift float64) Update {
	t.Helper()
	net, err := forecast.NewRNN(netConfig)
	if err != nil {
		t.Fatal(err)
	}
	w := net.Weights()
	for i := range w {
		w[i] += shift
	}
	return Update{Site: site, Round: round, Samples: 10, Model: forecast.KindGRU, Shape: ShapeOf(net), Params: w, Mean: 1, Std: 1}
}
