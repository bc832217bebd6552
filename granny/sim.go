package granny

import (
	"container/heap"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Eviction is a spot host being reclaimed: notice at Notice, gone at
// Deadline, offered again at Return.
type Eviction struct {
	Host                     int
	Notice, Deadline, Return float64
}

// Config is one simulation.
type Config struct {
	Hosts     []Host
	Jobs      []Job // a trace: Jobs[i].ID == i
	Evictions []Eviction
	// Policies run in order at every planner step. Without a placing
	// policy (FirstFit) no job starts and Simulate fails.
	Policies []Policy
	Cost     CostModel // zero value: DefaultCostModel
	// LogLimit caps Report.Log to the first LogLimit decisions (0: 1000,
	// negative: no log). Counts in the Report cover every decision.
	LogLimit int

	checkInvariants bool // tests: verify State.check after every step
}

// Report is what a simulation measured.
type Report struct {
	Hosts, Slots, Jobs int
	Completed          int
	Makespan           float64 // time the last job completed
	MeanJCT            float64 // mean of completion − arrival
	// Utilisation is busy slot-seconds over online slot-seconds up to the
	// makespan; a slot is busy while a rank holds it (also while paused).
	Utilisation   float64
	Migrations    int // Migrate decisions applied (defragmentation)
	Evacuations   int // Evacuate decisions applied
	Grows         int
	BytesMigrated int64 // by Migrate and Evacuate
	Restarts      int   // jobs lost with an evicted host and restarted
	Decisions     int   // applied
	Rejected      int
	Steps         int // planner steps
	End           []float64
	Log           []Decision
}

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hosts %d, slots %d, jobs %d, completed %d\n", r.Hosts, r.Slots, r.Jobs, r.Completed)
	fmt.Fprintf(&b, "makespan %.1fs, mean JCT %.1fs, utilisation %.1f%%\n", r.Makespan, r.MeanJCT, 100*r.Utilisation)
	fmt.Fprintf(&b, "migrations %d, evacuations %d, grows %d, bytes migrated %d, restarts %d\n", r.Migrations, r.Evacuations, r.Grows, r.BytesMigrated, r.Restarts)
	return b.String()
}

type evKind int

const (
	evArrive evKind = iota
	evComplete
	evNotice
	evEvict
	evReturn
)

type event struct {
	t       float64
	seq     int
	kind    evKind
	id      int // job, eviction (notice) or host
	version int
}

type queue []event

