package mpi_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/mpi"
)

// fakeMem is a linear memory that never grows.
type fakeMem []byte

func (m fakeMem) Bytes() []byte { return m }

// cell is a rank's host module on a memory, as an engine would run it.
type cell struct {
	mem engine.Memory
	fns map[string]engine.HostFunc
}

func newCell(r *mpi.Rank, mem engine.Memory) *cell {
	c := &cell{mem: mem, fns: map[string]engine.HostFunc{}}
	for _, f := range r.Module().Funcs {
		c.fns[f.Name] = f
	}
	return c
}

// call calls a binding with C int arguments and returns its raw result.
func (c *cell) call(ctx context.Context, name string, args ...int) uint64 {
	f, ok := c.fns[name]
	if !ok {
		panic("no binding " + name)
	}
	if len(args) != len(f.Params) {
		panic(fmt.Sprintf("%s takes %d arguments, not %d", name, len(f.Params), len(args)))
	}
	stack := make([]uint64, max(len(f.Params), len(f.Results)))
	for i, a := range args {
		stack[i] = uint64(uint32(int32(a)))
	}
	f.Call(ctx, c.mem, stack)
	return stack[0]
}

// code calls a binding that returns an MPI error code.
func (c *cell) code(ctx context.Context, name string, args ...int) mpi.Class {
	return mpi.Class(int32(uint32(c.call(ctx, name, args...))))
}

func (c *cell) i32(p int) int { return int(int32(binary.LittleEndian.Uint32(c.mem.Bytes()[p:]))) }

func (c *cell) put(p int, vs ...int) {
	for i, v := range vs {
		binary.LittleEndian.PutUint32(c.mem.Bytes()[p+4*i:], uint32(int32(v)))
	}
}

func (c *cell) status(p int) [4]int {
	return [4]int{c.i32(p), c.i32(p + 4), c.i32(p + 8), c.i32(p + 12)}
}

// Handles and constants of mpi.h, as C passes them.
const (
	world    = 1
	self     = 2
	tChar    = 1
	tByte    = 2
	tInt     = 3
	tDouble  = 8
	opSum    = 1
	opMax    = 4
	opLand   = 5
	inPlace  = -1
	anySrc   = -1
	anyTag   = -1
	procNull = -2
)

func expect(t *testing.T, what string, got, want mpi.Class) {
	t.Helper()
	if got != want {
		t.Errorf("%s: %v, want %v", what, got, want)
	}
}

