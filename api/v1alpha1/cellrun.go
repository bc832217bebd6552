package v1alpha1

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// KindCellRun is the kind of a request to run one cell at a site.
const KindCellRun = "CellRun"

// CellRun asks the continuum to run a WebAssembly module as a cell at a
// site; the site's node agent runs it and reports back in Status.
type CellRun struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ObjectMeta    `json:"metadata" yaml:"metadata"`
	Spec     CellRunSpec   `json:"spec" yaml:"spec"`
	Status   CellRunStatus `json:"status,omitzero" yaml:"status,omitempty"`
}

// CellRunSpec is what to run and where.
type CellRunSpec struct {
	// Site is the site whose agent runs the cell (set by the planner for a
	// run created with Place).
	Site string `json:"site,omitempty" yaml:"site,omitempty"`
	// Module is the SHA-256 of the module, uploaded to /api/v1/modules first.
	Module string `json:"module,omitempty" yaml:"module,omitempty"`
	// Process, instead of a module, runs a native program (a block of
	// type process): no sandbox, no migration but by restart.
	Process *ProcessTemplate `json:"process,omitempty" yaml:"process,omitempty"`
	Args    []string         `json:"args,omitempty" yaml:"args,omitempty"`
	Env     []string         `json:"env,omitempty" yaml:"env,omitempty"`
	// Engine is wasmtime, wazero or auto (default).
	Engine string `json:"engine,omitempty" yaml:"engine,omitempty"`
	// Memory caps linear memory; zero means 4 GiB.
	Memory Quantity `json:"memory,omitzero" yaml:"memory,omitempty"`
	// Timeout stops the cell after this long; zero means no limit.
	Timeout Duration `json:"timeout,omitzero" yaml:"timeout,omitempty"`
	// Ranks is the size of the MPI world an MPI program runs as, all of
	// its ranks at the site; 0 means 1.
	Ranks int `json:"ranks,omitempty" yaml:"ranks,omitempty"`
	// Dirs are directories of the agent's host the cell may use, as
	// HOST[:GUEST][:ro|:rw] (GUEST defaults to HOST). A cell that migrates finds them at the same paths
	// on its new host.
	Dirs []string `json:"dirs,omitempty" yaml:"dirs,omitempty"`
	// CheckpointInterval, when set, makes the agent checkpoint a
	// migratable cell this often: stop it at a migration point, hand the
	// snapshot to the control plane, and go on. If the site is then lost,
	// the control plane resumes the cell at another site from its last
	// checkpoint.
	CheckpointInterval Duration `json:"checkpointInterval,omitzero" yaml:"checkpointInterval,omitempty"`
	// Elastic lets the cell use more cores than its ranks in a parallel
	// phase while its site has idle ones (cloudskin_parallelism, Granny's
	// elastic rule).
	Elastic bool `json:"elastic,omitempty" yaml:"elastic,omitempty"`
	// Place, on creation, lets the Granny planner choose spec.site and
	// spec.rankSites: the fewest Ready sites with a free core for every
	// rank (its first-fit placement). Site must then be empty.
	Place bool `json:"place,omitempty" yaml:"place,omitempty"`
	// RankSites moves single ranks of an MPI world away from spec.site,
	// the others staying: set by asking to migrate one rank.
	RankSites []CellRankSite `json:"rankSites,omitempty" yaml:"rankSites,omitempty"`
}

// CellRankSite says where one rank of an MPI world should run.
type CellRankSite struct {
	Rank int    `json:"rank" yaml:"rank"`
	Site string `json:"site" yaml:"site"`
}

// CellRankPhase is where the move of one rank is.
type CellRankPhase string

// The phases of a rank's move.
const (
	// RankOffered: the rank's cell stopped at its world's agent (the
	// home) and waits for the new site's agent to take it.
	RankOffered CellRankPhase = "Offered"
	// RankMoved: the rank runs at the new site; its MPI calls go to the
	// home.
	RankMoved CellRankPhase = "Moved"
	// RankStayed: the move did not happen (message says why); the rank
	// goes on at the home.
	RankStayed CellRankPhase = "Stayed"
	// RankReturned: the rank came back to the home (asked to move to the
	// run's site) and runs there again.
	RankReturned CellRankPhase = "Returned"
)

// AtHome reports whether a rank in this phase runs at the run's site.
func (p CellRankPhase) AtHome() bool { return p == RankStayed || p == RankReturned }

// CellRankStatus is, for one rank moved (or asked to move) away from the
// run's site, where its move is. Written by the home agent.
type CellRankStatus struct {
	Rank  int           `json:"rank" yaml:"rank"`
	Site  string        `json:"site" yaml:"site"`
	Phase CellRankPhase `json:"phase" yaml:"phase"`
	// Home and Token, while Offered, are where the new site's agent
	// fetches the rank (host:port of the home agent's rank listener) and
	// what it presents there.
	Home    string `json:"home,omitempty" yaml:"home,omitempty"`
	Token   string `json:"token,omitempty" yaml:"token,omitempty"`
	Message string `json:"message,omitempty" yaml:"message,omitempty"`
}

