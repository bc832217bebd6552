package cluster

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/cloudskin/cloudskin/stream"
)

// ReaderGroup is a handle on a reader group, which lives in its stream's
// container; names are global. A move checkpoints the group before the
// store closes and the readers that joined through the cluster join again
// on the target, so delivery goes on from exactly where it stopped.
type ReaderGroup struct {
	c      *container
	name   string
	stream stream.StreamName
}

// CreateReaderGroup creates a group that reads a stream from its head.
func (cl *Cluster) CreateReaderGroup(ctx context.Context, name string, st stream.StreamName) (*ReaderGroup, error) {
	cl.groupMu.Lock()
	defer cl.groupMu.Unlock()
	if _, ok := cl.groups[name]; ok {
		return nil, fmt.Errorf("stream: reader group %q: %w", name, stream.ErrExists)
	}
	c := cl.containerOf(st)
	if _, err := with(ctx, c, func(s *stream.Store) (*stream.ReaderGroup, error) { return s.CreateReaderGroup(ctx, name, st) }); err != nil {
		return nil, err
	}
	cl.groups[name] = groupHome{container: c.n, stream: st}
	return &ReaderGroup{c: c, name: name, stream: st}, nil
}

// ReaderGroup returns an existing group.
func (cl *Cluster) ReaderGroup(name string) (*ReaderGroup, error) {
	cl.groupMu.Lock()
	defer cl.groupMu.Unlock()
	home, ok := cl.groups[name]
	if !ok {
		return nil, fmt.Errorf("stream: reader group %q: %w", name, stream.ErrNotFound)
	}
	return &ReaderGroup{c: cl.containers[home.container], name: name, stream: home.stream}, nil
}

// ReaderGroups lists the groups by name.
func (cl *Cluster) ReaderGroups() []string {
	cl.groupMu.Lock()
	defer cl.groupMu.Unlock()
	return slices.Sorted(maps.Keys(cl.groups))
}

// DeleteReaderGroup deletes a group that has no readers.
func (cl *Cluster) DeleteReaderGroup(ctx context.Context, name string) error {
	cl.groupMu.Lock()
	defer cl.groupMu.Unlock()
	home, ok := cl.groups[name]
	if !ok {
		return fmt.Errorf("stream: reader group %q: %w", name, stream.ErrNotFound)
	}
	_, err := with(ctx, cl.containers[home.container], func(s *stream.Store) (struct{}, error) {
		return struct{}{}, s.DeleteReaderGroup(ctx, name)
	})
	if err != nil {
		return err
	}
	delete(cl.groups, name)
	return nil
}

// inner runs fn on the group in the container's current store.
func groupDo[T any](ctx context.Context, g *ReaderGroup, fn func(*stream.ReaderGroup) (T, error)) (T, error) {
	return with(ctx, g.c, func(s *stream.Store) (T, error) {
		sg, err := s.ReaderGroup(g.name)
		if err != nil {
			var zero T
			return zero, err
		}
		return fn(sg)
	})
}

// Name returns the group's name.
func (g *ReaderGroup) Name() string { return g.name }

// Stream returns the stream the group reads.
func (g *ReaderGroup) Stream() stream.StreamName { return g.stream }

// Positions returns the group's current position in each segment, or nil
// if the group is gone.
func (g *ReaderGroup) Positions() stream.StreamCut {
	p, _ := groupDo(context.Background(), g, func(sg *stream.ReaderGroup) (stream.StreamCut, error) { return sg.Positions(), nil })
	return p
}

// Readers lists the group's readers by id.
func (g *ReaderGroup) Readers() []string {
	r, _ := groupDo(context.Background(), g, func(sg *stream.ReaderGroup) ([]string, error) { return sg.Readers(), nil })
	return r
}

// Checkpoint makes the group's current positions durable and returns them.
func (g *ReaderGroup) Checkpoint(ctx context.Context) (stream.StreamCut, error) {
	return groupDo(ctx, g, func(sg *stream.ReaderGroup) (stream.StreamCut, error) { return sg.Checkpoint(ctx) })
}

// Join adds a reader to the group and rebalances its segments.
func (g *ReaderGroup) Join(id string) (*Reader, error) {
	return groupDo(context.Background(), g, func(sg *stream.ReaderGroup) (*Reader, error) {
		inner, err := sg.Join(id)
		if err != nil {
			return nil, err
		}
		r := &Reader{g: g, id: id, inner: inner}
		g.c.mu.Lock()
		g.c.readers[r] = struct{}{}
		g.c.mu.Unlock()
		return r, nil
	})
}

// Reader is one member of a reader group that follows its group across
// moves. Read and Close may be called from different goroutines.
type Reader struct {
	g  *ReaderGroup
	id string

	// Guarded by g.c.mu; changed only by a move, while no lease is held.
	inner   *stream.Reader
	lostErr error // why the reader could not join again after a move
}

// rejoinLocked joins the reader to its group in the container's reopened
// store. The caller holds the container's mu.
func (r *Reader) rejoinLocked(s *stream.Store) {
	sg, err := s.ReaderGroup(r.g.name)
	if err == nil {
		r.inner, err = sg.Join(r.id)
	}
	if err != nil {
		r.inner = nil
		r.lostErr = fmt.Errorf("stream cluster: reader %q of group %q could not join again after a move: %w", r.id, r.g.name, err)
	}
}

// ID returns the reader's id.
func (r *Reader) ID() string { return r.id }

func (r *Reader) current() (*stream.Reader, error) {
	r.g.c.mu.Lock()
	defer r.g.c.mu.Unlock()
	if r.inner == nil {
		return nil, r.lostErr
	}
	return r.inner, nil
}

// Segments returns the segments currently assigned to the reader.
func (r *Reader) Segments() []stream.SegmentID {
	segs, _ := with(context.Background(), r.g.c, func(*stream.Store) ([]stream.SegmentID, error) {
		inner, err := r.current()
		if err != nil {
			return nil, err
		}
		return inner.Segments(), nil
	})
	return segs
}

// Read returns the next event from one of the reader's segments, and
// waits for one if there is none, until ctx ends. A wait that a move of
// the container interrupts goes on against the target.
func (r *Reader) Read(ctx context.Context) (stream.Event, error) {
	for {
		l, err := r.g.c.acquire(ctx)
		if err != nil {
			return stream.Event{}, err
		}
		inner, err := r.current()
		if err != nil {
			l.release()
			return stream.Event{}, err
		}
		rctx, cancel := l.bind(ctx)
		ev, err := inner.Read(rctx)
		cancel()
		retry := err != nil && l.interrupted(ctx)
		l.release()
		if !retry {
			return ev, err
		}
	}
}

// Close takes the reader out of its group, hands its segments to the
// others at the positions it reached, and checkpoints the group.
func (r *Reader) Close(ctx context.Context) error {
	l, err := r.g.c.acquire(ctx)
	if err != nil {
		return err
	}
	defer l.release()
	c := r.g.c
	c.mu.Lock()
	delete(c.readers, r)
	inner := r.inner
	c.mu.Unlock()
	if inner == nil {
		return nil
	}
	return inner.Close(ctx)
}
