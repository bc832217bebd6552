package granny

import (
	"fmt"
	"math"
)

// Phase is where a job is in its life.
type Phase int

const (
	Waiting Phase = iota // not arrived yet
	Pending              // arrived (or lost and restarted), waiting for slots
	Running
	Done
)

// RankRef names one rank of one job.
type RankRef struct{ Job, Rank int }

// JobState is a job as the planner sees it. Policies read it; only the
// planner (through Decisions) changes it.
type JobState struct {
	Job
	Phase Phase
	// Width is the current number of ranks: Ranks, or more once Elastic
	// grew the job.
	Width int
	// Placement is the host of each rank, len Width while running.
	Placement []int
	// Hosts is the number of distinct hosts in Placement.
	Hosts int
	// Remaining is the work left per rank, in seconds at full locality.
	Remaining float64
	// PausedUntil is when the migrations under way finish; the job makes
	// no progress before.
	PausedUntil float64
	Start, End  float64 // first start, completion
	Restarts    int     // times lost with an evicted host

	lastUpdate float64
	version    int // completion events of older versions are stale
	runIdx     int // index in State.running
}

// State is the cluster as the planner sees it at simulated time Now. It
// holds no clock: the simulator advances Now.
type State struct {
	now   float64
	cost  CostModel
	hosts []Host

	free     []int       // free slots per host
	occ      [][]RankRef // ranks on each host
	offline  []bool
	deadline []float64 // eviction deadline while under notice, else +Inf
	notices  []int     // hosts under notice, in notice order

	// Offered hosts (online, no notice) indexed by free slot count, so
	// placement finds a best fit without scanning every host.
	bucket    [][]int
	bucketPos []int // index in bucket[free[h]], -1 when not offered
	offered   int   // free slots on offered hosts

	jobs    []*JobState
	pending []int // FIFO; restarted jobs go to the front
	running []int

	freed     []int // hosts that gained free slots since the last step
	freedMark []bool
	touched   []int // jobs whose completion time changed

	used, online int // occupied slots, slots on online hosts
}

func newState(hosts []Host, jobs []Job, cost CostModel) *State {
	max := 0
	for _, h := range hosts {
		if h.Slots > max {
			max = h.Slots
		}
	}
	s := &State{
		cost: cost, hosts: hosts,
		free: make([]int, len(hosts)), occ: make([][]RankRef, len(hosts)),
		offline: make([]bool, len(hosts)), deadline: make([]float64, len(hosts)),
		bucket: make([][]int, max+1), bucketPos: make([]int, len(hosts)),
		freedMark: make([]bool, len(hosts)),
		jobs:      make([]*JobState, len(jobs)),
	}
	for i, h := range hosts {
		s.free[i] = h.Slots
		s.deadline[i] = math.Inf(1)
		s.bucketPos[i] = -1
		s.offer(i)
		s.online += h.Slots
	}
	for i, j := range jobs {
		s.jobs[i] = &JobState{Job: j, Width: j.Ranks, Remaining: j.Duration, runIdx: -1}
	}
	return s
}

// Read-only view for policies.

func (s *State) Now() float64              { return s.now }
func (s *State) Cost() CostModel           { return s.cost }
func (s *State) NumHosts() int             { return len(s.hosts) }
func (s *State) Host(h int) Host           { return s.hosts[h] }
func (s *State) Free(h int) int            { return s.free[h] }
func (s *State) Occupants(h int) []RankRef { return s.occ[h] }
func (s *State) Job(id int) *JobState      { return s.jobs[id] }

// Offered reports whether new ranks may go to host h: it is online and has
// no eviction notice.
func (s *State) Offered(h int) bool { return s.bucketPos[h] >= 0 }

// OfferedFree is the number of free slots on offered hosts.
func (s *State) OfferedFree() int { return s.offered }

// Deadline is when host h will be reclaimed, +Inf without a notice.
func (s *State) Deadline(h int) float64 { return s.deadline[h] }

// Pending, Running, Freed and Notices must not be modified.
func (s *State) Pending() []int { return s.pending }
func (s *State) Running() []int { return s.running }

// Freed lists the hosts that gained free slots since the planner last ran.
func (s *State) Freed() []int { return s.freed }

// Notices lists the hosts under an eviction notice.
func (s *State) Notices() []int { return s.notices }

// BestFit is the offered host with the fewest free slots that still has n,
// or -1.
func (s *State) BestFit(n int) int {
	return s.bestFit(n, nil)
}

func (s *State) bestFit(n int, skip []int) int {
	for f := max(n, 1); f < len(s.bucket); f++ {
		for _, h := range s.bucket[f] {
			if !contains(skip, h) {
				return h
			}
		}
	}
	return -1
}

// MostFree is the offered host with the most free slots (at least one),
// or -1.
func (s *State) MostFree() int {
	return s.mostFree(nil)
}

