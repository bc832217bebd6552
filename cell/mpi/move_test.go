package mpi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
	"github.com/cloudskin/cloudskin/cell/mpi"
)

// moduleCell is a cell on a host module that is not a local rank's.
func moduleCell(mod engine.HostModule, mem engine.Memory) *cell {
	c := &cell{mem: mem, fns: map[string]engine.HostFunc{}}
	for _, f := range mod.Funcs {
		c.fns[f.Name] = f
	}
	return c
}

// home listens on loopback and serves movers of hm until the test ends.
func home(t *testing.T, ctx context.Context, hm *mpi.Home) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { hm.Serve(ctx, ln, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func join(ctx context.Context, addr string, rank int, token string) (*mpi.Joined, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return mpi.Join(ctx, conn, rank, token)
}

func i32s(vs ...int) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(v)))
	}
	return b
}

// syncBuffer is a bytes.Buffer safe for the home's writers and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Rank 2 of three moves to another "process" (a new memory, its calls over
// TCP) while ranks 0 and 1 keep running. Receives it posted before the
// move complete after it, whether their message came before the move (and
// is in its memory already, or held for it) or after; a message queued for
// it while it moved is received once; collectives and sends go on.
func TestMoveOneRank(t *testing.T) {
	noLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(3)
	hm := mpi.NewHome()
	addr := home(t, ctx, hm)
	var out syncBuffer
	c2 := newCell(w.Rank(2), make(fakeMem, 1<<16))
	step := make([]chan struct{}, 5)
	for i := range step {
		step[i] = make(chan struct{})
	}
	var moved *mpi.Move

	rank2 := func() error {
		if got := c2.code(ctx, "MPI_Init", 0, 0); got != mpi.Success {
			return fmt.Errorf("MPI_Init: %v", got)
		}
		<-step[0] // rank 1's tag 3 is queued here
		if got := c2.code(ctx, "MPI_Irecv", 3000, 1, tInt, 1, 3, world, 108); got != mpi.Success {
			return fmt.Errorf("MPI_Irecv tag 3: %v", got)
		}
		if got := c2.code(ctx, "MPI_Irecv", 1000, 1, tInt, 0, 1, world, 100); got != mpi.Success {
			return fmt.Errorf("MPI_Irecv tag 1: %v", got)
		}
		if got := c2.code(ctx, "MPI_Irecv", 4000, 1, tInt, 1, 4, world, 104); got != mpi.Success {
			return fmt.Errorf("MPI_Irecv tag 4: %v", got)
		}
		close(step[1])
		<-step[2] // rank 1's tag 4 arrived while the cell "ran"

		// The cell stops; its memory travels in its snapshot.
		mem := append(fakeMem(nil), c2.mem.(fakeMem)...)
		var err error
		moved, err = hm.Offer(w, 2, []byte("the cell"), &out, &out)
		if err != nil {
			return err
		}
		close(step[3]) // ranks 0 and 1 send to the moving rank
		if _, err := join(ctx, addr, 2, "wrong"); err == nil {
			return errors.New("a mover with the wrong token was let in")
		}
		j, err := join(ctx, addr, 2, moved.Token())
		if err != nil {
			return err
		}
		if string(j.Cell) != "the cell" {
			return fmt.Errorf("the mover got cell %q", j.Cell)
		}
		if err := j.Attach(); err != nil {
			return err
		}
		c := moduleCell(j.Module(), mem)
		for _, want := range []struct{ req, at, v int }{{100, 1000, 11}, {104, 4000, 44}, {108, 3000, 33}} {
			if got := c.code(ctx, "MPI_Wait", want.req, 500); got != mpi.Success {
				return fmt.Errorf("MPI_Wait %d: %v", want.req, got)
			}
			if c.i32(want.at) != want.v || c.i32(want.req) != 0 || c.status(500)[3] != 4 {
				return fmt.Errorf("request %d: got %d, handle %d, status %v; want %d", want.req, c.i32(want.at), c.i32(want.req), c.status(500), want.v)
			}
		}
		if got := c.code(ctx, "MPI_Recv", 2000, 1, tInt, 1, 2, world, 500); got != mpi.Success || c.i32(2000) != 22 {
			return fmt.Errorf("MPI_Recv tag 2: %v, %d", got, c.i32(2000))
		}
		c.put(5000, 2)
		if got := c.code(ctx, "MPI_Allreduce", 5000, 5100, 1, tInt, opSum, world); got != mpi.Success || c.i32(5100) != 3 {
			return fmt.Errorf("MPI_Allreduce: %v, %d", got, c.i32(5100))
		}
		c.put(6000, 99)
		if got := c.code(ctx, "MPI_Send", 6000, 1, tInt, 0, 9, world); got != mpi.Success {
			return fmt.Errorf("MPI_Send: %v", got)
		}
		if got := c.code(ctx, "MPI_Comm_rank", world, 7000); got != mpi.Success || c.i32(7000) != 2 {
			return fmt.Errorf("MPI_Comm_rank: %v, %d", got, c.i32(7000))
		}
		fmt.Fprint(j.Stdout(), "hello from the mover\n")
		if got := c.code(ctx, "MPI_Barrier", world); got != mpi.Success {
			return fmt.Errorf("MPI_Barrier: %v", got)
		}
		if got := c.code(ctx, "MPI_Finalize"); got != mpi.Success {
			return fmt.Errorf("MPI_Finalize: %v", got)
		}
		return j.Exit(0, nil)
	}

	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		buf := make([]byte, 4)
		switch r.Index() {
		case 0:
			<-step[3]
			if err := r.Send(ctx, i32s(11), 2, 1, mpi.CommWorld); err != nil {
				return err
			}
			if err := r.Allreduce(ctx, i32s(0), buf, mpi.Int, mpi.Sum, mpi.CommWorld); err != nil {
				return err
			}
			if _, err := r.Recv(ctx, buf, 2, 9, mpi.CommWorld); err != nil || !bytes.Equal(buf, i32s(99)) {
				return fmt.Errorf("receive from the moved rank: %v, %v", err, buf)
			}
			return r.Barrier(ctx, mpi.CommWorld)
		case 1:
			if err := r.Send(ctx, i32s(33), 2, 3, mpi.CommWorld); err != nil {
				return err
			}
			close(step[0])
			<-step[1]
			if err := r.Send(ctx, i32s(44), 2, 4, mpi.CommWorld); err != nil {
				return err
			}
			close(step[2])
			<-step[3]
			if err := r.Send(ctx, i32s(22), 2, 2, mpi.CommWorld); err != nil {
				return err
			}
			if err := r.Allreduce(ctx, i32s(1), buf, mpi.Int, mpi.Sum, mpi.CommWorld); err != nil {
				return err
			}
			return r.Barrier(ctx, mpi.CommWorld)
		default:
			if err := rank2(); err != nil {
				return err
			}
			if !moved.WaitAttached(ctx, time.Second) {
				return errors.New("the mover did not attach")
			}
			if exit := moved.WaitEnd(ctx); exit.Code != 0 || exit.Lost != nil {
				return fmt.Errorf("move: exit %+v", exit)
			}
			return nil
		}
	})
	if !strings.Contains(out.String(), "hello from the mover") {
		t.Errorf("the home got output %q", out.String())
	}
	if w.Rank(2).Unfinished() {
		t.Error("the moved rank's MPI_Finalize did not reach the home")
	}
}

