package cluster

import (
	"fmt"
	"testing"

	"github.com/cloudskin/cloudskin/stream"
)

// TestContainerOfIsStable pins the hash: it is part of the on-disk format,
// and these values are in docs/formats/stream-cluster.md.
func TestContainerOfIsStable(t *testing.T) {
	want := map[string]int{"cam-1": 4, "cam-2": 3, "cam-3": 2, "or-1": 5}
	for n, c := range want {
		if got := ContainerOf(stream.StreamName{Scope: "video", Stream: n}, 8); got != c {
			t.Errorf("ContainerOf(video/%s, 8) = %d, want %d", n, got, c)
		}
	}
	if c := ContainerOf(stream.StreamName{Scope: "a", Stream: "b"}, 1); c != 0 {
		t.Fatalf("one container: %d", c)
	}
}

// TestContainerOfSpreads checks that similar names spread over the
// containers.
func TestContainerOfSpreads(t *testing.T) {
	count := make([]int, 8)
	for i := range 800 {
		count[ContainerOf(stream.StreamName{Scope: "s", Stream: fmt.Sprintf("cam-%d", i)}, 8)]++
	}
	for c, n := range count {
		if n < 60 || n > 140 {
			t.Fatalf("container %d got %d of 800 similar names: %v", c, n, count)
		}
	}
}
