package mpi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/mpi"
)

func u32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

func getU32(b []byte) int { return int(binary.LittleEndian.Uint32(b)) }

// Two senders each send 1000 messages with one tag to a third rank, which
// receives them with MPI_ANY_SOURCE (some posted before they arrive, most
// not): each sender's messages must arrive in the order sent.
func TestNonOvertaking(t *testing.T) {
	noLeaks(t)
	const n = 1000
	w := newWorld(3)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		if r.Index() < 2 {
			for i := range n {
				if err := r.Send(ctx, u32(i), 2, 5, mpi.CommWorld); err != nil {
					return err
				}
			}
			return nil
		}
		next := [2]int{}
		buf := make([]byte, 4)
		for range 2 * n {
			st, err := r.Recv(ctx, buf, mpi.AnySource, 5, mpi.CommWorld)
			if err != nil {
				return err
			}
			if got := getU32(buf); got != next[st.Source] {
				return fmt.Errorf("from rank %d: message %d arrived when %d was due", st.Source, got, next[st.Source])
			}
			next[st.Source]++
		}
		return check("messages", next, [2]int{n, n})
	})
}

// The same, with the receiver's receives posted before the messages.
func TestNonOvertakingPosted(t *testing.T) {
	const n = 1000
	w := newWorld(2)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		if r.Index() == 0 {
			if err := r.Barrier(ctx, mpi.CommWorld); err != nil {
				return err
			}
			for i := range n {
				if err := r.Send(ctx, u32(i), 1, 0, mpi.CommWorld); err != nil {
					return err
				}
			}
			return nil
		}
		reqs := make([]*mpi.Request, n)
		bufs := make([][]byte, n)
		for i := range reqs {
			bufs[i] = make([]byte, 4)
			q, err := r.Irecv(bufs[i], 0, mpi.AnyTag, mpi.CommWorld)
			if err != nil {
				return err
			}
			reqs[i] = q
		}
		if err := r.Barrier(ctx, mpi.CommWorld); err != nil {
			return err
		}
		if _, err := r.Waitall(ctx, reqs); err != nil {
			return err
		}
		for i, b := range bufs {
			if got := getU32(b); got != i {
				return fmt.Errorf("receive %d got message %d", i, got)
			}
		}
		return nil
	})
}

func TestAnySourceAnyTag(t *testing.T) {
	w := newWorld(4)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		me := r.Index()
		if me != 0 {
			return r.Send(ctx, bytes.Repeat([]byte{byte(me)}, me), 0, 10*me, mpi.CommWorld)
		}
		seen := map[int]bool{}
		for range 3 {
			buf := make([]byte, 16)
			st, err := r.Recv(ctx, buf, mpi.AnySource, mpi.AnyTag, mpi.CommWorld)
			if err != nil {
				return err
			}
			src := st.Source
			if src < 1 || src > 3 || seen[src] {
				return fmt.Errorf("status source %d", src)
			}
			seen[src] = true
			if st.Tag != 10*src || st.Count != src || st.Err != nil {
				return fmt.Errorf("status %+v from rank %d", st, src)
			}
			if !bytes.Equal(buf[:src], bytes.Repeat([]byte{byte(src)}, src)) || buf[src] != 0 {
				return fmt.Errorf("data %v from rank %d", buf, src)
			}
		}
		return nil
	})
}

func TestTagsSeparateStreams(t *testing.T) {
	w := newWorld(2)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		if r.Index() == 0 {
			for _, m := range []struct {
				tag  int
				data string
			}{{1, "a1"}, {2, "b1"}, {1, "a2"}, {2, "b2"}, {5, "x"}, {6, "y"}} {
				if err := r.Send(ctx, []byte(m.data), 1, m.tag, mpi.CommWorld); err != nil {
					return err
				}
			}
			return nil
		}
		var got []string
		for _, tag := range []int{2, 2, 1, 1, mpi.AnyTag, mpi.AnyTag} {
			buf := make([]byte, 8)
			st, err := r.Recv(ctx, buf, 0, tag, mpi.CommWorld)
			if err != nil {
				return err
			}
			got = append(got, fmt.Sprintf("%s/%d", buf[:st.Count], st.Tag))
		}
		return check("order", fmt.Sprint(got), "[b1/2 b2/2 a1/1 a2/1 x/5 y/6]")
	})
}

