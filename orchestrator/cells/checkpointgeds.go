package cells

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/durable"
)

// CheckpointBucket is the GEDS bucket GEDSCheckpoints use.
const CheckpointBucket = "cell-checkpoints"

// GEDSCheckpoints keeps checkpoints in GEDS, one object per upload,
// <run>/<id>.snap in CheckpointBucket, persisted to GEDS's persistency tier
// (S3) before Put returns: a checkpoint is there to outlive the loss of a
// host, so it must not live only in one host's tier 0. GEDS objects are
// immutable and cannot be renamed, so promoting one changes no object:
// the current checkpoint is the one whose ID the run's status records.
// Promotion deletes the run's objects made before the promoted one.
type GEDSCheckpoints struct {
	client *geds.Client
}

// NewGEDSCheckpoints keeps checkpoints through client, which needs a
// persistency tier; it creates CheckpointBucket if missing, which needs
// the metadata service to answer now.
func NewGEDSCheckpoints(ctx context.Context, client *geds.Client) (*GEDSCheckpoints, error) {
	if err := client.CreateBucket(ctx, CheckpointBucket); err != nil && !errors.Is(err, geds.ErrExists) {
		return nil, fmt.Errorf("checkpoints: GEDS bucket %s: %w", CheckpointBucket, gedsError(err))
	}
	return &GEDSCheckpoints{client: client}, nil
}

func checkpointKey(run, id string) string { return run + "/" + id + ".snap" }

// Put implements Checkpoints: it returns once the upload is in S3.
func (g *GEDSCheckpoints) Put(ctx context.Context, run, id string, body io.Reader) (int64, error) {
	key := checkpointKey(run, id)
	n, err := durable.Put(ctx, g.client, CheckpointBucket, key, body, true)
	if err != nil {
		// Not persisted is not a checkpoint: do not leave it to be promoted.
		_ = g.client.Delete(context.WithoutCancel(ctx), CheckpointBucket, key)
		return n, fmt.Errorf("checkpoints: put %s: %w", key, gedsError(err))
	}
	return n, nil
}

// Promote implements Checkpoints: the upload must exist; the run's objects
// made before it go. Failing to delete them fails nothing (they go with
// the run at the latest), so the status report that promotes does not.
func (g *GEDSCheckpoints) Promote(ctx context.Context, run, id string) error {
	key := checkpointKey(run, id)
	current, err := g.client.Stat(ctx, CheckpointBucket, key)
	if err != nil {
		return fmt.Errorf("checkpoints: promote %s: %w", key, gedsError(err))
	}
	objects, err := g.list(ctx, run)
	if err != nil {
		return nil
	}
	for _, o := range objects {
		if o.Key != key && o.Created.Before(current.Created) {
			_ = g.client.Delete(ctx, CheckpointBucket, o.Key)
		}
	}
	return nil
}

// Open implements Checkpoints. The object is read from wherever it is:
// the tier 0 of the node that wrote it or, once that node is gone, S3.
func (g *GEDSCheckpoints) Open(ctx context.Context, run, id string) (io.ReadCloser, error) {
	key := checkpointKey(run, id)
	r, err := g.client.Open(ctx, CheckpointBucket, key)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: open %s: %w", key, gedsError(err))
	}
	rc, err := r.RangeReader(ctx, 0, -1)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("checkpoints: open %s: %w", key, gedsError(err))
	}
	return &objectReader{ReadCloser: rc, object: r}, nil
}

// objectReader closes the GEDS reader with the stream read from it.
type objectReader struct {
	io.ReadCloser
	object *geds.Reader
}

func (o *objectReader) Close() error {
	err := o.ReadCloser.Close()
	if cerr := o.object.Close(); err == nil {
		err = cerr
	}
	return err
}

// Delete implements Checkpoints.
func (g *GEDSCheckpoints) Delete(ctx context.Context, run string) error {
	objects, err := g.list(ctx, run)
	if err != nil {
		return err
	}
	for _, o := range objects {
		if err := g.client.Delete(ctx, CheckpointBucket, o.Key); err != nil && !errors.Is(err, geds.ErrNotFound) {
			return fmt.Errorf("checkpoints: delete %s: %w", o.Key, gedsError(err))
		}
	}
	return nil
}

// list returns all of run's objects, uploads and checkpoints.
func (g *GEDSCheckpoints) list(ctx context.Context, run string) ([]geds.ObjectInfo, error) {
	var all []geds.ObjectInfo
	prefix := run + "/"
	for token := ""; ; {
		page, err := g.client.List(ctx, CheckpointBucket, prefix, token, 0)
		if err != nil {
			return nil, fmt.Errorf("checkpoints: list %s: %w", prefix, gedsError(err))
		}
		for _, o := range page.Items {
			if strings.HasPrefix(o.Key, prefix) {
				all = append(all, o)
			}
		}
		if page.NextToken == "" {
			return all, nil
		}
		token = page.NextToken
	}
}

// gedsError classifies GEDS's errors for the registry: a missing object is
// ErrNotFound; one that may pass (durable.Transient) is ErrUnavailable;
// others (a lost object, a bad name, a closed client) are their own.
func gedsError(err error) error {
	switch {
	case errors.Is(err, geds.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case durable.Transient(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
