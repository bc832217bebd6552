package geds

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/tier0"
)

// Persist copies a sealed object to the persistency tier and keeps the
// tier-0 copy (tier both): it then survives the loss of its holder. Any
// node may ask; the bytes come from the holder.
func (c *Client) Persist(ctx context.Context, bucket, key string) error {
	return c.moveAsked(ctx, bucket, key, TierBoth)
}

// Spill moves a sealed object to the persistency tier and frees its tier-0
// copy (tier s3). Any node may ask; the holder is told to drop its copy.
func (c *Client) Spill(ctx context.Context, bucket, key string) error {
	return c.moveAsked(ctx, bucket, key, TierS3)
}

func (c *Client) moveAsked(ctx context.Context, bucket, key string, target Tier) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	o, err := c.meta.GetObject(ctx, bucket, key)
	if err != nil {
		return fmt.Errorf("geds: %s: %w", verb(target), err)
	}
	return c.toPersistent(ctx, o, target)
}

func verb(target Tier) string {
	if target == TierS3 {
		return "spill"
	}
	return "persist"
}

// toPersistent copies o to the persistency tier unless it is there, then
// records the new tier, and for a spill drops the tier-0 copy. The copy is
// dropped only after the persistency tier has the bytes and the metadata
// server says so, so a failure at any step loses nothing and the whole
// thing can be retried.
func (c *Client) toPersistent(ctx context.Context, o ObjectInfo, target Tier) error {
	what := fmt.Sprintf("geds: %s %s/%s", verb(target), o.Bucket, o.Key)
	if c.opts.Persistent == nil {
		return fmt.Errorf("%s: %w", what, ErrNoPersistent)
	}
	switch {
	case o.State == StateLost:
		return fmt.Errorf("%s: %s: %w", what, o.LostReason, ErrLost)
	case o.State == StateOpen:
		return fmt.Errorf("%s: %w", what, ErrNotSealed)
	case o.Tier == TierS3, o.Tier == TierBoth && target == TierBoth:
		return nil
	}
	if o.Tier == TierLocal {
		if err := c.upload(ctx, o); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if _, err := c.meta.SetTier(ctx, o.Bucket, o.Key, metadata.TierRequest{ID: o.ID, Tier: target}); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if target == TierS3 {
		c.dropCopy(ctx, o)
		c.m.spilledBytes.Add(float64(o.Size))
	}
	return nil
}

// upload puts a sealed object's bytes into its bucket's persistency bucket.
func (c *Client) upload(ctx context.Context, o ObjectInfo) error {
	b, err := c.meta.GetBucket(ctx, o.Bucket)
	if err != nil {
		return err
	}
	if _, ok := c.ensured.Load(b.Persistent); !ok {
		if err := c.opts.Persistent.EnsureBucket(ctx, b.Persistent); err != nil {
			return fmt.Errorf("persistency bucket %s: %w", b.Persistent, err)
		}
		c.ensured.Store(b.Persistent, true)
	}
	rc, err := c.wholeObject(ctx, o)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := c.opts.Persistent.Put(ctx, b.Persistent, o.Key, rc, o.Size); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.ensured.Delete(b.Persistent) // the bucket went away: make it again next time
		}
		return fmt.Errorf("persistency tier: %w", err)
	}
	c.m.persistedBytes.Add(float64(o.Size))
	return nil
}

// spiller moves the coldest sealed objects out of tier 0 in the background
// once it passes Options.SpillAt, down to Options.SpillTo, and when writers
// wait for room. It retries with exponential backoff while the persistency
// tier fails, and reports the failure so that waiting writers fail fast
// with ErrTierFull instead of waiting out the backoff.
type spiller struct {
	c    *Client
	wake chan struct{}

	mu      sync.Mutex
	queue   []tier0.Info // picked coldest first; the head is being spilled
	active  bool         // spilling down to SpillTo
	demand  int64        // bytes a waiting writer needs
	failing error        // the last failure, until a spill succeeds
}

func newSpiller(c *Client) *spiller {
	return &spiller{c: c, wake: make(chan struct{}, 1)}
}

func (s *spiller) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// nudgeIfAbove wakes the spiller if tier 0 is past the spill threshold.
func (s *spiller) nudgeIfAbove() {
	if s.c.opts.Persistent != nil && float64(s.c.t0.Used()) > s.c.opts.SpillAt*float64(s.c.opts.Limit) {
		s.nudge()
	}
}

func (s *spiller) queueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *spiller) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failing
}

// request asks for n bytes of room for a waiting writer.
func (s *spiller) request(n int64) {
	s.mu.Lock()
	s.demand = max(s.demand, n)
	s.mu.Unlock()
	s.nudge()
}

// met says a waiting writer found its room: the demand is withdrawn, or
// the spiller, if it has not yet seen the room (the writer can take it
// before the spiller's own bookkeeping runs), would make it a second time.
// Other waiting writers are woken to ask again for what they still need.
func (s *spiller) met() {
	s.mu.Lock()
	had := s.demand > 0
	s.demand = 0
	s.mu.Unlock()
	if had {
		s.c.room.notify()
	}
}

// run spills whenever woken, and once a second in case the threshold was
// crossed without a nudge or the persistency tier came back.
func (s *spiller) run(ctx context.Context) {
	if s.c.opts.Persistent == nil {
		return
	}
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-ticker.C:
		}
		s.drain(ctx)
	}
}

