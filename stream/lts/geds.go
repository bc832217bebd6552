package lts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/durable"
)

// GEDS is Storage in one bucket of the ephemeral data store (package geds):
// the seed's arrangement, where the stream store's long-term storage is
// GEDS and GEDS moves the data on to S3. Chunks land in this node's tier 0
// (fast to write, served to every GEDS client in the continuum, so an
// analytics job can read a stream's history without the stream store),
// and, unless Ephemeral, are persisted to GEDS's persistency tier before
// Put returns, since the store truncates its log once Put has returned.
type GEDS struct {
	client    *geds.Client
	bucket    string
	ephemeral bool
}

// GEDSOptions configure GEDS storage.
type GEDSOptions struct {
	// Bucket is the GEDS bucket chunks go to; it is created if missing.
	Bucket string
	// Ephemeral skips persisting each chunk to the client's persistency
	// tier before Put returns. A chunk then lives only in this node's tier
	// 0 until GEDS spills it: it is lost with the node (or with a tmpfs at
	// reboot), and with it the stream's data, since the log was truncated.
	// Use it only for streams that may lose their history.
	Ephemeral bool
}

// NewGEDS returns storage in a bucket of client (created if missing, which
// needs the metadata server to be reachable now). Unless opts.Ephemeral,
// client needs a persistency tier.
func NewGEDS(ctx context.Context, client *geds.Client, opts GEDSOptions) (*GEDS, error) {
	if err := client.CreateBucket(ctx, opts.Bucket); err != nil && !errors.Is(err, geds.ErrExists) {
		return nil, fmt.Errorf("lts: GEDS bucket %s: %w", opts.Bucket, mapGEDS(err))
	}
	return &GEDS{client: client, bucket: opts.Bucket, ephemeral: opts.Ephemeral}, nil
}

// Put implements Storage: durable.Put, so a key that exists is replaced
// and a Put that fails leaves no part of an object; unless Ephemeral the
// chunk is in the persistency tier before Put returns.
func (g *GEDS) Put(ctx context.Context, key string, data []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if _, err := durable.Put(ctx, g.client, g.bucket, key, bytes.NewReader(data), !g.ephemeral); err != nil {
		return fmt.Errorf("lts: put %s: %w", key, mapGEDS(err))
	}
	return nil
}

// Get implements Storage.
func (g *GEDS) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	r, err := g.client.Open(ctx, g.bucket, key)
	if err != nil {
		return nil, fmt.Errorf("lts: get %s: %w", key, mapGEDS(err))
	}
	defer r.Close()
	size := r.Size()
	if off >= size {
		return nil, nil
	}
	if n < 0 || off+n > size {
		n = size - off
	}
	buf := make([]byte, n)
	read, err := r.ReadAtContext(ctx, buf, off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(read) == n) {
		return nil, fmt.Errorf("lts: get %s: %w", key, mapGEDS(err))
	}
	return buf[:read], nil
}

// Delete implements Storage.
func (g *GEDS) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := g.client.Delete(ctx, g.bucket, key); err != nil && !errors.Is(err, geds.ErrNotFound) {
		return fmt.Errorf("lts: delete %s: %w", key, mapGEDS(err))
	}
	return nil
}

// mapGEDS classifies GEDS's errors for the store: a missing object is
// ErrNotFound; an error that may pass (durable.Transient: the metadata
// server, a peer or S3 unreachable, tier 0 full) is an outage, so the store
// keeps the data in its log and tries again; others (a lost object, a bad
// name, a closed client) are errors of their own.
func mapGEDS(err error) error {
	switch {
	case errors.Is(err, geds.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case durable.Transient(err):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
