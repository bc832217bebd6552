package granny

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestCostModel(t *testing.T) {
	c := DefaultCostModel()
	if got := c.Slowdown(4, 1); got != 1 {
		t.Errorf("one host: slowdown %v", got)
	}
	if got := c.Slowdown(4, 3); !near(got, 1.25) {
		t.Errorf("4 ranks on 3 hosts: slowdown %v, want 1.25", got)
	}
	if got := c.Downtime(300e6); !near(got, 1.013) {
		t.Errorf("300 MB: downtime %v, want 1.013", got)
	}
}

// gatherConfig: three 4-slot hosts each run a 3-rank job until t=10, so the
// 3-rank job arriving at t=1 is spread over all three; at t=10 the hosts
// free up.
func gatherConfig(mem int64, policies []Policy) Config {
	return Config{
		Hosts: Cluster(3, 4, 0),
		Jobs: []Job{
			{ID: 0, Ranks: 3, Duration: 10},
			{ID: 1, Ranks: 3, Duration: 10},
			{ID: 2, Ranks: 3, Duration: 10},
			{ID: 3, Arrival: 1, Ranks: 3, Duration: 100, MemoryPerRank: mem},
		},
		Policies:        policies,
		checkInvariants: true,
	}
}

func TestDefragmentGathersSpreadJob(t *testing.T) {
	off, err := Simulate(gatherConfig(64<<20, []Policy{FirstFit{}}))
	if err != nil {
		t.Fatal(err)
	}
	// Spread over 3 hosts from t=1: 100 s of work at slowdown 1 + 0.5·2/3.
	if want := 1 + 100*(1+0.5*2.0/3); !near(off.End[3], want) {
		t.Fatalf("without defragmentation job 3 ends at %v, want %v", off.End[3], want)
	}
	var place Decision
	for _, d := range off.Log {
		if d.Kind == Place && d.Job == 3 {
			place = d
		}
	}
	if countHosts(place.Hosts) != 3 {
		t.Fatalf("job 3 was placed on %v, want 3 hosts", place.Hosts)
	}

	on, err := Simulate(gatherConfig(64<<20, []Policy{FirstFit{}, Defragment{}}))
	if err != nil {
		t.Fatal(err)
	}
	var moves []Decision
	for _, d := range on.Log {
		if d.Kind == Migrate {
			moves = append(moves, d)
		}
	}
	if len(moves) != 2 || moves[0].To != moves[1].To || moves[0].Job != 3 || moves[0].Time != 10 {
		t.Fatalf("want 2 ranks of job 3 gathered onto one host at t=10, log:\n%v", on.Log)
	}
	if !strings.Contains(moves[0].Reason, "from 3 to 1 hosts") {
		t.Errorf("reason %q", moves[0].Reason)
	}
	if on.BytesMigrated != 2*64<<20 || on.Migrations != 2 {
		t.Errorf("migrated %d bytes in %d moves", on.BytesMigrated, on.Migrations)
	}
	// 9 s done at slowdown 4/3 by t=10, the rest on one host after the
	// two snapshots.
	done := 9 / (1 + 0.5*2.0/3)
	pause := 2 * DefaultCostModel().Downtime(64<<20)
	if want := 10 + pause + (100 - done); !near(on.End[3], want) {
		t.Errorf("with defragmentation job 3 ends at %v, want %v", on.End[3], want)
	}
	if !(on.End[3] < off.End[3]) || !(on.MeanJCT < off.MeanJCT) {
		t.Errorf("defragmentation did not help: end %v vs %v", on.End[3], off.End[3])
	}
}

