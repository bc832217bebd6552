package granny

import "fmt"

// Host is an agent's offer: Slots cores that cells may run on. A Spot host
// may be reclaimed by its provider after an eviction notice.
type Host struct {
	ID    int // index in the host list
	Slots int
	Spot  bool
}

// Job is what a trace asks to run: an MPI world of Ranks cells, or a single
// cell when Ranks is 1.
type Job struct {
	ID      int     // index in the trace
	Arrival float64 // seconds since the start of the trace
	Ranks   int
	// Duration is the work of each rank in seconds when all ranks share one
	// host; a spread job takes longer (CostModel.Slowdown).
	Duration float64
	// MemoryPerRank is the linear memory a rank has touched, which is what a
	// snapshot moves when the rank migrates.
	MemoryPerRank int64
	// Elastic jobs may be given more ranks when cores are idle (Elastic).
	Elastic bool
}

// CostModel prices locality and migration. The planner's policies and the
// simulator use the same model, so a policy's predicted saving is exactly
// what the simulation then credits it with.
type CostModel struct {
	// Alpha is the locality penalty: a job of r ranks spread over k hosts
	// runs (1 + Alpha·(k−1)/r) times slower than on one host. With Alpha 0.5
	// a job whose every rank sits on its own host takes about 1.5× as long,
	// the order of the slowdown Granny reports for MPI kernels whose
	// messages cross the network instead of shared memory.
	Alpha float64
	// MigrationFixed is the downtime of a migration regardless of memory,
	// in seconds (stop at a host call, write and read the snapshot header,
	// restart the engine).
	MigrationFixed float64
	// Bandwidth is how fast touched memory moves through a snapshot file,
	// in bytes per second.
	Bandwidth float64
}

// DefaultCostModel holds the values measured on CloudSkin's snapshot
// migration: about 13 ms fixed plus memory at about 300 MB/s.
func DefaultCostModel() CostModel {
	return CostModel{Alpha: 0.5, MigrationFixed: 0.013, Bandwidth: 300e6}
}

func (c CostModel) validate() error {
	if !(c.Alpha >= 0) || !(c.MigrationFixed >= 0) || !(c.Bandwidth > 0) {
		return fmt.Errorf("granny: cost model needs Alpha ≥ 0, MigrationFixed ≥ 0, Bandwidth > 0, have %+v", c)
	}
	return nil
}

// Slowdown is the factor by which a job of ranks ranks spread over hosts
// hosts runs slower than on one host.
func (c CostModel) Slowdown(ranks, hosts int) float64 {
	if ranks <= 1 || hosts <= 1 {
		return 1
	}
	return 1 + c.Alpha*float64(hosts-1)/float64(ranks)
}

// Downtime is how long a rank with bytes of touched memory is stopped while
// it migrates. An MPI job waits for its slowest rank, so the whole job
// stalls for it.
func (c CostModel) Downtime(bytes int64) float64 {
	return c.MigrationFixed + float64(bytes)/c.Bandwidth
}
