package stream

import (
	"cmp"
	"slices"
)

// Assign decides which reader of a group reads which segment: Balance over
// the group's segments and readers.
func Assign(segments []SegmentID, readers []string, current map[SegmentID]string) map[SegmentID]string {
	return Balance(segments, readers, current)
}

// Balance assigns items to owners; readers share a stream's segments with
// it (Assign), and stream/cluster shares containers among instances. It is
// pure and deterministic (the same inputs give the same answer on every
// node), balanced (owners' loads differ by at most one item) and sticky (an
// item stays with its current owner unless balance needs it to move, so a
// change of owners moves as few items as it can). current may name owners
// that are gone; their items are handed out again. With no owners, nothing
// is assigned.
func Balance[K cmp.Ordered](items []K, owners []string, current map[K]string) map[K]string {
	out := make(map[K]string, len(items))
	if len(owners) == 0 {
		return out
	}
	its := slices.Compact(slices.Sorted(slices.Values(items)))
	os := slices.Compact(slices.Sorted(slices.Values(owners)))

	// Every owner gets base items; extra of them get one more. The extra
	// ones go to the owners holding the most now, so that fewer items
	// move; ties go by name.
	held := map[string]int{}
	online := map[string]bool{}
	for _, o := range os {
		online[o] = true
	}
	for _, it := range its {
		if o, ok := current[it]; ok && online[o] {
			held[o]++
		}
	}
	byHeld := slices.Clone(os)
	slices.SortStableFunc(byHeld, func(a, b string) int { return cmp.Compare(held[b], held[a]) })
	base, extra := len(its)/len(os), len(its)%len(os)
	quota := map[string]int{}
	for i, o := range byHeld {
		quota[o] = base
		if i < extra {
			quota[o]++
		}
	}

	// Keep what can be kept, then deal out the rest in owner order.
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
