package stream

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// SegmentID names a segment within its stream: the epoch in which the
// segment was created in the high 32 bits and its number in the low 32 bits,
// as in Pravega. Numbers are never reused within a stream, so a segment
// created by a later split or merge (a new epoch) has a new id.
type SegmentID uint64

// NewSegmentID returns the id of segment number in epoch.
func NewSegmentID(epoch, number uint32) SegmentID {
	return SegmentID(uint64(epoch)<<32 | uint64(number))
}

// Epoch is the epoch the segment was created in.
func (id SegmentID) Epoch() uint32 { return uint32(id >> 32) }

// Number is the segment's number within its stream.
func (id SegmentID) Number() uint32 { return uint32(id) }

// String returns "number.#epoch.epoch", Pravega's spelling.
func (id SegmentID) String() string { return fmt.Sprintf("%d.#epoch.%d", id.Number(), id.Epoch()) }

// ParseSegmentID parses the form String returns.
func ParseSegmentID(s string) (SegmentID, error) {
	num, epoch, ok := strings.Cut(s, ".#epoch.")
	if !ok {
		return 0, fmt.Errorf("stream: segment id %q: want number.#epoch.epoch", s)
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("stream: segment id %q: number: %w", s, err)
	}
	e, err := strconv.ParseUint(epoch, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("stream: segment id %q: epoch: %w", s, err)
	}
	return NewSegmentID(uint32(e), uint32(n)), nil
}

// KeyRange is the part [Low, High) of the routing-key space a segment owns.
type KeyRange struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// Contains reports whether key position p falls in the range.
func (r KeyRange) Contains(p float64) bool { return p >= r.Low && p < r.High }

// KeyPosition maps a routing key to [0, 1): the 64-bit FNV-1a hash of the
// key's bytes, mixed with MurmurHash3's 64-bit finalizer (FNV alone spreads
// short, similar keys poorly), and its top 53 bits taken as a fraction. It
// is part of the stored format: changing it would move keys between
// segments. The empty key is a key like any other.
func KeyPosition(key string) float64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime64
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return float64(h>>11) / (1 << 53)
}

// splitKeySpace divides [0, 1) into n equal ranges; the last one ends at
// exactly 1 so that no key position falls outside.
func splitKeySpace(n int) []KeyRange {
	out := make([]KeyRange, n)
	for i := range out {
		out[i] = KeyRange{Low: float64(i) / float64(n), High: float64(i+1) / float64(n)}
	}
	out[n-1].High = 1
	return out
}

// segmentFor returns the index of the range holding p among ranges that
// tile [0, 1) in order.
func segmentFor(ranges []KeyRange, p float64) int {
	i := sort.Search(len(ranges), func(i int) bool { return ranges[i].High > p })
	return min(i, len(ranges)-1)
}
