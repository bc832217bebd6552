package metadata

import (
	"fmt"
	"time"
)

// This file holds the service's decisions as pure functions: no store, no
// clock (callers pass now), so every rule is tested directly.

// HolderAlive reports whether a holder counts as alive at now: not declared
// dead, and heard from within timeout. Silence is measured from the later
// of its last heartbeat and serverStart, so a restarted metadata server
// gives every holder a full timeout to reach it again instead of declaring
// dead all those that could not heartbeat while it was down.
func HolderAlive(h Holder, serverStart, now time.Time, timeout time.Duration) bool {
	if h.Dead {
		return false
	}
	last := h.LastHeartbeat
	if serverStart.After(last) {
		last = serverStart
	}
	return now.Sub(last) <= timeout
}

// AfterHolderLoss returns what becomes of o once the holder of its tier-0
// copy is gone, and whether anything changed: a copy in the persistency tier
// survives (the object moves to tier s3, readable from there); an object
// with no other copy, sealed or still open, is lost.
func AfterHolderLoss(o Object, reason string) (Object, bool) {
	if o.Holder == nil || o.State == StateLost {
		return o, false
	}
	if o.State == StateSealed && (o.Tier == TierBoth || o.Tier == TierS3) {
		o.Tier = TierS3
		o.Holder = nil
		return o, true
	}
	o.State = StateLost
	o.LostReason = reason
	o.Holder = nil
	return o, true
}

// ApplySeal seals an open object for its holder, with its final size.
// Sealing again with the same size is a no-op, so a client may retry a seal
// whose answer it did not get.
func ApplySeal(o Object, req SealRequest, now time.Time) (Object, error) {
	if req.ID != o.ID {
		return o, fmt.Errorf("object %s/%s: seal of id %s, but the key now has id %s: %w", o.Bucket, o.Key, req.ID, o.ID, ErrConflict)
	}
	if req.Size < 0 {
		return o, fmt.Errorf("object %s/%s: negative size %d", o.Bucket, o.Key, req.Size)
	}
	switch o.State {
	case StateLost:
		return o, fmt.Errorf("object %s/%s: %s: %w", o.Bucket, o.Key, o.LostReason, ErrLost)
	case StateSealed:
		if o.Size == req.Size {
			return o, nil
		}
		return o, fmt.Errorf("object %s/%s: sealed already with size %d, not %d: %w", o.Bucket, o.Key, o.Size, req.Size, ErrConflict)
	}
	if o.Holder == nil || o.Holder.Node != req.Node || o.Holder.Incarnation != req.Incarnation {
		return o, fmt.Errorf("object %s/%s: only its writer (%s) may seal it: %w", o.Bucket, o.Key, holderName(o.Holder), ErrConflict)
	}
	o.State = StateSealed
	o.Size = req.Size
	o.ETag = req.ETag
	o.Sealed = now.UTC()
	return o, nil
}

// ApplyTier records that a sealed object's bytes moved: to TierBoth after a
// copy to the persistency tier (persist), to TierS3 once the tier-0 copy is
// gone (spill). Bytes never come back to tier 0 this way, and repeating a
// change is a no-op so that a retried spill is harmless. A copy made from
// tier local replaces whatever the persistency tier held under the key, so
// the object's S3ETag becomes the request's (empty if the copier did not
// say); a request that names an ETag otherwise updates it.
func ApplyTier(o Object, req TierRequest) (Object, error) {
	if req.ID != o.ID {
		return o, fmt.Errorf("object %s/%s: tier change for id %s, but the key now has id %s: %w", o.Bucket, o.Key, req.ID, o.ID, ErrConflict)
	}
	switch o.State {
	case StateLost:
		return o, fmt.Errorf("object %s/%s: %s: %w", o.Bucket, o.Key, o.LostReason, ErrLost)
	case StateOpen:
		return o, fmt.Errorf("object %s/%s: still open; only sealed objects change tier: %w", o.Bucket, o.Key, ErrConflict)
	}
	copied := o.Tier == TierLocal
	switch {
	case req.Tier == o.Tier:
	case req.Tier == TierBoth && o.Tier == TierLocal:
		o.Tier = TierBoth
	case req.Tier == TierS3 && (o.Tier == TierLocal || o.Tier == TierBoth):
		o.Tier = TierS3
		o.Holder = nil
	default:
		return o, fmt.Errorf("object %s/%s: cannot go from tier %q to %q: %w", o.Bucket, o.Key, o.Tier, req.Tier, ErrConflict)
	}
	if copied {
		o.StaleS3 = false // the copy just made overwrote an earlier life's bytes
	}
	if copied || req.S3ETag != "" {
		o.S3ETag = req.S3ETag
	}
	return o, nil
}

// ApplyReplace returns src, a sealed object held only in its holder's tier
// 0, moved to bucket/key in place of old (nil when the key is free): the
// key's next life, which readers find from then on. A key being written is
// not replaced, as CanCreate refuses it. If old had bytes in the
// persistency tier under this key, the new life is marked StaleS3 and
// takes over what is known of them (S3ETag), so that its own copy replaces
// exactly those bytes.
func ApplyReplace(src Object, req ReplaceRequest, old *Object, bucket, key string) (Object, error) {
	what := fmt.Sprintf("replace %s/%s with %s/%s", bucket, key, src.Bucket, src.Key)
	switch {
	case src.Bucket == bucket && src.Key == key:
		return src, fmt.Errorf("%s: the same object", what)
	case req.ID != src.ID:
		return src, fmt.Errorf("%s: id %s, but the source now has id %s: %w", what, req.ID, src.ID, ErrConflict)
	case src.State == StateLost:
		return src, fmt.Errorf("%s: %s: %w", what, src.LostReason, ErrLost)
	case src.State != StateSealed:
		return src, fmt.Errorf("%s: the source is not sealed: %w", what, ErrConflict)
	case src.Tier != TierLocal:
		return src, fmt.Errorf("%s: the source is in tier %q; only an object held in tier 0 alone moves: %w", what, src.Tier, ErrConflict)
	case src.Holder == nil || src.Holder.Node != req.Node || src.Holder.Incarnation != req.Incarnation:
		return src, fmt.Errorf("%s: only its holder (%s) may move it: %w", what, holderName(src.Holder), ErrConflict)
	case old != nil && old.State == StateOpen:
		return src, fmt.Errorf("%s: the key is being written: %w", what, ErrExists)
	}
	o := src
	o.Bucket, o.Key = bucket, key
	o.StaleS3 = old != nil && (old.Tier == TierS3 || old.Tier == TierBoth || old.StaleS3)
	o.S3ETag = ""
	if o.StaleS3 {
		o.S3ETag = old.S3ETag
	}
	return o, nil
}

// CanCreate decides whether a key may be (re)created over what the
// service holds for it: only a lost object may be replaced; a live one must
// be deleted first, so that a reader never sees one life of a key turn into
// another under it.
func CanCreate(existing Object) error {
	if existing.State == StateLost {
		return nil
	}
	return fmt.Errorf("object %s/%s (%s): %w", existing.Bucket, existing.Key, existing.State, ErrExists)
}

func holderName(h *HolderRef) string {
	if h == nil {
		return "no holder"
	}
	return fmt.Sprintf("node %s incarnation %s", h.Node, h.Incarnation)
}
