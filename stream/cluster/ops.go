package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cloudskin/cloudskin/stream"
)

// The front door: the store's operations, each routed to the container of
// its stream (or, for scopes, to every container). Metadata reads without
// a context, as on stream.Store, wait for a container that is moving; a
// move lasts as long as a close and a replay.

// containerOf returns the container holding a stream.
func (cl *Cluster) containerOf(name stream.StreamName) *container {
	return cl.containers[ContainerOf(name, len(cl.containers))]
}

// with runs fn under a lease on c.
func with[T any](ctx context.Context, c *container, fn func(*stream.Store) (T, error)) (T, error) {
	l, err := c.acquire(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	defer l.release()
	return fn(l.store)
}

// CreateScope creates a scope in every container. A scope that exists in
// only some (a creation cut short by a crash) is completed, not refused.
func (cl *Cluster) CreateScope(ctx context.Context, scope string) error {
	cl.scopeMu.Lock()
	defer cl.scopeMu.Unlock()
	created := 0
	for _, c := range cl.containers {
		_, err := with(ctx, c, func(s *stream.Store) (struct{}, error) { return struct{}{}, s.CreateScope(ctx, scope) })
		switch {
		case errors.Is(err, stream.ErrExists):
		case err != nil:
			return fmt.Errorf("stream cluster: creating scope %q in container %d: %w", scope, c.n, err)
		default:
			created++
		}
	}
	if created == 0 {
		return fmt.Errorf("stream: scope %q: %w", scope, stream.ErrExists)
	}
	return nil
}

// DeleteScope deletes a scope that has no streams in any container.
func (cl *Cluster) DeleteScope(ctx context.Context, scope string) error {
	cl.scopeMu.Lock()
	defer cl.scopeMu.Unlock()
	found := false
	for _, c := range cl.containers {
		names, err := with(ctx, c, func(s *stream.Store) ([]string, error) { return s.Streams(scope) })
		if errors.Is(err, stream.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		found = true
		if len(names) > 0 {
			return fmt.Errorf("stream: scope %q still has stream %q; delete its streams first", scope, names[0])
		}
	}
	if !found {
		return fmt.Errorf("stream: scope %q: %w", scope, stream.ErrNotFound)
	}
	for _, c := range cl.containers {
		_, err := with(ctx, c, func(s *stream.Store) (struct{}, error) { return struct{}{}, s.DeleteScope(ctx, scope) })
		if err != nil && !errors.Is(err, stream.ErrNotFound) {
			return fmt.Errorf("stream cluster: deleting scope %q in container %d: %w", scope, c.n, err)
		}
	}
	return nil
}

// Scopes lists the scopes by name.
func (cl *Cluster) Scopes() []string {
	set := map[string]bool{}
	for _, c := range cl.containers {
		names, _ := with(context.Background(), c, func(s *stream.Store) ([]string, error) { return s.Scopes(), nil })
		for _, n := range names {
			set[n] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// CreateStream creates a stream in its container.
func (cl *Cluster) CreateStream(ctx context.Context, name stream.StreamName, cfg stream.StreamConfig) error {
	if err := name.Validate(); err != nil {
		return err
	}
	cl.scopeMu.RLock()
	defer cl.scopeMu.RUnlock()
	_, err := with(ctx, cl.containerOf(name), func(s *stream.Store) (struct{}, error) {
		return struct{}{}, s.CreateStream(ctx, name, cfg)
	})
	return err
}

// DeleteStream deletes a stream and its data. A stream that a reader group
// reads cannot be deleted until the group is.
func (cl *Cluster) DeleteStream(ctx context.Context, name stream.StreamName) error {
	_, err := with(ctx, cl.containerOf(name), func(s *stream.Store) (struct{}, error) {
		return struct{}{}, s.DeleteStream(ctx, name)
	})
	return err
}

// Streams lists the streams of a scope by name, across containers.
func (cl *Cluster) Streams(scope string) ([]string, error) {
	var out []string
	found := false
	for _, c := range cl.containers {
		names, err := with(context.Background(), c, func(s *stream.Store) ([]string, error) { return s.Streams(scope) })
		if errors.Is(err, stream.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = true
		out = append(out, names...)
	}
	if !found {
		return nil, fmt.Errorf("stream: scope %q: %w", scope, stream.ErrNotFound)
	}
	slices.Sort(out)
	return out, nil
}

// Stream describes a stream and its segments' durable bounds.
func (cl *Cluster) Stream(name stream.StreamName) (stream.StreamInfo, error) {
	return with(context.Background(), cl.containerOf(name), func(s *stream.Store) (stream.StreamInfo, error) { return s.Stream(name) })
}

// Append stores the request's events and returns once they are durable,
// as stream.Store.Append. A request made while the stream's container
// moves waits for the move (bounded by ctx). A retry with the same
// WriterID and Seq is dropped as a duplicate also when the container moved
// in between: the target replays the writers' sequence numbers.
func (cl *Cluster) Append(ctx context.Context, req stream.AppendRequest) (stream.AppendResult, error) {
	return with(ctx, cl.containerOf(req.Stream), func(s *stream.Store) (stream.AppendResult, error) { return s.Append(ctx, req) })
}

// ReadSegment reads events of one segment from offset on, as
// stream.Store.ReadSegment. A tail read waiting when its container begins
// to move is woken and retried on the target, so the caller sees only the
// longer wait.
func (cl *Cluster) ReadSegment(ctx context.Context, name stream.StreamName, id stream.SegmentID, offset int64, opts stream.ReadOptions) (stream.Batch, error) {
	c := cl.containerOf(name)
	for {
		l, err := c.acquire(ctx)
		if err != nil {
			return stream.Batch{}, err
		}
		rctx, cancel := l.bind(ctx)
		b, err := l.store.ReadSegment(rctx, name, id, offset, opts)
		cancel()
		retry := err != nil && l.interrupted(ctx)
		l.release()
		if !retry {
			return b, err
		}
	}
}

// Truncate discards the data of a stream before cut, as
// stream.Store.Truncate.
func (cl *Cluster) Truncate(ctx context.Context, name stream.StreamName, cut stream.StreamCut) error {
	_, err := with(ctx, cl.containerOf(name), func(s *stream.Store) (struct{}, error) {
		return struct{}{}, s.Truncate(ctx, name, cut)
	})
	return err
}