func (s *State) mostFree(skip []int) int {
	for f := len(s.bucket) - 1; f > 0; f-- {
		for _, h := range s.bucket[f] {
			if !contains(skip, h) {
				return h
			}
		}
	}
	return -1
}

// Pack chooses hosts for n ranks on as few offered hosts as possible: one
// host that fits them all (the fullest such), else the emptiest hosts in
// turn, finishing on the fullest host that fits the rest. It returns the
// host of each rank, or nil when the offered hosts lack n free slots.
func (s *State) Pack(n int) []int {
	if n <= 0 || n > s.offered {
		return nil
	}
	var chosen []int
	out := make([]int, 0, n)
	for rem := n; rem > 0; {
		h := s.bestFit(rem, chosen)
		take := rem
		if h < 0 {
			h = s.mostFree(chosen)
			take = s.free[h]
		}
		chosen = append(chosen, h)
		for range take {
			out = append(out, h)
		}
		rem -= take
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func countHosts(placement []int) int {
	k := 0
	for i, h := range placement {
		if !contains(placement[:i], h) {
			k++
		}
	}
	return k
}

// Bookkeeping.

func (s *State) offer(h int) {
	if s.bucketPos[h] >= 0 {
		return
	}
	f := s.free[h]
	s.bucketPos[h] = len(s.bucket[f])
	s.bucket[f] = append(s.bucket[f], h)
	s.offered += f
}

func (s *State) withdraw(h int) {
	i := s.bucketPos[h]
	if i < 0 {
		return
	}
	b := s.bucket[s.free[h]]
	last := b[len(b)-1]
	b[i] = last
	s.bucketPos[last] = i
	s.bucket[s.free[h]] = b[:len(b)-1]
	s.bucketPos[h] = -1
	s.offered -= s.free[h]
}

func (s *State) setFree(h, f int) {
	offered := s.Offered(h)
	s.withdraw(h)
	if f > s.free[h] && !s.freedMark[h] {
		s.freedMark[h] = true
		s.freed = append(s.freed, h)
	}
	s.used += s.free[h] - f
	s.free[h] = f
	if offered {
		s.offer(h)
	}
}

func (s *State) addRank(h int, r RankRef) {
	s.setFree(h, s.free[h]-1)
	s.occ[h] = append(s.occ[h], r)
}

func (s *State) removeRank(h int, r RankRef) {
	o := s.occ[h]
	for i := range o {
		if o[i] == r {
			o[i] = o[len(o)-1]
			s.occ[h] = o[:len(o)-1]
			break
		}
	}
	s.setFree(h, s.free[h]+1)
}

// progress credits a running job with the work done since its last update
// at its current locality. It must run before the locality changes.
func (s *State) progress(j *JobState) {
	from := math.Max(j.lastUpdate, j.PausedUntil)
	if s.now > from {
		j.Remaining -= (s.now - from) / s.cost.Slowdown(j.Width, j.Hosts)
		if j.Remaining < 0 {
			j.Remaining = 0
		}
	}
	j.lastUpdate = s.now
}

// finishTime is when a running job completes if nothing changes.
func (s *State) finishTime(j *JobState) float64 {
	return math.Max(s.now, j.PausedUntil) + j.Remaining*s.cost.Slowdown(j.Width, j.Hosts)
}

func (s *State) touch(j *JobState) {
	j.version++
	s.touched = append(s.touched, j.ID)
}

func (s *State) startRunning(j *JobState) {
	j.Phase = Running
	j.runIdx = len(s.running)
	s.running = append(s.running, j.ID)
}

func (s *State) stopRunning(j *JobState) {
	last := s.running[len(s.running)-1]
	s.running[j.runIdx] = last
	s.jobs[last].runIdx = j.runIdx
	s.running = s.running[:len(s.running)-1]
	j.runIdx = -1
}

// release frees every slot of a running job.
func (s *State) release(j *JobState) {
	for r, h := range j.Placement {
		s.removeRank(h, RankRef{j.ID, r})
	}
	j.Placement = j.Placement[:0]
	j.Hosts = 0
	s.stopRunning(j)
}

func (s *State) complete(j *JobState) {
	s.progress(j)
	s.release(j)
	j.Phase = Done
	j.End = s.now
	j.Remaining = 0
}

// lose drops a job whose rank sat on a reclaimed host: an MPI world cannot
// continue without a rank, so it restarts from the start.
func (s *State) lose(j *JobState) {
	s.release(j)
	j.Phase = Pending
	j.Width = j.Ranks
	j.Remaining = j.Duration
	j.PausedUntil = 0
	j.Restarts++
	j.version++
	s.pending = append(s.pending, 0)
	copy(s.pending[1:], s.pending)
	s.pending[0] = j.ID
}

func (s *State) clearFreed() {
	for _, h := range s.freed {
		s.freedMark[h] = false
	}
	s.freed = s.freed[:0]
}

// apply carries out one decision, or says why it cannot.
func (s *State) apply(d *Decision) error {
	if d.Job < 0 || d.Job >= len(s.jobs) {
		return fmt.Errorf("no job %d", d.Job)
	}
	j := s.jobs[d.Job]
	switch d.Kind {
	case Place:
		if j.Phase != Pending {
			return fmt.Errorf("job %d is not pending", j.ID)
		}
		if len(d.Hosts) != j.Width {
			return fmt.Errorf("job %d has %d ranks, placement names %d hosts", j.ID, j.Width, len(d.Hosts))
		}
		for i, h := range d.Hosts {
			if h < 0 || h >= len(s.hosts) || !s.Offered(h) {
				return fmt.Errorf("host %d is not offered", h)
			}
			n := 0
			for _, g := range d.Hosts[:i+1] {
				if g == h {
					n++
				}
			}
			if n > s.free[h] {
				return fmt.Errorf("host %d has %d free slots", h, s.free[h])
			}
		}
		for i, id := range s.pending {
			if id == j.ID {
				s.pending = append(s.pending[:i], s.pending[i+1:]...)
				break
			}
		}
		j.Placement = append(j.Placement[:0], d.Hosts...)
		for r, h := range j.Placement {
			s.addRank(h, RankRef{j.ID, r})
		}
		j.Hosts = countHosts(j.Placement)
		if j.Restarts == 0 {
			j.Start = s.now
		}
		j.lastUpdate = s.now
		s.startRunning(j)
		s.touch(j)
		return nil

	case Migrate, Evacuate, Grow:
		if j.Phase != Running {
			return fmt.Errorf("job %d is not running", j.ID)
		}
		if d.To < 0 || d.To >= len(s.hosts) || !s.Offered(d.To) || s.free[d.To] < 1 {
			return fmt.Errorf("host %d has no offered free slot", d.To)
		}
		if d.Kind == Grow && !j.Elastic {
			return fmt.Errorf("job %d is not elastic", j.ID)
		}
		s.progress(j)
		if d.Kind == Grow {
			// Work is conserved: the same rank-seconds spread over one
			// more rank. Starting the rank costs a fixed migration-like
			// pause (it is spawned from a snapshot of the job's module).
			j.Remaining = j.Remaining * float64(j.Width) / float64(j.Width+1)
			j.Placement = append(j.Placement, d.To)
			s.addRank(d.To, RankRef{j.ID, j.Width})
			j.Width++
			j.PausedUntil = math.Max(s.now, j.PausedUntil) + s.cost.MigrationFixed
		} else {
			if d.Rank < 0 || d.Rank >= j.Width {
				return fmt.Errorf("job %d has no rank %d", j.ID, d.Rank)
			}
			from := j.Placement[d.Rank]
			if from == d.To {
				return fmt.Errorf("rank %d of job %d is on host %d already", d.Rank, j.ID, d.To)
			}
			s.removeRank(from, RankRef{j.ID, d.Rank})
			s.addRank(d.To, RankRef{j.ID, d.Rank})
			j.Placement[d.Rank] = d.To
			d.From = from
			d.Bytes = j.MemoryPerRank
			// Ranks of one job move one after another through the
			// snapshot path, so their pauses add up.
			j.PausedUntil = math.Max(s.now, j.PausedUntil) + s.cost.Downtime(j.MemoryPerRank)
		}
		j.Hosts = countHosts(j.Placement)
		s.touch(j)
		return nil
	}
	return fmt.Errorf("unknown decision kind %d", d.Kind)
}

// check verifies the invariants tests rely on: no host holds more ranks
// than slots, bookkeeping agrees with placements, nothing runs on an
// offline host.
func (s *State) check() error {
	used := 0
	for h, host := range s.hosts {
		if len(s.occ[h]) > host.Slots || s.free[h] != host.Slots-len(s.occ[h]) {
			return fmt.Errorf("host %d: %d ranks on %d slots, free %d", h, len(s.occ[h]), host.Slots, s.free[h])
		}
		if s.offline[h] && len(s.occ[h]) > 0 {
			return fmt.Errorf("host %d is offline with %d ranks", h, len(s.occ[h]))
		}
		for _, r := range s.occ[h] {
			if j := s.jobs[r.Job]; j.Phase != Running || j.Placement[r.Rank] != h {
				return fmt.Errorf("host %d lists rank %d of job %d, which is elsewhere", h, r.Rank, r.Job)
			}
		}
		used += len(s.occ[h])
	}
	if used != s.used {
		return fmt.Errorf("used slots %d, counted %d", s.used, used)
	}
	return nil
}