func TestDefragmentSkipsMovesThatDoNotPay(t *testing.T) {
	// 100 GiB per rank takes ~358 s per move, more than the ~30 s saved.
	rep, err := Simulate(gatherConfig(100<<30, []Policy{FirstFit{}, Defragment{}}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Migrations != 0 {
		t.Fatalf("%d migrations, want none: %v", rep.Migrations, rep.Log)
	}
}

// spotConfig: job 0 runs on the spot host 0, which gets a notice at t=10
// and is gone at deadline; host 1 has room for it.
func spotConfig(deadline float64, policies []Policy) Config {
	return Config{
		Hosts: []Host{{ID: 0, Slots: 4, Spot: true}, {ID: 1, Slots: 8}},
		Jobs: []Job{
			{ID: 0, Ranks: 4, Duration: 100, MemoryPerRank: 256 << 20},
			{ID: 1, Ranks: 4, Duration: 100, MemoryPerRank: 256 << 20},
		},
		Evictions:       []Eviction{{Host: 0, Notice: 10, Deadline: deadline, Return: 200}},
		Policies:        policies,
		checkInvariants: true,
	}
}

func TestSpotEvacuation(t *testing.T) {
	off, err := Simulate(spotConfig(40, []Policy{FirstFit{}}))
	if err != nil {
		t.Fatal(err)
	}
	if off.Restarts != 1 || !near(off.End[0], 140) {
		t.Fatalf("without evacuation: %d restarts, job 0 ends at %v; want 1 restart, end 140", off.Restarts, off.End[0])
	}

	on, err := Simulate(spotConfig(40, []Policy{SpotEvacuation{}, FirstFit{}}))
	if err != nil {
		t.Fatal(err)
	}
	if on.Restarts != 0 || on.Evacuations != 4 {
		t.Fatalf("with evacuation: %d restarts, %d evacuations; want 0 and 4\n%v", on.Restarts, on.Evacuations, on.Log)
	}
	for _, d := range on.Log {
		if d.Kind == Evacuate && (d.From != 0 || d.To != 1 || d.Time != 10 || d.Reason == "") {
			t.Errorf("evacuation %v", d)
		}
	}
	pause := 4 * DefaultCostModel().Downtime(256<<20)
	if want := 100 + pause; !near(on.End[0], want) {
		t.Errorf("job 0 ends at %v, want %v", on.End[0], want)
	}

	// A deadline too close for even one snapshot: the policy does not
	// try, and the job is restarted.
	late, err := Simulate(spotConfig(10.5, []Policy{SpotEvacuation{}, FirstFit{}}))
	if err != nil {
		t.Fatal(err)
	}
	if late.Restarts != 1 || late.Evacuations != 0 {
		t.Errorf("late notice: %d restarts, %d evacuations; want 1 and 0", late.Restarts, late.Evacuations)
	}
}

func TestSpotEvacuationAtScaleLosesNothing(t *testing.T) {
	on, err := Simulate(scaleConfig(100, 1000, DefaultPolicies()))
	if err != nil {
		t.Fatal(err)
	}
	off, err := Simulate(scaleConfig(100, 1000, without("spot-evacuation")))
	if err != nil {
		t.Fatal(err)
	}
	if on.Restarts != 0 || off.Restarts == 0 {
		t.Fatalf("restarts with evacuation %d (want 0), without %d (want > 0)", on.Restarts, off.Restarts)
	}
}

func TestElasticGrowsIntoIdleSlots(t *testing.T) {
	cfg := Config{
		Hosts:    Cluster(1, 8, 0),
		Jobs:     []Job{{ID: 0, Ranks: 2, Duration: 100, Elastic: true}},
		Policies: []Policy{FirstFit{}, Elastic{}},
	}
	rep, err := Simulate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Grown to 4 ranks (MaxFactor 2), the 200 rank-seconds take 50 s plus
	// the fixed start of the two new ranks.
	if want := 50 + 2*DefaultCostModel().MigrationFixed; rep.Grows != 2 || !near(rep.End[0], want) {
		t.Fatalf("%d grows, end %v; want 2 and %v", rep.Grows, rep.End[0], want)
	}
	cfg.Jobs[0].Elastic = false
	if rep, _ := Simulate(cfg); rep.Grows != 0 || rep.End[0] != 100 {
		t.Fatalf("not elastic: %d grows, end %v", rep.Grows, rep.End[0])
	}
}

func TestElasticLeavesSlotsToWaitingJobs(t *testing.T) {
	s := newState(Cluster(1, 8, 0), []Job{
		{ID: 0, Ranks: 2, Duration: 100, Elastic: true},
		{ID: 1, Ranks: 8, Duration: 100},
	}, DefaultCostModel())
	s.jobs[0].Phase, s.jobs[1].Phase = Pending, Pending
	s.pending = []int{0, 1}
	if err := s.apply(&Decision{Kind: Place, Job: 0, Hosts: []int{0, 0}}); err != nil {
		t.Fatal(err)
	}
	if ds := (Elastic{}).Decide(s); len(ds) != 0 {
		t.Fatalf("job 1 waits, yet elastic decided %v", ds)
	}
	s.pending = nil
	ds := (Elastic{}).Decide(s)
	if len(ds) != 1 || ds[0].Kind != Grow || ds[0].Job != 0 || ds[0].To != 0 {
		t.Fatalf("nobody waits: decided %v, want one Grow of job 0", ds)
	}
}

func TestPlacementNeverOversubscribes(t *testing.T) {
	// Hosts of mixed sizes, jobs up to 16 ranks, spot evictions, every
	// policy: State.check runs after every planner step.
	cfg := scaleConfig(50, 2000, DefaultPolicies())
	for i := range cfg.Hosts {
		cfg.Hosts[i].Slots = 1 + i%16
	}
	cfg.checkInvariants = true
	rep, err := Simulate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Completed != 2000 || rep.Migrations == 0 || rep.Evacuations == 0 {
		t.Fatalf("the run should exercise every policy: %v", rep)
	}
	for _, d := range rep.Log {
		if d.Reason == "" {
			t.Fatalf("decision without a reason: %v", d)
		}
	}
}

func TestPackUsesFewestHosts(t *testing.T) {
	s := newState(Cluster(4, 8, 0), nil, DefaultCostModel())
	for h, free := range []int{3, 5, 2, 8} {
		s.setFree(h, free)
	}
	for _, c := range []struct {
		n     int
		hosts int
	}{{2, 1}, {5, 1}, {8, 1}, {9, 2}, {13, 2}, {16, 3}, {18, 4}, {19, 0}} {
		p := s.Pack(c.n)
		if c.hosts == 0 {
			if p != nil {
				t.Errorf("Pack(%d) = %v, want nil", c.n, p)
			}
			continue
		}
		if len(p) != c.n || countHosts(p) != c.hosts {
			t.Errorf("Pack(%d) = %v, want %d hosts", c.n, p, c.hosts)
		}
		for h := range 4 {
			n := 0
			for _, g := range p {
				if g == h {
					n++
				}
			}
			if n > s.Free(h) {
				t.Errorf("Pack(%d) puts %d ranks on host %d with %d free", c.n, n, h, s.Free(h))
			}
		}
	}
	if p := s.Pack(2); p[0] != 2 {
		t.Errorf("Pack(2) = %v, want the fullest fitting host 2", p)
	}
}

func TestSameSeedSameReport(t *testing.T) {
	a, err := Simulate(scaleConfig(100, 2000, DefaultPolicies()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Simulate(scaleConfig(100, 2000, DefaultPolicies()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs of the same config differ")
	}
	cfg := scaleConfig(100, 2000, DefaultPolicies())
	cfg.Jobs = Generate(DefaultGenConfig(99, 2000))
	c, err := Simulate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.End, c.End) {
		t.Fatal("another seed gave the same completions")
	}
}

// stubborn asks for the impossible forever.
type stubborn struct{}

func (stubborn) Name() string { return "stubborn" }
func (stubborn) Decide(*State) []Decision {
	return []Decision{{Kind: Migrate, Job: 0, To: 99, Reason: "why not"}}
}

func TestRejectedDecisionsAreLoggedAndDoNotStall(t *testing.T) {
	rep, err := Simulate(Config{
		Hosts:    Cluster(1, 1, 0),
		Jobs:     []Job{{ID: 0, Ranks: 1, Duration: 1}},
		Policies: []Policy{stubborn{}, FirstFit{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rejected == 0 || rep.Log[0].Rejected == "" || rep.Log[0].Policy != "stubborn" {
		t.Fatalf("rejections not logged: %v", rep.Log)
	}
}

func TestSimulateErrors(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no placer":      {Hosts: Cluster(1, 1, 0), Jobs: []Job{{Ranks: 1, Duration: 1}}, Policies: []Policy{Defragment{}}},
		"job too big":    {Hosts: Cluster(1, 1, 0), Jobs: []Job{{Ranks: 2, Duration: 1}}, Policies: DefaultPolicies()},
		"bad job id":     {Hosts: Cluster(1, 1, 0), Jobs: []Job{{ID: 5, Ranks: 1, Duration: 1}}},
		"bad host":       {Hosts: []Host{{ID: 0, Slots: 0}}},
		"overlap":        {Hosts: Cluster(1, 1, 1), Evictions: []Eviction{{0, 0, 1, 5}, {0, 2, 3, 4}}},
		"bad eviction":   {Hosts: Cluster(1, 1, 1), Evictions: []Eviction{{0, 2, 1, 5}}},
		"bad cost model": {Hosts: Cluster(1, 1, 0), Cost: CostModel{Alpha: -1, Bandwidth: 1}},
	} {
		if _, err := Simulate(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
