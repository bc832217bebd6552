package mpi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// One rank moves; the others keep running. The rank's cell stops at a call
// into the host, its snapshot goes to another process (the mover), and the
// rank's MPI state stays where it was, at the world's home: its place in
// every communicator, the messages queued for it, its posted receives. The
// mover's bindings send each MPI call of the cell to the home, which makes
// it on the rank's behalf (Move.serve) and replies. So no message is in
// flight between two places at the move, nothing is lost or received twice,
// and the other ranks do not know the rank moved. The price is one round
// trip per MPI call of the moved rank, and the home must stay up.

// moveState is where a move is.
type moveState uint8

const (
	moveOffered   moveState = iota // waiting for the mover
	moveTaken                      // a mover has the cell, not yet attached
	moveAttached                   // the rank runs at the mover
	moveAbandoned                  // no mover attached in time: the rank stays
)

// Move is one rank's move out of its world's process, seen from the home.
type Move struct {
	home   *Home
	r      *Rank
	token  string
	cell   []byte
	table  movedTable
	stdout io.Writer
	stderr io.Writer

	mu         sync.Mutex
	state      moveState
	attached   chan struct{} // closed on attach
	attachedAt time.Time
	done       chan struct{} // closed when the moved rank ended or was lost
	exit       MoveExit
}

// MoveExit is how a moved rank ended.
type MoveExit struct {
	// Code is the cell's exit code and Message its error, as the mover
	// reported them.
	Code    int
	Message string
	// Lost is set if the connection to the mover broke before the cell
	// ended: the rank is gone, and its world must fail.
	Lost error
	// Returned, when not nil, is the cell come home: it stopped at the
	// mover to run here again (Move.Return readies the rank for it).
	Returned []byte
}

// Home is where the ranks that moved out of this process's worlds are
// served: it keeps their moves by token and serves their movers'
// connections (Accept). One Home serves every world of a process, so one
// listening socket does.
type Home struct {
	mu    sync.Mutex
	moves map[string]*Move
}

// NewHome makes a Home with no moves.
func NewHome() *Home { return &Home{moves: make(map[string]*Move)} }

// Offer makes rank's stopped cell, cell (its snapshot, opaque here),
// available to the mover that presents the move's Token, and readies the
// rank's MPI state to be served to it. The rank's cell must have stopped
// at a host call and must not run here unless Reattach is called. The
// moved cell's output goes to stdout and stderr.
func (hm *Home) Offer(w *World, rank int, cell []byte, stdout, stderr io.Writer) (*Move, error) {
	if rank < 0 || rank >= len(w.ranks) {
		return nil, fmt.Errorf("mpi: offer rank %d of a world of %d", rank, len(w.ranks))
	}
	r := w.ranks[rank]
	if r.host == nil {
		return nil, fmt.Errorf("mpi: offer rank %d: it has no cell bound", rank)
	}
	w.stopMu.Lock()
	defer w.stopMu.Unlock()
	if w.moved[rank] {
		return nil, fmt.Errorf("mpi: offer rank %d: it has moved already", rank)
	}
	if w.stop.target != 0 {
		return nil, fmt.Errorf("mpi: offer rank %d: the world is stopping as a whole", rank)
	}
	m := &Move{home: hm, r: r, token: strings.ToLower(rand.Text()), cell: cell, stdout: stdout, stderr: stderr,
		attached: make(chan struct{}), done: make(chan struct{})}
	m.table = r.detach()
	if w.moved == nil {
		w.moved = make(map[int]bool)
	}
	w.moved[rank] = true
	hm.mu.Lock()
	hm.moves[m.token] = m
	hm.mu.Unlock()
	return m, nil
}

// AttachedAt is when the mover attached; zero if it has not.
func (m *Move) AttachedAt() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attachedAt
}

// Token is what the mover presents to take the move.
func (m *Move) Token() string { return m.token }

// Moved reports whether a rank of w has moved out (or is being offered):
// the world can then no longer stop as a whole.
func (w *World) Moved() bool {
	w.stopMu.Lock()
	defer w.stopMu.Unlock()
	return len(w.moved) > 0
}

// forget drops the move from its home.
func (m *Move) forget() {
	m.home.mu.Lock()
	delete(m.home.moves, m.token)
	m.home.mu.Unlock()
}

