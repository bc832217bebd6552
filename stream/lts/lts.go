// Package lts is the stream store's long-term storage: where segment data
// goes once it has been coalesced into chunks, so that the write-ahead log
// can be truncated.
//
// Storage is the small interface the store needs: whole objects written at
// once (a chunk is written once and never changed), read by range, and
// deleted. Dir keeps objects in a local or mounted directory; S3 keeps them
// in any S3-compatible store through geds/s3tier, which already classifies
// S3 errors and streams uploads; GEDS keeps them in the ephemeral data
// store, in this node's tier 0 and persisted to GEDS's S3 before Put
// returns. All report an outage by wrapping ErrUnavailable, which is what
// lets the store tell "LTS is down, keep the data in the log and try
// later" from "this request is wrong".
//
// No library fits because the interface is the point: three methods and
// two error classes, the least a store of chunks needs, so that any tier
// can be put behind it.
package lts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// ErrUnavailable is wrapped by errors that say the storage could not be
// reached or failed in a way that may pass; the same call may succeed
// later.
var ErrUnavailable = errors.New("long-term storage unavailable")

// ErrNotFound is wrapped when an object does not exist. It is
// fs.ErrNotExist, so errors.Is works with either.
var ErrNotFound = fs.ErrNotExist

// Storage holds objects by key. Keys are slash-separated relative paths of
// the characters [a-z0-9._-/]. Implementations are safe for concurrent
// use.
type Storage interface {
	// Put stores data under key, replacing what was there. When it returns
	// nil the object is durable and whole; a failed Put leaves either the
	// old object or none, never a part.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns n bytes of the object from off on (fewer at its end);
	// n < 0 means to the end.
	Get(ctx context.Context, key string, off, n int64) ([]byte, error)
	// Delete removes an object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// CheckKey reports whether key is a valid object key.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || len(key) > 512 {
		return fmt.Errorf("lts: key %q: want a relative path of at most 512 characters", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("lts: key %q: empty, . or .. path element", key)
		}
	}
	for _, c := range key {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/'
		if !ok {
			return fmt.Errorf("lts: key %q: character %q is not allowed", key, c)
		}
	}
	return nil
}
