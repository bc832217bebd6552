package metadata

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/store"
)

// Where the service keeps its records in the store (see
// docs/formats/geds-metadata.md).
const (
	bucketsPrefix = "/geds/buckets/"
	objectsPrefix = "/geds/objects/"
	holdersPrefix = "/geds/holders/"
)

// Listing page sizes.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

// registry is the service's state over a store.Store. Reads go straight to
// the store; every read-modify-write holds mu, so decisions are taken on
// the state they change (the store has no transactions).
type registry struct {
	st      store.Store
	now     func() time.Time
	timeout time.Duration
	// started is when this server started: holders get a full timeout
	// from then before they count as silent (see HolderAlive).
	started time.Time

	mu sync.Mutex
}

func newRegistry(st store.Store, timeout time.Duration, now func() time.Time) *registry {
	return &registry{st: st, now: now, timeout: timeout, started: now()}
}

func bucketKey(name string) string        { return bucketsPrefix + name }
func objectKey(bucket, key string) string { return objectsPrefix + bucket + "/" + key }
func holderKey(node string) string        { return holdersPrefix + node }

// --- buckets ---

func (r *registry) createBucket(ctx context.Context, name string, req CreateBucketRequest) (Bucket, error) {
	if err := ValidateBucket(name); err != nil {
		return Bucket{}, err
	}
	if req.Persistent == "" {
		req.Persistent = name
	}
	if err := ValidateBucket(req.Persistent); err != nil {
		return Bucket{}, fmt.Errorf("persistent: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := r.getBucket(ctx, name)
	if err == nil {
		return Bucket{}, fmt.Errorf("bucket %q: %w", name, ErrExists)
	}
	if !errors.Is(err, ErrNotFound) {
		return Bucket{}, err
	}
	b := Bucket{Name: name, Persistent: req.Persistent, Mounted: req.Mounted, Created: r.now().UTC()}
	if err := store.PutJSON(ctx, r.st, bucketKey(name), b); err != nil {
		return Bucket{}, fmt.Errorf("bucket %q: %w", name, err)
	}
	return b, nil
}

func (r *registry) getBucket(ctx context.Context, name string) (Bucket, error) {
	var b Bucket
	err := store.GetJSON(ctx, r.st, bucketKey(name), &b)
	if errors.Is(err, store.ErrNotFound) {
		return b, fmt.Errorf("bucket %q: %w", name, ErrNotFound)
	}
	return b, err
}

func (r *registry) listBuckets(ctx context.Context) ([]Bucket, error) {
	buckets, err := store.ListJSON[Bucket](ctx, r.st, bucketsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list buckets: %w", err)
	}
	return buckets, nil
}

// deleteBucket removes an empty bucket. The objects of a mounted bucket that
// are only in the persistency tier do not count: unmounting leaves them
// where they are.
func (r *registry) deleteBucket(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.getBucket(ctx, name); err != nil {
		return err
	}
	kvs, err := r.st.List(ctx, objectsPrefix+name+"/")
	if err != nil {
		return fmt.Errorf("bucket %q: %w", name, err)
	}
	if len(kvs) > 0 {
		return fmt.Errorf("bucket %q holds %d objects: %w", name, len(kvs), ErrBucketNotEmpty)
	}
	return r.st.Delete(ctx, bucketKey(name))
}

// --- holders ---

func (r *registry) register(ctx context.Context, node string, req RegisterRequest) (Holder, error) {
	if err := ValidateNodeID(node); err != nil {
		return Holder{}, err
	}
	if err := validateIncarnation(req.Incarnation); err != nil {
		return Holder{}, err
	}
	if u, err := url.Parse(req.PeerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Holder{}, fmt.Errorf("holder %s: peerURL %q: want a URL such as http://10.0.0.5:7171", node, req.PeerURL)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old, err := r.getHolder(ctx, node)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Holder{}, err
	case old.Incarnation == req.Incarnation && old.Dead:
		return Holder{}, fmt.Errorf("holder %s incarnation %s was declared dead (%s); register with a new incarnation: %w", node, old.Incarnation, old.Reason, ErrHolderDead)
	case old.Incarnation != req.Incarnation:
		// A new process on the node: what the old one held is gone.
		if err := r.reapLocked(ctx, node, req.Incarnation, fmt.Sprintf("holder %s restarted (incarnation %s replaced by %s)", node, old.Incarnation, req.Incarnation)); err != nil {
			return Holder{}, err
		}
	}
	now := r.now().UTC()
	h := Holder{Node: node, PeerURL: req.PeerURL, Incarnation: req.Incarnation, Registered: now, LastHeartbeat: now}
	if err := store.PutJSON(ctx, r.st, holderKey(node), h); err != nil {
		return Holder{}, fmt.Errorf("holder %s: %w", node, err)
	}
	return r.withAlive(h), nil
}

func (r *registry) heartbeat(ctx context.Context, node, incarnation string) (Holder, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.currentHolderLocked(ctx, node, incarnation)
	if err != nil {
		return Holder{}, err
	}
	h.LastHeartbeat = r.now().UTC()
	if err := store.PutJSON(ctx, r.st, holderKey(node), h); err != nil {
		return Holder{}, fmt.Errorf("holder %s: %w", node, err)
	}
	return r.withAlive(h), nil
}

// leave declares a holder dead at its own request (a clean shutdown), so
// readers learn at once instead of after the timeout.
func (r *registry) leave(ctx context.Context, node, incarnation string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	h, err := r.currentHolderLocked(ctx, node, incarnation)
	if err != nil {
		return err
	}
	return r.declareDeadLocked(ctx, h, fmt.Sprintf("holder %s left", node))
}

// currentHolderLocked returns the holder if incarnation is its live one;
// a holder found silent past the timeout is declared dead on the spot.
func (r *registry) currentHolderLocked(ctx context.Context, node, incarnation string) (Holder, error) {
	h, err := r.getHolder(ctx, node)
	if errors.Is(err, ErrNotFound) {
		return Holder{}, fmt.Errorf("holder %s is not registered: %w", node, ErrHolderDead)
	}
	if err != nil {
		return Holder{}, err
	}
	if h.Incarnation != incarnation {
		return Holder{}, fmt.Errorf("holder %s incarnation %s was replaced by %s: %w", node, incarnation, h.Incarnation, ErrHolderDead)
	}
	if h.Dead {
		return Holder{}, fmt.Errorf("holder %s was declared dead (%s): %w", node, h.Reason, ErrHolderDead)
	}
	if !HolderAlive(h, r.started, r.now(), r.timeout) {
		reason := r.silenceReason(h)
		if err := r.declareDeadLocked(ctx, h, reason); err != nil {
			return Holder{}, err
		}
		return Holder{}, fmt.Errorf("%s: %w", reason, ErrHolderDead)
	}
	return h, nil
}

func (r *registry) getHolder(ctx context.Context, node string) (Holder, error) {
	var h Holder
	err := store.GetJSON(ctx, r.st, holderKey(node), &h)
	if errors.Is(err, store.ErrNotFound) {
		return h, fmt.Errorf("holder %q: %w", node, ErrNotFound)
	}
	return h, err
}

func (r *registry) listHolders(ctx context.Context) ([]Holder, error) {
	holders, err := store.ListJSON[Holder](ctx, r.st, holdersPrefix)
	if err != nil {
		return nil, fmt.Errorf("list holders: %w", err)
	}
	out := make([]Holder, 0, len(holders))
	for _, h := range holders {
		out = append(out, r.withAlive(h))
	}
	return out, nil
}

func (r *registry) withAlive(h Holder) Holder {
	h.Alive = HolderAlive(h, r.started, r.now(), r.timeout)
	return h
}

func (r *registry) silenceReason(h Holder) string {
	return fmt.Sprintf("holder %s sent no heartbeat since %s (limit %s)", h.Node, h.LastHeartbeat.Format(time.RFC3339), r.timeout)
}

// sweep declares dead every holder silent past the timeout and settles its
// objects. It returns how many holders it declared dead.
func (r *registry) sweep(ctx context.Context) (int, error) {
	holders, err := r.listHolders(ctx)
	if err != nil {
		return 0, err
	}
	dead := 0
	for _, h := range holders {
		if h.Dead || h.Alive {
			continue
		}
		r.mu.Lock()
		// Decide again under the lock: a heartbeat may have arrived.
		_, err := r.currentHolderLocked(ctx, h.Node, h.Incarnation)
		r.mu.Unlock()
		if errors.Is(err, ErrHolderDead) {
			dead++
			continue
		}
		if err != nil {
			return dead, err
		}
	}
	return dead, nil
}

// declareDeadLocked marks h dead, then settles its objects. The order
// matters only for a crash in between, and either order heals: a dead
// holder's objects are settled again when read (settleLocked).
func (r *registry) declareDeadLocked(ctx context.Context, h Holder, reason string) error {
	h.Dead, h.Reason = true, reason
	if err := store.PutJSON(ctx, r.st, holderKey(h.Node), h); err != nil {
		return fmt.Errorf("holder %s: %w", h.Node, err)
	}
	return r.reapLocked(ctx, h.Node, "", reason)
}

// reapLocked applies AfterHolderLoss to every object held by node under an
// incarnation other than keep. It scans all objects: holders die rarely,
// and a second index would need a transaction the store does not offer.
func (r *registry) reapLocked(ctx context.Context, node, keep, reason string) error {
	kvs, err := r.st.List(ctx, objectsPrefix)
	if err != nil {
		return fmt.Errorf("settle objects of holder %s: %w", node, err)
	}
	for _, kv := range kvs {
		var o Object
		if err := json.Unmarshal(kv.Value, &o); err != nil {
			return fmt.Errorf("settle objects of holder %s: decode %s: %w", node, kv.Key, err)
		}
		if o.Holder == nil || o.Holder.Node != node || o.Holder.Incarnation == keep {
			continue
		}
		if settled, changed := AfterHolderLoss(o, reason); changed {
			if err := store.PutJSON(ctx, r.st, kv.Key, settled); err != nil {
				return fmt.Errorf("settle objects of holder %s: %w", node, err)
			}
		}
	}
	return nil
}

// --- objects ---

func (r *registry) createObject(ctx context.Context, bucket, key string, req CreateObjectRequest) (Object, error) {
	if err := ValidateObjectName(bucket, key); err != nil {
		return Object{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.getBucket(ctx, bucket); err != nil {
		return Object{}, err
	}
	h, err := r.currentHolderLocked(ctx, req.Node, req.Incarnation)
	if err != nil {
		return Object{}, err
	}
	old, err := r.loadObject(ctx, bucket, key)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Object{}, err
	default:
		if old, err = r.settleLocked(ctx, old); err != nil {
			return Object{}, err
		}
		if err := CanCreate(old); err != nil {
			return Object{}, err
		}
	}
	o := Object{
		Bucket: bucket, Key: key, ID: rand.Text(),
		Holder: &HolderRef{Node: h.Node, Incarnation: h.Incarnation},
		Tier:   TierLocal, State: StateOpen, Created: r.now().UTC(),
	}
	if err := r.putObject(ctx, o); err != nil {
		return Object{}, err
	}
	o.Holder.PeerURL = h.PeerURL
	return o, nil
}

func (r *registry) sealObject(ctx context.Context, bucket, key string, req SealRequest) (Object, error) {
	return r.updateObject(ctx, bucket, key, func(o Object) (Object, error) {
		return ApplySeal(o, req, r.now())
	})
}

func (r *registry) setTier(ctx context.Context, bucket, key string, req TierRequest) (Object, error) {
	if req.Tier != TierBoth && req.Tier != TierS3 {
		return Object{}, fmt.Errorf("tier %q: only %q (persisted) or %q (spilled) can be set", req.Tier, TierBoth, TierS3)
	}
	if len(req.S3ETag) > maxETag {
		return Object{}, badRequest(fmt.Errorf("s3ETag: %d bytes, at most %d", len(req.S3ETag), maxETag))
	}
	return r.updateObject(ctx, bucket, key, func(o Object) (Object, error) {
		if req.Persistent != "" {
			b, err := r.getBucket(ctx, bucket)
			if err != nil {
				return o, err
			}
			if b.Persistent != req.Persistent {
				return o, fmt.Errorf("object %s/%s: copied to persistency bucket %s, but the bucket's is %s: %w", bucket, key, req.Persistent, b.Persistent, ErrConflict)
			}
		}
		return ApplyTier(o, req)
	})
}

// replaceObject moves the sealed object req names to bucket/key in place
// of the key's current life, in one step for readers: they find the old
// life or the new one, never none. The source's record goes first, so a
// crash between the two writes loses the staged object (its writer is told
// the replace failed), never the key's current life. Repeating a replace
// that was done returns the object again.
func (r *registry) replaceObject(ctx context.Context, bucket, key string, req ReplaceRequest) (ReplaceResult, error) {
	if err := ValidateObjectName(bucket, key); err != nil {
		return ReplaceResult{}, err
	}
	if err := ValidateObjectName(req.FromBucket, req.FromKey); err != nil {
		return ReplaceResult{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.getBucket(ctx, bucket); err != nil {
		return ReplaceResult{}, err
	}
	old, err := r.settledLocked(ctx, bucket, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return ReplaceResult{}, err
	}
	var replaced *Object
	if err == nil {
		replaced = &old
	}
	src, err := r.settledLocked(ctx, req.FromBucket, req.FromKey)
	if errors.Is(err, ErrNotFound) && replaced != nil && replaced.ID == req.ID {
		return ReplaceResult{Object: r.withPeerURL(ctx, old)}, nil // done already
	}
	if err != nil {
		return ReplaceResult{}, err
	}
	o, err := ApplyReplace(src, req, replaced, bucket, key)
	if err != nil {
		return ReplaceResult{}, err
	}
	if err := r.st.Delete(ctx, objectKey(src.Bucket, src.Key)); err != nil {
		return ReplaceResult{}, fmt.Errorf("object %s/%s: %w", src.Bucket, src.Key, err)
	}
	if err := r.putObject(ctx, o); err != nil {
		return ReplaceResult{}, err
	}
	res := ReplaceResult{Object: r.withPeerURL(ctx, o)}
	if replaced != nil {
		was := r.withPeerURL(ctx, *replaced)
		res.Replaced = &was
	}
	return res, nil
}

// settledLocked loads an object and settles its holder's death.
func (r *registry) settledLocked(ctx context.Context, bucket, key string) (Object, error) {
	o, err := r.loadObject(ctx, bucket, key)
	if err != nil {
		return Object{}, err
	}
	return r.settleLocked(ctx, o)
}

// updateObject applies change to the object as it stands now (its holder's
// death settled first) and stores the result.
func (r *registry) updateObject(ctx context.Context, bucket, key string, change func(Object) (Object, error)) (Object, error) {
	if err := ValidateObjectName(bucket, key); err != nil {
		return Object{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o, err := r.settledLocked(ctx, bucket, key)
	if err != nil {
		return Object{}, err
	}
	changed, err := change(o)
	if err != nil {
		return Object{}, err
	}
	if err := r.putObject(ctx, changed); err != nil {
		return Object{}, err
	}
	return r.withPeerURL(ctx, changed), nil
}

// getObject returns the object as it stands now: if its holder died, the
// object is settled (and stored) before it is returned, so a reader never
// gets sent to a holder that is gone.
func (r *registry) getObject(ctx context.Context, bucket, key string) (Object, error) {
	if err := ValidateObjectName(bucket, key); err != nil {
		return Object{}, err
	}
	o, err := r.loadObject(ctx, bucket, key)
	if err != nil {
		return Object{}, err
	}
	if o.Holder == nil {
		return o, nil
	}
	if h, err := r.getHolder(ctx, o.Holder.Node); err == nil && h.Incarnation == o.Holder.Incarnation && HolderAlive(h, r.started, r.now(), r.timeout) {
		o.Holder.PeerURL = h.PeerURL
		return o, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, err = r.loadObject(ctx, bucket, key); err != nil {
		return Object{}, err
	}
	return r.settleLocked(ctx, o)
}

func (r *registry) deleteObject(ctx context.Context, bucket, key string) (Object, error) {
	if err := ValidateObjectName(bucket, key); err != nil {
		return Object{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	o, err := r.loadObject(ctx, bucket, key)
	if err != nil {
		return Object{}, err
	}
	if err := r.st.Delete(ctx, objectKey(bucket, key)); err != nil {
		return Object{}, fmt.Errorf("object %s/%s: %w", bucket, key, err)
	}
	return r.withPeerURL(ctx, o), nil
}

// listObjects returns up to limit objects of bucket whose keys start with
// prefix and sort after token, in key order. Objects of dead holders are
// shown settled but not stored here; the next read of each stores it.
func (r *registry) listObjects(ctx context.Context, bucket, prefix, token string, limit int) (ObjectList, error) {
	if err := ValidateBucket(bucket); err != nil {
		return ObjectList{}, err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	if _, err := r.getBucket(ctx, bucket); err != nil {
		return ObjectList{}, err
	}
	base := objectsPrefix + bucket + "/"
	kvs, err := r.st.List(ctx, base+prefix)
	if err != nil {
		return ObjectList{}, fmt.Errorf("list %s: %w", bucket, err)
	}
	start := 0
	if token != "" {
		after := base + token
		start = sort.Search(len(kvs), func(i int) bool { return kvs[i].Key > after })
	}
	holders, err := r.holderIndex(ctx)
	if err != nil {
		return ObjectList{}, err
	}
	end := min(start+limit, len(kvs))
	list := ObjectList{Items: make([]Object, 0, end-start)}
	for _, kv := range kvs[start:end] {
		var o Object
		if err := json.Unmarshal(kv.Value, &o); err != nil {
			return ObjectList{}, fmt.Errorf("list %s: decode %s: %w", bucket, kv.Key, err)
		}
		list.Items = append(list.Items, r.view(o, holders))
	}
	if end < len(kvs) {
		list.NextToken = list.Items[len(list.Items)-1].Key
	}
	return list, nil
}

func (r *registry) holderIndex(ctx context.Context) (map[string]Holder, error) {
	hs, err := r.listHolders(ctx)
	if err != nil {
		return nil, err
	}
	idx := make(map[string]Holder, len(hs))
	for _, h := range hs {
		idx[h.Node] = h
	}
	return idx, nil
}

// view is o as its holder's liveness makes it, without storing anything.
func (r *registry) view(o Object, holders map[string]Holder) Object {
	if o.Holder == nil {
		return o
	}
	h, ok := holders[o.Holder.Node]
	if ok && h.Incarnation == o.Holder.Incarnation && h.Alive {
		o.Holder.PeerURL = h.PeerURL
		return o
	}
	o, _ = AfterHolderLoss(o, lossReason(o.Holder, h, ok, r))
	return o
}

// settleLocked brings o up to date with its holder's fate and stores the
// change, if any.
func (r *registry) settleLocked(ctx context.Context, o Object) (Object, error) {
	if o.Holder == nil {
		return o, nil
	}
	h, err := r.getHolder(ctx, o.Holder.Node)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Object{}, err
	}
	if found && h.Incarnation == o.Holder.Incarnation && !h.Dead {
		if HolderAlive(h, r.started, r.now(), r.timeout) {
			o.Holder.PeerURL = h.PeerURL
			return o, nil
		}
		if err := r.declareDeadLocked(ctx, h, r.silenceReason(h)); err != nil {
			return Object{}, err
		}
		return r.loadObject(ctx, o.Bucket, o.Key)
	}
	settled, _ := AfterHolderLoss(o, lossReason(o.Holder, h, found, r))
	if err := r.putObject(ctx, settled); err != nil {
		return Object{}, err
	}
	return settled, nil
}

func lossReason(ref *HolderRef, h Holder, found bool, r *registry) string {
	switch {
	case !found:
		return fmt.Sprintf("holder %s is not registered", ref.Node)
	case h.Incarnation != ref.Incarnation:
		return fmt.Sprintf("holder %s restarted (incarnation %s replaced by %s)", ref.Node, ref.Incarnation, h.Incarnation)
	case h.Dead:
		return h.Reason
	default:
		return r.silenceReason(h)
	}
}

func (r *registry) withPeerURL(ctx context.Context, o Object) Object {
	if o.Holder == nil {
		return o
	}
	if h, err := r.getHolder(ctx, o.Holder.Node); err == nil && h.Incarnation == o.Holder.Incarnation {
		o.Holder.PeerURL = h.PeerURL
	}
	return o
}

func (r *registry) loadObject(ctx context.Context, bucket, key string) (Object, error) {
	var o Object
	err := store.GetJSON(ctx, r.st, objectKey(bucket, key), &o)
	if errors.Is(err, store.ErrNotFound) {
		return o, fmt.Errorf("object %s/%s: %w", bucket, key, ErrNotFound)
	}
	return o, err
}

func (r *registry) putObject(ctx context.Context, o Object) error {
	stored := o
	if o.Holder != nil {
		ref := *o.Holder
		ref.PeerURL = "" // derived from the holder's record when read
		stored.Holder = &ref
	}
	if err := store.PutJSON(ctx, r.st, objectKey(o.Bucket, o.Key), stored); err != nil {
		return fmt.Errorf("object %s/%s: %w", o.Bucket, o.Key, err)
	}
	return nil
}

// maxETag bounds an ETag recorded with an object; S3's are 32 to 40 or so
// characters.
const maxETag = 256

func validateIncarnation(inc string) error {
	if inc == "" || len(inc) > 64 {
		return fmt.Errorf("incarnation %q: must be 1 to 64 characters", inc)
	}
	return nil
}
