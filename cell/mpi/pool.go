package mpi

import (
	"math/bits"
	"sync"
)

// bufPool recycles the Go buffers that collectives copy their inputs into,
// by power-of-two size class. Without it a 1 MiB Allreduce allocates (and
// the kernel zeroes) a fresh 1 MiB per rank per call.
type bufPool struct {
	classes [33]sync.Pool // *[]byte of capacity 1<<class
}

// minPooled is the smallest buffer worth pooling; smaller ones are cheap.
const minPooled = 512

// clone copies b into a pooled buffer, or a new one.
func (p *bufPool) clone(b []byte) []byte {
	if len(b) < minPooled || len(b) > 1<<32 {
		return append([]byte{}, b...)
	}
	return append(p.get(len(b)), b...)
}

// get returns an empty buffer with room for n bytes.
func (p *bufPool) get(n int) []byte {
	if n < minPooled || n > 1<<32 {
		return make([]byte, 0, n)
	}
	c := bits.Len(uint(n - 1))
	if v, ok := p.classes[c].Get().(*[]byte); ok {
		return (*v)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// put recycles b, which nothing may use afterwards.
func (p *bufPool) put(b []byte) {
	c := bits.Len(uint(cap(b) - 1))
	if cap(b) < minPooled || cap(b) != 1<<c || c >= len(p.classes) {
		return
	}
	p.classes[c].Put(&b)
}
