package continuum

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/service"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/orchestrator/cells"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// gedsNode is a GEDS node of one part of up that keeps its data in GEDS:
// the stream store's LTS (spec.streams.lts: geds), the control plane's cell
// checkpoints (spec.cells.checkpoints: geds). Its tier 0 is under the data
// directory and its persistency tier is spec.geds.persistent, which those
// settings require (data handed over for good must outlive a tier 0). It
// opens in Run, once the metadata service (also in up) answers, and hands
// the client to ready; until then the part sees its storage as
// unavailable (a deferred storage), so no start-up order is needed.
type gedsNode struct {
	name, nodeID, dir string
	limit             int64
	persistent        geds.Persistent
	ready             func(ctx context.Context, c *geds.Client) error

	metadata string
	log      *slog.Logger
}

func newGEDSNode(cfg v1alpha1.Continuum, name, nodeID string, ready func(context.Context, *geds.Client) error) (*gedsNode, error) {
	persistent, err := gedsPersistent(cfg)
	if err != nil {
		return nil, err
	}
	return &gedsNode{
		name: name, nodeID: nodeID, dir: filepath.Join(cfg.Spec.DataDir, nodeID+"-geds"),
		limit: cfg.Spec.GEDS.Tier0Limit.Value(), persistent: persistent, ready: ready,
	}, nil
}

// streamLTSNode is the stream store's LTS in GEDS, bucket "streams".
func streamLTSNode(cfg v1alpha1.Continuum) (*gedsNode, *lts.Deferred, error) {
	storage := lts.NewDeferred("the stream store's GEDS node is not open yet")
	node, err := newGEDSNode(cfg, "stream-lts-geds", "streams", func(ctx context.Context, c *geds.Client) error {
		s, err := lts.NewGEDS(ctx, c, lts.GEDSOptions{Bucket: "streams"})
		if err == nil {
			storage.Set(s)
		}
		return err
	})
	return node, storage, err
}

// checkpointsNode is the control plane's cell checkpoints in GEDS, bucket
// cells.CheckpointBucket.
func checkpointsNode(cfg v1alpha1.Continuum) (*gedsNode, *cells.DeferredCheckpoints, error) {
	storage := cells.NewDeferredCheckpoints("the control plane's GEDS node is not open yet")
	node, err := newGEDSNode(cfg, "cell-checkpoints-geds", "cells", func(ctx context.Context, c *geds.Client) error {
		s, err := cells.NewGEDSCheckpoints(ctx, c)
		if err == nil {
			storage.Set(s)
		}
		return err
	})
	return node, storage, err
}

// Name implements component.Component.
func (g *gedsNode) Name() string { return g.name }

// Setup implements component.Component.
func (g *gedsNode) Setup(h *component.Host) error {
	g.metadata, g.log = h.ControlPlaneURL, h.Log.With("component", g.name)
	return nil
}

// Run implements component.Component: it opens the node, hands it over,
// and closes it when ctx ends.
func (g *gedsNode) Run(ctx context.Context) error {
	client, err := service.OpenNode(ctx, geds.Options{
		NodeID: g.nodeID, Dir: g.dir, Limit: g.limit, MetadataURL: g.metadata, Persistent: g.persistent, Log: g.log,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: %w", g.name, err)
	}
	defer client.Close()
	if err := g.ready(ctx, client); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: %w", g.name, err)
	}
	g.log.Info("GEDS node open", "node", g.nodeID)
	<-ctx.Done()
	return nil
}
