package metadata

import (
	"errors"
	"io/fs"
	"time"
)

// Tier says where an object's bytes are.
type Tier string

const (
	// TierLocal: only in the holder's tier 0.
	TierLocal Tier = "local"
	// TierS3: only in the persistency tier (spilled, or the holder is gone).
	TierS3 Tier = "s3"
	// TierBoth: in the holder's tier 0 and in the persistency tier.
	TierBoth Tier = "both"
)

// State is an object's life stage.
type State string

const (
	// StateOpen: being written by its holder; only the writer's own process
	// may read it.
	StateOpen State = "open"
	// StateSealed: complete and immutable.
	StateSealed State = "sealed"
	// StateLost: its only copy was on a holder that died; reading fails.
	StateLost State = "lost"
)

// Bucket is a namespace of objects. Every bucket has a counterpart in the
// persistency tier (same name unless mounted under another); a mounted
// bucket also shows the objects already there.
type Bucket struct {
	Name string `json:"name"`
	// Persistent is the bucket's name in the persistency tier.
	Persistent string `json:"persistent"`
	// Mounted buckets show the persistency bucket's existing objects too.
	Mounted bool      `json:"mounted,omitempty"`
	Created time.Time `json:"created"`
}

// BucketList is the answer of GET /geds/v1/buckets.
type BucketList struct {
	Items []Bucket `json:"items"`
}

// HolderRef names the holder process of an object's tier-0 copy.
type HolderRef struct {
	Node        string `json:"node"`
	Incarnation string `json:"incarnation"`
	// PeerURL is filled in from the holder's registration when read; it is
	// not stored with the object.
	PeerURL string `json:"peerURL,omitempty"`
}

// Object is what the service knows of one object.
type Object struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// ID changes every time the key is created, so that a reader or a tier
	// change never mixes two lives of one key.
	ID   string `json:"id"`
	Size int64  `json:"size"`
	// Holder is nil when the bytes are only in the persistency tier.
	Holder  *HolderRef `json:"holder,omitempty"`
	Tier    Tier       `json:"tier"`
	State   State      `json:"state"`
	Created time.Time  `json:"created"`
	Sealed  time.Time  `json:"sealed,omitzero"`
	ETag    string     `json:"etag,omitempty"`
	// LostReason says why a lost object was lost.
	LostReason string `json:"lostReason,omitempty"`
	// StaleS3: the persistency tier holds an earlier life's bytes under
	// this key (this life replaced it and has not been copied there yet).
	// Deleting the object deletes them too; copying this life there
	// overwrites them and clears the flag.
	StaleS3 bool `json:"staleS3,omitempty"`
	// S3ETag is the ETag of the persistency tier's object under this key,
	// when known: this life's copy while the tier is both or s3 (readers
	// of the life ask S3 for that ETag, so they never get another life's
	// bytes); the earlier life's copy while StaleS3 (the copy of this life
	// replaces only that one). Empty for records written before it existed
	// and for lives with nothing in the persistency tier.
	S3ETag string `json:"s3ETag,omitempty"`
}

// LifeS3ETag returns the ETag of this life's own copy in the persistency
// tier, or "" if it has none or its ETag is not known.
func (o Object) LifeS3ETag() string {
	if o.Tier == TierBoth || o.Tier == TierS3 {
		return o.S3ETag
	}
	return ""
}

// ObjectList is one page of a listing.
type ObjectList struct {
	Items []Object `json:"items"`
	// NextToken continues the listing; empty on the last page.
	NextToken string `json:"nextToken,omitempty"`
}

// Holder is a GEDS client process that keeps objects in its tier 0 and
// serves them to peers.
type Holder struct {
	Node    string `json:"node"`
	PeerURL string `json:"peerURL"`
	// Incarnation is chosen by the process at start; a new one means the
	// node restarted and lost what the old one held.
	Incarnation   string    `json:"incarnation"`
	Registered    time.Time `json:"registered"`
	LastHeartbeat time.Time `json:"lastHeartbeat"`
	// Dead is set once the holder was declared dead (silent too long, or
	// it left); its objects were then moved to s3 or marked lost.
	Dead bool `json:"dead,omitempty"`
	// Reason says why a dead holder was declared dead.
	Reason string `json:"reason,omitempty"`
	// Alive is derived when read, never stored.
	Alive bool `json:"alive"`
}