// MaxRanks bounds spec.ranks.
const MaxRanks = 1024

// CellPhase is where a cell run is.
type CellPhase string

// The phases of a cell run.
const (
	CellPending   CellPhase = "Pending"
	CellRunning   CellPhase = "Running"
	CellMigrating CellPhase = "Migrating" // stopped at a host call, its snapshot waiting for the new site
	CellSucceeded CellPhase = "Succeeded" // exited with status 0
	CellFailed    CellPhase = "Failed"    // exited non-zero, trapped, timed out or could not start
)

// Done reports whether the phase is final.
func (p CellPhase) Done() bool { return p == CellSucceeded || p == CellFailed }

// CellRunStatus is written by the agent.
type CellRunStatus struct {
	Phase CellPhase `json:"phase,omitempty" yaml:"phase,omitempty"`
	// Site is where the cell runs or ran last; it differs from spec.site
	// while a migration is asked for and not done.
	Site       string     `json:"site,omitempty" yaml:"site,omitempty"`
	ExitCode   int        `json:"exitCode" yaml:"exitCode"`
	Message    string     `json:"message,omitempty" yaml:"message,omitempty"`
	Engine     string     `json:"engine,omitempty" yaml:"engine,omitempty"`
	Output     string     `json:"output,omitempty" yaml:"output,omitempty"`
	StartTime  *time.Time `json:"startTime,omitempty" yaml:"startTime,omitempty"`
	FinishTime *time.Time `json:"finishTime,omitempty" yaml:"finishTime,omitempty"`
	// StoppedAt is when a migrating cell stopped at its source.
	StoppedAt *time.Time `json:"stoppedAt,omitempty" yaml:"stoppedAt,omitempty"`
	// Migrations lists the moves the cell made, oldest first.
	Migrations []CellMigration `json:"migrations,omitempty" yaml:"migrations,omitempty"`
	// Attempt counts the run's recoveries: the control plane adds one when
	// it resumes the run at another site after its site was lost.
	Attempt int `json:"attempt,omitempty" yaml:"attempt,omitempty"`
	// Claim names the agent's hold on the run: an agent takes a Pending or
	// Migrating run by reporting Running with a new claim, and every later
	// report, snapshot or checkpoint must carry that claim. One of an
	// older claim (an agent cut off while the run moved on, or whose cell
	// was recovered elsewhere) is refused with 409 Conflict, so only one
	// copy of a cell ever counts.
	Claim string `json:"claim,omitempty" yaml:"claim,omitempty"`
	// Checkpoint is the last checkpoint the control plane keeps.
	Checkpoint *CellCheckpoint `json:"checkpoint,omitempty" yaml:"checkpoint,omitempty"`
	// RecoveredFrom names the lost site a recovering run is resuming
	// from; the agent that resumes it records the move and clears it.
	RecoveredFrom string `json:"recoveredFrom,omitempty" yaml:"recoveredFrom,omitempty"`
	// Ranks are the moves of single ranks of an MPI world (spec.rankSites).
	Ranks []CellRankStatus `json:"ranks,omitempty" yaml:"ranks,omitempty"`
}

// RankStatus returns the status of rank's move, if there is one.
func (s CellRunStatus) RankStatus(rank int) (CellRankStatus, bool) {
	for _, r := range s.Ranks {
		if r.Rank == rank {
			return r, true
		}
	}
	return CellRankStatus{}, false
}

// RankSite returns the site spec.rankSites gives rank, if any.
func (s CellRunSpec) RankSite(rank int) (string, bool) {
	for _, r := range s.RankSites {
		if r.Rank == rank {
			return r.Site, true
		}
	}
	return "", false
}

// CellCheckpoint describes a checkpoint of a running cell.
type CellCheckpoint struct {
	// ID names the uploaded snapshot; a status that names a new ID makes
	// that upload the run's checkpoint.
	ID       string    `json:"id" yaml:"id"`
	Time     time.Time `json:"time" yaml:"time"`
	Site     string    `json:"site" yaml:"site"`
	HostCall uint64    `json:"hostCall" yaml:"hostCall"`
	Bytes    int64     `json:"bytes" yaml:"bytes"`
}

