package cluster

import (
	"fmt"
	"maps"
	"slices"

	"github.com/cloudskin/cloudskin/stream"
)

// Assign decides which instance hosts each of the containers numbered 0 to
// containers-1, given where they are now (see stream.Balance).
func Assign(containers int, instances []string, current map[int]string) map[int]string {
	ids := make([]int, containers)
	for i := range ids {
		ids[i] = i
	}
	return stream.Balance(ids, instances, current)
}

// Transfer is one container that an assignment change moves.
type Transfer struct {
	Container int
	// From is empty for a container that had no instance.
	From, To string
}

func (t Transfer) String() string {
	return fmt.Sprintf("container %d: %q -> %q", t.Container, t.From, t.To)
}

// Plan lists, in container order, the containers whose instance differs
// between current and next: the moves that take one to the other.
// Containers next does not mention are not moved.
func Plan(current, next map[int]string) []Transfer {
	var out []Transfer
	for _, n := range slices.Sorted(maps.Keys(next)) {
		if current[n] != next[n] {
			out = append(out, Transfer{Container: n, From: current[n], To: next[n]})
		}
	}
	return out
}
