package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/mpi"
)

// Moving one rank of an MPI world (spec.rankSites) involves two agents.
// The agent running the world is the rank's home: it stops the rank,
// offers its cell on its rank listener and writes the move's progress in
// status.ranks (Offered with its address and a token, then Moved or
// Stayed). The agent of the rank's new site sees the offer in its watch
// (the control plane lists it there), fetches the cell straight from the
// home over TCP and runs it; its MPI calls and output go to the home. Only
// the home writes the run's status, so the claim rule still holds: one
// agent owns the run.

// SetRankListen sets the address of the agent's rank listener, where the
// agents of other sites fetch ranks moving there (default 127.0.0.1:0, an
// ephemeral port on loopback; a multi-host agent sets an address the
// other hosts reach).
func (a *Agent) SetRankListen(addr string) { a.rankListen = addr }

// listenRanks opens the rank listener.
func (a *Agent) listenRanks() error {
	addr := a.rankListen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: rank listener: %w", a.Name(), err)
	}
	a.rankLn, a.home = ln, mpi.NewHome()
	return nil
}

// serveRanks accepts movers' connections until ctx ends.
func (a *Agent) serveRanks(ctx context.Context) {
	a.home.Serve(ctx, a.rankLn, func(conn net.Conn, err error) {
		a.log.Warn("serving a moved rank", "from", conn.RemoteAddr().String(), "err", err)
	})
}

// rankBook keeps, for a run this agent runs, its ranks' moves, so that
// every status the agent sends for the run carries them (status.ranks and
// their migrations), whichever goroutine sends it.
type rankBook struct {
	mu         sync.Mutex
	latest     v1alpha1.CellRunStatus // the last status sent, before merging
	ranks      []v1alpha1.CellRankStatus
	migrations []v1alpha1.CellMigration
	asked      map[int]bool
	moves      chan cell.RankMove
}

// rankBooks are the books of the runs this agent runs, by name.
type rankBooks struct {
	mu    sync.Mutex
	books map[string]*rankBook
}

// open starts the book of a run this agent claimed with status st.
func (b *rankBooks) open(name string, st v1alpha1.CellRunStatus) *rankBook {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.books == nil {
		b.books = make(map[string]*rankBook)
	}
	book := &rankBook{latest: st, asked: make(map[int]bool), moves: make(chan cell.RankMove, 8)}
	b.books[name] = book
	return book
}

func (b *rankBooks) get(name string) *rankBook {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.books[name]
}

func (b *rankBooks) close(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.books, name)
}

// merge records st as the run's latest status and returns it with the
// run's rank moves in it. A run without a book is returned as is.
func (b *rankBooks) merge(name string, st v1alpha1.CellRunStatus) v1alpha1.CellRunStatus {
	book := b.get(name)
	if book == nil {
		return st
	}
	book.mu.Lock()
	defer book.mu.Unlock()
	book.latest = st
	if len(book.ranks) == 0 {
		return st
	}
	st.Ranks = slices.Clone(book.ranks)
	st.Migrations = slices.DeleteFunc(slices.Clone(st.Migrations), func(m v1alpha1.CellMigration) bool { return m.Rank != nil })
	st.Migrations = append(st.Migrations, book.migrations...)
	return st
}

// set records rank's move status (and a migration, if it moved).
func (book *rankBook) set(rs v1alpha1.CellRankStatus, moved *v1alpha1.CellMigration) v1alpha1.CellRunStatus {
	book.mu.Lock()
	defer book.mu.Unlock()
	book.ranks = slices.DeleteFunc(book.ranks, func(r v1alpha1.CellRankStatus) bool { return r.Rank == rs.Rank })
	book.ranks = append(book.ranks, rs)
	if moved != nil {
		book.migrations = append(book.migrations, *moved)
	}
	return book.latest
}

// toMove lists the ranks spec.rankSites sends away from site that have no
// move status yet and were not asked to move, and marks them asked.
func (book *rankBook) toMove(run v1alpha1.CellRun, site string) []v1alpha1.CellRankSite {
	book.mu.Lock()
	defer book.mu.Unlock()
	var out []v1alpha1.CellRankSite
	for _, rs := range run.Spec.RankSites {
		if _, done := run.Status.RankStatus(rs.Rank); done || rs.Site == site || book.asked[rs.Rank] {
			continue
		}
		book.asked[rs.Rank] = true
		out = append(out, rs)
	}
	return out
}

