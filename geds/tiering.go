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
	if err := c.copyAndRecord(ctx, o, target); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if target == TierS3 {
		c.dropCopy(ctx, o)
		c.m.spilledBytes.Add(float64(o.Size))
	}
	return nil
}

// copyAndRecord copies a local object to the persistency tier (unless it
// is there) and records its new tier, with the ETag S3 gave the copy. A
// tier change refused because the bucket's persistency bucket is not the
// one remembered (the bucket was made again since) is tried once more with
// the name looked up afresh; the copy put in the old one stays there.
func (c *Client) copyAndRecord(ctx context.Context, o ObjectInfo, target Tier) error {
	for attempt := 0; ; attempt++ {
		req := metadata.TierRequest{ID: o.ID, Tier: target}
		if o.Tier == TierLocal {
			var err error
			if req.Persistent, req.S3ETag, err = c.upload(ctx, o); err != nil {
				return err
			}
		}
		_, err := c.meta.SetTier(ctx, o.Bucket, o.Key, req)
		if err == nil || attempt > 0 || req.Persistent == "" || !errors.Is(err, metadata.ErrConflict) {
			return err
		}
		c.persistentOf.Delete(o.Bucket)
	}
}

// upload puts a sealed object's bytes into its bucket's persistency bucket
// and returns that bucket's name and the ETag of the copy.
func (c *Client) upload(ctx context.Context, o ObjectInfo) (persistent, etag string, err error) {
	persistent, err = c.persistentBucket(ctx, o.Bucket)
	if err != nil {
		return "", "", err
	}
	if _, ok := c.ensured.Load(persistent); !ok {
		if err := c.opts.Persistent.EnsureBucket(ctx, persistent); err != nil {
			return "", "", fmt.Errorf("persistency bucket %s: %w", persistent, err)
		}
		c.ensured.Store(persistent, true)
	}
	etag, err = c.putLife(ctx, persistent, o)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.ensured.Delete(persistent) // the bucket may have gone away: make it again next time
		}
		return "", "", err
	}
	c.m.persistedBytes.Add(float64(o.Size))
	return persistent, etag, nil
}

// Errors of putLife.
var (
	// errLifeGone: the life being copied was deleted or replaced during
	// the copy. It matches metadata.ErrConflict, so the spiller gives up on
	// the object (and then drops its orphaned tier-0 copy).
	errLifeGone = fmt.Errorf("the key was deleted or replaced during the copy; this life's copy is dropped: %w", metadata.ErrConflict)
	// errS3Contested: S3's object under the key changed again between
	// looking at it and replacing it. Not permanent: the spiller backs off
	// and tries again.
	errS3Contested = errors.New("the persistency tier's object under the key changed again during the copy; will try again")
)

// putLife copies the life o to the persistency bucket under its key and
// returns the ETag S3 gave the copy. The write is conditional, so that it
// replaces only what o's record says S3 holds there: nothing, or (StaleS3)
// the replaced life's copy, by its ETag. This is what keeps an old life's
// bytes, uploaded late, from overwriting a newer life's copy. When S3
// refuses, putLifeAgain finds out why.
func (c *Client) putLife(ctx context.Context, persistent string, o ObjectInfo) (string, error) {
	if o.StaleS3 && o.S3ETag == "" {
		// Recorded before ETags were: learn what is there first.
		return c.putLifeAgain(ctx, persistent, o)
	}
	match := ""
	if o.StaleS3 {
		match = o.S3ETag
	}
	etag, refused, err := c.putOver(ctx, persistent, o, match)
	if refused {
		c.log.Debug("GEDS copy to the persistency tier refused; looking again", "bucket", o.Bucket, "key", o.Key, "reason", err)
		return c.putLifeAgain(ctx, persistent, o)
	}
	return etag, err
}