// Two ranks, two memories: point-to-point, requests and collectives
// through the bindings move bytes from one memory to the other.
func TestBindings(t *testing.T) {
	noLeaks(t)
	w := newWorld(2)
	cells := []*cell{newCell(w.Rank(0), make(fakeMem, 1<<16)), newCell(w.Rank(1), make(fakeMem, 1<<16))}
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		me := r.Index()
		c := cells[me]
		if got := c.code(ctx, "MPI_Init", 0, 0); got != mpi.Success {
			return fmt.Errorf("MPI_Init: %v", got)
		}
		if got := c.code(ctx, "MPI_Comm_rank", world, 100); got != mpi.Success || c.i32(100) != me {
			return fmt.Errorf("MPI_Comm_rank: %v, %d", got, c.i32(100))
		}
		if got := c.code(ctx, "MPI_Comm_size", world, 104); got != mpi.Success || c.i32(104) != 2 {
			return fmt.Errorf("MPI_Comm_size: %v, %d", got, c.i32(104))
		}

		// MPI_Send/MPI_Recv of three ints.
		if me == 0 {
			c.put(1024, 11, -22, 33)
			if got := c.code(ctx, "MPI_Send", 1024, 3, tInt, 1, 7, world); got != mpi.Success {
				return fmt.Errorf("MPI_Send: %v", got)
			}
		} else {
			if got := c.code(ctx, "MPI_Recv", 2048, 4, tInt, anySrc, anyTag, world, 4096); got != mpi.Success {
				return fmt.Errorf("MPI_Recv: %v", got)
			}
			if got := [3]int{c.i32(2048), c.i32(2052), c.i32(2056)}; got != [3]int{11, -22, 33} {
				return fmt.Errorf("received %v", got)
			}
			if got := c.status(4096); got != [4]int{0, 7, 0, 12} {
				return fmt.Errorf("status %v", got)
			}
			if got := c.code(ctx, "MPI_Get_count", 4096, tInt, 200); got != mpi.Success || c.i32(200) != 3 {
				return fmt.Errorf("MPI_Get_count: %v, %d", got, c.i32(200))
			}
			if c.code(ctx, "MPI_Get_count", 4096, tDouble, 200); c.i32(200) != mpi.Undefined {
				return fmt.Errorf("MPI_Get_count of doubles: %d", c.i32(200))
			}
		}

		// Isend/Irecv both ways, then Waitall; the handles become
		// MPI_REQUEST_NULL.
		peer := 1 - me
		c.put(3000, 100+me)
		if got := c.code(ctx, "MPI_Irecv", 3100, 1, tInt, peer, 5, world, 500); got != mpi.Success {
			return fmt.Errorf("MPI_Irecv: %v", got)
		}
		if got := c.code(ctx, "MPI_Isend", 3000, 1, tInt, peer, 5, world, 504); got != mpi.Success {
			return fmt.Errorf("MPI_Isend: %v", got)
		}
		if c.i32(500) <= 0 || c.i32(504) <= 0 || c.i32(500) == c.i32(504) {
			return fmt.Errorf("request handles %d and %d", c.i32(500), c.i32(504))
		}
		if got := c.code(ctx, "MPI_Waitall", 2, 500, 5000); got != mpi.Success {
			return fmt.Errorf("MPI_Waitall: %v", got)
		}
		if c.i32(3100) != 100+peer || c.i32(500) != 0 || c.i32(504) != 0 {
			return fmt.Errorf("after Waitall: data %d, handles %d %d", c.i32(3100), c.i32(500), c.i32(504))
		}
		if got := c.status(5000); got != [4]int{peer, 5, 0, 4} {
			return fmt.Errorf("Waitall status %v", got)
		}

		// Sendrecv around, then MPI_Wait and MPI_Test on a null request.
		c.put(3000, 200+me)
		if got := c.code(ctx, "MPI_Sendrecv", 3000, 1, tInt, peer, 6, 3200, 1, tInt, peer, 6, world, 0); got != mpi.Success || c.i32(3200) != 200+peer {
			return fmt.Errorf("MPI_Sendrecv: %v, %d", got, c.i32(3200))
		}
		if got := c.code(ctx, "MPI_Wait", 500, 5000); got != mpi.Success || c.status(5000) != [4]int{anySrc, anyTag, 0, 0} {
			return fmt.Errorf("MPI_Wait on null: %v, %v", got, c.status(5000))
		}
		if got := c.code(ctx, "MPI_Test", 500, 508, 0); got != mpi.Success || c.i32(508) != 1 {
			return fmt.Errorf("MPI_Test on null: %v, flag %d", got, c.i32(508))
		}

		// Allreduce in place on doubles.
		mem := c.mem.Bytes()
		binary.LittleEndian.PutUint64(mem[6000:], math.Float64bits(1.5*float64(me+1)))
		binary.LittleEndian.PutUint64(mem[6008:], math.Float64bits(float64(-me)))
		if got := c.code(ctx, "MPI_Allreduce", inPlace, 6000, 2, tDouble, opSum, world); got != mpi.Success {
			return fmt.Errorf("MPI_Allreduce: %v", got)
		}
		if a, b := math.Float64frombits(binary.LittleEndian.Uint64(mem[6000:])), math.Float64frombits(binary.LittleEndian.Uint64(mem[6008:])); a != 4.5 || b != -1 {
			return fmt.Errorf("MPI_Allreduce gave %v %v", a, b)
		}

		// Gatherv at rank 1 with counts {2, 1}, displacements {1, 0}.
		c.put(7000, 10*me+1, 10*me+2)
		if me == 1 {
			c.put(7100, 2, 1) // counts
			c.put(7200, 1, 0) // displacements
			c.put(7300, 0, 0, 0, -9)
		}
		if got := c.code(ctx, "MPI_Gatherv", 7000, 2-me, tInt, 7300, 7100, 7200, tInt, 1, world); got != mpi.Success {
			return fmt.Errorf("MPI_Gatherv: %v", got)
		}
		if me == 1 {
			if got := [4]int{c.i32(7300), c.i32(7304), c.i32(7308), c.i32(7312)}; got != [4]int{11, 1, 2, -9} {
				return fmt.Errorf("MPI_Gatherv gave %v", got)
			}
		}

		// Scatter from rank 0, which keeps its block in place; the
		// non-root's send arguments are garbage, as MPI allows.
		if me == 0 {
			c.put(8000, 5, 6, 7, 8)
			if got := c.code(ctx, "MPI_Scatter", 8000, 2, tInt, inPlace, 2, tInt, 0, world); got != mpi.Success {
				return fmt.Errorf("MPI_Scatter at root: %v", got)
			}
		} else {
			if got := c.code(ctx, "MPI_Scatter", -12345, -1, 99, 8000, 2, tInt, 0, world); got != mpi.Success {
				return fmt.Errorf("MPI_Scatter: %v", got)
			}
			if c.i32(8000) != 7 || c.i32(8004) != 8 {
				return fmt.Errorf("MPI_Scatter gave %d %d", c.i32(8000), c.i32(8004))
			}
		}

		// Bcast of chars, Barrier, Comm_split/dup/free.
		if me == 0 {
			copy(mem[9000:], "hi!")
		}
		if got := c.code(ctx, "MPI_Bcast", 9000, 3, tChar, 0, world); got != mpi.Success || string(mem[9000:9003]) != "hi!" {
			return fmt.Errorf("MPI_Bcast: %v, %q", got, mem[9000:9003])
		}
		if got := c.code(ctx, "MPI_Barrier", world); got != mpi.Success {
			return fmt.Errorf("MPI_Barrier: %v", got)
		}
		if got := c.code(ctx, "MPI_Comm_split", world, 0, -me, 600); got != mpi.Success {
			return fmt.Errorf("MPI_Comm_split: %v", got)
		}
		split := c.i32(600)
		if got := c.code(ctx, "MPI_Comm_rank", split, 604); got != mpi.Success || c.i32(604) != 1-me {
			return fmt.Errorf("rank in the split: %v, %d", got, c.i32(604))
		}
		if got := c.code(ctx, "MPI_Comm_dup", split, 608); got != mpi.Success || c.i32(608) == split {
			return fmt.Errorf("MPI_Comm_dup: %v, %d", got, c.i32(608))
		}
		if got := c.code(ctx, "MPI_Comm_free", 600); got != mpi.Success || c.i32(600) != 0 {
			return fmt.Errorf("MPI_Comm_free: %v, %d", got, c.i32(600))
		}
		if got := c.code(ctx, "MPI_Get_processor_name", 700, 960); got != mpi.Success || string(mem[700:705]) != "test\x00" || c.i32(960) != 4 {
			return fmt.Errorf("MPI_Get_processor_name: %v, %q, %d", got, mem[700:705], c.i32(960))
		}
		if got := c.code(ctx, "MPI_Finalize"); got != mpi.Success {
			return fmt.Errorf("MPI_Finalize: %v", got)
		}
		if got := c.code(ctx, "MPI_Barrier", world); got != mpi.ErrOther {
			return fmt.Errorf("MPI_Barrier after MPI_Finalize: %v", got)
		}
		return nil
	})
}

