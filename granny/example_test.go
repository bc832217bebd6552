package granny_test

import (
	"fmt"

	"github.com/cloudskin/cloudskin/granny"
)

// A small cluster: 8 hosts of 4 slots, two of them spot and reclaimed
// once, 40 generated jobs, every policy on.
func Example() {
	hosts := granny.Cluster(8, 4, 0.25)
	gen := granny.DefaultGenConfig(1, 40)
	gen.MeanInterarrival = 2
	gen.RankSizes = []int{1, 2, 4, 8}
	gen.RankWeights = []float64{40, 30, 20, 10}
	rep, err := granny.Simulate(granny.Config{
		Hosts: hosts,
		Jobs:  granny.Generate(gen),
		Evictions: []granny.Eviction{
			{Host: 6, Notice: 30, Deadline: 60, Return: 120},
			{Host: 7, Notice: 90, Deadline: 120, Return: 180},
		},
		Policies: granny.DefaultPolicies(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(rep)
	// The first decision of each kind but Place, with its reason.
	seen := map[granny.Kind]bool{granny.Place: true}
	for _, d := range rep.Log {
		if !seen[d.Kind] {
			seen[d.Kind] = true
			fmt.Println(d)
		}
	}
	// Output:
	// hosts 8, slots 32, jobs 40, completed 40
	// makespan 350.4s, mean JCT 101.0s, utilisation 54.0%
	// migrations 19, evacuations 8, grows 1, bytes migrated 7247757312, restarts 0
	// t=30.000 spot-evacuation: evacuate job 4 rank 0 host 6→2: host 6 is reclaimed at 60.000; move done at 30.460
	// t=30.000 elastic: grow job 6 on host 1: host 1 has 3 idle slots and no job waits: 1→2 ranks
	// t=50.800 defragment: migrate job 21 rank 0 host 3→7: gather job 21 from 2 to 1 hosts: saves 9.405s, 4 moves pause it 1.842s
}
