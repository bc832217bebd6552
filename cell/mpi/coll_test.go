package mpi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cloudskin/cloudskin/cell/mpi"
)

var sizes = []int{1, 2, 3, 4, 7}

var datatypes = []mpi.Datatype{mpi.Char, mpi.Byte, mpi.Int, mpi.Unsigned, mpi.Long, mpi.LongLong, mpi.Float, mpi.Double}

var ops = []mpi.Op{mpi.Sum, mpi.Prod, mpi.Min, mpi.Max, mpi.Land, mpi.Lor}

// value is element i of rank's input: small, with zeros and (for signed
// types) negatives, so that products of seven stay exact in a float32 and
// the logical operations see both truth values.
func value(t mpi.Datatype, rank, i int) int64 {
	v := int64((rank*7+i*3+1)%11) - 5
	if t == mpi.Byte || t == mpi.Unsigned {
		v += 5
	}
	return v
}

type elem interface {
	int8 | uint8 | int32 | uint32 | int64 | float32 | float64
}

func encode[T elem](vs []T) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, vs); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// inputs is every rank's input vector as Go values.
func inputs[T elem](t mpi.Datatype, size, count int) [][]T {
	in := make([][]T, size)
	for r := range in {
		in[r] = make([]T, count)
		for i := range in[r] {
			in[r][i] = T(value(t, r, i))
		}
	}
	return in
}

// oracle reduces in rank order with Go's own arithmetic on T.
func oracle[T elem](op mpi.Op, in [][]T) []T {
	truth := func(b bool) T {
		if b {
			return 1
		}
		return 0
	}
	out := append([]T(nil), in[0]...)
	for _, v := range in[1:] {
		for i, b := range v {
			a := out[i]
			switch op {
			case mpi.Sum:
				out[i] = a + b
			case mpi.Prod:
				out[i] = a * b
			case mpi.Min:
				out[i] = min(a, b)
			case mpi.Max:
				out[i] = max(a, b)
			case mpi.Land:
				out[i] = truth(a != 0 && b != 0)
			case mpi.Lor:
				out[i] = truth(a != 0 || b != 0)
			}
		}
	}
	return out
}

// reduction is one reduction's inputs (encoded, by rank) and result.
type reduction struct {
	in   [][]byte
	want []byte
}

func makeReduction[T elem](t mpi.Datatype, op mpi.Op, size, count int) reduction {
	in := inputs[T](t, size, count)
	var red reduction
	for _, v := range in {
		red.in = append(red.in, encode(v))
	}
	red.want = encode(oracle(op, in))
	return red
}

func newReduction(t mpi.Datatype, op mpi.Op, size, count int) reduction {
	switch t {
	case mpi.Char:
		return makeReduction[int8](t, op, size, count)
	case mpi.Byte:
		return makeReduction[uint8](t, op, size, count)
	case mpi.Int, mpi.Long:
		return makeReduction[int32](t, op, size, count)
	case mpi.Unsigned:
		return makeReduction[uint32](t, op, size, count)
	case mpi.LongLong:
		return makeReduction[int64](t, op, size, count)
	case mpi.Float:
		return makeReduction[float32](t, op, size, count)
	case mpi.Double:
		return makeReduction[float64](t, op, size, count)
	}
	panic(t)
}

type reductionCase struct {
	dt    mpi.Datatype
	op    mpi.Op
	count int
	red   reduction
	bad   bool // MPI_LAND/MPI_LOR on a floating-point type
}

// reductionCases covers every type and operation at counts of 1 and 7, and
// Sum and Min on vectors big enough that Allreduce shares the work out.
func reductionCases(size int) []reductionCase {
	var cases []reductionCase
	for _, dt := range datatypes {
		for _, op := range ops {
			counts := []int{1, 7}
			if op == mpi.Sum || op == mpi.Min {
				counts = append(counts, 5000)
			}
			for _, n := range counts {
				c := reductionCase{dt: dt, op: op, count: n, bad: (op == mpi.Land || op == mpi.Lor) && (dt == mpi.Float || dt == mpi.Double)}
				if !c.bad {
					c.red = newReduction(dt, op, size, n)
				}
				cases = append(cases, c)
			}
		}
	}
	return cases
}