// setAsked records whether rank is asked to move.
func (book *rankBook) setAsked(rank int, asked bool) {
	book.mu.Lock()
	defer book.mu.Unlock()
	book.asked[rank] = asked
}

// askMoves asks the run's world to move the ranks spec.rankSites sends
// away and that were not asked yet.
func (a *Agent) askMoves(ctx context.Context, run v1alpha1.CellRun) {
	book := a.ranks.get(run.Metadata.Name)
	if book == nil {
		return
	}
	for _, rs := range book.toMove(run, a.site.Metadata.Name) {
		a.log.Info("moving one rank of an MPI world", "cell", run.Metadata.Name, "rank", rs.Rank, "to", rs.Site)
		select {
		case book.moves <- a.rankMove(ctx, run.Metadata.Name, rs, book):
		default:
			a.log.Warn("too many rank moves at once; asked again later", "cell", run.Metadata.Name, "rank", rs.Rank)
			book.setAsked(rs.Rank, false)
		}
	}
}

// awayRanks are the moves that start ranks of a world that starts now at
// the sites spec.rankSites gives them (cell mpirun --sites), marked asked
// so that the watch does not ask to move them again.
func (a *Agent) awayRanks(ctx context.Context, run v1alpha1.CellRun, book *rankBook) map[int]cell.RankMove {
	away := map[int]cell.RankMove{}
	for _, rs := range book.toMove(run, a.site.Metadata.Name) {
		away[rs.Rank] = a.rankMove(ctx, run.Metadata.Name, rs, book)
	}
	return away
}

// rankAttachWithin is how long a home waits for the new site's agent to
// take an offered rank before the rank goes on at home.
const rankAttachWithin = 30 * time.Second

// rankMove is the request that moves rs.Rank, reporting its progress.
func (a *Agent) rankMove(ctx context.Context, name string, rs v1alpha1.CellRankSite, book *rankBook) cell.RankMove {
	var offer cell.RankOffer
	push := func(st v1alpha1.CellRunStatus) {
		if err := a.setStatus(ctx, name, st, 3); err != nil {
			a.log.Warn("reporting a rank's move", "cell", name, "rank", rs.Rank, "err", err)
		}
	}
	return cell.RankMove{
		Rank: rs.Rank, Home: a.home, AttachWithin: rankAttachWithin,
		Offered: func(o cell.RankOffer) {
			offer = o
			push(book.set(v1alpha1.CellRankStatus{Rank: rs.Rank, Site: rs.Site, Phase: v1alpha1.RankOffered,
				Home: a.rankLn.Addr().String(), Token: o.Token}, nil))
		},
		Returned: func(r cell.RankReturn) {
			rank := rs.Rank
			m := &v1alpha1.CellMigration{From: rs.Site, To: a.site.Metadata.Name, HostCall: r.HostCall, Ranks: 1, Rank: &rank, Bytes: int64(r.Bytes)}
			a.log.Info("rank came home", "cell", name, "rank", rank, "from", rs.Site, "bytes", r.Bytes)
			book.setAsked(rank, false) // it may be asked to move again
			a.cores.adjust(name, +1)
			push(book.set(v1alpha1.CellRankStatus{Rank: rank, Site: a.site.Metadata.Name, Phase: v1alpha1.RankReturned}, m))
		},
		Moved: func(r cell.RankMoveResult) {
			if !r.Attached {
				a.log.Warn("rank did not move; it goes on here", "cell", name, "rank", rs.Rank, "err", r.Err)
				push(book.set(v1alpha1.CellRankStatus{Rank: rs.Rank, Site: rs.Site, Phase: v1alpha1.RankStayed, Message: fmt.Sprint(r.Err)}, nil))
				return
			}
			rank := rs.Rank
			m := &v1alpha1.CellMigration{From: a.site.Metadata.Name, To: rs.Site, HostCall: offer.HostCall, Ranks: 1, Rank: &rank,
				Bytes: int64(offer.Bytes), Downtime: v1alpha1.Duration{Duration: r.Downtime}}
			a.log.Info("rank moved", "cell", name, "rank", rank, "to", rs.Site, "bytes", offer.Bytes, "downtime", r.Downtime)
			a.cores.adjust(name, -1) // its core here is free; its new site counts it
			push(book.set(v1alpha1.CellRankStatus{Rank: rank, Site: rs.Site, Phase: v1alpha1.RankMoved}, m))
		},
	}
}

