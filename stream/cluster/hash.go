package cluster

import (
	"hash/fnv"

	"github.com/cloudskin/cloudskin/stream"
)

// ContainerOf returns the container that holds a stream: the 64-bit FNV-1a
// hash of "scope/stream" (names cannot contain '/', so the joint is
// unambiguous), mixed with MurmurHash3's 64-bit finalizer as
// stream.KeyPosition does (FNV alone spreads short, similar names poorly),
// modulo the number of containers.
//
// It is part of the on-disk format (docs/formats/stream-cluster.md):
// changing it, or the container count, would look for streams in the wrong
// container. That is why the count is fixed at creation and recorded.
func ContainerOf(name stream.StreamName, containers int) int {
	if containers <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(name.Scope))
	h.Write([]byte{'/'})
	h.Write([]byte(name.Stream))
	return int(fmix64(h.Sum64()) % uint64(containers))
}

// fmix64 is MurmurHash3's 64-bit finalizer: every input bit affects every
// output bit.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