// Every argument check, on a world of one so that nothing blocks.
func TestBindingErrors(t *testing.T) {
	ctx := context.Background()
	w := mpi.NewWorld(1, mpi.Options{ProcessorName: strings.Repeat("x", 300)})
	c := newCell(w.Rank(0), make(fakeMem, 1<<16))
	const end = 1 << 16

	expect(t, "before MPI_Init", c.code(ctx, "MPI_Comm_rank", world, 100), mpi.ErrOther)
	expect(t, "MPI_Init_thread level", c.code(ctx, "MPI_Init_thread", 0, 0, 7, 100), mpi.ErrArg)
	expect(t, "MPI_Init_thread provided", c.code(ctx, "MPI_Init_thread", 0, 0, 3, end-2), mpi.ErrArg)
	expect(t, "MPI_Init_thread", c.code(ctx, "MPI_Init_thread", 0, 0, 3, 100), mpi.Success)
	if c.i32(100) != 1 {
		t.Errorf("provided %d, want MPI_THREAD_FUNNELED", c.i32(100))
	}
	expect(t, "second MPI_Init", c.code(ctx, "MPI_Init", 0, 0), mpi.ErrOther)

	c.put(100, 55)    // a request handle that does not exist
	c.put(104, world) // a communicator handle to free
	c.put(200, -1)    // counts
	c.put(208, -4)    // displacements
	c.put(216, 1)     // counts
	c.put(224, 0)     // displacements
	for _, tc := range []struct {
		name string
		fn   string
		args []int
		want mpi.Class
	}{
		{"negative count", "MPI_Send", []int{1024, -1, tInt, 0, 0, world}, mpi.ErrCount},
		{"bad type", "MPI_Send", []int{1024, 1, 99, 0, 0, world}, mpi.ErrType},
		{"null type", "MPI_Send", []int{1024, 1, 0, 0, 0, world}, mpi.ErrType},
		{"buffer past the end", "MPI_Send", []int{end - 3, 1, tInt, 0, 0, world}, mpi.ErrBuffer},
		{"NULL buffer", "MPI_Send", []int{0, 1, tInt, 0, 0, world}, mpi.ErrBuffer},
		{"count*size overflows 32 bits", "MPI_Send", []int{16, math.MaxInt32, tDouble, 0, 0, world}, mpi.ErrBuffer},
		{"buffer at 4 GiB", "MPI_Send", []int{-16, 2, tDouble, 0, 0, world}, mpi.ErrBuffer},
		{"rank", "MPI_Send", []int{1024, 1, tInt, 1, 0, world}, mpi.ErrRank},
		{"tag", "MPI_Send", []int{1024, 1, tInt, 0, -1, world}, mpi.ErrTag},
		{"comm", "MPI_Send", []int{1024, 1, tInt, 0, 0, 9}, mpi.ErrComm},
		{"NULL empty buffer", "MPI_Send", []int{0, 0, tInt, procNull, 0, world}, mpi.Success},
		{"status past the end", "MPI_Recv", []int{1024, 1, tInt, 0, 0, world, end - 8}, mpi.ErrArg},
		{"source", "MPI_Recv", []int{1024, 1, tInt, 3, 0, world, 0}, mpi.ErrRank},
		{"recv tag", "MPI_Recv", []int{1024, 1, tInt, 0, -9, world, 0}, mpi.ErrTag},
		{"Sendrecv recv buffer", "MPI_Sendrecv", []int{1024, 1, tInt, 0, 0, end, 1, tInt, 0, 0, world, 0}, mpi.ErrBuffer},
		{"Isend request pointer", "MPI_Isend", []int{1024, 1, tInt, 0, 0, world, 0}, mpi.ErrArg},
		{"Irecv request pointer", "MPI_Irecv", []int{1024, 1, tInt, 0, 0, world, end}, mpi.ErrArg},
		{"Comm_rank NULL", "MPI_Comm_rank", []int{world, 0}, mpi.ErrArg},
		{"Comm_rank past the end", "MPI_Comm_rank", []int{world, end - 3}, mpi.ErrArg},
		{"Comm_size comm", "MPI_Comm_size", []int{7, 100}, mpi.ErrComm},
		{"Comm_split color", "MPI_Comm_split", []int{world, -3, 0, 300}, mpi.ErrArg},
		{"Comm_split out", "MPI_Comm_split", []int{world, 0, 0, end}, mpi.ErrArg},
		{"Comm_free world", "MPI_Comm_free", []int{104}, mpi.ErrComm},
		{"Comm_free pointer", "MPI_Comm_free", []int{end}, mpi.ErrArg},
		{"Wait bad handle", "MPI_Wait", []int{100, 0}, mpi.ErrRequest},
		{"Wait pointer", "MPI_Wait", []int{end - 2, 0}, mpi.ErrArg},
		{"Waitall count", "MPI_Waitall", []int{-1, 100, 0}, mpi.ErrCount},
		{"Waitall bad handle", "MPI_Waitall", []int{1, 100, 0}, mpi.ErrRequest},
		{"Waitall statuses", "MPI_Waitall", []int{4, 100, end - 32}, mpi.ErrArg},
		{"Waitall nothing", "MPI_Waitall", []int{0, 0, 0}, mpi.Success},
		{"Test flag", "MPI_Test", []int{100, 0, 0}, mpi.ErrArg},
		{"Get_count status", "MPI_Get_count", []int{0, tInt, 100}, mpi.ErrArg},
		{"Get_count type", "MPI_Get_count", []int{1000, 42, 100}, mpi.ErrType},
		{"Reduce op", "MPI_Reduce", []int{1024, 2048, 1, tDouble, 9, 0, world}, mpi.ErrOp},
		{"Reduce LAND on double", "MPI_Reduce", []int{1024, 2048, 1, tDouble, opLand, 0, world}, mpi.ErrOp},
		{"Reduce LAND on int", "MPI_Reduce", []int{1024, 2048, 1, tInt, opLand, 0, world}, mpi.Success},
		{"Reduce root", "MPI_Reduce", []int{1024, 2048, 1, tInt, opSum, 1, world}, mpi.ErrRoot},
		{"Reduce comm", "MPI_Reduce", []int{1024, 2048, 1, tInt, opSum, 0, 0}, mpi.ErrComm},
		{"Reduce recv", "MPI_Reduce", []int{1024, end - 4, 2, tInt, opSum, 0, world}, mpi.ErrBuffer},
		{"Allreduce IN_PLACE as recv", "MPI_Allreduce", []int{1024, inPlace, 1, tInt, opSum, world}, mpi.ErrBuffer},
		{"Allreduce type", "MPI_Allreduce", []int{1024, 2048, 1, 9, opSum, world}, mpi.ErrType},
		{"Bcast IN_PLACE", "MPI_Bcast", []int{inPlace, 1, tInt, 0, world}, mpi.ErrBuffer},
		{"Bcast root", "MPI_Bcast", []int{1024, 1, tInt, -1, world}, mpi.ErrRoot},
		{"Gather recv", "MPI_Gather", []int{1024, 1, tInt, end - 2, 1, tInt, 0, world}, mpi.ErrBuffer},
		{"Gather recv type", "MPI_Gather", []int{1024, 1, tInt, 2048, 1, 0, 0, world}, mpi.ErrType},
		{"Gather truncates", "MPI_Gather", []int{1024, 2, tInt, 2048, 1, tInt, 0, world}, mpi.ErrTruncate},
		{"Gatherv negative count", "MPI_Gatherv", []int{1024, 1, tInt, 2048, 200, 224, tInt, 0, world}, mpi.ErrCount},
		{"Gatherv counts pointer", "MPI_Gatherv", []int{1024, 1, tInt, 2048, end - 2, 208, tInt, 0, world}, mpi.ErrArg},
		{"Gatherv", "MPI_Gatherv", []int{1024, 1, tInt, 2048, 216, 224, tInt, 0, world}, mpi.Success},
		{"Scatterv negative displacement", "MPI_Scatterv", []int{1024, 216, 208, tInt, 2048, 1, tInt, 0, world}, mpi.ErrArg},
		{"Scatter send", "MPI_Scatter", []int{end - 4, 2, tInt, 2048, 2, tInt, 0, world}, mpi.ErrBuffer},
		{"Allgather IN_PLACE", "MPI_Allgather", []int{inPlace, 0, 0, 2048, 1, tInt, world}, mpi.Success},
		{"Allgather recv", "MPI_Allgather", []int{1024, 1, tInt, end, 1, tInt, world}, mpi.ErrBuffer},
		{"Alltoall count", "MPI_Alltoall", []int{1024, -2, tInt, 2048, 1, tInt, world}, mpi.ErrCount},
		{"Alltoall on self", "MPI_Alltoall", []int{1024, 3, tInt, 2048, 3, tInt, self}, mpi.Success},
		{"Barrier comm", "MPI_Barrier", []int{3}, mpi.ErrComm},
		{"processor name", "MPI_Get_processor_name", []int{end - 100, 100}, mpi.ErrArg},
	} {
		expect(t, tc.name, c.code(ctx, tc.fn, tc.args...), tc.want)
	}

	// A message to ourselves, received into too small a buffer.
	c.put(1024, 1, 2, 3, 4)
	expect(t, "send to self", c.code(ctx, "MPI_Send", 1024, 4, tInt, 0, 3, world), mpi.Success)
	expect(t, "truncation", c.code(ctx, "MPI_Recv", 2048, 2, tInt, 0, 3, world, 300), mpi.ErrTruncate)
	if got := c.status(300); got != [4]int{0, 3, int(mpi.ErrTruncate), 8} {
		t.Errorf("truncated status %v", got)
	}
	expect(t, "processor name", c.code(ctx, "MPI_Get_processor_name", 1000, 100), mpi.Success)
	if c.i32(100) != mpi.MaxProcessorName-1 || c.mem.Bytes()[1000+255] != 0 {
		t.Errorf("long processor name: length %d", c.i32(100))
	}
}