// takenRanks are the ranks this agent took from their homes, by run and
// rank, each with the channel that sends it home.
type takenRanks struct {
	mu     sync.Mutex
	tokens map[string]bool
	goHome map[string]chan struct{}
}

func rankKey(run string, rank int) string { return run + "/" + fmt.Sprint(rank) }

// takeRanks starts the ranks offered to this site that it has not taken
// yet, each in its own goroutine, and sends home those whose run now wants
// them elsewhere (spec.rankSites: back at the run's site).
func (a *Agent) takeRanks(ctx context.Context, rt *cell.Runtime, taken *takenRanks, wg *sync.WaitGroup, run v1alpha1.CellRun) {
	taken.mu.Lock()
	defer taken.mu.Unlock()
	if taken.tokens == nil {
		taken.tokens, taken.goHome = map[string]bool{}, map[string]chan struct{}{}
	}
	for _, rs := range run.Status.Ranks {
		key := rankKey(run.Metadata.Name, rs.Rank)
		if ch, ok := taken.goHome[key]; ok {
			if want, _ := run.Spec.RankSite(rs.Rank); want != a.site.Metadata.Name {
				a.log.Info("sending a moved rank home", "cell", run.Metadata.Name, "rank", rs.Rank, "to", want)
				close(ch)
				delete(taken.goHome, key)
			}
			continue
		}
		if rs.Site != a.site.Metadata.Name || rs.Phase != v1alpha1.RankOffered || taken.tokens[rs.Token] {
			continue
		}
		taken.tokens[rs.Token] = true
		goHome := make(chan struct{})
		taken.goHome[key] = goHome
		wg.Go(func() {
			a.runMovedRank(ctx, rt, run, rs, goHome)
			taken.mu.Lock()
			if taken.goHome[key] == goHome {
				delete(taken.goHome, key)
			}
			taken.mu.Unlock()
		})
	}
}

// runMovedRank fetches an offered rank from its home and runs it here
// until it ends or goHome sends it back.
func (a *Agent) runMovedRank(ctx context.Context, rt *cell.Runtime, run v1alpha1.CellRun, rs v1alpha1.CellRankStatus, goHome <-chan struct{}) {
	log := a.log.With("cell", run.Metadata.Name, "rank", rs.Rank, "home", rs.Home)
	prog, err := a.load(ctx, rt, run.Spec)
	if err != nil {
		log.Warn("taking a moved rank: loading its module", "err", err)
		return
	}
	defer prog.Close(context.WithoutCancel(ctx))
	spec, err := cellSpec(run, io.Discard) // its output goes to the home
	if err != nil {
		log.Warn("taking a moved rank", "err", err)
		return
	}
	spec.Streams = a.streams
	spec.Parallelism = a.parallelism(run)
	releaseCores := a.cores.add(run.Metadata.Name+"/rank/"+fmt.Sprint(rs.Rank), 1, run.Spec.Elastic)
	defer releaseCores()
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", rs.Home)
	if err != nil {
		log.Warn("taking a moved rank: reaching its home", "err", err)
		return
	}
	a.running.Inc()
	defer a.running.Dec()
	log.Info("taking a moved rank")
	res, home, err := prog.RunMovedRankReturning(ctx, spec, conn, rs.Rank, rs.Token, goHome)
	switch {
	case err != nil:
		log.Warn("moved rank ended with an error", "exit", res.ExitCode, "err", err)
	case home:
		log.Info("moved rank sent home", "after", res.Elapsed)
	default:
		log.Info("moved rank ended", "exit", res.ExitCode, "elapsed", res.Elapsed)
	}
}
