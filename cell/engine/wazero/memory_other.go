//go:build !linux

package wazero

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is wazero's default (a Go slice, copied as it grows)
// where we have no mapping-based one.
var memoryAllocator experimental.MemoryAllocator
