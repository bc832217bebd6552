package geds

import (
	"errors"

	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/peer"
	"github.com/cloudskin/cloudskin/geds/tier0"
)

// Errors (wrapped; test with errors.Is).
var (
	// ErrTierFull: tier 0 is at its limit and spilling cannot make room
	// (nothing sealed left to spill, or the persistency tier is failing).
	ErrTierFull = errors.New("geds: tier 0 full")
	// ErrNotFound: no such bucket or object; it also matches fs.ErrNotExist.
	ErrNotFound = metadata.ErrNotFound
	// ErrExists: the bucket or object exists; it also matches fs.ErrExist.
	ErrExists = metadata.ErrExists
	// ErrLost: the object's only copy was on a node that is gone.
	ErrLost = metadata.ErrLost
	// ErrInvalidName: a bucket name or key breaks the naming rules.
	ErrInvalidName = metadata.ErrInvalidName
	// ErrSealed: the object is sealed; it cannot be written.
	ErrSealed = tier0.ErrSealed
	// ErrNotSealed: the object is still being written; only its writer's
	// process can read it, and it cannot be persisted or spilled yet.
	ErrNotSealed = tier0.ErrNotSealed
	// ErrNotLocal: Bytes needs the object in this process's tier 0.
	ErrNotLocal = errors.New("geds: object is not in this node's tier 0")
	// ErrNoPersistent: the operation needs a persistency tier and the
	// Client has none.
	ErrNoPersistent = errors.New("geds: no persistency tier configured")
	// ErrPeerUnavailable: the node holding the object could not be reached
	// or broke off the read.
	ErrPeerUnavailable = peer.ErrPeerUnavailable
	// ErrReplaced: the object being read from the persistency tier was
	// replaced there by another life of its key (or, in a mounted bucket,
	// overwritten by another S3 client); the reader stops rather than read
	// the new bytes. Open the key again to read what it holds now.
	ErrReplaced = errors.New("geds: object replaced while reading; reopen it")
	// ErrClosed: the Client is closed.
	ErrClosed = errors.New("geds: client closed")
)

// Names are checked by the same rules everywhere.
var (
	// ValidateBucket checks a bucket name (S3's rules).
	ValidateBucket = metadata.ValidateBucket
	// ValidateKey checks a key: 1 to 1024 bytes of UTF-8, no NUL, no "."
	// or ".." path segment.
	ValidateKey = metadata.ValidateKey
)

// Types shared with the metadata service.
type (
	// Bucket describes a bucket.
	Bucket = metadata.Bucket
	// ObjectInfo describes an object: size, state, tier, holder.
	ObjectInfo = metadata.Object
	// ObjectList is a page of a listing; NextToken continues it.
	ObjectList = metadata.ObjectList
	// Tier says where an object's bytes are.
	Tier = metadata.Tier
	// State is an object's life stage.
	State = metadata.State
)

// Tiers and states.
const (
	TierLocal   = metadata.TierLocal
	TierS3      = metadata.TierS3
	TierBoth    = metadata.TierBoth
	StateOpen   = metadata.StateOpen
	StateSealed = metadata.StateSealed
	StateLost   = metadata.StateLost
)
