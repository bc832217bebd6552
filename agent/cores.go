package agent

import (
	"sync"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/granny"
)

// coreBook counts what the site's cores are doing, for the elastic grants
// cells ask for with cloudskin_parallelism (spec.elastic): the ranks the
// agent runs (an MPI world's every rank, a rank moved here), which of them
// are elastic, and how many runs wait for the site. The rule itself is
// Granny's (granny.Elastic.Grant), the one its simulator measures.
type coreBook struct {
	mu      sync.Mutex
	uses    map[string]coreUse
	waiting int
}

type coreUse struct {
	ranks   int
	elastic bool
}

// add counts ranks running under key until the returned function is
// called.
func (b *coreBook) add(key string, ranks int, elastic bool) (release func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.uses == nil {
		b.uses = make(map[string]coreUse)
	}
	b.uses[key] = coreUse{ranks: ranks, elastic: elastic}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.uses, key)
	}
}

// adjust changes the ranks counted under key by delta: a rank that moved
// away (-1) or came back (+1).
func (b *coreBook) adjust(key string, delta int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if u, ok := b.uses[key]; ok {
		u.ranks = max(u.ranks+delta, 0)
		b.uses[key] = u
	}
}

// setWaiting records how many runs wait to start at the site.
func (b *coreBook) setWaiting(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting = n
}

// grant is the cores an elastic rank may use now on a site of cores.
func (b *coreBook) grant(cores int) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	running, elastic := 0, 0
	for _, u := range b.uses {
		running += u.ranks
		if u.elastic {
			elastic += u.ranks
		}
	}
	return granny.Elastic{}.Grant(cores, running, elastic, b.waiting)
}

// parallelism is the cell.Spec.Parallelism of a run: the site's elastic
// grant for an elastic run, nil (1 core) for any other.
func (a *Agent) parallelism(run v1alpha1.CellRun) func() int {
	if !run.Spec.Elastic {
		return nil
	}
	cores := a.site.Spec.Capacity.Cores
	return func() int { return a.cores.grant(cores) }
}

// waitingRuns counts the runs in runs that wait to start at site.
func waitingRuns(runs []v1alpha1.CellRun, site string) int {
	n := 0
	for _, r := range runs {
		if r.Spec.Site == site && r.Status.Phase == v1alpha1.CellPending {
			n++
		}
	}
	return n
}
