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
