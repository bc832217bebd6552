package cluster

import (
	"cmp"
	"fmt"
	"slices"
)

// Balance assigns items to owners. It is the idea of stream.Assign (which
// shares a stream's segments among a group's readers) made generic, so that
// the controller can share containers among instances the same way:
//
//   - pure and deterministic: the same inputs give the same answer;
//   - balanced: owners' loads differ by at most one item;
//   - sticky: an item stays with its current owner unless balance needs it
//     to move, and the extra items of an uneven split go to the owners that
//     hold the most already, so a change of owners moves as few items as
//     any balanced assignment can.
//
// current may name owners that are gone; their items are dealt out again,
// in item order, to the owners with room, in owner order. With no owners,
// nothing is assigned.
func Balance[K cmp.Ordered](items []K, owners []string, current map[K]string) map[K]string {
	out := make(map[K]string, len(items))
	if len(owners) == 0 {
		return out
	}
	its := slices.Compact(slices.Sorted(slices.Values(items)))
	os := slices.Compact(slices.Sorted(slices.Values(owners)))
	online := make(map[string]bool, len(os))
	for _, o := range os {
		online[o] = true
	}
	held := map[string]int{}
	for _, it := range its {
		if o, ok := current[it]; ok && online[o] {
			held[o]++
		}
	}

	// Everyone gets base items; extra of them get one more. Giving the
	// extras to the biggest holders keeps the most items where they are.
	byHeld := slices.Clone(os)
	slices.SortStableFunc(byHeld, func(a, b string) int { return cmp.Compare(held[b], held[a]) })
	base, extra := len(its)/len(os), len(its)%len(os)
	quota := make(map[string]int, len(os))
	for i, o := range byHeld {
		quota[o] = base
		if i < extra {
			quota[o]++
		}
	}

	count := map[string]int{}
	var loose []K
	for _, it := range its {
		if o, ok := current[it]; ok && online[o] && count[o] < quota[o] {
			out[it] = o
			count[o]++
			continue
		}
		loose = append(loose, it)
	}
	i := 0
	for _, it := range loose {
		for count[os[i]] >= quota[os[i]] {
			i++
		}
		out[it] = os[i]
		count[os[i]]++
	}
	return out
}

// Assign decides which instance hosts each of the containers numbered 0 to
// containers-1, given where they are now (see Balance).
func Assign(containers int, instances []string, current map[int]string) map[int]string {
	ids := make([]int, containers)
	for i := range ids {
		ids[i] = i
	}
	return Balance(ids, instances, current)
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
	for _, n := range slices.Sorted(mapKeys(next)) {
		if current[n] != next[n] {
			out = append(out, Transfer{Container: n, From: current[n], To: next[n]})
		}
	}
	return out
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
