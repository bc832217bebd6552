package mpi

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// comm is a communicator, shared by its members.
type comm struct {
	context uint32      // separates its messages from other communicators'
	ranks   []int       // world rank of each member, by communicator rank
	index   map[int]int // communicator rank of each member, by world rank

	// mu guards rounds: the collectives in progress, by sequence number.
	// A member's n-th collective on the communicator takes part in round
	// n, since MPI requires members to call collectives in the same order.
	mu     sync.Mutex
	rounds map[uint64]*round
}

func newComm(context uint32, ranks []int) *comm {
	c := &comm{context: context, ranks: ranks, index: make(map[int]int, len(ranks)), rounds: make(map[uint64]*round)}
	for i, w := range ranks {
		c.index[w] = i
	}
	return c
}

// rankOf is the communicator rank of world rank w.
func (c *comm) rankOf(w int) int {
	if i, ok := c.index[w]; ok {
		return i
	}
	return Undefined
}

// commRef is one rank's handle on a communicator.
type commRef struct {
	c    *comm
	rank int    // the rank's rank in c
	seq  uint64 // collectives the rank has started on c
}

func (r *Rank) comm(h Comm) (*commRef, error) {
	if h <= CommNull || int(h) >= len(r.comms) || r.comms[h] == nil {
		return nil, fmt.Errorf("mpi: %w: no communicator %d on rank %d", ErrComm, h, r.rank)
	}
	return r.comms[h], nil
}

// addComm gives c a handle on this rank, the smallest free one.
func (r *Rank) addComm(c *comm) Comm {
	ref := &commRef{c: c, rank: c.rankOf(r.rank)}
	for h := CommSelf + 1; int(h) < len(r.comms); h++ {
		if r.comms[h] == nil {
			r.comms[h] = ref
			return h
		}
	}
	r.comms = append(r.comms, ref)
	return Comm(len(r.comms) - 1)
}

// CommRank is this rank's rank in comm (MPI_Comm_rank).
func (r *Rank) CommRank(comm Comm) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	ref, err := r.comm(comm)
	if err != nil {
		return 0, err
	}
	return ref.rank, nil
}

// CommSize is the number of ranks in comm (MPI_Comm_size).
func (r *Rank) CommSize(comm Comm) (int, error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	ref, err := r.comm(comm)
	if err != nil {
		return 0, err
	}
	return len(ref.c.ranks), nil
}

// CommSplit partitions comm by color, ordering each part by key and then
// by rank in comm (MPI_Comm_split). Every member calls it; those with color
// Undefined get CommNull.
func (r *Rank) CommSplit(ctx context.Context, comm Comm, color, key int) (Comm, error) {
	return r.split(ctx, comm, kSplit, color, key, nil)
}

// CommDup makes a communicator with comm's members and order but its own
// context, so its messages and collectives never meet comm's (MPI_Comm_dup).
func (r *Rank) CommDup(ctx context.Context, comm Comm) (Comm, error) {
	return r.split(ctx, comm, kDup, 0, 0, nil)
}

func (r *Rank) split(ctx context.Context, h Comm, kind collKind, color, key int, bad error) (Comm, error) {
	ref, err := r.begin(h)
	if err != nil {
		return CommNull, err
	}
	if kind == kDup {
		key = ref.rank
	}
	if bad == nil && color < 0 && color != Undefined {
		bad = fmt.Errorf("mpi: %w: color %d", ErrArg, color)
	}
	me := contrib{kind: kind, root: -1, color: color, key: key, bad: bad}
	rd := r.arrive(ref, me)
	defer r.finish(ref, rd)
	if bad != nil {
		return CommNull, bad
	}
	if err := r.await(ctx, rd.all); err != nil {
		return CommNull, err
	}
	if err := agreeAll(me, rd.in); err != nil {
		return CommNull, err
	}
	rd.once.Do(func() { rd.split = r.w.splitComm(ref.c, rd.in) })
	if color == Undefined {
		return CommNull, nil
	}
	return r.addComm(rd.split[color]), nil
}

// splitComm makes the communicators of a split, by color.
func (w *World) splitComm(parent *comm, in []contrib) map[int]*comm {
	groups := make(map[int][]int) // color -> members' ranks in parent
	var colors []int
	for i, c := range in {
		if c.color == Undefined {
			continue
		}
		if _, ok := groups[c.color]; !ok {
			colors = append(colors, c.color)
		}
		groups[c.color] = append(groups[c.color], i)
	}
	out := make(map[int]*comm, len(groups))
	for _, color := range colors {
		members := groups[color]
		sort.SliceStable(members, func(a, b int) bool { return in[members[a]].key < in[members[b]].key })
		ranks := make([]int, len(members))
		for i, m := range members {
			ranks[i] = parent.ranks[m]
		}
		out[color] = newComm(w.nextContext.Add(1), ranks)
	}
	return out
}

// CommFree releases a communicator handle (MPI_Comm_free). Operations
// already started on it complete; the predefined communicators cannot be
// freed. MPI makes this collective; here it is local, which no correct
// program can tell apart.
func (r *Rank) CommFree(comm Comm) error {
	if err := r.check(); err != nil {
		return err
	}
	if _, err := r.comm(comm); err != nil {
		return err
	}
	if comm == CommWorld || comm == CommSelf {
		return fmt.Errorf("mpi: %w: cannot free a predefined communicator", ErrComm)
	}
	r.comms[comm] = nil
	return nil
}