func TestReductions(t *testing.T) {
	noLeaks(t)
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cases := reductionCases(size)
			roots := []int{0, size / 2, size - 1}
			run(t, newWorld(size), func(ctx context.Context, r *mpi.Rank) error {
				me := r.Index()
				for _, c := range cases {
					what := fmt.Sprintf("%v %v of %d", c.op, c.dt, c.count)
					if c.bad {
						buf := make([]byte, c.count*c.dt.Size())
						if err := r.Allreduce(ctx, buf, buf, c.dt, c.op, mpi.CommWorld); mpi.ClassOf(err) != mpi.ErrOp {
							return fmt.Errorf("Allreduce %s: %v, want MPI_ERR_OP", what, err)
						}
						if err := r.Reduce(ctx, buf, buf, c.dt, c.op, 0, mpi.CommWorld); mpi.ClassOf(err) != mpi.ErrOp {
							return fmt.Errorf("Reduce %s: %v, want MPI_ERR_OP", what, err)
						}
						continue
					}
					in := c.red.in[me]
					recv := make([]byte, len(in))
					if err := r.Allreduce(ctx, in, recv, c.dt, c.op, mpi.CommWorld); err != nil {
						return fmt.Errorf("Allreduce %s: %w", what, err)
					}
					if !bytes.Equal(recv, c.red.want) {
						return fmt.Errorf("Allreduce %s: wrong result", what)
					}
					inplace := bytes.Clone(in)
					if err := r.Allreduce(ctx, nil, inplace, c.dt, c.op, mpi.CommWorld); err != nil {
						return fmt.Errorf("Allreduce in place %s: %w", what, err)
					}
					if !bytes.Equal(inplace, c.red.want) {
						return fmt.Errorf("Allreduce in place %s: wrong result", what)
					}
					for _, root := range roots {
						recv := bytes.Repeat([]byte{0xEE}, len(in))
						if err := r.Reduce(ctx, in, recv, c.dt, c.op, root, mpi.CommWorld); err != nil {
							return fmt.Errorf("Reduce %s to %d: %w", what, root, err)
						}
						if me == root && !bytes.Equal(recv, c.red.want) {
							return fmt.Errorf("Reduce %s to %d: wrong result", what, root)
						}
						if me != root && !bytes.Equal(recv, bytes.Repeat([]byte{0xEE}, len(in))) {
							return fmt.Errorf("Reduce %s to %d: non-root's buffer written", what, root)
						}
						send := in
						if me == root {
							send, recv = nil, bytes.Clone(in)
						}
						if err := r.Reduce(ctx, send, recv, c.dt, c.op, root, mpi.CommWorld); err != nil {
							return fmt.Errorf("Reduce in place %s to %d: %w", what, root, err)
						}
						if me == root && !bytes.Equal(recv, c.red.want) {
							return fmt.Errorf("Reduce in place %s to %d: wrong result", what, root)
						}
					}
				}
				return nil
			})
		})
	}
}

// pattern is m bytes that identify id.
func pattern(id, m int) []byte {
	b := make([]byte, m)
	for j := range b {
		b[j] = byte(id*31 + j*7 + 1)
	}
	return b
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// layout places n uneven blocks (some empty) in reverse rank order with
// gaps: counts and displacements in bytes, and the buffer size.
func layout(n, m int) (counts, displs []int, size int) {
	counts, displs = make([]int, n), make([]int, n)
	for i := range n {
		counts[i] = (i*3 + m) % 5
		if i == 1 {
			counts[i] = 0
		}
	}
	pos := 2
	for i := n - 1; i >= 0; i-- {
		displs[i] = pos
		pos += counts[i] + 3
	}
	return counts, displs, pos
}

func TestRootedCollectives(t *testing.T) {
	noLeaks(t)
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			run(t, newWorld(size), func(ctx context.Context, r *mpi.Rank) error {
				me := r.Index()
				for root := range size {
					for _, m := range []int{0, 1, 5, 1000} {
						if err := rooted(ctx, r, me, size, root, m); err != nil {
							return fmt.Errorf("root %d, %d bytes: %w", root, m, err)
						}
					}
				}
				return nil
			})
		})
	}
}

