package cluster

import (
	"fmt"
	"maps"
	"testing"
)

func loads(a map[int]string) map[string]int {
	out := map[string]int{}
	for _, inst := range a {
		out[inst]++
	}
	return out
}

func checkBalanced(t *testing.T, containers int, instances []string, a map[int]string) {
	t.Helper()
	if len(a) != containers {
		t.Fatalf("%d containers assigned, want %d: %v", len(a), containers, a)
	}
	l := loads(a)
	lo, hi := containers, 0
	for _, inst := range instances {
		lo, hi = min(lo, l[inst]), max(hi, l[inst])
	}
	if hi-lo > 1 {
		t.Fatalf("loads %v differ by %d", l, hi-lo)
	}
	for c, inst := range a {
		if !contains(instances, inst) {
			t.Fatalf("container %d on %q, not one of %v", c, inst, instances)
		}
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestAssignTable(t *testing.T) {
	cases := []struct {
		name       string
		containers int
		instances  []string
		current    map[int]string
		want       map[int]string
	}{
		{"no instances", 3, nil, nil, map[int]string{}},
		{"one instance takes all", 3, []string{"a"}, nil, map[int]string{0: "a", 1: "a", 2: "a"}},
		{"fresh split deals in order", 4, []string{"b", "a"}, nil, map[int]string{0: "a", 1: "a", 2: "b", 3: "b"}},
		{"balanced stays", 4, []string{"a", "b"}, map[int]string{0: "b", 1: "a", 2: "b", 3: "a"}, map[int]string{0: "b", 1: "a", 2: "b", 3: "a"}},
		{"add moves only what balance needs", 4, []string{"a", "b"}, map[int]string{0: "a", 1: "a", 2: "a", 3: "a"}, map[int]string{0: "a", 1: "a", 2: "b", 3: "b"}},
		{"remove hands out the leaver's", 4, []string{"a", "b"}, map[int]string{0: "a", 1: "b", 2: "c", 3: "c"}, map[int]string{0: "a", 1: "b", 2: "a", 3: "b"}},
		{"extra goes to the bigger holder", 3, []string{"a", "b"}, map[int]string{0: "b", 1: "b", 2: "b"}, map[int]string{0: "b", 1: "b", 2: "a"}},
		{"more instances than containers", 2, []string{"a", "b", "c"}, map[int]string{0: "c", 1: "c"}, map[int]string{0: "c", 1: "a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Assign(tc.containers, tc.instances, tc.current)
			if !maps.Equal(got, tc.want) {
				t.Fatalf("Assign = %v, want %v", got, tc.want)
			}
			if len(tc.instances) > 0 {
				checkBalanced(t, tc.containers, tc.instances, got)
			}
		})
	}
}

// bestMoves finds by brute force the fewest moves that take current to a
// balanced assignment over instances.
func bestMoves(containers int, instances []string, current map[int]string) int {
	best := containers + 1
	a := make([]int, containers)
	var walk func(i int)
	walk = func(i int) {
		if i == containers {
			l := make([]int, len(instances))
			moves := 0
			for c, k := range a {
				l[k]++
				if current[c] != instances[k] {
					moves++
				}
			}
			lo, hi := containers, 0
			for _, n := range l {
				lo, hi = min(lo, n), max(hi, n)
			}
			if hi-lo <= 1 {
				best = min(best, moves)
			}
			return
		}
		for k := range instances {
			a[i] = k
			walk(i + 1)
		}
	}
	walk(0)
	return best
}

// TestAssignMovesAsFewAsPossible compares the moves of every change from
// every assignment of up to 6 containers on up to 3 of 4 instances with the
// brute-force minimum.
func TestAssignMovesAsFewAsPossible(t *testing.T) {
	all := []string{"a", "b", "c", "d"}
	for containers := 1; containers <= 6; containers++ {
		for _, from := range [][]string{{"a"}, {"a", "b"}, {"a", "b", "c"}} {
			// every assignment of the containers to from
			a := make([]int, containers)
			var walk func(i int)
			walk = func(i int) {
				if i < containers {
					for k := range from {
						a[i] = k
						walk(i + 1)
					}
					return
				}
				current := map[int]string{}
				for c, k := range a {
					current[c] = from[k]
				}
				for _, to := range [][]string{{"a"}, {"a", "b"}, {"b", "c"}, {"a", "b", "c"}, {"a", "c", "d"}, all} {
					next := Assign(containers, to, current)
					checkBalanced(t, containers, to, next)
					if got, want := len(Plan(current, next)), bestMoves(containers, to, current); got != want {
						t.Fatalf("%v on %v -> %v: %d moves, the fewest is %d", current, from, to, got, want)
					}
				}
			}
			walk(0)
		}
	}
}

// TestAssignScalingSequence follows the instance counts of the cluster
// test, 1 -> 3 -> 2 -> 1 -> 4 over 8 containers, and checks the moves of
// each step.
func TestAssignScalingSequence(t *testing.T) {
	var names []string
	current := map[int]string{}
	steps := []struct{ n, moves int }{{1, 8}, {3, 5}, {2, 2}, {1, 4}, {4, 6}}
	for _, s := range steps {
		names = instanceNames(names, s.n)
		next := Assign(8, names, current)
		checkBalanced(t, 8, names, next)
		plan := Plan(current, next)
		if len(plan) != s.moves {
			t.Fatalf("to %d instances %v: %d moves %v, want %d", s.n, names, len(plan), plan, s.moves)
		}
		for _, tr := range plan {
			if tr.From != "" && contains(names, tr.From) && loads(current)[tr.From] <= loads(next)[tr.From] {
				t.Fatalf("%v moves off %q, which does not shrink", tr, tr.From)
			}
		}
		current = next
	}
}

func TestInstanceNames(t *testing.T) {
	got := instanceNames([]string{"ss-0", "x", "ss-2"}, 5)
	want := []string{"ss-0", "x", "ss-2", "ss-1", "ss-3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("grow: %v, want %v", got, want)
	}
	if got := instanceNames(want, 2); fmt.Sprint(got) != "[ss-0 x]" {
		t.Fatalf("shrink: %v, want the first two", got)
	}
}

func TestPlan(t *testing.T) {
	got := Plan(map[int]string{0: "a", 1: "a", 2: "b"}, map[int]string{0: "a", 1: "c", 2: "b", 3: "d"})
	want := []Transfer{{1, "a", "c"}, {3, "", "d"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Plan = %v, want %v", got, want)
	}
}