// growMem is a linear memory that moves when it grows, as wazero's may.
type growMem struct {
	mu sync.Mutex
	b  []byte
}

func (m *growMem) Bytes() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.b
}

func (m *growMem) grow() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.b
	m.b = append(make([]byte, 0, 2*len(old)), old...)[:2*len(old)]
	return old
}

// A message that arrives for an MPI_Irecv while the receiver's guest runs
// (and grows its memory) lands in the memory the receiver has when it
// waits, not in the one it had when it posted.
func TestIrecvMemoryMoves(t *testing.T) {
	ctx := context.Background()
	w := newWorld(2)
	sender := newCell(w.Rank(0), make(fakeMem, 1<<16))
	mem := &growMem{b: make([]byte, 1<<16)}
	recv := newCell(w.Rank(1), mem)
	sender.code(ctx, "MPI_Init", 0, 0)
	recv.code(ctx, "MPI_Init", 0, 0)

	expect(t, "MPI_Irecv", recv.code(ctx, "MPI_Irecv", 1024, 4, tByte, 0, 0, world, 100), mpi.Success)
	copy(sender.mem.Bytes()[50:], "abcd")
	expect(t, "MPI_Send", sender.code(ctx, "MPI_Send", 50, 4, tByte, 1, 0, world), mpi.Success)
	old := mem.grow()
	expect(t, "MPI_Wait", recv.code(ctx, "MPI_Wait", 100, 200), mpi.Success)
	if got := string(mem.Bytes()[1024:1028]); got != "abcd" {
		t.Errorf("grown memory has %q", got)
	}
	if got := string(old[1024:1028]); got != "\x00\x00\x00\x00" {
		t.Errorf("old memory has %q", got)
	}

	// While the receiver waits, the sender copies straight in.
	expect(t, "MPI_Irecv", recv.code(ctx, "MPI_Irecv", 2048, 4, tByte, 0, 1, world, 100), mpi.Success)
	done := make(chan mpi.Class)
	go func() { done <- recv.code(ctx, "MPI_Wait", 100, 200) }()
	waitBlocked()
	copy(sender.mem.Bytes()[50:], "wxyz")
	expect(t, "MPI_Send", sender.code(ctx, "MPI_Send", 50, 4, tByte, 1, 1, world), mpi.Success)
	expect(t, "MPI_Wait", <-done, mpi.Success)
	if got := string(mem.Bytes()[2048:2052]); got != "wxyz" {
		t.Errorf("received %q", got)
	}
}