func rooted(ctx context.Context, r *mpi.Rank, me, n, root, m int) error {
	w := mpi.CommWorld
	isRoot := me == root
	all := make([][]byte, n)
	for i := range all {
		all[i] = pattern(i, m)
	}
	untouched := func(b []byte) bool { return bytes.Count(b, []byte{0xEE}) == len(b) }
	fill := func(k int) []byte { return bytes.Repeat([]byte{0xEE}, k) }

	// Bcast.
	buf := make([]byte, m)
	if isRoot {
		copy(buf, all[root])
	}
	if err := r.Bcast(ctx, buf, root, w); err != nil {
		return fmt.Errorf("Bcast: %w", err)
	}
	if !bytes.Equal(buf, all[root]) {
		return errors.New("Bcast: wrong data")
	}

	// Gather, then Gather in place.
	recv := fill(n * m)
	if err := r.Gather(ctx, all[me], recv, root, w); err != nil {
		return fmt.Errorf("Gather: %w", err)
	}
	if isRoot && !bytes.Equal(recv, concat(all...)) || !isRoot && !untouched(recv) {
		return errors.New("Gather: wrong data")
	}
	send := all[me]
	recv = fill(n * m)
	if isRoot {
		send = nil
		copy(recv[me*m:], all[me])
	}
	if err := r.Gather(ctx, send, recv, root, w); err != nil {
		return fmt.Errorf("Gather in place: %w", err)
	}
	if isRoot && !bytes.Equal(recv, concat(all...)) {
		return errors.New("Gather in place: wrong data")
	}

	// Gatherv with uneven blocks, out of order, with gaps.
	counts, displs, size := layout(n, m)
	want := fill(size)
	for i := range n {
		copy(want[displs[i]:], all[i][:min(counts[i], m)])
	}
	mine := all[me][:min(counts[me], m)]
	recv = fill(size)
	if err := r.Gatherv(ctx, mine, recv, counts, displs, root, w); err != nil {
		return fmt.Errorf("Gatherv: %w", err)
	}
	if isRoot && !bytes.Equal(recv, want) || !isRoot && !untouched(recv) {
		return fmt.Errorf("Gatherv: got %v, want %v", recv, want)
	}
	if isRoot {
		recv = fill(size)
		copy(recv[displs[me]:], mine)
		if err := r.Gatherv(ctx, nil, recv, counts, displs, root, w); err != nil {
			return fmt.Errorf("Gatherv in place: %w", err)
		}
		if !bytes.Equal(recv, want) {
			return errors.New("Gatherv in place: wrong data")
		}
	} else if err := r.Gatherv(ctx, mine, nil, nil, nil, root, w); err != nil {
		return fmt.Errorf("Gatherv in place: %w", err)
	}

	// Scatter, then Scatter in place.
	var whole []byte
	if isRoot {
		whole = concat(all...)
	}
	recv = fill(m)
	if err := r.Scatter(ctx, whole, recv, root, w); err != nil {
		return fmt.Errorf("Scatter: %w", err)
	}
	if !bytes.Equal(recv, all[me]) {
		return errors.New("Scatter: wrong data")
	}
	recv = fill(m)
	if isRoot {
		recv = nil
	}
	if err := r.Scatter(ctx, whole, recv, root, w); err != nil {
		return fmt.Errorf("Scatter in place: %w", err)
	}
	if !isRoot && !bytes.Equal(recv, all[me]) || isRoot && !bytes.Equal(whole, concat(all...)) {
		return errors.New("Scatter in place: wrong data")
	}

	// Scatterv from the Gatherv layout.
	var sendv []byte
	if isRoot {
		sendv = want
	}
	recv = fill(counts[me] + 2)
	if err := r.Scatterv(ctx, sendv, counts, displs, recv, root, w); err != nil {
		return fmt.Errorf("Scatterv: %w", err)
	}
	got := recv[:counts[me]]
	if !bytes.Equal(got[:len(mine)], mine) || !untouched(recv[len(mine):]) {
		return fmt.Errorf("Scatterv: got %v, want %v", recv, mine)
	}
	if isRoot {
		if err := r.Scatterv(ctx, sendv, counts, displs, nil, root, w); err != nil {
			return fmt.Errorf("Scatterv in place: %w", err)
		}
	} else if err := r.Scatterv(ctx, nil, nil, nil, recv, root, w); err != nil {
		return fmt.Errorf("Scatterv in place: %w", err)
	}
	return nil
}

