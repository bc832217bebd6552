// Package store is the control plane's state store: a small key-value
// interface that an embedded database (bbolt, package store/bolt) implements
// today and that etcd or PostgreSQL can implement later without any caller
// changing.
//
// Keys are slash-separated paths such as "/sites/edge"; values are opaque
// bytes (callers store JSON). The interface is deliberately the common
// subset of those engines: get, put, delete, list by prefix.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotFound is returned (wrapped) when a key does not exist.
var ErrNotFound = errors.New("not found")

// KeyValue is one entry returned by List.
type KeyValue struct {
	Key   string
	Value []byte
}

// Store is a durable key-value store. Implementations are safe for
// concurrent use; a Put that returned nil survives a crash.
type Store interface {
	// Get returns the value at key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put sets key to value.
	Put(ctx context.Context, key string, value []byte) error
	// Delete removes key; deleting a missing key wraps ErrNotFound.
	Delete(ctx context.Context, key string) error
	// List returns every entry whose key starts with prefix, ordered by key.
	List(ctx context.Context, prefix string) ([]KeyValue, error)
	// Close releases the store.
	Close() error
}

// GetJSON reads key and decodes its JSON value into out.
func GetJSON(ctx context.Context, s Store, key string, out any) error {
	b, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("store: decode %s: %w", key, err)
	}
	return nil
}

// PutJSON encodes v as JSON and writes it at key.
func PutJSON(ctx context.Context, s Store, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", key, err)
	}
	return s.Put(ctx, key, b)
}

// ListJSON decodes the JSON value of every entry under prefix, in key
// order, into a []T.
func ListJSON[T any](ctx context.Context, s Store, prefix string) ([]T, error) {
	kvs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("store: decode %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}
