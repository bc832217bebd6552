package mpi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cloudskin/cloudskin/cell/mpi"
)

// Seven ranks split into odd and even with keys that reverse the order;
// each part then talks and reduces within itself. Rank 3 opts out.
func TestCommSplit(t *testing.T) {
	noLeaks(t)
	const n = 7
	w := newWorld(n)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		me := r.Index()
		color := me % 2
		c, err := r.CommSplit(ctx, mpi.CommWorld, color, -me)
		if err != nil {
			return err
		}
		// The members of my part, highest world rank first.
		var members []int
		for i := n - 1; i >= 0; i-- {
			if i%2 == color {
				members = append(members, i)
			}
		}
		size, err := r.CommSize(c)
		if err != nil {
			return err
		}
		rank, err := r.CommRank(c)
		if err != nil {
			return err
		}
		if size != len(members) || members[rank] != me {
			return fmt.Errorf("rank %d of %d in part %d; members %v", rank, size, color, members)
		}

		// Sum of the world ranks in my part.
		sum := make([]byte, 8)
		if err := r.Allreduce(ctx, binary.LittleEndian.AppendUint64(nil, uint64(me)), sum, mpi.LongLong, mpi.Sum, c); err != nil {
			return err
		}
		want := 0
		for _, m := range members {
			want += m
		}
		if got := int(binary.LittleEndian.Uint64(sum)); got != want {
			return fmt.Errorf("sum in part %d: %d, want %d", color, got, want)
		}

		// Part rank 0 (the highest world rank) broadcasts its world rank.
		buf := u32(me)
		if err := r.Bcast(ctx, buf, 0, c); err != nil {
			return err
		}
		if err := check("bcast", getU32(buf), members[0]); err != nil {
			return err
		}

		// Point-to-point in part ranks: send to the next, receive from the
		// previous; the status names part ranks.
		next, prev := (rank+1)%size, (rank+size-1)%size
		st, err := r.Sendrecv(ctx, u32(me), next, 0, buf, prev, 0, c)
		if err != nil {
			return err
		}
		if st.Source != prev || getU32(buf) != members[prev] {
			return fmt.Errorf("from part rank %d (world %d): status %+v, data %d", prev, members[prev], st, getU32(buf))
		}

		// Split the world again with rank 3 out.
		color = 0
		if me == 3 {
			color = mpi.Undefined
		}
		d, err := r.CommSplit(ctx, mpi.CommWorld, color, 0)
		if err != nil {
			return err
		}
		if me == 3 {
			return check("undefined color", d, mpi.CommNull)
		}
		if size, _ := r.CommSize(d); size != n-1 {
			return fmt.Errorf("without rank 3: size %d", size)
		}
		if err := r.Barrier(ctx, d); err != nil {
			return err
		}
		if err := r.CommFree(c); err != nil {
			return err
		}
		return r.CommFree(d)
	})
}

// A duplicate has its own context: messages on it do not match receives
// on the original, and the handles are small and reused.
func TestCommDupFree(t *testing.T) {
	w := newWorld(2)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		d, err := r.CommDup(ctx, mpi.CommWorld)
		if err != nil {
			return err
		}
		if d != 3 {
			return fmt.Errorf("first new handle %d, want 3", d)
		}
		if r.Index() == 0 {
			if err := r.Send(ctx, []byte("dup"), 1, 0, d); err != nil {
				return err
			}
			if err := r.Send(ctx, []byte("world"), 1, 0, mpi.CommWorld); err != nil {
				return err
			}
		} else {
			buf := make([]byte, 8)
			st, err := r.Recv(ctx, buf, mpi.AnySource, mpi.AnyTag, mpi.CommWorld)
			if err != nil {
				return err
			}
			if !bytes.Equal(buf[:st.Count], []byte("world")) {
				return fmt.Errorf("on world got %q", buf[:st.Count])
			}
			st, err = r.Recv(ctx, buf, 0, 0, d)
			if err != nil {
				return err
			}
			if !bytes.Equal(buf[:st.Count], []byte("dup")) {
				return fmt.Errorf("on dup got %q", buf[:st.Count])
			}
		}
		if rank, _ := r.CommRank(d); rank != r.Index() {
			return fmt.Errorf("rank %d in the duplicate", rank)
		}
		if err := r.CommFree(d); err != nil {
			return err
		}
		if err := r.CommFree(d); mpi.ClassOf(err) != mpi.ErrComm {
			return fmt.Errorf("double free: %v", err)
		}
		if err := r.Barrier(ctx, d); mpi.ClassOf(err) != mpi.ErrComm {
			return fmt.Errorf("barrier on a freed communicator: %v", err)
		}
		for _, c := range []mpi.Comm{mpi.CommWorld, mpi.CommSelf, mpi.CommNull} {
			if err := r.CommFree(c); mpi.ClassOf(err) != mpi.ErrComm {
				return fmt.Errorf("free %d: %v", c, err)
			}
		}
		e, err := r.CommDup(ctx, mpi.CommSelf)
		if err != nil {
			return err
		}
		if e != 3 {
			return fmt.Errorf("handle after free %d, want 3 again", e)
		}
		if size, _ := r.CommSize(e); size != 1 {
			return fmt.Errorf("dup of self has size %d", size)
		}
		if _, err := r.CommSplit(ctx, mpi.CommWorld, -5, 0); mpi.ClassOf(err) != mpi.ErrArg {
			return fmt.Errorf("negative color: %v", err)
		}
		return nil
	})
}
