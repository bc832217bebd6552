package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudskin/cloudskin/stream"
)

// Segment scaling (splits and merges within a stream) is the store's; the
// cluster forwards it to the stream's container. A move reopens the store,
// so the rates a container measured (Loads) start again after it.

// Scale seals segments of a stream and creates new ones over their key
// range, as stream.Store.Scale.
func (cl *Cluster) Scale(ctx context.Context, name stream.StreamName, seal []stream.SegmentID, ranges []stream.KeyRange) ([]stream.SegmentInfo, error) {
	return with(ctx, cl.containerOf(name), func(s *stream.Store) ([]stream.SegmentInfo, error) { return s.Scale(ctx, name, seal, ranges) })
}

// SplitSegment replaces an active segment by parts equal ones, as
// stream.Store.SplitSegment.
func (cl *Cluster) SplitSegment(ctx context.Context, name stream.StreamName, id stream.SegmentID, parts int) ([]stream.SegmentInfo, error) {
	return with(ctx, cl.containerOf(name), func(s *stream.Store) ([]stream.SegmentInfo, error) { return s.SplitSegment(ctx, name, id, parts) })
}

// MergeSegments replaces adjacent active segments by one, as
// stream.Store.MergeSegments.
func (cl *Cluster) MergeSegments(ctx context.Context, name stream.StreamName, ids []stream.SegmentID) ([]stream.SegmentInfo, error) {
	return with(ctx, cl.containerOf(name), func(s *stream.Store) ([]stream.SegmentInfo, error) { return s.MergeSegments(ctx, name, ids) })
}

// Loads returns a stream's active segments' rates as last measured, as
// stream.Store.Loads.
func (cl *Cluster) Loads(name stream.StreamName) ([]stream.SegmentLoad, error) {
	return with(context.Background(), cl.containerOf(name), func(s *stream.Store) ([]stream.SegmentLoad, error) { return s.Loads(name) })
}

// AutoScale applies the streams' scaling policies in every container, as
// stream.Store.AutoScale, and returns the scales made.
func (cl *Cluster) AutoScale(ctx context.Context) ([]stream.ScaleAction, error) {
	var out []stream.ScaleAction
	var errs []error
	for _, c := range cl.containers {
		acts, err := with(ctx, c, func(s *stream.Store) ([]stream.ScaleAction, error) { return s.AutoScale(ctx) })
		out = append(out, acts...)
		if err != nil {
			errs = append(errs, fmt.Errorf("stream cluster: container %d: %w", c.n, err))
		}
	}
	return out, errors.Join(errs...)
}