// stopped runs f and returns what it panicked with.
func stopped(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestBindingsStop(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()

	// MPI_Abort on rank 0 exits it and rank 1, blocked in MPI_Recv, with
	// the error code.
	w := newWorld(2)
	c0, c1 := newCell(w.Rank(0), make(fakeMem, 4096)), newCell(w.Rank(1), make(fakeMem, 4096))
	c0.code(ctx, "MPI_Init", 0, 0)
	c1.code(ctx, "MPI_Init", 0, 0)
	blocked := make(chan any)
	go func() { blocked <- stopped(func() { c1.call(ctx, "MPI_Recv", 100, 1, tInt, 0, 0, world, 0) }) }()
	waitBlocked()
	for i, v := range []any{stopped(func() { c0.call(ctx, "MPI_Abort", world, 3) }), <-blocked} {
		if e, ok := v.(*engine.Exit); !ok || e.Code != 3 {
			t.Errorf("rank %d after MPI_Abort: %#v, want exit 3", i, v)
		}
	}
	if v := stopped(func() { c1.call(ctx, "MPI_Wtime") }); v == nil {
		t.Error("MPI_Wtime after MPI_Abort returned")
	}

	// A failed rank traps the others, naming it.
	w = newWorld(3)
	cs := []*cell{newCell(w.Rank(0), make(fakeMem, 4096)), newCell(w.Rank(1), make(fakeMem, 4096)), newCell(w.Rank(2), make(fakeMem, 4096))}
	for _, c := range cs {
		c.code(ctx, "MPI_Init", 0, 0)
	}
	traps := make(chan any, 2)
	go func() { traps <- stopped(func() { cs[1].call(ctx, "MPI_Barrier", world) }) }()
	go func() {
		traps <- stopped(func() { cs[2].call(ctx, "MPI_Recv", 100, 1, tInt, anySrc, anyTag, world, 0) })
	}()
	waitBlocked()
	w.Fail(0, &engine.Trap{Reason: "unreachable"})
	for range 2 {
		v := <-traps
		if tr, ok := v.(*engine.Trap); !ok || !strings.Contains(tr.Reason, "rank 0 failed") {
			t.Errorf("after Fail: %#v, want a trap naming rank 0", v)
		}
	}

	// A cancelled context traps a blocked call.
	w = newWorld(2)
	c := newCell(w.Rank(1), make(fakeMem, 4096))
	c.code(ctx, "MPI_Init", 0, 0)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	v := stopped(func() { c.call(cctx, "MPI_Recv", 100, 1, tInt, 0, 0, world, 0) })
	if tr, ok := v.(*engine.Trap); !ok || !strings.Contains(tr.Reason, "deadline") {
		t.Errorf("after cancel: %#v", v)
	}
}

func TestWtime(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	w := mpi.NewWorld(1, mpi.Options{Now: func() time.Time { return now }})
	c := newCell(w.Rank(0), make(fakeMem, 16))
	now = start.Add(1500 * time.Millisecond)
	if got := math.Float64frombits(c.call(context.Background(), "MPI_Wtime")); got != 1.5 {
		t.Errorf("MPI_Wtime %v, want 1.5", got)
	}
}

// signature is a function type as wasm spells it, e.g. "(i32,i32)->i32".
func signature(params, results []engine.ValueType) string {
	str := func(ts []engine.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = t.String()
		}
		return strings.Join(s, ",")
	}
	return "(" + str(params) + ")->" + str(results)
}