// detach takes the rank's receive buffers out of its cell's memory, which
// is leaving, into Go buffers the home fills and the mover reads, and
// describes the request table for the mover.
func (r *Rank) detach() movedTable {
	h := r.host
	t := movedTable{Initialized: h.initialized, Finalized: h.finalized, Free: append([]int32(nil), h.free...)}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, q := range h.reqs {
		if q == nil {
			t.Requests = append(t.Requests, movedRequest{})
			continue
		}
		mr := movedRequest{Used: true, Home: int32(i + 1)}
		if q.comm != nil {
			mr.IsRecv, mr.Off, mr.Len = true, q.buf.off, q.buf.n
			if q.buf.mem != nil {
				if q.done && q.pending == nil {
					// The data is in the cell's memory already.
					q.buf = buffer{off: q.buf.off, n: q.buf.n}
					q.resident = true
				} else {
					q.buf = buffer{b: make([]byte, q.buf.n), off: q.buf.off, n: q.buf.n}
				}
			}
		}
		t.Requests = append(t.Requests, mr)
	}
	return t
}

// Reattach undoes Offer when no mover attached: the rank's cell resumes in
// this process from the same snapshot, and its receive buffers are in that
// cell's memory again, bound at its first MPI call.
func (m *Move) Reattach() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != moveAbandoned {
		return errors.New("mpi: reattach a move that was not abandoned")
	}
	m.r.rehome()
	return nil
}

// Return readies the rank for its cell come home (MoveExit.Returned): it
// resumes in this process from that snapshot.
func (m *Move) Return() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != moveAttached || m.exit.Returned == nil {
		return errors.New("mpi: return a rank whose cell did not come home")
	}
	m.r.rehome()
	return nil
}

// rehome points the rank's receive buffers back into its cell's memory, a
// fresh one bound at its first MPI call: data held for it in Go buffers
// becomes pending, copied in when it completes the receive; data already in
// the cell's memory stays there. The world may stop as a whole again.
func (r *Rank) rehome() {
	r.mu.Lock()
	for _, q := range r.host.reqs {
		if q == nil || q.comm == nil || q.buf.mem != nil || q.buf.n == 0 {
			continue
		}
		if q.done && !q.resident && q.pending == nil && q.status.Count > 0 {
			q.pending = q.buf.b[:q.status.Count]
		}
		q.buf = buffer{mem: unboundMemory{}, off: q.buf.off, n: q.buf.n}
		q.resident = false
	}
	r.host.unbound = true
	r.mu.Unlock()
	r.w.stopMu.Lock()
	delete(r.w.moved, r.rank)
	r.w.stopMu.Unlock()
}

// WaitAttached waits up to attachWithin for a mover to attach, and reports
// whether one did. If none did (or ctx ended first) the move is abandoned:
// a late mover is refused, and the caller resumes the cell here after
// Reattach.
func (m *Move) WaitAttached(ctx context.Context, attachWithin time.Duration) bool {
	t := time.NewTimer(attachWithin)
	defer t.Stop()
	select {
	case <-m.attached:
	case <-t.C:
	case <-ctx.Done():
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == moveAttached {
		return true
	}
	m.state = moveAbandoned
	m.forget()
	return false
}

// WaitEnd waits for an attached rank to end at its mover.
func (m *Move) WaitEnd(ctx context.Context) MoveExit {
	select {
	case <-m.done:
		return m.exit
	case <-ctx.Done():
		return MoveExit{Lost: ctx.Err()}
	}
}

// maxMovedBuffer bounds a moved rank's receive buffers: 4 GiB, a wasm32
// cell's whole memory.
const maxMovedBuffer = 1 << 32

// Serve accepts movers' connections on ln and serves each (Accept) until
// ctx ends or ln is closed; it closes ln and returns once every connection
// is done. report, if set, hears of each connection that ended in error.
func (hm *Home) Serve(ctx context.Context, ln net.Listener, report func(net.Conn, error)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.Accept()
		if err != nil {
			ln.Close()
			return
		}
		wg.Go(func() {
			if err := hm.Accept(ctx, conn); err != nil && report != nil {
				report(conn, err)
			}
		})
	}
}

// handshakeTimeout bounds each step of a mover's hello and attach.
const handshakeTimeout = 30 * time.Second

// Accept serves one mover's connection: the handshake, then the moved
// rank's calls until it ends or the connection breaks. It closes conn.
func (hm *Home) Accept(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	wc := newWireConn(conn)
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	var hi hello
	if err := wc.recv(&hi); err != nil {
		return err
	}
	m, err := hm.take(hi)
	if err != nil {
		wc.sendWelcome(&welcome{Err: err.Error()}, nil)
		return err
	}
	if err := m.handshake(wc); err != nil {
		m.release()
		return err
	}
	conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	m.finish(m.serve(ctx, wc))
	return nil
}

