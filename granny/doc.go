// Package granny is the planner for cells (L2): it places cells on node
// slots and applies policies (de-fragmenting MPI jobs, growing parallelism
// into idle cores, evacuating spot hosts) using C-Cells live migration.
//
// This room is empty: issue 4 builds it. It may import cell and the
// foundation packages; its decision logic stays free of I/O and clocks.
package granny