// Every rank sends to its right and receives from its left with
// Isend/Irecv/Waitall, many times over.
func TestRing(t *testing.T) {
	noLeaks(t)
	for _, n := range []int{1, 2, 5} {
		w := newWorld(n)
		run(t, w, func(ctx context.Context, r *mpi.Rank) error {
			me := r.Index()
			left, right := (me+n-1)%n, (me+1)%n
			for it := range 100 {
				in := make([]byte, 8)
				rq, err := r.Irecv(in, left, it, mpi.CommWorld)
				if err != nil {
					return err
				}
				sq, err := r.Isend(ctx, u32(me*1000+it), right, it, mpi.CommWorld)
				if err != nil {
					return err
				}
				sts, err := r.Waitall(ctx, []*mpi.Request{rq, sq, nil})
				if err != nil {
					return err
				}
				if got := getU32(in); got != left*1000+it {
					return fmt.Errorf("iteration %d: got %d from the left", it, got)
				}
				if sts[0].Source != left || sts[0].Tag != it || sts[0].Count != 4 {
					return fmt.Errorf("iteration %d: status %+v", it, sts[0])
				}
				if sts[2].Source != mpi.AnySource || sts[2].Tag != mpi.AnyTag {
					return fmt.Errorf("null request's status %+v", sts[2])
				}
			}
			return nil
		})
	}
}

func TestTestPolling(t *testing.T) {
	w := newWorld(2)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		if r.Index() == 0 {
			if err := r.Barrier(ctx, mpi.CommWorld); err != nil {
				return err
			}
			return r.Send(ctx, []byte("hello"), 1, 3, mpi.CommWorld)
		}
		buf := make([]byte, 5)
		q, err := r.Irecv(buf, 0, 3, mpi.CommWorld)
		if err != nil {
			return err
		}
		if _, done, err := r.Test(q); done || err != nil {
			return fmt.Errorf("before the send: done %v, err %v", done, err)
		}
		if err := r.Barrier(ctx, mpi.CommWorld); err != nil {
			return err
		}
		for polls := 0; ; polls++ {
			st, done, err := r.Test(q)
			if err != nil {
				return err
			}
			if done {
				if string(buf) != "hello" || st.Source != 0 || st.Tag != 3 || st.Count != 5 {
					return fmt.Errorf("got %q, status %+v", buf, st)
				}
				return nil
			}
			if polls > 1e6 {
				return errors.New("never completed")
			}
			time.Sleep(time.Microsecond)
		}
	})
}

func TestTruncate(t *testing.T) {
	w := newWorld(2)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		if r.Index() == 0 {
			for range 2 {
				if err := r.Send(ctx, []byte("12345678"), 1, 0, mpi.CommWorld); err != nil {
					return err
				}
			}
			return nil
		}
		buf := make([]byte, 4)
		st, err := r.Recv(ctx, buf, 0, 0, mpi.CommWorld)
		if !errors.Is(err, mpi.ErrTruncate) || mpi.ClassOf(err) != mpi.ErrTruncate {
			return fmt.Errorf("Recv: %v, want MPI_ERR_TRUNCATE", err)
		}
		if st.Count != 4 || string(buf) != "1234" || !errors.Is(st.Err, mpi.ErrTruncate) {
			return fmt.Errorf("status %+v, data %q", st, buf)
		}
		q, err := r.Irecv(make([]byte, 7), 0, 0, mpi.CommWorld)
		if err != nil {
			return err
		}
		if _, err := r.Wait(ctx, q); !errors.Is(err, mpi.ErrTruncate) {
			return fmt.Errorf("Wait: %v, want MPI_ERR_TRUNCATE", err)
		}
		return nil
	})
}

func TestProcNull(t *testing.T) {
	w := newWorld(2)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		if err := r.Send(ctx, []byte("x"), mpi.ProcNull, 0, mpi.CommWorld); err != nil {
			return err
		}
		buf := []byte("untouched")
		st, err := r.Recv(ctx, buf, mpi.ProcNull, 4, mpi.CommWorld)
		if err != nil {
			return err
		}
		want := mpi.Status{Source: mpi.ProcNull, Tag: mpi.AnyTag}
		if st != want || string(buf) != "untouched" {
			return fmt.Errorf("status %+v, buffer %q", st, buf)
		}
		st, err = r.Sendrecv(ctx, []byte("x"), mpi.ProcNull, 1, buf, mpi.ProcNull, 1, mpi.CommWorld)
		if err != nil || st != want {
			return fmt.Errorf("Sendrecv: %+v, %v", st, err)
		}
		q, err := r.Irecv(buf, mpi.ProcNull, 0, mpi.CommWorld)
		if err != nil {
			return err
		}
		if st, done, err := r.Test(q); !done || err != nil || st != want {
			return fmt.Errorf("Test: %+v %v %v", st, done, err)
		}
		return nil
	})
}