// A move nobody attaches to in time is abandoned: the rank resumes where
// it was, data that arrived meanwhile lands in its new memory, and a late
// mover is refused, so the cell never runs twice.
func TestMoveAbandoned(t *testing.T) {
	noLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(2)
	hm := mpi.NewHome()
	addr := home(t, ctx, hm)
	c1 := newCell(w.Rank(1), make(fakeMem, 1<<16))
	offered := make(chan struct{})
	run(t, w, func(ctx context.Context, r *mpi.Rank) error {
		if r.Index() == 0 {
			<-offered
			return r.Send(ctx, i32s(7), 1, 1, mpi.CommWorld)
		}
		if got := c1.code(ctx, "MPI_Init", 0, 0); got != mpi.Success {
			return fmt.Errorf("MPI_Init: %v", got)
		}
		if got := c1.code(ctx, "MPI_Irecv", 1000, 1, tInt, 0, 1, world, 100); got != mpi.Success {
			return fmt.Errorf("MPI_Irecv: %v", got)
		}
		mem := append(fakeMem(nil), c1.mem.(fakeMem)...)
		m, err := hm.Offer(w, 1, []byte("cell"), &syncBuffer{}, &syncBuffer{})
		if err != nil {
			return err
		}
		close(offered)
		if m.WaitAttached(ctx, 50*time.Millisecond) {
			return errors.New("a move nobody joined was attached")
		}
		if _, err := join(ctx, addr, 1, m.Token()); err == nil {
			return errors.New("a late mover was let in")
		}
		if err := m.Reattach(); err != nil {
			return err
		}
		c := newCell(r, mem)
		if got := c.code(ctx, "MPI_Wait", 100, 500); got != mpi.Success || c.i32(1000) != 7 {
			return fmt.Errorf("MPI_Wait after the abandoned move: %v, %d", got, c.i32(1000))
		}
		return nil
	})
}

// A mover that dies after attaching loses the rank: the home reports it
// lost, and failing the world releases the ranks waiting for it.
func TestMoveLost(t *testing.T) {
	noLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWorld(2)
	hm := mpi.NewHome()
	addr := home(t, ctx, hm)
	c1 := newCell(w.Rank(1), make(fakeMem, 1<<16))
	if got := c1.code(ctx, "MPI_Init", 0, 0); got != mpi.Success {
		t.Fatal(got)
	}
	m, err := hm.Offer(w, 1, nil, &syncBuffer{}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	moverCtx, die := context.WithCancel(ctx)
	j, err := join(moverCtx, addr, 1, m.Token())
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Attach(); err != nil {
		t.Fatal(err)
	}
	recvErr := make(chan error, 1)
	go func() {
		_, err := w.Rank(0).Recv(ctx, make([]byte, 4), 1, 0, mpi.CommWorld)
		recvErr <- err
	}()
	die() // the mover's process ends
	if !m.WaitAttached(ctx, time.Second) {
		t.Fatal("the mover did not attach")
	}
	exit := m.WaitEnd(ctx)
	if exit.Lost == nil {
		t.Fatalf("move: exit %+v; want the rank lost", exit)
	}
	w.Fail(1, exit.Lost)
	var failed *mpi.FailedError
	if err := <-recvErr; !errors.As(err, &failed) || failed.Rank != 1 {
		t.Fatalf("rank 0's receive from the lost rank: %v", err)
	}
}
