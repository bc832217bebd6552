package mpi_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/mpi"
)

// fuzzInput decodes a fuzz input: a world, a memory, then calls.
//
//	byte 0: bit 0 a world of two ranks (else one), bit 1 skip MPI_Init,
//	        bits 2-4 memory size 256<<n bytes (filled with the input, cyclically)
//	then per call: a byte choosing the rank (bit 7) and the function, and
//	per argument a selector byte s:
//	        s%8 == 0: 4 raw bytes follow
//	        s%8 == 1: 1 byte follows, a signed value
//	        s%8 == 2: 2 bytes follow, a pointer into memory
//	        s%8 == 3: 1 byte follows, a pointer that many bytes before the end
//	        s%8 == 4: 1 byte follows, choosing a special value (MPI_IN_PLACE, ...)
//	        otherwise: the small value s>>3
type fuzzInput struct{ b []byte }

func (in *fuzzInput) next(n int) []byte {
	out := make([]byte, n)
	k := copy(out, in.b)
	in.b = in.b[k:]
	return out
}

func (in *fuzzInput) byte() byte { return in.next(1)[0] }

func (in *fuzzInput) arg(memSize uint32) uint32 {
	s := in.byte()
	switch s % 8 {
	case 0:
		return binary.LittleEndian.Uint32(in.next(4))
	case 1:
		return uint32(int32(int8(in.byte())))
	case 2:
		return uint32(binary.LittleEndian.Uint16(in.next(2))) % memSize
	case 3:
		return memSize - uint32(in.byte())
	case 4:
		special := []uint32{0, 0xFFFFFFFF, 0xFFFFFFFE, uint32(0xFFFFFFFF - 32765), 0x7FFFFFFF, 0x80000000, memSize, 1}
		return special[in.byte()%8]
	}
	return uint32(s >> 3)
}

// validCodes are the error classes of mpi.h.
var validCodes = map[mpi.Class]bool{
	mpi.Success: true, mpi.ErrBuffer: true, mpi.ErrCount: true, mpi.ErrType: true, mpi.ErrTag: true,
	mpi.ErrComm: true, mpi.ErrRank: true, mpi.ErrRequest: true, mpi.ErrRoot: true, mpi.ErrGroup: true,
	mpi.ErrOp: true, mpi.ErrArg: true, mpi.ErrUnknown: true, mpi.ErrTruncate: true, mpi.ErrOther: true,
	mpi.ErrIntern: true,
}

// Random calls with random arguments on random memory never panic except
// to stop the guest, and always return an error class of mpi.h. The
// context is cancelled, so a call that would block traps at once instead.
func FuzzBindings(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		in := &fuzzInput{b: data}
		flags := in.byte()
		size := 1 + int(flags&1)
		memSize := uint32(256) << ((flags >> 2) % 8 % 5)
		w := mpi.NewWorld(size, mpi.Options{ProcessorName: "fuzz"})
		cells := make([]*cell, size)
		for i := range cells {
			mem := make(fakeMem, memSize)
			for k := range mem {
				mem[k] = data[k%len(data)] // data has the flags byte at least
			}
			cells[i] = newCell(w.Rank(i), mem)
		}
		funcs := w.Rank(0).Module().Funcs // for the names, in a fixed order
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		call := func(c *cell, name string, args []uint32) {
			f := c.fns[name]
			defer func() {
				switch v := recover().(type) {
				case nil, *engine.Exit, *engine.Trap:
				default:
					t.Fatalf("%s%v panicked: %v\n%s", f.Name, args, v, debug.Stack())
				}
			}()
			stack := make([]uint64, max(len(f.Params), len(f.Results)))
			for i, a := range args {
				stack[i] = uint64(a)
			}
			f.Call(ctx, c.mem, stack)
			if f.Results[0] == engine.I32 {
				if code := mpi.Class(int32(uint32(stack[0]))); !validCodes[code] {
					t.Fatalf("%s%v returned %d", f.Name, args, code)
				}
			}
		}
		if flags&2 == 0 {
			for _, c := range cells {
				c.code(ctx, "MPI_Init", 0, 0)
			}
		}
		for calls := 0; len(in.b) > 0 && calls < 64; calls++ {
			b := in.byte()
			c := cells[int(b>>7)%size]
			f := funcs[int(b&0x7f)%len(funcs)]
			args := make([]uint32, len(f.Params))
			for i := range args {
				args[i] = in.arg(memSize)
			}
			call(c, f.Name, args)
		}
	})
}

