package wasi

import (
	"context"
	"math"
)

// argsGet is args_get(argv, argv_buf): argv receives one pointer per
// argument into argv_buf, which receives the NUL-terminated strings.
func (s *System) argsGet(_ context.Context, mem memory, p []uint64) errno {
	return writeStrings(mem, s.args, uint32(p[0]), uint32(p[1]))
}

// argsSizesGet is args_sizes_get(argc_ptr, argv_buf_size_ptr).
func (s *System) argsSizesGet(_ context.Context, mem memory, p []uint64) errno {
	return writeSizes(mem, s.args, uint32(p[0]), uint32(p[1]))
}

// environGet is environ_get(environ, environ_buf), the same layout as
// args_get.
func (s *System) environGet(_ context.Context, mem memory, p []uint64) errno {
	return writeStrings(mem, s.env, uint32(p[0]), uint32(p[1]))
}

// environSizesGet is environ_sizes_get(count_ptr, buf_size_ptr).
func (s *System) environSizesGet(_ context.Context, mem memory, p []uint64) errno {
	return writeSizes(mem, s.env, uint32(p[0]), uint32(p[1]))
}

// stringsSize is the bytes ss take NUL-terminated, or false if that does not
// fit a wasm32 size.
func stringsSize(ss []string) (uint32, bool) {
	var n uint64
	for _, v := range ss {
		n += uint64(len(v)) + 1
	}
	return uint32(n), n <= math.MaxUint32
}

func writeSizes(mem memory, ss []string, countPtr, sizePtr uint32) errno {
	size, ok := stringsSize(ss)
	if !ok || uint64(len(ss)) > math.MaxUint32 {
		return errnoOverflow
	}
	if !mem.has(countPtr, 4) || !mem.has(sizePtr, 4) {
		return errnoFault
	}
	mem.putU32(countPtr, uint32(len(ss)))
	mem.putU32(sizePtr, size)
	return errnoSuccess
}

// writeStrings checks both destinations whole before writing, so a fault
// leaves memory untouched.
func writeStrings(mem memory, ss []string, ptrs, buf uint32) errno {
	size, ok := stringsSize(ss)
	if !ok || uint64(len(ss)) > math.MaxUint32 {
		return errnoOverflow
	}
	if !mem.hasArray(ptrs, uint32(len(ss)), 4) || !mem.has(buf, size) {
		return errnoFault
	}
	at := buf
	for i, v := range ss {
		mem.putU32(ptrs+uint32(i)*4, at)
		at += uint32(copy(mem[at:], v))
		mem[at] = 0
		at++
	}
	return errnoSuccess
}
