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
	"github.com/cloudskin/cloudskin/stream/lts"
)

// gedsLTS is the stream store's long-term storage in GEDS
// (spec.streams.lts: geds): a GEDS node of the stream store's own, whose
// tier 0 is under <data>/streams-geds and whose persistency tier is
// spec.geds.persistent, opened in Run once the metadata service answers.
// Until then the store sees its LTS as unavailable (lts.Deferred) and
// keeps its data in the log, as in any LTS outage.
type gedsLTS struct {
	dir        string
	limit      int64
	persistent geds.Persistent
	storage    *lts.Deferred
	metadata   string
	log        *slog.Logger
}

// gedsLTSNode names the stream store's GEDS node among the holders.
const gedsLTSNode = "streams"

func newGEDSLTS(cfg v1alpha1.Continuum) (*gedsLTS, error) {
	persistent, err := gedsPersistent(cfg)
	if err != nil {
		return nil, err
	}
	return &gedsLTS{
		dir: filepath.Join(cfg.Spec.DataDir, "streams-geds"), limit: cfg.Spec.GEDS.Tier0Limit.Value(),
		persistent: persistent, storage: lts.NewDeferred("the stream store's GEDS node is not open yet"),
	}, nil
}

// Name implements component.Component.
func (g *gedsLTS) Name() string { return "stream-lts-geds" }

// Setup implements component.Component.
func (g *gedsLTS) Setup(h *component.Host) error {
	g.metadata, g.log = h.ControlPlaneURL, h.Log.With("component", g.Name())
	return nil
}

// Run implements component.Component: it opens the node, hands the
// storage to the store, and closes the node when ctx ends.
func (g *gedsLTS) Run(ctx context.Context) error {
	client, err := service.OpenNode(ctx, geds.Options{
		NodeID: gedsLTSNode, Dir: g.dir, Limit: g.limit, MetadataURL: g.metadata, Persistent: g.persistent, Log: g.log,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("stream LTS in GEDS: %w", err)
	}
	defer client.Close()
	storage, err := lts.NewGEDS(ctx, client, lts.GEDSOptions{Bucket: "streams"})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	g.storage.Set(storage)
	g.log.Info("the stream store tiers to GEDS", "bucket", "streams", "node", gedsLTSNode)
	<-ctx.Done()
	return nil
}