func (q queue) Len() int { return len(q) }
func (q queue) Less(a, b int) bool {
	if q[a].t != q[b].t {
		return q[a].t < q[b].t
	}
	return q[a].seq < q[b].seq
}
func (q queue) Swap(a, b int) { q[a], q[b] = q[b], q[a] }
func (q *queue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

func validate(cfg *Config) error {
	slots := 0
	for i, h := range cfg.Hosts {
		if h.ID != i || h.Slots < 1 {
			return fmt.Errorf("granny: host %d: ID must be its index and Slots ≥ 1, have %+v", i, h)
		}
		slots += h.Slots
	}
	for i, j := range cfg.Jobs {
		if j.ID != i || j.Ranks < 1 || !(j.Duration > 0) || j.MemoryPerRank < 0 ||
			!(j.Arrival >= 0) || math.IsInf(j.Arrival, 0) || math.IsInf(j.Duration, 0) {
			return fmt.Errorf("granny: job %d: ID must be its index, Ranks ≥ 1, Duration > 0, Arrival ≥ 0, have %+v", i, j)
		}
		if j.Ranks > slots {
			return fmt.Errorf("granny: job %d has %d ranks, the hosts only %d slots", i, j.Ranks, slots)
		}
	}
	ev := append([]Eviction(nil), cfg.Evictions...)
	sort.Slice(ev, func(a, b int) bool {
		if ev[a].Host != ev[b].Host {
			return ev[a].Host < ev[b].Host
		}
		return ev[a].Notice < ev[b].Notice
	})
	for i, e := range ev {
		if e.Host < 0 || e.Host >= len(cfg.Hosts) || !(e.Notice >= 0) ||
			!(e.Deadline >= e.Notice) || !(e.Return > e.Deadline) || math.IsInf(e.Return, 0) {
			return fmt.Errorf("granny: eviction %+v: need a host, 0 ≤ Notice ≤ Deadline < Return < ∞", e)
		}
		if i > 0 && ev[i-1].Host == e.Host && e.Notice < ev[i-1].Return {
			return fmt.Errorf("granny: evictions of host %d overlap", e.Host)
		}
	}
	return cfg.Cost.validate()
}

// Simulate replays cfg's trace over its hosts under its policies. It is a
// discrete-event simulation: events (arrivals, completions, eviction
// notices, evictions, returns) are taken in time order, ties in the order
// they were scheduled, and the planner runs after each one.
func Simulate(cfg Config) (Report, error) {
	if cfg.Cost == (CostModel{}) {
		cfg.Cost = DefaultCostModel()
	}
	if err := validate(&cfg); err != nil {
		return Report{}, err
	}
	limit := cfg.LogLimit
	if limit == 0 {
		limit = 1000
	}
	s := newState(cfg.Hosts, cfg.Jobs, cfg.Cost)
	rep := Report{Hosts: len(cfg.Hosts), Slots: s.online, Jobs: len(cfg.Jobs), End: make([]float64, len(cfg.Jobs))}

	q := make(queue, 0, len(cfg.Jobs)+2*len(cfg.Evictions))
	seq := 0
	push := func(e event) {
		e.seq = seq
		seq++
		heap.Push(&q, e)
	}
	for _, j := range cfg.Jobs {
		push(event{t: j.Arrival, kind: evArrive, id: j.ID})
	}
	for i, e := range cfg.Evictions {
		push(event{t: e.Notice, kind: evNotice, id: i})
		push(event{t: e.Deadline, kind: evEvict, id: e.Host})
		push(event{t: e.Return, kind: evReturn, id: e.Host})
	}

	var busy, capacity, sumJCT float64
	for q.Len() > 0 {
		e := heap.Pop(&q).(event)
		if dt := e.t - s.now; dt > 0 {
			busy += float64(s.used) * dt
			capacity += float64(s.online) * dt
			s.now = e.t
		}
		switch e.kind {
		case evArrive:
			s.jobs[e.id].Phase = Pending
			s.pending = append(s.pending, e.id)
		case evComplete:
			j := s.jobs[e.id]
			if e.version != j.version || j.Phase != Running {
				continue // rescheduled since
			}
			s.complete(j)
			rep.Completed++
			rep.End[j.ID] = s.now
			rep.Makespan = s.now
			sumJCT += s.now - j.Arrival
		case evNotice:
			ev := cfg.Evictions[e.id]
			s.deadline[ev.Host] = ev.Deadline
			s.withdraw(ev.Host)
			s.notices = append(s.notices, ev.Host)
		case evEvict:
			for len(s.occ[e.id]) > 0 {
				j := s.jobs[s.occ[e.id][0].Job]
				s.lose(j)
				rep.Restarts++
			}
			s.offline[e.id] = true
			s.online -= s.hosts[e.id].Slots
			for i, h := range s.notices {
				if h == e.id {
					s.notices = append(s.notices[:i], s.notices[i+1:]...)
					break
				}
			}
		case evReturn:
			s.offline[e.id] = false
			s.deadline[e.id] = math.Inf(1)
			s.online += s.hosts[e.id].Slots
			s.offer(e.id)
		}

		step(s, cfg.Policies, &rep, limit)
		rep.Steps++
		if cfg.checkInvariants {
			if err := s.check(); err != nil {
				return rep, fmt.Errorf("granny: t=%.3f: %w", s.now, err)
			}
		}
		for _, id := range s.touched {
			j := s.jobs[id]
			if j.Phase == Running {
				push(event{t: s.finishTime(j), kind: evComplete, id: id, version: j.version})
			}
		}
		s.touched = s.touched[:0]
	}
	if rep.Completed != len(cfg.Jobs) {
		return rep, fmt.Errorf("granny: %d of %d jobs never completed (%d pending): is a placing policy missing?",
			len(cfg.Jobs)-rep.Completed, len(cfg.Jobs), len(s.pending))
	}
	if rep.Completed > 0 {
		rep.MeanJCT = sumJCT / float64(rep.Completed)
	}
	if capacity > 0 {
		rep.Utilisation = busy / capacity
	}
	return rep, nil
}

// maxRounds bounds how often one policy is asked within a step, so a
// policy that keeps finding something cannot stall the simulation.
const maxRounds = 100000

// step runs each policy until it has nothing more to say.
func step(s *State, policies []Policy, rep *Report, limit int) {
	for _, p := range policies {
		for round := 0; round < maxRounds; round++ {
			ds := p.Decide(s)
			if len(ds) == 0 {
				break
			}
			applied := 0
			for _, d := range ds {
				d.Time = s.now
				d.Policy = p.Name()
				if err := s.apply(&d); err != nil {
					d.Rejected = err.Error()
					rep.Rejected++
				} else {
					applied++
					rep.Decisions++
					switch d.Kind {
					case Migrate:
						rep.Migrations++
						rep.BytesMigrated += d.Bytes
					case Evacuate:
						rep.Evacuations++
						rep.BytesMigrated += d.Bytes
					case Grow:
						rep.Grows++
					}
				}
				if limit > 0 && len(rep.Log) < limit {
					rep.Log = append(rep.Log, d)
				}
			}
			if applied == 0 {
				break
			}
		}
	}
	s.clearFreed()
}
