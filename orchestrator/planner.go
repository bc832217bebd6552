package orchestrator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/granny"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
)

// defaultRankMemory is what the planner assumes a rank has touched when
// its run has no checkpoint to tell: it prices the move, nothing more.
const defaultRankMemory = 64 << 20

func (cp *ControlPlane) drainSite(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req v1alpha1.SiteDrainRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	if req.Deadline.Duration <= 0 {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("deadline %s: want a positive duration", req.Deadline.Duration))
	}
	name := r.PathValue("name")
	if _, err := cp.sites.Get(r.Context(), name); err != nil {
		return 0, nil, err
	}
	out, err := cp.drain(r.Context(), name, req.Deadline.Duration)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// drain asks the Granny planner where the running cells of site should go
// before deadline (its SpotEvacuation policy over the Ready sites, each
// offering its cores as slots) and asks each to migrate there. A world
// moves whole, to where its rank 0 is sent: its ranks share one agent.
func (cp *ControlPlane) drain(ctx context.Context, site string, deadline time.Duration) (v1alpha1.SiteDrain, error) {
	out := v1alpha1.SiteDrain{Site: site, Moves: []v1alpha1.CellMove{}}
	live, names, jobs, err := cp.liveView(ctx)
	if err != nil {
		return out, err
	}
	evicted, ok := indexOf(names, site)
	if !ok {
		return out, httpapi.BadRequest(fmt.Errorf("site %s is not Ready: nothing of it can be planned", site))
	}
	live.Notices = []granny.Notice{{Host: evicted, Deadline: deadline.Seconds()}}
	decisions, err := granny.Plan(live, []granny.Policy{granny.SpotEvacuation{}})
	if err != nil {
		return out, err
	}
	moved := map[int]bool{}
	for _, d := range decisions {
		run := jobs[d.Job]
		cp.log.Info("drain decision", "site", site, "cell", run.Metadata.Name, "policy", d.Policy, "decision", d.String())
		if d.Rejected != "" || moved[d.Job] {
			continue
		}
		moved[d.Job] = true
		to := names[d.To]
		if _, err := cp.cells.Migrate(ctx, run.Metadata.Name, to); err != nil {
			out.Stays = append(out.Stays, v1alpha1.CellStays{Cell: run.Metadata.Name, Reason: err.Error()})
			continue
		}
		out.Moves = append(out.Moves, v1alpha1.CellMove{Cell: run.Metadata.Name, From: site, To: to, Policy: d.Policy, Reason: d.Reason})
	}
	for i, run := range jobs {
		if run.Status.Site == site && !moved[i] {
			out.Stays = append(out.Stays, v1alpha1.CellStays{Cell: run.Metadata.Name,
				Reason: "the planner found no site with a free core that it can reach before the deadline"})
		}
	}
	return out, nil
}