func TestSendSelfAndSendrecv(t *testing.T) {
	w := newWorld(4)
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		me := r.Index()
		if err := r.Send(ctx, u32(me), me, 9, mpi.CommWorld); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := r.Recv(ctx, buf, me, 9, mpi.CommWorld); err != nil {
			return err
		}
		if err := check("self", getU32(buf), me); err != nil {
			return err
		}
		if _, err := r.Recv(ctx, buf, mpi.ProcNull, 9, mpi.CommSelf); err != nil {
			return err
		}
		// Pairs (0,1) and (2,3) swap with Sendrecv, both at once.
		peer := me ^ 1
		st, err := r.Sendrecv(ctx, u32(me+100), peer, 1, buf, peer, 1, mpi.CommWorld)
		if err != nil {
			return err
		}
		if err := check("swap", getU32(buf), peer+100); err != nil {
			return err
		}
		// Sendrecv to ourselves on MPI_COMM_SELF.
		st, err = r.Sendrecv(ctx, u32(me+200), 0, 2, buf, 0, 2, mpi.CommSelf)
		if err != nil {
			return err
		}
		if err := check("self sendrecv", getU32(buf), me+200); err != nil {
			return err
		}
		return check("self source", st.Source, 0)
	})
}

func TestP2PArgs(t *testing.T) {
	w := newWorld(2)
	r := w.Rank(0)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		err  error
		want mpi.Class
	}{
		{"bad comm", r.Send(ctx, nil, 1, 0, 99), mpi.ErrComm},
		{"null comm", r.Send(ctx, nil, 1, 0, mpi.CommNull), mpi.ErrComm},
		{"dest", r.Send(ctx, nil, 2, 0, mpi.CommWorld), mpi.ErrRank},
		{"dest -3", r.Send(ctx, nil, -3, 0, mpi.CommWorld), mpi.ErrRank},
		{"dest on self", r.Send(ctx, nil, 1, 0, mpi.CommSelf), mpi.ErrRank},
		{"tag", r.Send(ctx, nil, 1, -1, mpi.CommWorld), mpi.ErrTag},
		{"recv source", func() error { _, err := r.Irecv(nil, 2, 0, mpi.CommWorld); return err }(), mpi.ErrRank},
		{"recv tag", func() error { _, err := r.Irecv(nil, 0, -7, mpi.CommWorld); return err }(), mpi.ErrTag},
		{"foreign request", func() error {
			q, _ := w.Rank(1).Irecv(nil, 0, 0, mpi.CommWorld)
			_, err := r.Wait(ctx, q)
			return err
		}(), mpi.ErrRequest},
	} {
		if got := mpi.ClassOf(c.err); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
}

// countingTransport is a Transport of our own: it proves the seam is
// enough to carry every point-to-point message.
type countingTransport struct {
	w *mpi.World
	n atomic.Int64
}

func (c *countingTransport) Send(_ context.Context, env mpi.Envelope, payload []byte) error {
	c.n.Add(1)
	return c.w.Deliver(env, bytes.Clone(payload))
}

func TestTransport(t *testing.T) {
	tr := &countingTransport{}
	w := mpi.NewWorld(3, mpi.Options{Transport: tr})
	tr.w = w
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		me := r.Index()
		buf := make([]byte, 4)
		if _, err := r.Sendrecv(ctx, u32(me), (me+1)%3, 0, buf, (me+2)%3, 0, mpi.CommWorld); err != nil {
			return err
		}
		return check("from the left", getU32(buf), (me+2)%3)
	})
	if got := tr.n.Load(); got != 3 {
		t.Errorf("transport carried %d messages, want 3", got)
	}
	if err := w.Deliver(mpi.Envelope{Dest: 3}, nil); mpi.ClassOf(err) != mpi.ErrRank {
		t.Errorf("Deliver to rank 3: %v", err)
	}
}
