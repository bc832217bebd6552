package granny_test

import (
	"fmt"

	"github.com/cloudskin/cloudskin/granny"
)

// Plan decides real moves with the simulator's policies: a world of two
// ranks runs on a spot host that has a 30 s eviction notice, and a single
// cell runs on a second host; SpotEvacuation moves both ranks to the host
// with the most free slots.
func ExamplePlan() {
	live := granny.Live{
		Hosts: []granny.Host{{ID: 0, Slots: 2, Spot: true}, {ID: 1, Slots: 2}, {ID: 2, Slots: 4}},
		Running: []granny.LiveJob{
			{Job: granny.Job{Ranks: 2, MemoryPerRank: 64 << 20}, Placement: []int{0, 0}},
			{Job: granny.Job{Ranks: 1, MemoryPerRank: 1 << 20}, Placement: []int{1}},
		},
		Notices: []granny.Notice{{Host: 0, Deadline: 30}},
		Cost:    granny.DefaultCostModel(),
	}
	decisions, err := granny.Plan(live, []granny.Policy{granny.SpotEvacuation{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range decisions {
		fmt.Printf("%s job %d rank %d: host %d → %d (%s)\n", d.Kind, d.Job, d.Rank, d.From, d.To, d.Rejected)
	}
	// Output:
	// evacuate job 0 rank 0: host 0 → 2 ()
	// evacuate job 0 rank 1: host 0 → 2 ()
}

// Plan gathers a spread world into the free slots of the hosts named in
// Freed, and only those: a world of three ranks runs two on host 0 and one
// on host 1; host 0 has a slot free.
func ExamplePlan_defragment() {
	live := granny.Live{
		Hosts:   []granny.Host{{ID: 0, Slots: 3}, {ID: 1, Slots: 4}},
		Running: []granny.LiveJob{{Job: granny.Job{Ranks: 3, MemoryPerRank: 1 << 20}, Placement: []int{0, 0, 1}}},
		Cost:    granny.DefaultCostModel(),
	}
	for _, freed := range [][]int{nil, {0}} {
		live.Freed = freed
		decisions, err := granny.Plan(live, []granny.Policy{granny.Defragment{}})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("freed %v: %d decisions\n", freed, len(decisions))
		for _, d := range decisions {
			fmt.Printf("%s job %d rank %d: host %d → %d\n", d.Kind, d.Job, d.Rank, d.From, d.To)
		}
	}
	// Output:
	// freed []: 0 decisions
	// freed [0]: 1 decisions
	// migrate job 0 rank 2: host 1 → 0
}

// Plan places arriving jobs with the simulator's placement policy: a world
// of four ranks on the fewest hosts that have free slots for it.
func ExamplePlan_place() {
	live := granny.Live{
		Hosts:    []granny.Host{{ID: 0, Slots: 2}, {ID: 1, Slots: 16}},
		Running:  []granny.LiveJob{{Job: granny.Job{Ranks: 14}, Placement: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}}},
		Arriving: []granny.Job{{Ranks: 4}},
		Cost:     granny.DefaultCostModel(),
	}
	decisions, err := granny.Plan(live, []granny.Policy{granny.FirstFit{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range decisions {
		fmt.Printf("%s job %d on hosts %v: %s\n", d.Kind, d.Job, d.Hosts, d.Reason)
	}
	// Output:
	// place job 1 on hosts [0 0 1 1]: no host has 4 free slots; spread over 2 hosts (slowdown 1.125)
}