func (cp *ControlPlane) defragmentSites(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	out, err := cp.defragment(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}

// defragment asks the Granny planner's Defragment policy, for each MPI
// world with ranks away from its site, whether to gather them there, and
// asks each rank it moves to come home. Only the world's own site is open
// to it: a rank away makes every MPI call at that site (its world's
// home), so gathering a world anywhere else would spread its calls, not
// gather them.
func (cp *ControlPlane) defragment(ctx context.Context) (v1alpha1.Defragmentation, error) {
	out := v1alpha1.Defragmentation{Moves: []v1alpha1.CellMove{}}
	live, names, jobs, err := cp.liveView(ctx)
	if err != nil {
		return out, err
	}
	for j, run := range jobs {
		home, _ := indexOf(names, run.Status.Site)
		if !spread(live.Running[j].Placement, home) {
			continue
		}
		decisions, err := granny.Plan(gatherAt(live, home), []granny.Policy{granny.Defragment{}})
		if err != nil {
			return out, err
		}
		for _, d := range decisions {
			if d.Job != j {
				continue
			}
			cp.log.Info("defragment decision", "cell", run.Metadata.Name, "policy", d.Policy, "decision", d.String())
			if d.Rejected != "" || d.Kind != granny.Migrate {
				continue
			}
			rank, from := d.Rank, names[live.Running[j].Placement[d.Rank]]
			if _, err := cp.cells.MigrateRank(ctx, run.Metadata.Name, rank, run.Status.Site); err != nil {
				out.Stays = append(out.Stays, v1alpha1.CellStays{Cell: run.Metadata.Name, Reason: fmt.Sprintf("rank %d: %v", rank, err)})
				continue
			}
			out.Moves = append(out.Moves, v1alpha1.CellMove{Cell: run.Metadata.Name, Rank: &rank, From: from, To: run.Status.Site, Policy: d.Policy, Reason: d.Reason})
		}
	}
	return out, nil
}

// place lets the Granny planner's first-fit placement choose a new run's
// sites: its ranks on the fewest Ready sites with free cores, counting the
// ranks that run there now. The first rank's site becomes spec.site (the
// world's home), the others' spec.rankSites.
func (cp *ControlPlane) place(ctx context.Context, c *v1alpha1.CellRun) error {
	live, names, _, err := cp.liveView(ctx)
	if err != nil {
		return err
	}
	ranks := max(c.Spec.Ranks, 1)
	live.Arriving = []granny.Job{{Ranks: ranks, MemoryPerRank: defaultRankMemory}}
	decisions, err := granny.Plan(live, []granny.Policy{granny.FirstFit{}})
	if err != nil {
		return err
	}
	for _, d := range decisions {
		if d.Kind != granny.Place || d.Job != len(live.Running) || d.Rejected != "" {
			continue
		}
		c.Spec.Site = names[d.Hosts[0]]
		for r, h := range d.Hosts {
			if h != d.Hosts[0] {
				c.Spec.RankSites = append(c.Spec.RankSites, v1alpha1.CellRankSite{Rank: r, Site: names[h]})
			}
		}
		cp.log.Info("placement decision", "ranks", ranks, "site", c.Spec.Site, "rankSites", len(c.Spec.RankSites), "policy", d.Policy, "reason", d.Reason)
		return nil
	}
	return httpapi.BadRequest(fmt.Errorf("spec.place: the Ready sites have no %d free cores now", ranks))
}

// spread reports whether a placement has a rank off host home.
func spread(placement []int, home int) bool {
	for _, h := range placement {
		if h != home {
			return true
		}
	}
	return false
}

// gatherAt is live with host home's free cores the only ones open: every
// other host offers just the ranks it runs.
func gatherAt(live granny.Live, home int) granny.Live {
	used := make([]int, len(live.Hosts))
	for _, j := range live.Running {
		for _, h := range j.Placement {
			used[h]++
		}
	}
	out := live
	out.Hosts = make([]granny.Host, len(live.Hosts))
	for h, host := range live.Hosts {
		out.Hosts[h] = host
		if h != home {
			out.Hosts[h].Slots = used[h]
		}
	}
	out.Freed = []int{home}
	return out
}

// liveView reads the sites and running cell runs and returns liveState's
// view of them.
func (cp *ControlPlane) liveView(ctx context.Context) (granny.Live, []string, []v1alpha1.CellRun, error) {
	siteList, err := cp.sites.List(ctx)
	if err != nil {
		return granny.Live{}, nil, nil, err
	}
	runs, err := cp.cells.List(ctx, cells.Filter{Phase: v1alpha1.CellRunning})
	if err != nil {
		return granny.Live{}, nil, nil, err
	}
	live, names, jobs := liveState(siteList, runs)
	return live, names, jobs, nil
}

// liveState is the planner's view: Ready sites as hosts offering their
// cores, running cell runs as jobs placed on their sites, a world's ranks
// each where it runs (status.ranks for those away).
func liveState(siteList []v1alpha1.Site, runs []v1alpha1.CellRun) (granny.Live, []string, []v1alpha1.CellRun) {
	live := granny.Live{Cost: granny.DefaultCostModel()}
	var names []string
	for _, s := range siteList {
		if s.Status.Phase != v1alpha1.SiteReady {
			continue
		}
		live.Hosts = append(live.Hosts, granny.Host{ID: len(names), Slots: s.Spec.Capacity.Cores})
		names = append(names, s.Metadata.Name)
	}
	var jobs []v1alpha1.CellRun
	for _, run := range runs {
		host, ok := indexOf(names, run.Status.Site)
		if !ok {
			continue
		}
		ranks := max(run.Spec.Ranks, 1)
		placement := make([]int, ranks)
		for i := range placement {
			placement[i] = host
			if rs, ok := run.Status.RankStatus(i); ok && !rs.Phase.AtHome() {
				if away, ok := indexOf(names, rs.Site); ok {
					placement[i] = away
				}
			}
		}
		memory := int64(defaultRankMemory)
		if cp := run.Status.Checkpoint; cp != nil {
			memory = cp.Bytes / int64(ranks)
		}
		live.Running = append(live.Running, granny.LiveJob{Job: granny.Job{Ranks: ranks, MemoryPerRank: memory}, Placement: placement})
		jobs = append(jobs, run)
	}
	return live, names, jobs
}

func indexOf(names []string, name string) (int, bool) {
	for i, n := range names {
		if n == name {
			return i, true
		}
	}
	return -1, false
}