// take finds the move a hello asks for and marks it taken.
func (hm *Home) take(hi hello) (*Move, error) {
	if hi.Version != protocolVersion {
		return nil, fmt.Errorf("mpi: mover speaks protocol %d, the home %d", hi.Version, protocolVersion)
	}
	hm.mu.Lock()
	m := hm.moves[hi.Token]
	hm.mu.Unlock()
	if m == nil || m.r.rank != hi.Rank {
		return nil, fmt.Errorf("mpi: no move of rank %d with that token", hi.Rank)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != moveOffered {
		return nil, fmt.Errorf("mpi: the move of rank %d is taken or over", hi.Rank)
	}
	m.state = moveTaken
	return m, nil
}

// release makes a move offered again after a mover dropped out before
// attaching, so that another may take it.
func (m *Move) release() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == moveTaken {
		m.state = moveOffered
	}
}

// handshake sends the cell and waits for the mover to attach. The move
// commits when the home acknowledges the attach, unless WaitAttached gave
// up first.
func (m *Move) handshake(wc *wireConn) error {
	err := wc.sendWelcome(&welcome{Table: m.table, Wtime: m.r.Wtime(), Name: m.r.ProcessorName()}, m.cell)
	if err != nil {
		return err
	}
	var at attach
	if err := wc.recv(&at); err != nil {
		return err
	}
	if !at.OK {
		return fmt.Errorf("mpi: the mover of rank %d could not restore the cell", m.r.rank)
	}
	m.mu.Lock()
	if m.state != moveTaken {
		m.mu.Unlock()
		wc.send(&reply{Err: &wireErr{Kind: errFailed, Rank: m.r.rank, Msg: "the move was abandoned: the rank resumed at its home"}})
		return errors.New("mpi: a mover attached after the move was abandoned")
	}
	m.state = moveAttached
	m.attachedAt = time.Now()
	close(m.attached)
	m.mu.Unlock()
	// From here the rank is the mover's, even if this ack is lost (serve
	// then sees the broken connection and reports the rank lost): a cell
	// that runs nowhere fails its world, one that ran twice would corrupt it.
	wc.send(&reply{})
	return nil
}

func (m *Move) finish(exit MoveExit) {
	m.forget()
	m.exit = exit
	close(m.done)
}

// serve makes the moved rank's calls until it reports its end.
func (m *Move) serve(ctx context.Context, wc *wireConn) MoveExit {
	for {
		var c call
		if err := wc.recv(&c); err != nil {
			return MoveExit{Lost: fmt.Errorf("mpi: connection to rank %d lost: %w", m.r.rank, err)}
		}
		switch c.Op {
		case opExit:
			wc.send(&reply{})
			return MoveExit{Code: c.Code, Message: c.Message}
		case opReturn:
			cell, err := wc.readCell(int64(c.Code))
			if err != nil {
				return MoveExit{Lost: fmt.Errorf("mpi: rank %d coming home: %w", m.r.rank, err)}
			}
			// The home has the whole cell: it is the home's now, even if
			// this reply is lost (the mover keeps no copy to run).
			wc.send(&reply{})
			return MoveExit{Returned: cell}
		}
		rp := m.do(ctx, &c)
		if err := wc.send(rp); err != nil {
			return MoveExit{Lost: fmt.Errorf("mpi: connection to rank %d lost: %w", m.r.rank, err)}
		}
	}
}

// do makes one call of the moved rank here.
func (m *Move) do(ctx context.Context, c *call) *reply {
	r, h := m.r, m.r.host
	switch c.Op {
	case opStdout:
		m.stdout.Write(c.Send)
		return &reply{}
	case opStderr:
		m.stderr.Write(c.Send)
		return &reply{}
	}
	if err := r.check(); err != nil {
		return &reply{Err: encodeErr(err)}
	}
	if c.RecvLen < 0 || c.RecvLen > maxMovedBuffer {
		return &reply{Err: encodeErr(fmt.Errorf("mpi: %w: a %d-byte receive buffer", ErrCount, c.RecvLen))}
	}
	bad := c.Bad.decode()
	rp := &reply{}
	var err error
	switch c.Op {
	case opInit:
		h.initialized = true
		r.markInit()
	case opFinalize:
		h.finalized = true
		r.markFinalized()
	case opCommInfo:
		rp.Int, rp.Int2, err = r.commInfo(c.Comm)
	case opSplit:
		var nc Comm
		nc, err = r.split(ctx, c.Comm, c.Kind, c.Color, c.Key, bad)
		rp.Int = int(nc)
	case opCommFree:
		err = r.CommFree(c.Comm)
	case opAbort:
		err = r.Abort(c.Comm, c.Code)
	case opSend:
		err = r.Send(ctx, c.Send, c.Peer, c.Tag, c.Comm)
	case opRecv:
		buf := make([]byte, c.RecvLen)
		var st Status
		st, err = r.recv(ctx, sliceBuffer(buf), c.Peer, c.Tag, c.Comm)
		rp.received(st, err, buf)
	case opSendrecv:
		buf := make([]byte, c.RecvLen)
		var st Status
		st, err = r.sendrecv(ctx, c.Send, c.Peer, c.Tag, sliceBuffer(buf), c.Peer2, c.Tag2, c.Comm)
		rp.received(st, err, buf)
	case opIsend:
		var q *Request
		if q, err = r.Isend(ctx, c.Send, c.Peer, c.Tag, c.Comm); err == nil {
			rp.Int = int(h.addReq(q))
		}
	case opIrecv:
		var q *Request
		buf := buffer{b: make([]byte, c.RecvLen), off: c.RecvOff, n: c.RecvLen}
		if q, err = r.irecv(buf, c.Peer, c.Tag, c.Comm); err == nil {
			rp.Int = int(h.addReq(q))
		}
	case opWait, opWaitall, opTest:
		err = m.complete(ctx, c, rp)
	default:
		err = m.collective(ctx, c, bad, rp)
	}
	if err != nil && rp.Err == nil && len(rp.Statuses) == 0 {
		rp.Err = encodeErr(err)
	}
	return rp
}

