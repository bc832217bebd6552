package streamapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/stream"
)

// The instance-count API: GET and PUT Base+"/instances". Only a service
// that runs its segment stores as instances (stream.InstanceScaler, which
// a cluster's Service is) has one; a single store answers 501.

// assigner is what a cluster's Service has beside stream.InstanceScaler:
// which instance hosts each container. Without it the instances are
// listed without their containers.
type assigner interface {
	Assignment() map[int]string
}

// errNoInstances is the answer of a service that is one store.
var errNoInstances = &httpapi.Error{
	Code: http.StatusNotImplemented, Reason: "NotImplemented",
	Err: errors.New("stream: this server runs a single store, not a cluster of segment-store instances, so it has no instance count to read or set (a cluster runs with 'cloudskin up --stream-instances N' on a new data directory)"),
}

func (h *Handler) scaler() (stream.InstanceScaler, error) {
	sc, ok := h.s.(stream.InstanceScaler)
	if !ok {
		return nil, errNoInstances
	}
	return sc, nil
}

func (h *Handler) getInstances(*http.Request) (int, any, error) {
	sc, err := h.scaler()
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.instances(sc), nil
}

func (h *Handler) setInstances(r *http.Request) (int, any, error) {
	sc, err := h.scaler()
	if err != nil {
		return 0, nil, err
	}
	var req SetInstancesRequest
	if err := decodeLimited(r, httpapi.MaxBodyBytes, &req); err != nil {
		return 0, nil, err
	}
	if req.Count < 1 {
		return 0, nil, httpapi.BadRequest(fmt.Errorf("count %d: want 1 or more instances", req.Count))
	}
	// A move, once begun, runs to its end whatever the request's context
	// says; a client that gives up still leaves a consistent cluster.
	moves, err := sc.SetInstances(context.WithoutCancel(r.Context()), req.Count)
	out := InstancesChange{Moves: make([]Move, len(moves)), Instances: h.instances(sc)}
	for i, m := range moves {
		out.Moves[i] = Move{Container: m.Container, From: m.From, To: m.To, Took: m.Took.String(), Replayed: m.Replayed}
	}
	if err != nil {
		h.log.Warn("setting the number of stream instances", "count", req.Count, "moves", len(moves), "err", err)
		return 0, nil, err
	}
	h.log.Info("stream instances set", "count", req.Count, "moves", len(moves))
	return http.StatusOK, out, nil
}

// instances lists sc's instances with the containers each hosts.
func (h *Handler) instances(sc stream.InstanceScaler) Instances {
	names := sc.Instances()
	out := Instances{Count: len(names), Items: make([]Instance, len(names))}
	hosted := map[string][]int{}
	if a, ok := sc.(assigner); ok {
		assignment := a.Assignment()
		out.Containers = len(assignment)
		for c, inst := range assignment {
			hosted[inst] = append(hosted[inst], c)
		}
	}
	for i, n := range names {
		cs := hosted[n]
		slices.Sort(cs)
		out.Items[i] = Instance{Name: n, Containers: nonNil(cs)}
	}
	return out
}

// movesFrom turns the wire's moves back into the store's.
func movesFrom(in []Move) ([]stream.ContainerMove, error) {
	out := make([]stream.ContainerMove, len(in))
	for i, m := range in {
		took, err := time.ParseDuration(m.Took)
		if err != nil {
			return nil, fmt.Errorf("move of container %d: took %q: %w", m.Container, m.Took, err)
		}
		out[i] = stream.ContainerMove{Container: m.Container, From: m.From, To: m.To, Took: took, Replayed: m.Replayed}
	}
	return out, nil
}
