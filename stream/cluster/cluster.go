package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/stream"
)

// MaxInstances bounds the number of instances. More instances than
// containers is allowed (the extra ones host nothing) so that a scaler may
// overshoot without failing.
const MaxInstances = 1024

// Options configure a Cluster.
type Options struct {
	// Dir holds the layout file and the containers, Dir/containers/<n>.
	Dir string
	// Containers is the number of containers of a new cluster; 0 means the
	// recorded number, or DefaultContainers for a new cluster. A number
	// that differs from the recorded one is an error.
	Containers int
	// Instances is how many instances host the containers at Open; 0
	// means 1. They are named ss-0, ss-1, ...
	Instances int
	// Store is the template every container's store is opened with. Dir
	// is replaced by the container's directory, LTSPrefix gets
	// "containers/<n>/" appended, Metrics is replaced (see Metrics), and
	// Log gets a container attribute.
	Store stream.Options
	// Metrics, if set, receives the stream_cluster_* metrics and every
	// container's stream_* metrics with a container label. Without it
	// they are registered on the Host in Setup.
	Metrics prometheus.Registerer
	// Log receives what the cluster has to say; nil discards it.
	Log *slog.Logger
}

// Move reports one container moved from one instance to another.
type Move = stream.ContainerMove

// Cluster is several segment-store instances under one controller, in one
// process. It is safe for concurrent use.
type Cluster struct {
	opts       Options
	log        *slog.Logger
	containers []*container
	metrics    *metrics

	// ctl makes changes of instances, Setup and Close one at a time, and
	// guards what follows.
	ctl        sync.Mutex
	instances  []string       // in the order they were added
	assignment map[int]string // container -> instance
	reg        prometheus.Registerer
	closed     bool

	// scopeMu keeps scope changes, which touch every container, from
	// interleaving with each other and with stream creation.
	scopeMu sync.RWMutex

	// groupMu guards groups: where each reader group lives. Names are
	// global, so creation checks every container at once here.
	groupMu sync.Mutex
	groups  map[string]groupHome
}

type groupHome struct {
	container int
	stream    stream.StreamName
}

var _ component.Component = (*Cluster)(nil)

