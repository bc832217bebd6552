package cluster

import (
	"context"
	"fmt"
	"sync"

	"github.com/cloudskin/cloudskin/stream"
)

// container is one stream.Store, in its own directory, hosted by one
// instance at a time. Requests take a lease on it; a move stops handing out
// leases, wakes the requests that wait inside the store, waits for the rest
// to finish, and only then closes the store, so that no request ever meets
// a closed store.
type container struct {
	n int

	mu       sync.Mutex
	store    *stream.Store // nil while closed, or after a failed open
	instance string
	gen      uint64        // goes up every time the store is reopened
	moving   chan struct{} // non-nil during a move; closed when it ends
	active   int           // leases held
	drained  chan struct{} // closed when active reaches 0, if someone waits
	abort    context.Context
	cancel   context.CancelFunc // ends abort: wakes waits inside the store
	readers  map[*Reader]struct{}
	resumed  chan struct{} // closed and replaced by resume, closed by Close
	failed   error         // why the store could not be opened
	closed   bool
}

func newContainer(n int) *container {
	c := &container{n: n, readers: map[*Reader]struct{}{}, resumed: make(chan struct{})}
	c.abort, c.cancel = context.WithCancel(context.Background())
	return c
}

// lease is the right to use one incarnation of a container's store until
// release.
type lease struct {
	c     *container
	store *stream.Store
	gen   uint64
	abort context.Context
}

// acquire waits until the container is not moving, or ctx ends, and takes
// a lease.
func (c *container) acquire(ctx context.Context) (lease, error) {
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return lease{}, fmt.Errorf("stream cluster: container %d: %w", c.n, stream.ErrClosed)
		case c.moving != nil:
			wait := c.moving
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return lease{}, fmt.Errorf("stream cluster: waiting for container %d to move: %w", c.n, ctx.Err())
			}
		case c.failed != nil:
			err := c.failed
			c.mu.Unlock()
			return lease{}, err
		}
		c.active++
		l := lease{c: c, store: c.store, gen: c.gen, abort: c.abort}
		c.mu.Unlock()
		return l, nil
	}
}

func (l lease) release() {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active--
	if c.active == 0 && c.drained != nil {
		close(c.drained)
		c.drained = nil
	}
}

// bind returns a context for a request that may wait inside the store (a
// tail read): it ends when ctx does or when a move begins.
func (l lease) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.abort, cancel)
	return ctx, func() { stop(); cancel() }
}

// interrupted reports whether a request failed because a move began (and
// not because its caller gave up), so it should be retried once the move
// is over.
func (l lease) interrupted(ctx context.Context) bool {
	return l.abort.Err() != nil && ctx.Err() == nil
}

// stop makes the container refuse new leases (or, when closing, refuse
// them for good), wakes the requests waiting inside the store, and waits
// until every lease is released. It returns the store, now idle. The
// caller holds the cluster's control lock, so moves and Close never overlap.
func (c *container) stop(closing bool) *stream.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if closing {
		c.closed = true
		close(c.resumed)
	} else {
		c.moving = make(chan struct{})
	}
	c.cancel()
	for c.active > 0 {
		drained := make(chan struct{})
		c.drained = drained
		c.mu.Unlock()
		<-drained
		c.mu.Lock()
	}
	return c.store
}

// resume installs the reopened store (or the reason it could not be
// opened) on instance, rejoins the readers that were in its groups, and
// lets the waiting requests go on.
func (c *container) resume(s *stream.Store, instance string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.store, c.instance, c.failed = s, instance, err
	c.gen++
	c.abort, c.cancel = context.WithCancel(context.Background())
	if s != nil {
		for r := range c.readers {
			r.rejoinLocked(s)
		}
	}
	if c.moving != nil {
		close(c.moving)
		c.moving = nil
	}
	close(c.resumed)
	c.resumed = make(chan struct{})
}

// host returns the instance hosting the container.
func (c *container) host() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.instance
}

// current returns the container's open store, or nil, without a lease: for
// reads of state that any incarnation answers alike.
func (c *container) current() *stream.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store
}