// drain spills until there is nothing left to do or ctx ends.
func (s *spiller) drain(ctx context.Context) {
	backoff := s.c.opts.SpillBackoffMin
	for ctx.Err() == nil {
		next, ok := s.next()
		if !ok {
			s.c.room.notify()
			return
		}
		err := s.c.spillLocal(ctx, next)
		if err == nil || permanent(err) {
			if err != nil {
				s.c.log.Info("GEDS spill skipped an object", "bucket", next.Bucket, "key", next.Key, "reason", err)
			}
			s.done(next, err == nil)
			backoff = s.c.opts.SpillBackoffMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		s.c.m.spillErrors.Inc()
		s.c.log.Warn("GEDS spill failed; retrying", "bucket", next.Bucket, "key", next.Key, "in", backoff, "err", err)
		s.mu.Lock()
		s.failing = err
		s.mu.Unlock()
		s.c.room.notify() // writers waiting for room learn it will not come soon
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.c.opts.SpillBackoffMax)
	}
}

// next returns the object to spill now, refilling the queue with the
// coldest objects when it runs dry, or false when enough room is free.
// Passing SpillAt starts a run that goes down to SpillTo; a waiting
// writer's demand is met on its own, without such a run.
func (s *spiller) next() (tier0.Info, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	limit, used := s.c.opts.Limit, s.c.t0.Used()
	if float64(used) > s.c.opts.SpillAt*float64(limit) {
		s.active = true
	}
	need := int64(0)
	if s.active {
		need = used - int64(s.c.opts.SpillTo*float64(limit))
	}
	if free := limit - used; s.demand > 0 && free < s.demand {
		need = max(need, s.demand-free)
	}
	if need <= 0 {
		s.active, s.demand, s.queue, s.failing = false, 0, nil, nil
		return tier0.Info{}, false
	}
	if len(s.queue) == 0 {
		var sum int64
		for _, in := range s.c.t0.Coldest() {
			if sum >= need {
				break
			}
			s.queue = append(s.queue, in)
			sum += in.Size
		}
	}
	if len(s.queue) == 0 {
		// Nothing sealed to spill: writers get ErrTierFull from makeRoom.
		s.active, s.demand = false, 0
		return tier0.Info{}, false
	}
	return s.queue[0], true
}

// done takes in off the queue's head. A waiting writer's demand counts as
// met as soon as there is room for it, before the writer takes the room,
// so the spiller does not go on to make that room a second time.
func (s *spiller) done(in tier0.Info, spilled bool) {
	s.mu.Lock()
	if len(s.queue) > 0 && s.queue[0].ID == in.ID {
		s.queue = s.queue[1:]
	}
	if spilled {
		s.failing = nil
	}
	if s.demand > 0 && s.c.opts.Limit-s.c.t0.Used() >= s.demand {
		s.demand = 0
	}
	s.mu.Unlock()
	s.c.room.notify()
}

// permanent reports whether a spill error is about the object (deleted,
// lost, replaced) rather than the persistency tier or the metadata
// server, so that retrying would not help.
func permanent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrLost) ||
		errors.Is(err, metadata.ErrConflict) || errors.Is(err, ErrNotSealed)
}

// spillLocal spills one object of this node's tier 0. A local copy the
// metadata server no longer lists here (deleted, replaced, or this node
// was declared dead) is an orphan and is dropped.
func (c *Client) spillLocal(ctx context.Context, in tier0.Info) error {
	o, err := c.meta.GetObject(ctx, in.Bucket, in.Key)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return err
	}
	if err != nil || o.ID != in.ID || !c.isMe(o.Holder) {
		if c.t0.Remove(in.Bucket, in.Key, in.ID) == nil {
			c.room.notify()
		}
		return nil
	}
	return c.toPersistent(ctx, o, TierS3)
}

// makeRoom waits until n bytes fit in tier 0, asking the spiller for them,
// and fails with ErrTierFull when they will not come: no persistency tier,
// not enough sealed bytes to spill, spilling failing, or FullWait passed.
func (c *Client) makeRoom(n int64, cause error) error {
	full := func(format string, args ...any) error {
		c.m.tierFull.Inc()
		return fmt.Errorf("%w: %d of %d bytes used, %d more wanted: "+format, append([]any{ErrTierFull, c.t0.Used(), c.opts.Limit, n}, args...)...)
	}
	if n > c.opts.Limit {
		return full("larger than the whole tier")
	}
	deadline := time.NewTimer(c.opts.FullWait)
	defer deadline.Stop()
	for {
		changed := c.room.wait()
		free := c.opts.Limit - c.t0.Used()
		if free >= n {
			c.sp.met()
			return nil
		}
		if c.opts.Persistent == nil {
			return full("no persistency tier to spill to (%v)", cause)
		}
		if err := c.sp.failure(); err != nil {
			return full("spilling to the persistency tier fails: %v", err)
		}
		var spillable int64
		for _, in := range c.t0.Coldest() {
			spillable += in.Size
		}
		if spillable < n-free {
			return full("only %d bytes are sealed objects that could be spilled; the rest is still being written", spillable)
		}
		c.sp.request(n)
		select {
		case <-changed:
		case <-deadline.C:
			return full("spilling made no room within %s", c.opts.FullWait)
		case <-c.done:
			return ErrClosed
		}
	}
}
