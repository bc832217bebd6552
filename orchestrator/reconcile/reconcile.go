// Package reconcile decides, from the applications the user wants and
// the workloads that exist, what to create and what to delete so that the
// second becomes the first, and what each application's status is.
//
// It is level-triggered and idempotent: Plan looks only at the current
// state, never at the events that led to it, so running it twice on the
// same state gives the same plan, and a control plane that restarts
// mid-rollout simply plans again. It is pure (no I/O, the clock is an
// input) so that tests are deterministic and the scale benchmark measures
// the decision logic alone. The orchestrator carries the plan out.
//
// A replica is an index of a component (0 … replicas-1). It is realised by
// one workload at a time, named app-component-index-serial; a restart, an
// update or a restart-style move makes a workload with the next serial,
// and the older one is deleted once the new one runs (create before
// delete), so a component never has fewer replicas running than asked
// during a rolling update.
package reconcile

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/placement"
)

// Phase is a workload's state as the reconciler needs it.
type Phase string

// The workload phases.
const (
	Pending   Phase = "Pending"
	Running   Phase = "Running"
	Migrating Phase = "Migrating"
	Succeeded Phase = "Succeeded"
	Failed    Phase = "Failed"
)

func (p Phase) done() bool { return p == Succeeded || p == Failed }

// Workload is one thing that realises a replica: a cell run, or the
// objects of a kubernetes block at a cluster.
type Workload struct {
	Name        string
	Application string
	Component   string
	Index       int
	Serial      int
	Hash        string // of the template it was made from
	Restarts    int
	Site        string
	Phase       Phase
	Started     bool      // an agent took it (it ran at some point)
	Finished    time.Time // when it ended, if done
	Message     string
	CPUMilli    int64
	Memory      int64
	// Replicas and Ready are the kubernetes block's counts: one workload
	// stands for all of a component's replicas at a cluster.
	Replicas, Ready int
}

// Resolved is a component's block, looked up in the catalog, with its
// parameters checked; Err says why it could not be.
type Resolved struct {
	Block  v1alpha1.Block
	Params map[string]string
	Err    error
}

// Hash identifies what a replica runs: a workload whose hash differs
// from its component's is out of date and is replaced.
func (r Resolved) Hash() string {
	b, _ := json.Marshal(struct {
		Block  string
		Digest string
		Params map[string]string
	}{r.Block.Ref(), r.Block.Status.Digest, r.Params})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:5])
}

// App is an application with its components' blocks resolved.
type App struct {
	App      v1alpha1.Application
	Resolved map[string]Resolved
	// Observed holds the latest value of each objective's metric, keyed
	// by Objective.Metric and Component ("fps/detector" or "fps/").
	Observed map[string]float64
}

// Move asks for a replica to run at another site by start-new-then-stop-old.
type Move struct {
	Application, Component string
	Index                  int
	To                     string
}

// Input is the state Plan looks at.
type Input struct {
	Now       time.Time
	Apps      []App
	Sites     []placement.Site
	Workloads []Workload
	Moves     []Move
	Scorer    placement.Scorer
	// BackoffBase and BackoffMax bound restart delays: base·2^restarts,
	// at most max.
	BackoffBase, BackoffMax time.Duration
}

// Create asks for a new workload.
type Create struct {
	Workload Workload
	Block    v1alpha1.Block
	Params   map[string]string
}

// Delete asks for a workload to go.
type Delete struct {
	Name   string
	Reason string
}

// Plan is what to do and what to report.
type Plan struct {
	Creates []Create
	// Scales asks a kubernetes workload for another replica count.
	Scales  []Create
	Deletes []Delete
	// Status is each application's new status, by name.
	Status map[string]v1alpha1.ApplicationStatus
	// Decisions are the placement decisions made, by application.
	Decisions map[string][]v1alpha1.PlacementDecision
	// RequeueAfter, when not zero, is when a back-off ends and the plan
	// should be made again.
	RequeueAfter time.Duration
}