// Open opens (creating if needed) the cluster in opts.Dir: it reads or
// writes the layout file, opens every container's store (replaying its
// log) on the instance the assignment gives it, and finds the reader
// groups.
func Open(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("stream cluster: Options.Dir is required")
	}
	if opts.Instances < 0 || opts.Instances > MaxInstances {
		return nil, fmt.Errorf("stream cluster: %d instances: want 1 to %d", opts.Instances, MaxInstances)
	}
	if opts.Instances == 0 {
		opts.Instances = 1
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	lay, err := loadLayout(opts.Dir, opts.Containers)
	if err != nil {
		return nil, err
	}
	cl := &Cluster{opts: opts, log: opts.Log, metrics: newMetrics(), reg: opts.Metrics, groups: map[string]groupHome{}}
	for n := range lay.Containers {
		cl.containers = append(cl.containers, newContainer(n))
	}
	cl.instances = instanceNames(nil, opts.Instances)
	cl.assignment = Assign(lay.Containers, cl.instances, nil)

	errs := make([]error, len(cl.containers))
	var wg sync.WaitGroup
	for _, c := range cl.containers {
		wg.Go(func() {
			s, err := stream.Open(ctx, cl.storeOptions(c.n))
			if err != nil {
				errs[c.n] = fmt.Errorf("stream cluster: container %d: %w", c.n, err)
				return
			}
			c.resume(s, cl.assignment[c.n], nil)
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	if err == nil {
		err = cl.findGroups()
	}
	if err == nil && opts.Metrics != nil {
		err = cl.metrics.register(opts.Metrics)
	}
	if err != nil {
		cl.closeStores()
		return nil, err
	}
	cl.metrics.instances.Set(float64(len(cl.instances)))
	cl.log.Info("stream cluster open", "dir", opts.Dir, "containers", lay.Containers, "instances", len(cl.instances))
	return cl, nil
}

// findGroups records which container holds each reader group.
func (cl *Cluster) findGroups() error {
	for _, c := range cl.containers {
		s := c.current()
		for _, name := range s.ReaderGroups() {
			if home, ok := cl.groups[name]; ok {
				return fmt.Errorf("stream cluster: reader group %q exists in containers %d and %d", name, home.container, c.n)
			}
			g, err := s.ReaderGroup(name)
			if err != nil {
				return err
			}
			cl.groups[name] = groupHome{container: c.n, stream: g.Stream()}
		}
	}
	return nil
}

// storeOptions are the options container n's store is opened with.
func (cl *Cluster) storeOptions(n int) stream.Options {
	o := cl.opts.Store
	o.Dir = filepath.Join(cl.opts.Dir, "containers", strconv.Itoa(n))
	if o.LTS != nil {
		o.LTSPrefix += "containers/" + strconv.Itoa(n) + "/"
	}
	o.Metrics = nil
	if cl.reg != nil {
		o.Metrics = prometheus.WrapRegistererWith(prometheus.Labels{"container": strconv.Itoa(n)}, cl.reg)
	}
	if o.Log == nil {
		o.Log = cl.log
	}
	o.Log = o.Log.With("container", n)
	return o
}

// instanceNames adds to names the first unused names ss-0, ss-1, ... until
// there are n, or drops the last added until there are n.
func instanceNames(names []string, n int) []string {
	names = slices.Clone(names)
	if len(names) > n {
		return names[:n]
	}
	for i := 0; len(names) < n; i++ {
		if name := "ss-" + strconv.Itoa(i); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// Containers returns the number of containers.
func (cl *Cluster) Containers() int { return len(cl.containers) }

// Instances lists the instances in the order they were added.
func (cl *Cluster) Instances() []string {
	cl.ctl.Lock()
	defer cl.ctl.Unlock()
	return slices.Clone(cl.instances)
}

// Assignment returns which instance hosts each container.
func (cl *Cluster) Assignment() map[int]string {
	cl.ctl.Lock()
	defer cl.ctl.Unlock()
	return maps.Clone(cl.assignment)
}

// SetInstances changes the number of instances to n (1 to MaxInstances)
// and moves the containers the new assignment (Assign) puts elsewhere.
// Instances added are named ss-<i> with the smallest unused i; the last
// added are removed first. It is what the Learning Plane calls to scale the
// store. It returns the moves made, also when some failed.
func (cl *Cluster) SetInstances(ctx context.Context, n int) ([]Move, error) {
	if n < 1 || n > MaxInstances {
		return nil, fmt.Errorf("stream cluster: %d instances: want 1 to %d", n, MaxInstances)
	}
	cl.ctl.Lock()
	defer cl.ctl.Unlock()
	return cl.reassignLocked(ctx, instanceNames(cl.instances, n))
}

// AddInstance adds an instance by name (a DNS label) and moves containers
// to it.
func (cl *Cluster) AddInstance(ctx context.Context, name string) ([]Move, error) {
	if err := validateInstance(name); err != nil {
		return nil, err
	}
	cl.ctl.Lock()
	defer cl.ctl.Unlock()
	if slices.Contains(cl.instances, name) {
		return nil, fmt.Errorf("stream cluster: instance %q: %w", name, stream.ErrExists)
	}
	if len(cl.instances) >= MaxInstances {
		return nil, fmt.Errorf("stream cluster: already %d instances, at most %d are allowed", len(cl.instances), MaxInstances)
	}
	return cl.reassignLocked(ctx, append(slices.Clone(cl.instances), name))
}

// RemoveInstance moves the containers of an instance to the others and
// removes it. The last instance cannot be removed.
func (cl *Cluster) RemoveInstance(ctx context.Context, name string) ([]Move, error) {
	cl.ctl.Lock()
	defer cl.ctl.Unlock()
	i := slices.Index(cl.instances, name)
	if i < 0 {
		return nil, fmt.Errorf("stream cluster: instance %q: %w", name, stream.ErrNotFound)
	}
	if len(cl.instances) == 1 {
		return nil, fmt.Errorf("stream cluster: instance %q is the last one; the containers need a home", name)
	}
	return cl.reassignLocked(ctx, slices.Delete(slices.Clone(cl.instances), i, i+1))
}

func validateInstance(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("stream cluster: instance name %q: want 1 to 63 characters", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '-' || i == 0 || i == len(name)-1) {
			return fmt.Errorf("stream cluster: instance name %q: want lowercase letters, digits and inner '-'", name)
		}
	}
	return nil
}

// reassignLocked makes names the instances and carries out the moves. The
// caller holds cl.ctl. Moves of different containers run in parallel; each
// container is unavailable only during its own move.
func (cl *Cluster) reassignLocked(ctx context.Context, names []string) ([]Move, error) {
	if cl.closed {
		return nil, fmt.Errorf("stream cluster: %w", stream.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	next := Assign(len(cl.containers), names, cl.assignment)
	plan := Plan(cl.assignment, next)
	cl.instances, cl.assignment = names, next
	cl.metrics.instances.Set(float64(len(names)))

	moves := make([]Move, len(plan))
	errs := make([]error, len(plan))
	var wg sync.WaitGroup
	for i, t := range plan {
		wg.Go(func() { moves[i], errs[i] = cl.move(ctx, t) })
	}
	wg.Wait()
	return moves, errors.Join(errs...)
}

// move carries out one transfer: stop admitting requests, wake and drain
// the ones in the store, checkpoint the reader groups, close the store
// (queued appends become durable and are acknowledged), and open it again
// on the target from the same directory. Once begun it runs to the end
// whatever ctx says: a container half moved would serve nobody.
func (cl *Cluster) move(ctx context.Context, t Transfer) (Move, error) {
	start := time.Now()
	c := cl.containers[t.Container]
	var errs []error
	if old := c.stop(false); old != nil {
		errs = append(errs, checkpointGroups(old))
		if err := old.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stream cluster: closing container %d on %q: %w", t.Container, t.From, err))
		}
	}
	s, err := stream.Open(context.WithoutCancel(ctx), cl.storeOptions(t.Container))
	m := Move{Container: t.Container, From: t.From, To: t.To}
	if err != nil {
		err = fmt.Errorf("stream cluster: opening container %d on %q: %w", t.Container, t.To, err)
		errs = append(errs, err)
	} else {
		m.Replayed = s.Recovered().Records
	}
	c.resume(s, t.To, err)
	m.Took = time.Since(start)
	cl.metrics.moved(m.Took)
	cl.log.Info("container moved", "container", m.Container, "from", m.From, "to", m.To,
		"took", m.Took.Round(time.Microsecond), "replayed", m.Replayed, "err", err)
	return m, errors.Join(errs...)
}

// checkpointGroups makes every reader group's positions durable, so that
// the store reopened elsewhere resumes them exactly where delivery stopped.
func checkpointGroups(s *stream.Store) error {
	var errs []error
	for _, name := range s.ReaderGroups() {
		g, err := s.ReaderGroup(name)
		if err == nil {
			_, err = g.Checkpoint(context.Background())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("stream cluster: checkpointing reader group %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Close checkpoints the reader groups and closes every container: requests
// in progress finish (queued appends are acknowledged, tail reads are
// woken), later ones fail with stream.ErrClosed. It is safe to call more
// than once.
func (cl *Cluster) Close() error {
	cl.ctl.Lock()
	defer cl.ctl.Unlock()
	if cl.closed {
		return nil
	}
	cl.closed = true
	err := cl.closeStores()
	cl.metrics.unregister()
	return err
}

func (cl *Cluster) closeStores() error {
	errs := make([]error, len(cl.containers))
	var wg sync.WaitGroup
	for _, c := range cl.containers {
		wg.Go(func() {
			s := c.stop(true)
			if s == nil {
				return
			}
			errs[c.n] = errors.Join(checkpointGroups(s), s.Close())
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Err reports why the cluster cannot take requests (closed, a container
// that could not be opened, a store whose log failed), or nil if it can.
func (cl *Cluster) Err() error {
	for _, c := range cl.containers {
		c.mu.Lock()
		closed, failed, s := c.closed, c.failed, c.store
		c.mu.Unlock()
		switch {
		case closed:
			return fmt.Errorf("stream cluster: %w", stream.ErrClosed)
		case failed != nil:
			return failed
		case s != nil:
			if err := s.Err(); err != nil && !errors.Is(err, stream.ErrClosed) {
				return fmt.Errorf("stream cluster: container %d: %w", c.n, err)
			}
		}
	}
	return nil
}

// Name implements component.Component.
func (cl *Cluster) Name() string { return "stream" }

// Setup implements component.Component: unless Options.Metrics took them,
// it registers the cluster's and the containers' metrics on the host, and
// it adds a readiness check.
func (cl *Cluster) Setup(h *component.Host) error {
	cl.ctl.Lock()
	defer cl.ctl.Unlock()
	if cl.reg == nil && h.Metrics != nil {
		if err := cl.metrics.register(h.Metrics); err != nil {
			return err
		}
		cl.reg = h.Metrics
		for _, c := range cl.containers {
			s := c.current()
			if s == nil {
				continue
			}
			if err := s.Setup(&component.Host{Metrics: cl.storeOptions(c.n).Metrics}); err != nil {
				return fmt.Errorf("stream cluster: container %d: %w", c.n, err)
			}
		}
	}
	if h.Server != nil {
		h.Server.AddReadinessCheck("stream", func(context.Context) error { return cl.Err() })
	}
	return nil
}

// Run implements component.Component: it runs every container's store
// (tiering, retention) until ctx ends, following each container across
// its moves. It does not close the cluster; the owner does, after Run
// returns.
func (cl *Cluster) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, c := range cl.containers {
		wg.Go(func() { cl.runContainer(ctx, c) })
	}
	wg.Wait()
	return nil
}

// runContainer runs the store of each incarnation of c under a lease whose
// context a move ends, so that a store is never closed while it runs.
func (cl *Cluster) runContainer(ctx context.Context, c *container) {
	for {
		c.mu.Lock()
		resumed, closed := c.resumed, c.closed
		c.mu.Unlock()
		if closed || ctx.Err() != nil {
			return
		}
		l, err := c.acquire(ctx)
		if err != nil {
			// Failed to open: wait for a move to try again, or the end.
			select {
			case <-ctx.Done():
			case <-resumed:
			}
			continue
		}
		rctx, cancel := l.bind(ctx)
		if err := l.store.Run(rctx); err != nil {
			cl.log.Warn("container store stopped", "container", c.n, "err", err)
		}
		cancel()
		l.release()
	}
}