func TestAllCollectives(t *testing.T) {
	noLeaks(t)
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var arrived atomic.Int64
			run(t, newWorld(size), func(ctx context.Context, r *mpi.Rank) error {
				me, n := r.Index(), size
				w := mpi.CommWorld
				for k := range 20 {
					arrived.Add(1)
					if err := r.Barrier(ctx, w); err != nil {
						return err
					}
					if got := arrived.Load(); got < int64((k+1)*n) {
						return fmt.Errorf("barrier %d passed with %d arrivals", k, got)
					}
					if err := r.Barrier(ctx, w); err != nil {
						return err
					}
				}
				for _, m := range []int{0, 1, 5, 1000} {
					all := make([][]byte, n)
					for i := range all {
						all[i] = pattern(i, m)
					}
					recv := make([]byte, n*m)
					if err := r.Allgather(ctx, all[me], recv, w); err != nil {
						return fmt.Errorf("Allgather: %w", err)
					}
					if !bytes.Equal(recv, concat(all...)) {
						return fmt.Errorf("Allgather %d: wrong data", m)
					}
					recv = make([]byte, n*m)
					copy(recv[me*m:], all[me])
					if err := r.Allgather(ctx, nil, recv, w); err != nil {
						return fmt.Errorf("Allgather in place: %w", err)
					}
					if !bytes.Equal(recv, concat(all...)) {
						return fmt.Errorf("Allgather in place %d: wrong data", m)
					}

					// Block j of rank i's send goes to block i of rank j's recv.
					send := make([][]byte, n)
					want := make([][]byte, n)
					for j := range n {
						send[j] = pattern(me*16+j, m)
						want[j] = pattern(j*16+me, m)
					}
					recv = make([]byte, n*m)
					if err := r.Alltoall(ctx, concat(send...), recv, w); err != nil {
						return fmt.Errorf("Alltoall: %w", err)
					}
					if !bytes.Equal(recv, concat(want...)) {
						return fmt.Errorf("Alltoall %d: wrong data", m)
					}
					recv = concat(send...)
					if err := r.Alltoall(ctx, nil, recv, w); err != nil {
						return fmt.Errorf("Alltoall in place: %w", err)
					}
					if !bytes.Equal(recv, concat(want...)) {
						return fmt.Errorf("Alltoall in place %d: wrong data", m)
					}
				}
				return nil
			})
		})
	}
}

// Members that disagree, or one with bad arguments, make everyone fail
// instead of hanging.
func TestCollectiveMismatch(t *testing.T) {
	noLeaks(t)
	w := newWorld(3)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		var err error
		switch r.Index() {
		case 0:
			err = r.Barrier(ctx, mpi.CommWorld)
		default:
			err = r.Allgather(ctx, []byte{1}, make([]byte, 3), mpi.CommWorld)
		}
		if mpi.ClassOf(err) != mpi.ErrOther {
			return fmt.Errorf("mismatched collectives: %v", err)
		}
		// Rank 2 passes a bad op to a reduction rooted at 0.
		op := mpi.Sum
		if r.Index() == 2 {
			op = 42
		}
		buf := make([]byte, 8)
		err = r.Reduce(ctx, buf, buf, mpi.Double, op, 0, mpi.CommWorld)
		switch r.Index() {
		case 0:
			if mpi.ClassOf(err) != mpi.ErrOther {
				return fmt.Errorf("root with a bad member: %v", err)
			}
		case 1:
			if err != nil {
				return fmt.Errorf("non-root: %v", err)
			}
		case 2:
			if mpi.ClassOf(err) != mpi.ErrOp {
				return fmt.Errorf("bad member: %v", err)
			}
		}
		// Bad root everywhere.
		if err := r.Bcast(ctx, buf, 3, mpi.CommWorld); mpi.ClassOf(err) != mpi.ErrRoot {
			return fmt.Errorf("Bcast to root 3: %v", err)
		}
		// Different counts in an Allreduce.
		n := 8
		if r.Index() == 1 {
			n = 16
		}
		err = r.Allreduce(ctx, make([]byte, n), make([]byte, n), mpi.Double, mpi.Sum, mpi.CommWorld)
		if mpi.ClassOf(err) != mpi.ErrCount {
			return fmt.Errorf("Allreduce of different counts: %v", err)
		}
		// And the communicator still works.
		return r.Barrier(ctx, mpi.CommWorld)
	})
}