// Compute makes the plan.
func Compute(in Input) Plan {
	p := Plan{Status: map[string]v1alpha1.ApplicationStatus{}, Decisions: map[string][]v1alpha1.PlacementDecision{}}
	sites := slices.Clone(in.Sites)
	siteIndex := map[string]int{}
	for i := range sites {
		siteIndex[sites[i].Name] = i
	}
	byComponent := map[string][]Workload{}
	for _, w := range in.Workloads {
		if !w.Phase.done() {
			if i, ok := siteIndex[w.Site]; ok {
				placement.Reserve(placement.Request{Application: w.Application, Component: v1alpha1.Component{Name: w.Component}, CPUMilli: w.CPUMilli, Memory: w.Memory}, &sites[i])
			}
		}
		k := w.Application + "/" + w.Component
		byComponent[k] = append(byComponent[k], w)
	}
	moves := map[string]string{}
	for _, m := range in.Moves {
		moves[fmt.Sprintf("%s/%s/%d", m.Application, m.Component, m.Index)] = m.To
	}
	r := &run{in: in, plan: &p, sites: sites, siteIndex: siteIndex, moves: moves}
	claimed := map[string]bool{}
	for _, a := range in.Apps {
		for _, c := range a.App.Spec.Components {
			claimed[a.App.Metadata.Name+"/"+c.Name] = true
		}
		r.app(a, byComponent)
	}
	for _, k := range sortedKeys(byComponent) {
		if claimed[k] {
			continue
		}
		for _, w := range byComponent[k] {
			p.Deletes = append(p.Deletes, Delete{Name: w.Name, Reason: "its application or component is gone"})
		}
	}
	return p
}

// run is one Compute in progress.
type run struct {
	in        Input
	plan      *Plan
	sites     []placement.Site
	siteIndex map[string]int
	moves     map[string]string
}

func (r *run) requeue(after time.Duration) {
	if after > 0 && (r.plan.RequeueAfter == 0 || after < r.plan.RequeueAfter) {
		r.plan.RequeueAfter = after
	}
}

// app plans one application, components upstream first.
func (r *run) app(a App, byComponent map[string][]Workload) {
	name := a.App.Metadata.Name
	st := status{prev: a.App.Status, now: r.in.Now}
	sitesOf := map[string][]string{} // component → sites of its running replicas
	runningOf := map[string]int{}
	for _, c := range linkOrder(a.App.Spec.Components) {
		ws := byComponent[name+"/"+c.Name]
		res, ok := a.Resolved[c.Name]
		if !ok || res.Err != nil {
			err := res.Err
			if err == nil {
				err = fmt.Errorf("block %s was not resolved", c.Block)
			}
			st.failed("BlockUnavailable", fmt.Sprintf("component %s: %v", c.Name, err))
			st.components = append(st.components, v1alpha1.ComponentStatus{Name: c.Name, Desired: c.DesiredReplicas(), Replicas: replicaStatus(ws, "")})
			continue
		}
		var upstream []string
		waiting := ""
		for _, l := range c.Links {
			upstream = append(upstream, sitesOf[l]...)
			if runningOf[l] == 0 && waiting == "" {
				waiting = l
			}
		}
		cs := r.component(a, c, res, ws, upstream, waiting, &st)
		sitesOf[c.Name], runningOf[c.Name] = cs.sites, cs.running
	}
	r.plan.Status[name] = st.finish(a)
}

// componentResult is what the components downstream need to know.
type componentResult struct {
	sites   []string
	running int
}

func (r *run) component(a App, c v1alpha1.Component, res Resolved, ws []Workload, upstream []string, waiting string, st *status) componentResult {
	appName := a.App.Metadata.Name
	hash := res.Hash()
	cs := v1alpha1.ComponentStatus{Name: c.Name, Block: res.Block.Ref(), Desired: c.DesiredReplicas()}
	groups := map[int][]Workload{}
	for _, w := range ws {
		groups[w.Index] = append(groups[w.Index], w)
	}
	for idx, g := range groups {
		if idx >= cs.Desired {
			for _, w := range g {
				r.delete(w, "scaled down")
			}
			delete(groups, idx)
		}
	}
	if res.Block.Spec.Type == v1alpha1.BlockKubernetes {
		return r.kubernetes(a, c, res, groups[0], upstream, waiting, st, &cs)
	}
	restart := res.Block.Spec.Restart
	if restart == "" {
		restart = v1alpha1.RestartAlways
	}
	surging := 0 // replicas with a replacement under way: one at a time
	for _, g := range groups {
		if len(live(g)) > 1 {
			surging++
		}
	}
	var result componentResult
	for idx := range cs.Desired {
		g := groups[idx]
		slices.SortFunc(g, func(x, y Workload) int { return cmp.Compare(x.Serial, y.Serial) })
		req := placement.Request{
			Application: appName, Component: c, BlockType: res.Block.Spec.Type,
			CPUMilli: res.Block.Spec.Resources.CPU.MilliValue(), Memory: res.Block.Spec.Resources.Memory.Value(),
			Replica: idx, Upstream: upstream,
		}
		rs := r.replica(a, c, res, hash, restart, req, g, waiting, &surging, st)
		cs.Replicas = append(cs.Replicas, rs.status...)
		if rs.ready {
			cs.Ready++
		}
		if rs.runningSite != "" {
			result.sites = append(result.sites, rs.runningSite)
			result.running++
		}
	}
	st.components = append(st.components, cs)
	if cs.Ready < cs.Desired {
		st.short(c.Name, cs.Ready, cs.Desired)
	}
	return result
}