func moduleSignatures() map[string]string {
	m := map[string]string{}
	for _, f := range mpi.NewWorld(1, mpi.Options{}).Rank(0).Module().Funcs {
		m[f.Name] = signature(f.Params, f.Results)
	}
	return m
}

// The module provides exactly the functions mpi.h declares, with the
// signatures of their C prototypes.
func TestModuleMatchesHeader(t *testing.T) {
	if mod := mpi.NewWorld(1, mpi.Options{}).Rank(0).Module(); mod.Name != "mpi" {
		t.Errorf("module name %q", mod.Name)
	}
	decl := regexp.MustCompile(`CLOUDSKIN_MPI_IMPORT\((\w+)\)\s+(\w+)\s+(\w+)\(([^)]*)\);`)
	want := map[string]string{}
	for _, m := range decl.FindAllStringSubmatch(string(mpi.Header()), -1) {
		if m[1] != m[3] {
			t.Errorf("%s is imported as %s", m[3], m[1])
		}
		var params []engine.ValueType
		if p := strings.TrimSpace(m[4]); p != "void" {
			for range strings.Split(p, ",") {
				params = append(params, engine.I32) // ints, handles, pointers
			}
		}
		result := engine.I32
		if m[2] == "double" {
			result = engine.F64
		}
		want[m[1]] = signature(params, []engine.ValueType{result})
	}
	if len(want) != 30 {
		t.Errorf("found %d declarations in mpi.h, want 30", len(want))
	}
	got := moduleSignatures()
	for name, sig := range want {
		if got[name] != sig {
			t.Errorf("%s: module has %q, mpi.h says %q", name, got[name], sig)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is not in mpi.h", name)
		}
	}
}