// putLifeAgain copies o after S3 refused a copy (it does not hold what o's
// record said, or the record predates ETags). If o is no longer the key's
// life, the copy is dropped (errLifeGone). If S3 holds o's own bytes (an
// earlier attempt whose tier change was not recorded, or another node's
// copy of the same life), they are taken as they are. Otherwise S3 holds
// bytes no live record owns (an older life's late upload, or an object
// written by another S3 tool), which o's copy replaces, once: if that is
// refused too, errS3Contested.
func (c *Client) putLifeAgain(ctx context.Context, persistent string, o ObjectInfo) (string, error) {
	now, err := c.meta.GetObject(ctx, o.Bucket, o.Key)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return "", fmt.Errorf("life %s: %w", o.ID, errLifeGone)
	case err != nil:
		return "", err
	case now.ID != o.ID:
		return "", fmt.Errorf("life %s, now %s: %w", o.ID, now.ID, errLifeGone)
	}
	_, match, life, err := c.opts.Persistent.Head(ctx, persistent, o.Key)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		match = ""
	case err != nil:
		return "", fmt.Errorf("persistency tier: %w", err)
	case life == o.ID:
		return match, nil
	}
	etag, refused, err := c.putOver(ctx, persistent, o, match)
	if refused {
		// Not wrapped: the refusal's kind (fs.ErrExist, fs.ErrNotExist)
		// would make the spiller take it for a permanent failure.
		return "", fmt.Errorf("%w: %v", errS3Contested, err)
	}
	return etag, err
}

// putOver puts the life o's bytes under its key in the persistency bucket,
// tagged with its id, replacing the object whose ETag is match, or only
// into an empty key if match is "". refused reports that S3 holds
// something else there.
func (c *Client) putOver(ctx context.Context, persistent string, o ObjectInfo, match string) (etag string, refused bool, err error) {
	rc, err := c.wholeObject(ctx, o)
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	if match == "" {
		etag, err = c.opts.Persistent.PutIfAbsent(ctx, persistent, o.Key, o.ID, rc, o.Size)
		refused = errors.Is(err, fs.ErrExist)
	} else {
		etag, err = c.opts.Persistent.PutIfMatch(ctx, persistent, o.Key, o.ID, rc, o.Size, match)
		refused = errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist)
	}
	if err != nil {
		return "", refused, fmt.Errorf("persistency tier: %w", err)
	}
	return etag, false, nil
}

// persistentBucket returns the persistency bucket of a GEDS bucket,
// remembered after the first lookup: it is fixed when the bucket is
// made, and the metadata server refuses a tier change naming another one
// (ErrWrongPersistent), which drops the remembered name.
func (c *Client) persistentBucket(ctx context.Context, bucket string) (string, error) {
	if name, ok := c.persistentOf.Load(bucket); ok {
		return name.(string), nil
	}
	b, err := c.meta.GetBucket(ctx, bucket)
	if err != nil {
		return "", err
	}
	c.persistentOf.Store(bucket, b.Persistent)
	return b.Persistent, nil
}

// spiller moves the coldest sealed objects out of tier 0 in the background
// once it passes Options.SpillAt, down to Options.SpillTo, and when writers
// wait for room. It retries with exponential backoff while the persistency
// tier fails, and reports the failure so that waiting writers fail fast
// with ErrTierFull instead of waiting out the backoff.
//
// Options.SpillConcurrency workers spill at once, each taking the coldest
// object no other is moving; bytes being moved count as freed when deciding
// how much more to pick, so the workers together spill what is needed and
// no more.
type spiller struct {
	c    *Client
	wake chan struct{}

	mu       sync.Mutex
	queue    []tier0.Info     // picked coldest first, not yet taken by a worker
	inflight map[string]int64 // id → size of the objects being spilled
	moving   int64            // the sum of inflight
	active   bool             // spilling down to SpillTo
	demand   int64            // bytes a waiting writer needs
	failing  error            // the last failure, until a spill succeeds
}

func newSpiller(c *Client) *spiller {
	return &spiller{c: c, wake: make(chan struct{}, 1), inflight: map[string]int64{}}
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

// queueLen is how many objects are picked for spilling or being spilled.
func (s *spiller) queueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) + len(s.inflight)
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

// drain spills with SpillConcurrency workers until there is nothing left
// to do or ctx ends.
func (s *spiller) drain(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.c.opts.SpillConcurrency {
		wg.Go(func() { s.work(ctx) })
	}
	wg.Wait()
}

