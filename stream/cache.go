package stream

import (
	"container/list"
	"sync"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// cachedRecord is the part of an events record readers need. frames are
// the segment bytes from offset on.
type cachedRecord struct {
	segment SegmentID
	offset  int64
	time    int64
	frames  []byte
}

// entryOverhead approximates the memory of one cache entry besides its
// bytes, so many tiny events cannot make the cache exceed its budget.
const entryOverhead = 128

// recordCache caches events records by log address. Addresses never change
// meaning, so entries never go stale; they only age out.
type recordCache = lruCache[wal.Address, cachedRecord]

func newRecordCache(limit int64) *recordCache {
	return newLRU[wal.Address](limit, func(r cachedRecord) int64 { return int64(len(r.frames)) })
}

// chunkCache caches chunks read from long-term storage by object key.
// Chunks are never rewritten under a key with different contents that a
// reader could still ask for, so entries never go stale either.
type chunkCache = lruCache[string, *chunk]

func newChunkCache(limit int64) *chunkCache {
	return newLRU[string](limit, func(c *chunk) int64 { return int64(len(c.frames) + 16*len(c.marks)) })
}

// lruCache is a least-recently-used cache bounded in bytes; size says how
// many bytes a value holds (entryOverhead is added).
type lruCache[K comparable, V any] struct {
	mu    sync.Mutex
	limit int64
	size  int64
	cost  func(V) int64
	order *list.List // front is most recently used; values are *lruEntry
	byKey map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

func newLRU[K comparable, V any](limit int64, size func(V) int64) *lruCache[K, V] {
	return &lruCache[K, V]{limit: limit, cost: size, order: list.New(), byKey: map[K]*list.Element{}}
}

func (c *lruCache[K, V]) get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry[K, V]).val, true
}

func (c *lruCache[K, V]) has(key K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byKey[key]
	return ok
}

func (c *lruCache[K, V]) put(key K, v V) {
	cost := c.cost(v) + entryOverhead
	if cost > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(&lruEntry[K, V]{key: key, val: v, cost: cost})
	c.size += cost
	for c.size > c.limit {
		el := c.order.Back()
		e := el.Value.(*lruEntry[K, V])
		c.order.Remove(el)
		delete(c.byKey, e.key)
		c.size -= e.cost
	}
}
