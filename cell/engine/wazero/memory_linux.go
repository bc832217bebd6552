package wazero

import (
	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// memoryAllocator backs each instance's linear memory with an anonymous
// mapping that reserves the memory's maximum size as address space up front
// (PROT_NONE, MAP_NORESERVE: no RSS, no commit charge) and opens pages as
// the guest grows. wazero's default backs memory with a Go slice that is
// reallocated and copied on every memory.grow: a C program that mallocs
// 64 MiB in steps copied hundreds of megabytes and left them to the garbage
// collector (NDVI's read phase took 0.45 s instead of 0.04 s). Here growing
// never copies and the memory never moves. The cost is address space: a
// cell reserves its memory limit (4 GiB without one), so one process holds
// at most some 30 000 unlimited cells in x86-64's 128 TiB.
var memoryAllocator experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(allocateMapped)

type mappedMemory struct {
	buf  []byte // the whole reservation
	open uint64 // bytes made readable and writable
}

func allocateMapped(_, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		max = 1 << 32
	}
	buf, err := unix.Mmap(-1, 0, int(max), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return &failedMemory{}
	}
	return &mappedMemory{buf: buf}
}

// Reallocate opens the pages up to size; wasm sizes are whole 64 KiB pages,
// so size is always OS-page aligned.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	if size > m.open {
		if err := unix.Mprotect(m.buf[m.open:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			return nil
		}
		m.open = size
	}
	return m.buf[:size:size]
}

// Free unmaps the reservation.
func (m *mappedMemory) Free() {
	if m.buf != nil {
		_ = unix.Munmap(m.buf)
		m.buf = nil
	}
}

// failedMemory is a memory that could not be reserved: every growth fails,
// so instantiation reports that the memory could not be allocated.
type failedMemory struct{}

func (*failedMemory) Reallocate(size uint64) []byte {
	if size == 0 {
		return []byte{}
	}
	return nil
}
func (*failedMemory) Free() {}
