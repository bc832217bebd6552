package granny

import (
	"fmt"
	"sort"
)

// Kind says what a Decision does.
type Kind int

const (
	Place    Kind = iota // start a pending job on Hosts
	Migrate              // move rank Rank of a running job to host To
	Evacuate             // Migrate off a host under eviction notice
	Grow                 // add one rank of an elastic job on host To
)

func (k Kind) String() string {
	switch k {
	case Place:
		return "place"
	case Migrate:
		return "migrate"
	case Evacuate:
		return "evacuate"
	case Grow:
		return "grow"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Decision is one step a policy asks the planner to take, with the reason
// it gives. The planner fills in Time, Policy, From and Bytes, and
// Rejected when the decision could not be applied.
type Decision struct {
	Time   float64
	Policy string
	Kind   Kind
	Job    int
	Rank   int   // Migrate, Evacuate
	Hosts  []int // Place: host of each rank
	From   int   // Migrate, Evacuate
	To     int   // Migrate, Evacuate, Grow
	Bytes  int64 // memory moved
	Reason string
	// Rejected is why the planner did not apply the decision ("" if it did).
	Rejected string
}

func (d Decision) String() string {
	var what string
	switch d.Kind {
	case Place:
		what = fmt.Sprintf("place job %d on %v", d.Job, d.Hosts)
	case Grow:
		what = fmt.Sprintf("grow job %d on host %d", d.Job, d.To)
	default:
		what = fmt.Sprintf("%s job %d rank %d host %d→%d", d.Kind, d.Job, d.Rank, d.From, d.To)
	}
	s := fmt.Sprintf("t=%.3f %s: %s: %s", d.Time, d.Policy, what, d.Reason)
	if d.Rejected != "" {
		s += " (rejected: " + d.Rejected + ")"
	}
	return s
}

// Policy decides what the planner does next. Within one planner step
// Decide is called again and again, each time seeing the state with its
// earlier decisions applied, until it returns nothing or nothing it returns
// can be applied. So a policy may return one job's decisions at a time and
// keep no state of its own. Decide must not modify the State.
type Policy interface {
	Name() string
	Decide(s *State) []Decision
}

// DefaultPolicies is every policy in the order the planner should run
// them: evacuate threatened cells first (they are lost otherwise), then
// start waiting jobs, then gather spread jobs into the freed slots nobody
// waited for, and only then give what is still idle to elastic jobs.
// Defragmenting before placing would hold waiting jobs back to speed up
// running ones, which costs more mean completion time than it saves.
func DefaultPolicies() []Policy {
	return []Policy{SpotEvacuation{}, FirstFit{}, Defragment{}, Elastic{}}
}

// FirstFit is the base placement: pending jobs in arrival order (restarted
// jobs first), each on the fewest hosts that fit it (State.Pack). A job
// that does not fit yet is skipped, so small jobs backfill behind a large
// one; a large job waits until OfferedFree reaches its size.
type FirstFit struct{}

func (FirstFit) Name() string { return "first-fit" }

func (FirstFit) Decide(s *State) []Decision {
	for _, id := range s.Pending() {
		if s.OfferedFree() == 0 {
			return nil
		}
		j := s.Job(id)
		hosts := s.Pack(j.Width)
		if hosts == nil {
			continue
		}
		k := countHosts(hosts)
		reason := "fits on one host"
		if k > 1 {
			reason = fmt.Sprintf("no host has %d free slots; spread over %d hosts (slowdown %.3f)", j.Width, k, s.Cost().Slowdown(j.Width, k))
		}
		return []Decision{{Kind: Place, Job: id, Hosts: hosts, Reason: reason}}
	}
	return nil
}

// Defragment gathers the ranks of a spread job onto fewer hosts when slots
// free up, if the time saved at the better locality beats the pause the
// migrations cost. It looks only at hosts that gained free slots since the
// last step plus the job's own hosts, which keeps a step cheap at scale.
type Defragment struct {
	// Gain is how many times the saving must exceed the cost; 0 means 1.
	Gain float64
}

func (Defragment) Name() string { return "defragment" }

type target struct {
	host, vfree, own, want, in int
}

func (p Defragment) Decide(s *State) []Decision {
	freed := s.Freed()
	if len(freed) == 0 {
		return nil
	}
	gain := p.Gain
	if gain <= 0 {
		gain = 1
	}
	cost := s.Cost()
	var cand []target
	for _, id := range s.Running() {
		j := s.Job(id)
		if j.Hosts <= 1 || j.PausedUntil > s.Now() {
			continue
		}
		// Candidates: the job's hosts and the freed hosts, with the slots
		// the job could use on each (its own plus the free ones).
		cand = cand[:0]
		add := func(h, own int) {
			for i := range cand {
				if cand[i].host == h {
					cand[i].own += own
					if s.Offered(h) {
						cand[i].vfree += own
					}
					return
				}
			}
			t := target{host: h, own: own}
			if s.Offered(h) {
				t.vfree = s.Free(h) + own
			}
			cand = append(cand, t)
		}
		for _, h := range j.Placement {
			add(h, 1)
		}
		for _, h := range freed {
			add(h, 0)
		}
		sort.Slice(cand, func(a, b int) bool {
			if cand[a].vfree != cand[b].vfree {
				return cand[a].vfree > cand[b].vfree
			}
			if cand[a].own != cand[b].own {
				return cand[a].own > cand[b].own
			}
			return cand[a].host < cand[b].host
		})
		k, rem, moves := 0, j.Width, 0
		for i := range cand {
			if rem == 0 {
				break
			}
			cand[i].want = min(cand[i].vfree, rem)
			cand[i].in = cand[i].want - min(cand[i].own, cand[i].want)
			rem -= cand[i].want
			moves += cand[i].in
			k++
		}
		if rem > 0 || k >= j.Hosts {
			continue
		}
		if k == 1 {
			// Of the hosts that fit the whole job, the one holding most of
			// its ranks needs fewest moves.
			best := 0
			for i := 1; i < len(cand); i++ {
				if cand[i].vfree >= j.Width && cand[i].own > cand[best].own {
					best = i
				}
			}
			cand[0], cand[best] = cand[best], cand[0]
			cand[0].want = j.Width
			cand[0].in = j.Width - cand[0].own
			moves = cand[0].in
		}
		saving := j.Remaining * (cost.Slowdown(j.Width, j.Hosts) - cost.Slowdown(j.Width, k))
		price := float64(moves) * cost.Downtime(j.MemoryPerRank)
		if saving <= gain*price {
			continue
		}
		reason := fmt.Sprintf("gather job %d from %d to %d hosts: saves %.3fs, %d moves pause it %.3fs", id, j.Hosts, k, saving, moves, price)
		// Ranks already on a target host stay (up to what it keeps); the
		// others fill the targets' free slots.
		keep := make(map[int]int, k)
		for _, t := range cand[:k] {
			keep[t.host] = min(t.own, t.want)
		}
		var out []Decision
		next := 0
		for r, h := range j.Placement {
			if keep[h] > 0 {
				keep[h]--
				continue
			}
			for cand[next].in == 0 {
				next++
			}
			cand[next].in--
			out = append(out, Decision{Kind: Migrate, Job: id, Rank: r, To: cand[next].host, Reason: reason})
		}
		return out
	}
	return nil
}

// SpotEvacuation moves the ranks on a host under eviction notice to other
// hosts, if the move finishes before the deadline. A rank left behind is
// lost at the deadline with its whole job, which then restarts from the
// start. Targets are the job's other hosts first (locality), then the
// emptiest offered host, so the rest of the job tends to follow.
type SpotEvacuation struct{}

func (SpotEvacuation) Name() string { return "spot-evacuation" }

func (SpotEvacuation) Decide(s *State) []Decision {
	cost := s.Cost()
	for _, h := range s.Notices() {
		deadline := s.Deadline(h)
		for _, r := range s.Occupants(h) {
			j := s.Job(r.Job)
			done := max(s.Now(), j.PausedUntil) + cost.Downtime(j.MemoryPerRank)
			if done > deadline {
				continue // too late: the rank will be lost
			}
			to := -1
			for _, g := range j.Placement {
				if g != h && s.Offered(g) && s.Free(g) > 0 {
					to = g
					break
				}
			}
			if to < 0 {
				to = s.MostFree()
			}
			if to < 0 {
				continue // no room anywhere now; maybe after a completion
			}
			return []Decision{{Kind: Evacuate, Job: r.Job, Rank: r.Rank, To: to,
				Reason: fmt.Sprintf("host %d is reclaimed at %.3f; move done at %.3f", h, deadline, done)}}
		}
	}
	return nil
}

// Elastic is the scale-up hook: an elastic job may be given idle slots at
// its next parallel phase. The simulator treats every planner step as a
// phase boundary and grows a running elastic job by one rank per decision,
// only on hosts it already uses (so its locality does not suffer), only
// while no job waits (idle means nobody else wants the core), and up to
// MaxFactor times its submitted ranks. The work is conserved: the job's
// remaining rank-seconds are shared by the new width.
type Elastic struct {
	// MaxFactor caps growth at MaxFactor × Ranks; 0 means 2.
	MaxFactor float64
}

func (Elastic) Name() string { return "elastic" }

// maxFactor is MaxFactor with its default.
func (p Elastic) maxFactor() float64 {
	if p.MaxFactor <= 0 {
		return 2
	}
	return p.MaxFactor
}

func (p Elastic) Decide(s *State) []Decision {
	if len(s.Pending()) > 0 || s.OfferedFree() == 0 {
		return nil
	}
	f := p.maxFactor()
	for _, id := range s.Running() {
		j := s.Job(id)
		if !j.Elastic || float64(j.Width+1) > f*float64(j.Ranks) {
			continue
		}
		for _, h := range j.Placement {
			if s.Offered(h) && s.Free(h) > 0 {
				return []Decision{{Kind: Grow, Job: id, To: h,
					Reason: fmt.Sprintf("host %d has %d idle slots and no job waits: %d→%d ranks", h, s.Free(h), j.Width, j.Width+1)}}
			}
		}
	}
	return nil
}

// Grant is the same rule at one host, for a running cell asking at the
// start of a parallel phase how many cores it may use
// (cloudskin_parallelism): 1, or more for a rank of an elastic job while
// no job waits for the host's cores. The idle cores (cores minus the ranks
// running there) are shared evenly by the elastic ranks, and a rank gets
// at most MaxFactor cores, as an elastic job grows to at most MaxFactor ×
// its ranks.
func (p Elastic) Grant(cores, running, elasticRanks, waiting int) int {
	idle := cores - running
	if waiting > 0 || elasticRanks <= 0 || idle <= 0 {
		return 1
	}
	return min(1+idle/elasticRanks, int(p.maxFactor()))
}