// fuzzCall encodes a call for fuzzInput: rank, function index in
// Module().Funcs, and arguments as small values (< 32), or as raw values
// when they are not.
func fuzzCall(rank int, name string, args ...int) []byte {
	funcs := mpi.NewWorld(1, mpi.Options{}).Rank(0).Module().Funcs
	for i, f := range funcs {
		if f.Name != name {
			continue
		}
		out := []byte{byte(rank<<7 | i)}
		for _, a := range args {
			if a >= 0 && a < 32 {
				out = append(out, byte(a<<3|5))
			} else {
				out = binary.LittleEndian.AppendUint32(append(out, 0), uint32(int32(a)))
			}
		}
		return out
	}
	panic(fmt.Sprint("no function ", name))
}

func fuzzSeeds() [][]byte {
	join := func(flags byte, calls ...[]byte) []byte {
		out := []byte{flags}
		for _, c := range calls {
			out = append(out, c...)
		}
		return out
	}
	two := byte(1 | 2<<2) // two ranks, 1 KiB
	return [][]byte{
		join(0, fuzzCall(0, "MPI_Comm_rank", world, 64)),
		join(two,
			fuzzCall(1, "MPI_Irecv", 128, 4, tInt, 0, 3, world, 96),
			fuzzCall(0, "MPI_Send", 256, 4, tInt, 1, 3, world),
			fuzzCall(1, "MPI_Wait", 96, 112),
			fuzzCall(1, "MPI_Get_count", 112, tByte, 100)),
		join(two,
			fuzzCall(0, "MPI_Send", 256, 8, tInt, 1, 0, world),
			fuzzCall(1, "MPI_Recv", 128, 2, tInt, anySrc, anyTag, world, 96),
			fuzzCall(0, "MPI_Isend", 256, 2, tInt, 0, 0, world, 80),
			fuzzCall(0, "MPI_Test", 80, 84, 0),
			fuzzCall(0, "MPI_Waitall", 2, 80, 160)),
		join(two,
			fuzzCall(0, "MPI_Allreduce", inPlace, 256, 3000, tDouble, opSum, world),
			fuzzCall(1, "MPI_Allreduce", 512, 128, 2, tDouble, opMax, world),
			fuzzCall(0, "MPI_Reduce", 256, 512, 4, tInt, opSum, 1, world),
			fuzzCall(1, "MPI_Reduce", inPlace, 512, 4, tInt, opSum, 1, world)),
		join(two,
			fuzzCall(0, "MPI_Gatherv", 256, 2, tInt, 512, 64, 72, tInt, 0, world),
			fuzzCall(1, "MPI_Gatherv", 256, 2, tInt, 512, 64, 72, tInt, 0, world),
			fuzzCall(0, "MPI_Scatterv", 256, 64, 72, tInt, inPlace, 2, tInt, 0, world),
			fuzzCall(1, "MPI_Scatterv", 0, 0, 0, 0, 512, 2, tInt, 0, world),
			fuzzCall(0, "MPI_Alltoall", 256, 1, tInt, 512, 1, tInt, world),
			fuzzCall(1, "MPI_Allgather", inPlace, 0, 0, 512, 1, tInt, world)),
		join(two,
			fuzzCall(0, "MPI_Comm_split", world, 1, 0, 64),
			fuzzCall(1, "MPI_Comm_split", world, mpi.Undefined, 0, 64),
			fuzzCall(0, "MPI_Comm_dup", self, 68),
			fuzzCall(0, "MPI_Comm_free", 68),
			fuzzCall(0, "MPI_Bcast", 256, 3, tChar, 0, world),
			fuzzCall(1, "MPI_Bcast", 256, 3, tChar, 0, world),
			fuzzCall(1, "MPI_Barrier", world)),
		join(2,
			fuzzCall(0, "MPI_Init_thread", 0, 0, 3, 64),
			fuzzCall(0, "MPI_Get_processor_name", 128, 64),
			fuzzCall(0, "MPI_Sendrecv", 128, 1, tInt, 0, 0, 192, 1, tInt, 0, 0, world, 0),
			fuzzCall(0, "MPI_Wtime"),
			fuzzCall(0, "MPI_Finalize"),
			fuzzCall(0, "MPI_Abort", world, 2)),
	}
}
