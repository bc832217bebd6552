// Package granny is the planner for cells (L2): it places the cells of jobs
// (MPI worlds and single cells) on the core slots agents offer, and applies
// policies that move them with C-Cells live migration — gathering spread
// MPI jobs (Defragment), evacuating spot hosts before they are reclaimed
// (SpotEvacuation), growing elastic jobs into idle cores (Elastic). It
// follows the design of Granny (Faasm's scheduler for MPI over WebAssembly)
// and is written by hand because no Go library implements its policies;
// general schedulers place whole containers and never move a running rank.
//
// The decision logic does no I/O and reads no clock: simulated time is a
// number the caller advances, so a run is a pure function of its inputs and
// tests are deterministic. A Policy looks at the State and returns
// Decisions (Place, Migrate, Evacuate, Grow), each with a reason; the
// planner applies those that are valid — it never puts more ranks on a host
// than it has slots — and logs every decision, applied or rejected.
//
// Locality and migration are priced by one CostModel, shared by the
// policies and the simulator: a job of r ranks on k hosts runs
// 1 + Alpha·(k−1)/r times slower than on one host, and a migrating rank
// stops its job for MigrationFixed + memory/Bandwidth (13 ms + 300 MB/s by
// default, measured on CloudSkin's snapshot migration). Defragment moves
// ranks only when the predicted saving beats that pause.
//
// Simulate replays a job trace (ParseTrace, Generate; the format is in
// docs/formats/granny-trace.md) over simulated hosts with a set of policies
// and spot evictions, and reports makespan, mean job completion time,
// utilisation, bytes migrated and restarts — 1,000 hosts and 10,000 jobs
// take under a second with every policy on.
package granny