type replicaResult struct {
	status      []v1alpha1.ReplicaStatus
	ready       bool
	runningSite string
}

// replica plans one index of a component.
func (r *run) replica(a App, c v1alpha1.Component, res Resolved, hash string, restart v1alpha1.RestartPolicy, req placement.Request, g []Workload, waiting string, surging *int, st *status) replicaResult {
	out := replicaResult{status: replicaStatus(g, hash)}
	lv := live(g)
	last := Workload{Serial: -1}
	if len(g) > 0 {
		last = g[len(g)-1]
	}
	// Keep only the newest finished workload, for its logs.
	for _, w := range g {
		if w.Phase.done() && w.Name != last.Name {
			r.delete(w, "superseded")
		}
	}
	moveTo := r.moves[fmt.Sprintf("%s/%s/%d", req.Application, c.Name, req.Replica)]
	if len(lv) > 0 {
		cur := lv[len(lv)-1]
		switch {
		case cur.Phase == Running && cur.Hash == hash && len(lv) > 1:
			for _, w := range lv[:len(lv)-1] {
				r.delete(w, "replaced by "+cur.Name)
			}
		case cur.Phase == Pending && !cur.Started && !r.ready(cur.Site):
			r.delete(cur, "its site "+cur.Site+" is not Ready")
			req.Previous = ""
			r.create(a, c, res, hash, req, cur.Serial+1, cur.Restarts, "", st)
			return out
		case cur.Hash != hash && len(lv) == 1 && *surging == 0:
			*surging++
			req.Previous = cur.Site
			r.create(a, c, res, hash, req, cur.Serial+1, 0, "", st)
		case moveTo != "" && cur.Site != moveTo && len(lv) == 1 && cur.Phase == Running:
			r.create(a, c, res, hash, req, cur.Serial+1, cur.Restarts, moveTo, st)
		}
		for _, w := range lv { // an old version running still serves
			if w.Phase == Running {
				out.runningSite, out.ready = w.Site, true
			}
		}
		return out
	}
	if last.Serial >= 0 { // every workload of the replica ended
		switch {
		case last.Phase == Succeeded && restart != v1alpha1.RestartAlways:
			out.ready = true // a job that completed
			return out
		case last.Phase == Failed && restart == v1alpha1.RestartNever:
			st.failed("ReplicaFailed", fmt.Sprintf("%s failed and restart is Never: %s", last.Name, last.Message))
			return out
		}
		delay := backoff(r.in.BackoffBase, r.in.BackoffMax, last.Restarts)
		if wait := last.Finished.Add(delay).Sub(r.in.Now); wait > 0 {
			r.requeue(wait)
			st.note(fmt.Sprintf("%s ended (%s); restarting in %s", last.Name, last.Phase, wait.Round(time.Millisecond)))
			return out
		}
		req.Previous = last.Site
		r.create(a, c, res, hash, req, last.Serial+1, last.Restarts+1, "", st)
		return out
	}
	if waiting != "" {
		st.note(fmt.Sprintf("%s waits for %s to run", c.Name, waiting))
		return out
	}
	r.create(a, c, res, hash, req, 0, 0, "", st)
	return out
}

// kubernetes plans a component of a kubernetes block: one workload at
// one cluster carries all its replicas.
func (r *run) kubernetes(a App, c v1alpha1.Component, res Resolved, g []Workload, upstream []string, waiting string, st *status, cs *v1alpha1.ComponentStatus) componentResult {
	hash := res.Hash()
	req := placement.Request{Application: a.App.Metadata.Name, Component: c, BlockType: v1alpha1.BlockKubernetes, Upstream: upstream}
	cs.Replicas = replicaStatus(g, hash)
	var result componentResult
	if len(g) == 0 {
		if waiting != "" {
			st.note(fmt.Sprintf("%s waits for %s to run", c.Name, waiting))
		} else if cs.Desired > 0 {
			r.createN(a, c, res, hash, req, 0, cs.Desired, st)
		}
	} else {
		w := g[len(g)-1]
		if w.Hash != hash || w.Replicas != cs.Desired {
			cr := Create{Workload: w, Block: res.Block, Params: res.Params}
			cr.Workload.Hash, cr.Workload.Replicas = hash, cs.Desired
			r.plan.Scales = append(r.plan.Scales, cr)
		}
		cs.Ready = min(w.Ready, cs.Desired)
		if w.Ready > 0 {
			result.sites, result.running = []string{w.Site}, w.Ready
		}
	}
	st.components = append(st.components, *cs)
	if cs.Ready < cs.Desired {
		st.short(c.Name, cs.Ready, cs.Desired)
	}
	return result
}