// received fills the reply of a blocking receive: its status, if it
// completed, and the bytes received.
func (rp *reply) received(st Status, err error, buf []byte) {
	if !completed(st, err) {
		rp.Err = encodeErr(err)
		return
	}
	rp.Statuses = []wireStatus{encodeStatus(st)}
	rp.Data = [][]byte{buf[:st.Count]}
}

// complete answers MPI_Wait, MPI_Waitall and MPI_Test on handles of the
// home's request table.
func (m *Move) complete(ctx context.Context, c *call, rp *reply) error {
	r, h := m.r, m.r.host
	qs := make([]*Request, len(c.Handles))
	for i, hd := range c.Handles {
		q, err := h.req(int(hd))
		if err != nil {
			return err
		}
		qs[i] = q
	}
	var sts []Status
	var err error
	switch c.Op {
	case opWait:
		if len(qs) != 1 {
			return fmt.Errorf("mpi: %w: wait for %d requests", ErrRequest, len(qs))
		}
		var st Status
		st, err = r.Wait(ctx, qs[0])
		if completed(st, err) {
			sts = []Status{st}
		}
	case opWaitall:
		sts, err = r.Waitall(ctx, qs)
	case opTest:
		if len(qs) != 1 {
			return fmt.Errorf("mpi: %w: test %d requests", ErrRequest, len(qs))
		}
		var st Status
		st, rp.Done, err = r.Test(qs[0])
		if !rp.Done {
			return err
		}
		sts = []Status{st}
	}
	if sts == nil {
		return err
	}
	rp.Done = true
	for i, q := range qs {
		h.freeReq(int(c.Handles[i]))
		rp.Statuses = append(rp.Statuses, encodeStatus(sts[i]))
		var data []byte
		if q != nil && q.comm != nil && !q.resident {
			data = q.buf.b[:sts[i].Count]
		}
		rp.Data = append(rp.Data, data)
	}
	return nil
}

// collective makes a collective call; its receive buffer travels back.
func (m *Move) collective(ctx context.Context, c *call, bad error, rp *reply) error {
	r := m.r
	send := c.Send
	if c.HasSend && send == nil {
		send = []byte{}
	}
	if !c.HasSend {
		send = nil
	}
	var recv []byte
	if c.HasRecv {
		recv = c.Recv
		if recv == nil || len(recv) < c.RecvLen {
			recv = make([]byte, c.RecvLen)
		}
	}
	var counts, displs []int
	if c.HasCounts {
		counts, displs = append([]int{}, c.Counts...), c.Displs
	}
	var err error
	switch c.Op {
	case opBarrier:
		err = r.Barrier(ctx, c.Comm)
	case opBcast:
		err = r.bcast(ctx, c.Comm, recv, c.Peer, bad)
	case opReduce:
		err = r.reduce(ctx, c.Comm, send, recv, c.Type, c.ReduceOp, c.Peer, bad)
	case opAllreduce:
		err = r.allreduce(ctx, c.Comm, send, recv, c.Type, c.ReduceOp, bad)
	case opGather:
		err = r.gather(ctx, c.Comm, send, recv, counts, displs, c.Peer, bad)
	case opScatter:
		err = r.scatter(ctx, c.Comm, send, counts, displs, recv, c.Peer, bad)
	case opAllgather:
		err = r.allgather(ctx, c.Comm, send, recv, bad)
	case opAlltoall:
		err = r.alltoall(ctx, c.Comm, send, recv, bad)
	default:
		return fmt.Errorf("mpi: %w: unknown call %d from a moved rank", ErrOther, c.Op)
	}
	rp.Recv = recv
	return err
}
