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

// recordCache is a least-recently-used cache of events records by log
// address, bounded in bytes. Addresses never change meaning, so entries
// never go stale; they only age out.
type recordCache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	order *list.List // front is most recently used; values are *cacheEntry
	byKey map[wal.Address]*list.Element
}

type cacheEntry struct {
	addr wal.Address
	rec  cachedRecord
}

func newRecordCache(limit int64) *recordCache {
	return &recordCache{limit: limit, order: list.New(), byKey: map[wal.Address]*list.Element{}}
}

func (c *recordCache) get(addr wal.Address) (cachedRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[addr]
	if !ok {
		return cachedRecord{}, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).rec, true
}

func (c *recordCache) put(addr wal.Address, r cachedRecord) {
	cost := int64(len(r.frames)) + entryOverhead
	if cost > c.limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[addr]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[addr] = c.order.PushFront(&cacheEntry{addr: addr, rec: r})
	c.size += cost
	for c.size > c.limit {
		el := c.order.Back()
		e := el.Value.(*cacheEntry)
		c.order.Remove(el)
		delete(c.byKey, e.addr)
		c.size -= int64(len(e.rec.frames)) + entryOverhead
	}
}