// work is one spilling worker: it takes objects until none is left to
// take, backing off while spills fail.
func (s *spiller) work(ctx context.Context) {
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
		s.mu.Lock()
		s.untakeLocked(next)
		if ctx.Err() == nil {
			s.failing = err
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		s.c.m.spillErrors.Inc()
		s.c.log.Warn("GEDS spill failed; retrying", "bucket", next.Bucket, "key", next.Key, "in", backoff, "err", err)
		s.c.room.notify() // writers waiting for room learn it will not come soon
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.c.opts.SpillBackoffMax)
	}
}

// next takes the object to spill now, refilling the queue with the
// coldest objects no worker is moving when it runs dry, or returns false
// when enough room is free or being made. Passing SpillAt starts a run
// that goes down to SpillTo; a waiting writer's demand is met on its own,
// without such a run.
func (s *spiller) next() (tier0.Info, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.needLocked()
	if need <= 0 {
		if len(s.inflight) == 0 {
			s.active, s.demand, s.queue, s.failing = false, 0, nil, nil
		}
		return tier0.Info{}, false
	}
	if len(s.queue) == 0 {
		var sum int64
		for _, in := range s.c.t0.Coldest() {
			if sum >= need {
				break
			}
			if _, taken := s.inflight[in.ID]; taken || !s.c.movable(in) {
				continue
			}
			s.queue = append(s.queue, in)
			sum += in.Size
		}
	}
	if len(s.queue) == 0 {
		if len(s.inflight) == 0 {
			// Nothing sealed to spill: writers get ErrTierFull from makeRoom.
			s.active, s.demand = false, 0
		}
		return tier0.Info{}, false
	}
	in := s.queue[0]
	s.queue = s.queue[1:]
	s.inflight[in.ID] = in.Size
	s.moving += in.Size
	return in, true
}

// needLocked is how many more bytes to pick for spilling, beyond those
// being moved.
func (s *spiller) needLocked() int64 {
	limit, used := s.c.opts.Limit, s.c.t0.Used()-s.moving
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
	return need
}

// untakeLocked returns a taken object that failed to spill to the queue's
// head, for the next attempt.
func (s *spiller) untakeLocked(in tier0.Info) {
	if size, ok := s.inflight[in.ID]; ok {
		delete(s.inflight, in.ID)
		s.moving -= size
		s.queue = append([]tier0.Info{in}, s.queue...)
	}
}

// done ends the spill of a taken object. A waiting writer's demand counts
// as met as soon as there is room for it, before the writer takes the
// room, so the spiller does not go on to make that room a second time.
func (s *spiller) done(in tier0.Info, spilled bool) {
	s.mu.Lock()
	if size, ok := s.inflight[in.ID]; ok {
		delete(s.inflight, in.ID)
		s.moving -= size
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

// spillLocal spills one object of this node's tier 0, or drops it if it
// is a cache copy. A local copy the metadata server no longer lists here
// (deleted, replaced, or this node was declared dead) is an orphan and is
// dropped.
func (c *Client) spillLocal(ctx context.Context, in tier0.Info) error {
	if in.Copy {
		// A cache copy: the object is kept elsewhere, so dropping it is
		// the whole job.
		if c.t0.Remove(in.Bucket, in.Key, in.ID) == nil {
			c.room.notify()
		}
		return nil
	}
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

// movable reports whether the spiller can take in out of tier 0: a cache
// copy always (it is dropped), an object only if there is a persistency
// tier to spill it to.
func (c *Client) movable(in tier0.Info) bool {
	return in.Copy || c.opts.Persistent != nil
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
		if err := c.sp.failure(); err != nil {
			return full("spilling to the persistency tier fails: %v", err)
		}
		var spillable int64
		for _, in := range c.t0.Coldest() {
			if c.movable(in) {
				spillable += in.Size
			}
		}
		switch {
		case spillable >= n-free:
		case c.opts.Persistent == nil:
			return full("no persistency tier to spill to (%v)", cause)
		default:
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