// CellMigration is one move of a running cell between sites.
type CellMigration struct {
	From     string `json:"from" yaml:"from"`
	To       string `json:"to" yaml:"to"`
	HostCall uint64 `json:"hostCall" yaml:"hostCall"` // rank 0's, for an MPI world
	Ranks    int    `json:"ranks,omitempty" yaml:"ranks,omitempty"`
	// Rank, for the move of one rank of an MPI world, names it.
	Rank     *int     `json:"rank,omitempty" yaml:"rank,omitempty"`
	Bytes    int64    `json:"bytes" yaml:"bytes"`
	Downtime Duration `json:"downtime" yaml:"downtime"`
	// Recovered says the cell did not move on request: its site was lost
	// and it resumed from its last checkpoint; work since then was redone.
	// Downtime then runs from the checkpoint.
	Recovered bool `json:"recovered,omitempty" yaml:"recovered,omitempty"`
}

// CellMigrationRequest asks for a running cell to move: the whole run,
// or with Rank one rank of its MPI world while the others run on.
type CellMigrationRequest struct {
	To   string `json:"to" yaml:"to"`
	Rank *int   `json:"rank,omitempty" yaml:"rank,omitempty"`
}

var digestPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidateDigest checks a module digest: 64 lower-case hex characters.
func ValidateDigest(d string) error {
	if !digestPattern.MatchString(d) {
		return fmt.Errorf("module digest %q: want the SHA-256 as 64 lower-case hex characters", d)
	}
	return nil
}

// Validate checks what a user may set on a CellRun.
func (c *CellRun) Validate() error {
	if err := ValidateTypeMeta(c.TypeMeta, KindCellRun); err != nil {
		return err
	}
	if err := ValidateMeta(c.Metadata); err != nil {
		return err
	}
	if err := ValidateName(c.Spec.Site); err != nil {
		return fmt.Errorf("spec.site: %w", err)
	}
	if c.Spec.Place && c.Spec.Process != nil {
		return fmt.Errorf("spec.place: a process runs where spec.site says")
	}
	if c.Spec.Process != nil {
		if c.Spec.Module != "" {
			return fmt.Errorf("spec: set spec.module or spec.process, not both")
		}
		if len(c.Spec.Process.Command) == 0 || c.Spec.Process.Command[0] == "" {
			return fmt.Errorf("spec.process.command: want the program and its arguments")
		}
		if c.Spec.Ranks > 1 || c.Spec.CheckpointInterval.Duration != 0 {
			return fmt.Errorf("spec.process: a process has no ranks and no checkpoints")
		}
	} else if err := ValidateDigest(c.Spec.Module); err != nil {
		return fmt.Errorf("spec.module: %w", err)
	}
	switch c.Spec.Engine {
	case "", "auto", "wasmtime", "wazero":
	default:
		return fmt.Errorf("spec.engine %q: want wasmtime, wazero or auto", c.Spec.Engine)
	}
	if c.Spec.Memory.Sign() < 0 || c.Spec.Timeout.Duration < 0 || c.Spec.CheckpointInterval.Duration < 0 {
		return fmt.Errorf("spec.memory, spec.timeout and spec.checkpointInterval must not be negative")
	}
	if c.Spec.Ranks < 0 || c.Spec.Ranks > MaxRanks {
		return fmt.Errorf("spec.ranks %d: want 1 to %d (0 means 1)", c.Spec.Ranks, MaxRanks)
	}
	for i, d := range c.Spec.Dirs {
		if d == "" || strings.ContainsRune(d, 0) {
			return fmt.Errorf("spec.dirs[%d] %q: want HOST[:GUEST][:ro]", i, d)
		}
	}
	return c.Spec.validateRankSites()
}

func (s CellRunSpec) validateRankSites() error {
	seen := make(map[int]bool, len(s.RankSites))
	for i, rs := range s.RankSites {
		if rs.Rank < 0 || rs.Rank >= max(s.Ranks, 1) {
			return fmt.Errorf("spec.rankSites[%d]: rank %d of a world of %d", i, rs.Rank, max(s.Ranks, 1))
		}
		if seen[rs.Rank] {
			return fmt.Errorf("spec.rankSites[%d]: rank %d is listed twice", i, rs.Rank)
		}
		seen[rs.Rank] = true
		if err := ValidateName(rs.Site); err != nil {
			return fmt.Errorf("spec.rankSites[%d].site: %w", i, err)
		}
	}
	return nil
}

// CellRunList is the answer to listing cell runs.
type CellRunList struct {
	TypeMeta `json:",inline" yaml:",inline"`
	Metadata ListMeta  `json:"metadata,omitzero" yaml:"metadata,omitempty"`
	Items    []CellRun `json:"items" yaml:"items"`
}

// ListMeta is a list's metadata. ResourceVersion names the state the list
// was read at; giving it back as ?resourceVersion= with ?wait= makes the
// next list wait until something changed since (a long poll, the way
// Kubernetes clients watch).
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty" yaml:"resourceVersion,omitempty"`
	// Continue, when set, is the token that asks for the next page
	// (?continue=); lists are cut into pages by ?limit=.
	Continue string `json:"continue,omitempty" yaml:"continue,omitempty"`
}