// clang compiles testdata/calls.c, which calls every function of mpi.h;
// the imports of the result must match the module's functions exactly.
func TestClangImports(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("no clang")
	}
	out := filepath.Join(t.TempDir(), "calls.wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "-O2", "-nostdlib", "-Wl,--no-entry", "-Wl,--export=run",
		"-I", "include", "testdata/calls.c", "-o", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(msg), "wasm-ld") && strings.Contains(string(msg), "not found") {
			t.Skipf("clang cannot link wasm: %s", msg)
		}
		t.Fatalf("%v: %s", err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	imports, err := wasmImports(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := moduleSignatures()
	for name, sig := range imports {
		mod, fn, _ := strings.Cut(name, ".")
		if mod != "mpi" {
			t.Errorf("import %s", name)
			continue
		}
		if got[fn] != sig {
			t.Errorf("%s: clang imports %s, the module provides %q", fn, sig, got[fn])
		}
	}
	if len(imports) != len(got) {
		t.Errorf("clang imports %d functions, the module provides %d", len(imports), len(got))
	}
}

// wasmImports reads the function imports of a wasm binary: "module.name"
// to signature.
func wasmImports(bin []byte) (map[string]string, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, errors.New("not wasm")
	}
	p := bin[8:]
	fail := errors.New("malformed wasm")
	uleb := func() uint32 {
		var v uint32
		for s := 0; len(p) > 0; s += 7 {
			b := p[0]
			p = p[1:]
			v |= uint32(b&0x7f) << s
			if b < 0x80 {
				return v
			}
		}
		panic(fail)
	}
	name := func() string {
		n := uleb()
		s := string(p[:n])
		p = p[n:]
		return s
	}
	valtypes := func() []engine.ValueType {
		n := uleb()
		ts := make([]engine.ValueType, n)
		for i := range ts {
			ts[i] = map[byte]engine.ValueType{0x7f: engine.I32, 0x7e: engine.I64, 0x7d: engine.F32, 0x7c: engine.F64}[p[0]]
			p = p[1:]
		}
		return ts
	}
	limits := func() {
		if uleb()&1 != 0 {
			uleb()
		}
		uleb()
	}
	var types []string
	imports := map[string]string{}
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("%v: %v", fail, v)
			}
		}()
		for len(p) > 0 {
			id := p[0]
			p = p[1:]
			size := uleb()
			rest := p[size:]
			p = p[:size]
			switch id {
			case 1: // types
				for n := uleb(); n > 0; n-- {
					p = p[1:] // 0x60
					params := valtypes()
					types = append(types, signature(params, valtypes()))
				}
			case 2: // imports
				for n := uleb(); n > 0; n-- {
					mod, fn := name(), name()
					kind := p[0]
					p = p[1:]
					switch kind {
					case 0:
						imports[mod+"."+fn] = types[uleb()]
					case 1:
						p = p[1:]
						limits()
					case 2:
						limits()
					case 3:
						p = p[2:]
					}
				}
			}
			p = rest
		}
		return nil
	}()
	return imports, err
}
