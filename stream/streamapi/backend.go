package streamapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/cluster"
)

// Backend is the store that Component, and `cloudskin stream serve`, run
// and serve: a cluster of segment-store instances (*cluster.Cluster) or
// one *stream.Store. Setup registers its metrics and readiness; Run tiers
// and applies retention until its context ends; the owner closes it after.
type Backend interface {
	component.Component
	Service() stream.Service
	Close() error
}

// BackendOptions say what OpenBackend opens.
type BackendOptions struct {
	// Store are the store's options; for a cluster, those every
	// container's store is opened with (cluster.Options.Store). Store.Dir
	// is where the data is.
	Store stream.Options
	// Instances is the number of segment-store instances of a cluster.
	// 0 opens a single store, the default because it is the fast one (one
	// log, whose group commit serves every stream), unless the directory
	// already holds a cluster, which is then opened with one instance.
	// 1 or more opens a cluster: the instance API and the Learning Plane
	// change the count while it runs.
	Instances int
	// Containers is the number of containers of a new cluster; 0 means
	// the recorded number, or cluster.DefaultContainers (8).
	Containers int
}

// OpenBackend opens a single store or a cluster in opts.Store.Dir, as
// opts.Instances and the directory say; single reports which it opened. A
// directory that holds a single store cannot be opened as a cluster (its
// streams would drop out of sight), nor one that holds a cluster as a
// single store.
func OpenBackend(ctx context.Context, opts BackendOptions) (b Backend, single bool, err error) {
	dir := opts.Store.Dir
	if dir == "" {
		return nil, false, errors.New("stream: BackendOptions.Store.Dir is required")
	}
	if opts.Instances < 0 || opts.Containers < 0 {
		return nil, false, fmt.Errorf("stream: %d instances and %d containers: want 0 or more", opts.Instances, opts.Containers)
	}
	holdsStore, err := cluster.HoldsStore(dir)
	if err != nil {
		return nil, false, err
	}
	holdsCluster, err := cluster.HoldsCluster(dir)
	if err != nil {
		return nil, false, err
	}
	wantCluster := opts.Instances > 0 || opts.Containers > 0
	switch {
	case holdsStore && wantCluster:
		return nil, false, fmt.Errorf("stream: %s holds a single store (its log in wal/, no cluster.json), which has no segment-store instances or containers; serve it without them, or use another data directory for a cluster", dir)
	case !holdsCluster && !wantCluster:
		s, err := stream.Open(ctx, opts.Store)
		if err != nil {
			return nil, false, err
		}
		return s, true, nil
	}
	cl, err := cluster.Open(ctx, cluster.Options{
		Dir: dir, Containers: opts.Containers, Instances: opts.Instances,
		Store: opts.Store, Metrics: opts.Store.Metrics, Log: opts.Store.Log,
	})
	if err != nil {
		return nil, false, err
	}
	return cl, false, nil
}
