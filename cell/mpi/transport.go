package mpi

import (
	"context"
	"fmt"
)

// Envelope is what MPI matches a message on, plus its destination.
type Envelope struct {
	Source  int    // sender's rank in the world
	Dest    int    // receiver's rank in the world
	Tag     int    // >= 0
	Context uint32 // the communicator's context id
}

// Transport carries point-to-point messages between ranks. The in-process
// transport (the default) hands them to World.Deliver; a multi-host one
// would ship remote ones to the receiver's process and call Deliver there.
//
// Only point-to-point traffic goes through a Transport. Collectives and
// communicator creation rendezvous on the World's in-process state.
type Transport interface {
	// Send delivers a message to env.Dest. payload aliases the sender's
	// memory and is valid only during the call, so the transport copies
	// it (or finishes with it) before returning. Messages Send delivers
	// from one source to one destination must be matched in the order
	// they were sent (MPI's non-overtaking rule).
	Send(ctx context.Context, env Envelope, payload []byte) error
}

// inProcess delivers to ranks of the same World.
type inProcess struct{ w *World }

func (t inProcess) Send(_ context.Context, env Envelope, payload []byte) error {
	return t.w.Deliver(env, payload)
}

// Deliver hands a message to its destination rank in this process: it is
// copied into the first matching posted receive, or else into a buffer
// queued for a later receive. payload is only read during the call.
func (w *World) Deliver(env Envelope, payload []byte) error {
	if env.Dest < 0 || env.Dest >= len(w.ranks) {
		return fmt.Errorf("mpi: %w: destination %d outside a world of %d", ErrRank, env.Dest, len(w.ranks))
	}
	w.ranks[env.Dest].deliver(env, payload)
	return nil
}