// HolderList is the answer of GET /geds/v1/holders.
type HolderList struct {
	Items []Holder `json:"items"`
}

// Request bodies.
type (
	// CreateBucketRequest is the body of PUT /geds/v1/buckets/{bucket}.
	CreateBucketRequest struct {
		// Persistent defaults to the bucket's own name.
		Persistent string `json:"persistent,omitempty"`
		Mounted    bool   `json:"mounted,omitempty"`
	}
	// RegisterRequest is the body of PUT /geds/v1/holders/{node}.
	RegisterRequest struct {
		PeerURL     string `json:"peerURL"`
		Incarnation string `json:"incarnation"`
	}
	// IncarnationRequest is the body of a holder's heartbeat and leave.
	IncarnationRequest struct {
		Incarnation string `json:"incarnation"`
	}
	// CreateObjectRequest is the body of PUT …/objects/{key}.
	CreateObjectRequest struct {
		Node        string `json:"node"`
		Incarnation string `json:"incarnation"`
	}
	// SealRequest is the body of POST …/objects/{key}/seal.
	SealRequest struct {
		ID          string `json:"id"`
		Node        string `json:"node"`
		Incarnation string `json:"incarnation"`
		Size        int64  `json:"size"`
		ETag        string `json:"etag,omitempty"`
	}
	// TierRequest is the body of POST …/objects/{key}/tier.
	TierRequest struct {
		ID   string `json:"id"`
		Tier Tier   `json:"tier"`
		// Persistent, when set, is the persistency bucket the bytes were
		// copied to; it must be the object's bucket's.
		Persistent string `json:"persistent,omitempty"`
		// S3ETag is the ETag the persistency tier gave the copy, when the
		// request records one (see Object.S3ETag).
		S3ETag string `json:"s3ETag,omitempty"`
	}
	// ReplaceRequest is the body of POST …/objects/{key}/replace: the
	// sealed object FromBucket/FromKey, life ID, held in tier 0 by the
	// node asking, takes the key's place.
	ReplaceRequest struct {
		FromBucket  string `json:"fromBucket"`
		FromKey     string `json:"fromKey"`
		ID          string `json:"id"`
		Node        string `json:"node"`
		Incarnation string `json:"incarnation"`
	}
	// ReplaceResult answers a replace: the object now under the key, and
	// the life it replaced, if there was one, whose copies are to go.
	ReplaceResult struct {
		Object   Object  `json:"object"`
		Replaced *Object `json:"replaced,omitempty"`
	}
)

// Errors the service and the client return (wrapped); test with errors.Is.
var (
	// ErrNotFound: no such bucket or object. It also matches fs.ErrNotExist.
	ErrNotFound error = &kindError{"not found", fs.ErrNotExist}
	// ErrExists: the bucket or object exists already. It also matches fs.ErrExist.
	ErrExists error = &kindError{"already exists", fs.ErrExist}
	// ErrLost: the object's only copy was on a holder that died.
	ErrLost = errors.New("object lost: its only copy was on a holder that is gone")
	// ErrConflict: the request does not fit the object's state (sealing a
	// sealed object, another life of the key, an impossible tier change).
	ErrConflict = errors.New("conflict")
	// ErrHolderDead: the holder is unknown, superseded or was declared dead;
	// it must register again (and drop what it held).
	ErrHolderDead = errors.New("holder not registered or declared dead")
	// ErrBucketNotEmpty: a bucket with objects cannot be deleted.
	ErrBucketNotEmpty = errors.New("bucket not empty")
)

// kindError is a sentinel that also matches a standard library error.
type kindError struct {
	msg string
	is  error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.is }