func (r *run) ready(site string) bool {
	i, ok := r.siteIndex[site]
	return ok && r.sites[i].Ready
}

func (r *run) delete(w Workload, reason string) {
	r.plan.Deletes = append(r.plan.Deletes, Delete{Name: w.Name, Reason: reason})
}

func (r *run) create(a App, c v1alpha1.Component, res Resolved, hash string, req placement.Request, serial, restarts int, pin string, st *status) {
	r.createWith(a, c, res, hash, req, serial, restarts, 0, pin, st)
}

func (r *run) createN(a App, c v1alpha1.Component, res Resolved, hash string, req placement.Request, serial, replicas int, st *status) {
	r.createWith(a, c, res, hash, req, serial, 0, replicas, "", st)
}

// createWith places a new workload and asks for it; a pin (a move's
// destination) replaces the component's requirements' site.
func (r *run) createWith(a App, c v1alpha1.Component, res Resolved, hash string, req placement.Request, serial, restarts, replicas int, pin string, st *status) {
	if pin != "" {
		req.Component.Requirements.Site = pin
	}
	d := placement.Place(req, r.sites, r.in.Scorer, r.in.Now)
	appName := a.App.Metadata.Name
	r.plan.Decisions[appName] = append(r.plan.Decisions[appName], d)
	if d.Site == "" {
		st.unschedulable(c.Name, req.Replica, d.Reason)
		return
	}
	placement.Reserve(req, &r.sites[r.siteIndex[d.Site]])
	w := Workload{
		Name:        WorkloadName(appName, c.Name, req.Replica, serial),
		Application: appName, Component: c.Name, Index: req.Replica, Serial: serial,
		Hash: hash, Restarts: restarts, Site: d.Site, Phase: Pending,
		CPUMilli: req.CPUMilli, Memory: req.Memory, Replicas: replicas,
	}
	r.plan.Creates = append(r.plan.Creates, Create{Workload: w, Block: res.Block, Params: res.Params})
}

// WorkloadName is app-component-index-serial, shortened with a hash when
// longer than a DNS label allows.
func WorkloadName(app, component string, index, serial int) string {
	name := fmt.Sprintf("%s-%s-%d-%d", app, component, index, serial)
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	tail := "-" + hex.EncodeToString(sum[:4]) + "-" + strconv.Itoa(index) + "-" + strconv.Itoa(serial)
	return name[:63-len(tail)] + tail
}

func backoff(base, maxDelay time.Duration, restarts int) time.Duration {
	d := base
	for range restarts {
		d *= 2
		if d >= maxDelay {
			return maxDelay
		}
	}
	return min(d, maxDelay)
}

func live(g []Workload) []Workload {
	var out []Workload
	for _, w := range g {
		if !w.Phase.done() {
			out = append(out, w)
		}
	}
	return out
}

func replicaStatus(g []Workload, hash string) []v1alpha1.ReplicaStatus {
	var out []v1alpha1.ReplicaStatus
	for _, w := range g {
		msg := w.Message
		if hash != "" && w.Hash != hash && !w.Phase.done() {
			msg = "out of date; being replaced"
		}
		out = append(out, v1alpha1.ReplicaStatus{Name: w.Name, Index: w.Index, Site: w.Site, Phase: string(w.Phase), Restarts: w.Restarts, Message: msg})
	}
	slices.SortFunc(out, func(x, y v1alpha1.ReplicaStatus) int {
		return cmp.Or(cmp.Compare(x.Index, y.Index), cmp.Compare(x.Name, y.Name))
	})
	return out
}

// linkOrder returns components with every linked component before the
// components that link to it (validation ruled out cycles).
func linkOrder(cs []v1alpha1.Component) []v1alpha1.Component {
	byName := map[string]v1alpha1.Component{}
	for _, c := range cs {
		byName[c.Name] = c
	}
	seen := map[string]bool{}
	var out []v1alpha1.Component
	var visit func(c v1alpha1.Component)
	visit = func(c v1alpha1.Component) {
		if seen[c.Name] {
			return
		}
		seen[c.Name] = true
		for _, l := range c.Links {
			if u, ok := byName[l]; ok {
				visit(u)
			}
		}
		out = append(out, c)
	}
	for _, c := range cs {
		visit(c)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
