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
// Its ETags are a counter, so every put makes a new one, as S3's do for
// different bytes.
type fakeS3 struct {
	down atomic.Bool
	// gate, if set, is received from before each Put stores anything;
	// putting counts the Puts waiting there or storing.
	gate    chan struct{}
	putting atomic.Int32

	mu      sync.Mutex
	buckets map[string]map[string]fakeObject
	// intrude, if set, runs at the start of every conditional put (before
	// its condition is checked), as another client acting meanwhile.
	intrude func(bucket, key string)
	puts    []string // bucket/key of every successful Put, in order
	etags   int
}

type fakeObject struct {
	data       []byte
	etag, life string
}

var errS3Down = errors.New("fake s3: connection refused")

var _ Persistent = (*fakeS3)(nil)

func newFakeS3() *fakeS3 { return &fakeS3{buckets: map[string]map[string]fakeObject{}} }

func (f *fakeS3) EnsureBucket(_ context.Context, bucket string) error {
	if f.down.Load() {
		return errS3Down
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.buckets[bucket] == nil {
		f.buckets[bucket] = map[string]fakeObject{}
	}
	return nil
}

// Put stores an object unconditionally, as another S3 client would.
func (f *fakeS3) Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	_, err := f.put(ctx, bucket, key, "", r, size, func(fakeObject, bool) error { return nil })
	return err
}

func (f *fakeS3) PutIfAbsent(ctx context.Context, bucket, key, life string, r io.Reader, size int64) (string, error) {
	return f.put(ctx, bucket, key, life, r, size, func(_ fakeObject, exists bool) error {
		if exists {
			return fmt.Errorf("fake s3: %s/%s exists: %w", bucket, key, fs.ErrExist)
		}
		return nil
	})
}

func (f *fakeS3) PutIfMatch(ctx context.Context, bucket, key, life string, r io.Reader, size int64, match string) (string, error) {
	return f.put(ctx, bucket, key, life, r, size, func(o fakeObject, exists bool) error {
		switch {
		case !exists:
			return fmt.Errorf("fake s3: %s/%s: %w", bucket, key, fs.ErrNotExist)
		case o.etag != match:
			return fmt.Errorf("fake s3: %s/%s has ETag %s, not %s: %w", bucket, key, o.etag, match, fs.ErrExist)
		}
		return nil
	})
}

// put stores the object if check, given what is there, allows it.
func (f *fakeS3) put(_ context.Context, bucket, key, life string, r io.Reader, size int64, check func(fakeObject, bool) error) (string, error) {
	if f.down.Load() {
		return "", errS3Down
	}
	f.mu.Lock()
	intrude := f.intrude
	f.mu.Unlock()
	if intrude != nil && life != "" {
		intrude(bucket, key)
	}
	f.putting.Add(1)
	defer f.putting.Add(-1)
	if f.gate != nil {
		<-f.gate
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if int64(len(data)) != size {
		return "", fmt.Errorf("fake s3: put %s/%s: got %d bytes, told %d", bucket, key, len(data), size)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.buckets[bucket]
	if b == nil {
		return "", fmt.Errorf("fake s3: no bucket %s: %w", bucket, fs.ErrNotExist)
	}
	old, exists := b[key]
	if err := check(old, exists); err != nil {
		return "", err
	}
	f.etags++
	o := fakeObject{data: data, etag: fmt.Sprintf("v%d", f.etags), life: life}
	b[key] = o
	f.puts = append(f.puts, bucket+"/"+key)
	return o.etag, nil
}

func (f *fakeS3) setIntrude(fn func(bucket, key string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intrude = fn
}

func (f *fakeS3) object(bucket, key string) ([]byte, error) {
	o, err := f.head(bucket, key)
	return o.data, err
}

func (f *fakeS3) head(bucket, key string) (fakeObject, error) {
	if f.down.Load() {
		return fakeObject{}, errS3Down
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.buckets[bucket][key]
	if !ok {
		return fakeObject{}, fmt.Errorf("fake s3: %s/%s: %w", bucket, key, fs.ErrNotExist)
	}
	return o, nil
}

func (f *fakeS3) GetRange(_ context.Context, bucket, key string, off, n int64) (io.ReadCloser, error) {
	o, err := f.head(bucket, key)
	if err != nil {
		return nil, err
	}
	return rangeOf(o.data, off, n)
}

func (f *fakeS3) GetRangeIfMatch(_ context.Context, bucket, key string, off, n int64, etag string) (io.ReadCloser, error) {
	o, err := f.head(bucket, key)
	if err != nil {
		return nil, err
	}
	if o.etag != etag {
		return nil, fmt.Errorf("fake s3: %s/%s has ETag %s, not %s: %w", bucket, key, o.etag, etag, fs.ErrExist)
	}
	return rangeOf(o.data, off, n)
}

func rangeOf(data []byte, off, n int64) (io.ReadCloser, error) {
	if off > int64(len(data)) {
		return nil, fmt.Errorf("fake s3: range past the end")
	}
	end := int64(len(data))
	if n >= 0 {
		end = min(end, off+n)
	}
	return io.NopCloser(bytes.NewReader(data[off:end])), nil
}

func (f *fakeS3) Head(_ context.Context, bucket, key string) (int64, string, string, error) {
	o, err := f.head(bucket, key)
	return int64(len(o.data)), o.etag, o.life, err
}

func (f *fakeS3) List(_ context.Context, bucket, prefix string, fn func(string, int64) error) error {
	if f.down.Load() {
		return errS3Down
	}
	f.mu.Lock()
	var keys []string
	sizes := map[string]int64{}
	for k, o := range f.buckets[bucket] {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
			sizes[k] = int64(len(o.data))
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
