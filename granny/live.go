package granny

import (
	"fmt"
	"math"
)

// Live is the continuum as the control plane sees it at one moment: hosts
// (sites) with their slots, the jobs running on them, and the eviction
// notices in force. Plan runs the simulator's policies over it, so the
// same code decides in simulation and for real.
type Live struct {
	Hosts   []Host
	Running []LiveJob
	Notices []Notice
	Cost    CostModel
	// Freed are the hosts whose free slots Defragment may gather spread
	// jobs into (in the simulator, the hosts where a job just ended): for
	// a live defragmentation, every host.
	Freed []int
	// Arriving are jobs to place now (a placement policy's Place
	// decisions): their decisions name them len(Running)+i.
	Arriving []Job
}

// LiveJob is a running job: what it is and where each rank runs.
// Job.Duration is its remaining work per rank in seconds, if known (a
// policy that weighs remaining work sees 1 h otherwise).
type LiveJob struct {
	Job
	Placement []int
}

// Notice says host Host will be reclaimed Deadline seconds from now.
type Notice struct {
	Host     int
	Deadline float64
}

// unknownRemaining stands for a running job's unknown remaining work.
const unknownRemaining = 3600

// Plan runs one planner step over l with policies, at time 0, and returns
// every decision the policies made, applied or with Rejected saying why
// not. Job and host numbers in decisions index l.Running and l.Hosts.
func Plan(l Live, policies []Policy) ([]Decision, error) {
	if err := l.Cost.validate(); err != nil {
		return nil, err
	}
	jobs := make([]Job, 0, len(l.Running)+len(l.Arriving))
	for _, r := range l.Running {
		jobs = append(jobs, r.Job)
	}
	jobs = append(jobs, l.Arriving...)
	for i := range jobs {
		jobs[i].ID = i
		if jobs[i].Duration <= 0 {
			jobs[i].Duration = unknownRemaining
		}
	}
	s := newState(l.Hosts, jobs, l.Cost)
	for i, r := range l.Running {
		s.jobs[i].Phase = Pending
		d := Decision{Kind: Place, Job: i, Hosts: r.Placement}
		if err := s.apply(&d); err != nil {
			return nil, fmt.Errorf("granny: running job %d: %w", i, err)
		}
	}
	for i := range l.Arriving {
		id := len(l.Running) + i
		s.jobs[id].Phase = Pending
		s.pending = append(s.pending, id)
	}
	for _, h := range l.Freed {
		if h < 0 || h >= len(l.Hosts) {
			return nil, fmt.Errorf("granny: freed host %d of %d", h, len(l.Hosts))
		}
		if !s.freedMark[h] {
			s.freedMark[h] = true
			s.freed = append(s.freed, h)
		}
	}
	for _, n := range l.Notices {
		if n.Host < 0 || n.Host >= len(l.Hosts) || !(n.Deadline >= 0) {
			return nil, fmt.Errorf("granny: notice for host %d with deadline %v", n.Host, n.Deadline)
		}
		s.deadline[n.Host] = math.Min(s.deadline[n.Host], n.Deadline)
		if s.Offered(n.Host) {
			s.withdraw(n.Host)
			s.notices = append(s.notices, n.Host)
		}
	}
	var rep Report
	step(s, policies, &rep, math.MaxInt)
	return rep.Log, nil
}
