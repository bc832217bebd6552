package stream

import (
	"cmp"
	"slices"
)

// Assign decides which reader of a group reads which segment. It is pure
// and deterministic (the same inputs give the same answer on every node),
// balanced (reader loads differ by at most one segment) and sticky (a
// segment stays with its current reader unless balance needs it to move, so
// a join or leave moves as few segments as it can). current may name
// readers that have left; their segments are handed out again. With no
// readers, nothing is assigned.
func Assign(segments []SegmentID, readers []string, current map[SegmentID]string) map[SegmentID]string {
	out := make(map[SegmentID]string, len(segments))
	if len(readers) == 0 {
		return out
	}
	segs := slices.Sorted(slices.Values(segments))
	rs := slices.Compact(slices.Sorted(slices.Values(readers)))

	// Every reader gets base segments; extra of them get one more. The
	// extra ones go to the readers holding the most now, so that fewer
	// segments move; ties go by id.
	held := map[string]int{}
	online := map[string]bool{}
	for _, r := range rs {
		online[r] = true
	}
	for _, s := range segs {
		if r, ok := current[s]; ok && online[r] {
			held[r]++
		}
	}
	byHeld := slices.Clone(rs)
	slices.SortStableFunc(byHeld, func(a, b string) int { return cmp.Compare(held[b], held[a]) })
	base, extra := len(segs)/len(rs), len(segs)%len(rs)
	quota := map[string]int{}
	for i, r := range byHeld {
		quota[r] = base
		if i < extra {
			quota[r]++
		}
	}

	// Keep what can be kept, then deal out the rest in reader-id order.
	count := map[string]int{}
	var loose []SegmentID
	for _, s := range segs {
		if r, ok := current[s]; ok && online[r] && count[r] < quota[r] {
			out[s] = r
			count[r]++
			continue
		}
		loose = append(loose, s)
	}
	i := 0
	for _, s := range loose {
		for count[rs[i]] >= quota[rs[i]] {
			i++
		}
		out[s] = rs[i]
		count[rs[i]]++
	}
	return out
}
