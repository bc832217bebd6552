package geds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// fakeS3 is an in-memory Persistent with a switch that makes it unreachable.
type fakeS3 struct {
	down atomic.Bool
	// gate, if set, is received from before each Put stores anything;
	// putting counts the Puts waiting there or storing.
	gate    chan struct{}
	putting atomic.Int32

	mu      sync.Mutex
	buckets map[string]map[string][]byte
	puts    []string // bucket/key of every successful Put, in order
}

var errS3Down = errors.New("fake s3: connection refused")

var _ Persistent = (*fakeS3)(nil)

func newFakeS3() *fakeS3 { return &fakeS3{buckets: map[string]map[string][]byte{}} }

func (f *fakeS3) EnsureBucket(_ context.Context, bucket string) error {
	if f.down.Load() {
		return errS3Down
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.buckets[bucket] == nil {
		f.buckets[bucket] = map[string][]byte{}
	}
	return nil
}

func (f *fakeS3) Put(_ context.Context, bucket, key string, r io.Reader, size int64) error {
	if f.down.Load() {
		return errS3Down
	}
	f.putting.Add(1)
	defer f.putting.Add(-1)
	if f.gate != nil {
		<-f.gate
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return fmt.Errorf("fake s3: put %s/%s: got %d bytes, told %d", bucket, key, len(data), size)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[bucket]
	if b == nil {
		return fmt.Errorf("fake s3: no bucket %s", bucket)
	}
	b[key] = data
	f.puts = append(f.puts, bucket+"/"+key)
	return nil
}

func (f *fakeS3) object(bucket, key string) ([]byte, error) {
	if f.down.Load() {
		return nil, errS3Down
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.buckets[bucket][key]
	if !ok {
		return nil, fmt.Errorf("fake s3: %s/%s: %w", bucket, key, fs.ErrNotExist)
	}
	return data, nil
}

func (f *fakeS3) GetRange(_ context.Context, bucket, key string, off, n int64) (io.ReadCloser, error) {
	data, err := f.object(bucket, key)
	if err != nil {
		return nil, err
	}
	if off > int64(len(data)) {
		return nil, fmt.Errorf("fake s3: range past the end")
	}
	end := int64(len(data))
	if n >= 0 {
		end = min(end, off+n)
	}
	return io.NopCloser(bytes.NewReader(data[off:end])), nil
}

func (f *fakeS3) Stat(_ context.Context, bucket, key string) (int64, error) {
	data, err := f.object(bucket, key)
	return int64(len(data)), err
}

func (f *fakeS3) List(_ context.Context, bucket, prefix string, fn func(string, int64) error) error {
	if f.down.Load() {
		return errS3Down
	}
	f.mu.Lock()
	var keys []string
	sizes := map[string]int64{}
	for k, v := range f.buckets[bucket] {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
			sizes[k] = int64(len(v))
		}
	}
	f.mu.Unlock()
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn(k, sizes[k]); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeS3) Delete(_ context.Context, bucket, key string) error {
	if f.down.Load() {
		return errS3Down
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.buckets[bucket][key]; !ok {
		return fmt.Errorf("fake s3: %s/%s: %w", bucket, key, fs.ErrNotExist)
	}
	delete(f.buckets[bucket], key)
	return nil
}

func (f *fakeS3) has(bucket, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.buckets[bucket][key]
	return ok
}

func (f *fakeS3) putOrder() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.puts)
}
