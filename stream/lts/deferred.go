package lts

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Deferred is Storage that becomes another once that one is ready: in
// `cloudskin up` the stream store opens before the GEDS node it tiers to,
// which needs the metadata service up. Until Set, every call fails with
// ErrUnavailable, which the store treats as an outage (data stays in its
// log, tiering retries), so no special start-up order is needed.
type Deferred struct {
	why     string
	storage atomic.Pointer[Storage]
}

// NewDeferred returns storage that is unavailable, for the reason why,
// until Set.
func NewDeferred(why string) *Deferred { return &Deferred{why: why} }

// Set makes calls go to s from now on.
func (d *Deferred) Set(s Storage) { d.storage.Store(&s) }

func (d *Deferred) get() (Storage, error) {
	if s := d.storage.Load(); s != nil {
		return *s, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnavailable, d.why)
}

// Put implements Storage.
func (d *Deferred) Put(ctx context.Context, key string, data []byte) error {
	s, err := d.get()
	if err != nil {
		return err
	}
	return s.Put(ctx, key, data)
}

// Get implements Storage.
func (d *Deferred) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	s, err := d.get()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, key, off, n)
}

// Delete implements Storage.
func (d *Deferred) Delete(ctx context.Context, key string) error {
	s, err := d.get()
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}
