package mpi

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Joined is a moved rank at its mover: the cell to restore, and the "mpi"
// host module that makes its calls at the world's home.
type Joined struct {
	// Cell is the rank's cell as the home offered it (a snapshot).
	Cell []byte
	r    *remoteRank
	h    *host
}

// Join asks a world's home, over conn, for rank's cell offered with token
// (see World.Offer). The caller restores Joined.Cell and then calls Attach
// before running it, or Refuse if it cannot. Join closes conn when ctx
// ends.
func Join(ctx context.Context, conn net.Conn, rank int, token string) (*Joined, error) {
	wc := newWireConn(conn)
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := wc.send(&hello{Version: protocolVersion, Rank: rank, Token: token}); err != nil {
		conn.Close()
		return nil, err
	}
	wl, cell, err := wc.recvWelcome()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if wl.Err != "" {
		conn.Close()
		return nil, fmt.Errorf("mpi: the home refused rank %d: %s", rank, wl.Err)
	}
	rr := &remoteRank{wc: wc, rank: rank, name: wl.Name, wtime: wl.Wtime, since: time.Now(), comms: make(map[Comm][2]int)}
	h, err := movedHost(rr, wl.Table)
	if err != nil {
		conn.Close()
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	rr.closeFn = func() { stop(); conn.Close() }
	return &Joined{Cell: cell, r: rr, h: h}, nil
}

// movedHost rebuilds a moved rank's bindings from the home's table. Their
// receive buffers are bound to the cell's memory at its first MPI call.
func movedHost(rr *remoteRank, t movedTable) (*host, error) {
	h := &host{r: rr, initialized: t.Initialized, finalized: t.Finalized, free: t.Free, unbound: true}
	for _, f := range t.Free {
		if f < 1 || int(f) > len(t.Requests) || t.Requests[f-1].Used {
			return nil, fmt.Errorf("mpi: moved rank's free request handle %d is not a free slot", f)
		}
	}
	for _, mr := range t.Requests {
		if !mr.Used {
			h.reqs = append(h.reqs, nil)
			continue
		}
		q := &Request{home: mr.Home, buf: sliceBuffer(nil)}
		if mr.IsRecv && mr.Len > 0 {
			q.buf = buffer{mem: unboundMemory{}, off: mr.Off, n: mr.Len}
		}
		h.reqs = append(h.reqs, q)
	}
	return h, nil
}

// Attach tells the home that the cell is restored and will run here. Only
// after Attach returns nil may it run: then the rank is this process's.
func (j *Joined) Attach() error {
	wc := j.r.wc
	if err := wc.send(&attach{OK: true}); err != nil {
		return err
	}
	var ack reply
	if err := wc.recv(&ack); err != nil {
		return err
	}
	if err := ack.Err.decode(); err != nil {
		return fmt.Errorf("mpi: attach rank %d: %w", j.r.rank, err)
	}
	if nc, ok := wc.c.(net.Conn); ok {
		nc.SetDeadline(time.Time{})
	}
	return nil
}

// Refuse tells the home the cell could not be restored here, so the home
// may offer it again, and closes the connection.
func (j *Joined) Refuse() {
	j.r.wc.send(&attach{OK: false})
	j.r.close()
}

// Module is the "mpi" host module for the moved cell.
func (j *Joined) Module() engine.HostModule { return j.h.module() }

// Stdout and Stderr are the moved cell's output streams: they write at the
// home, into the job's output.
func (j *Joined) Stdout() io.Writer { return outputTo{j.r, opStdout} }
func (j *Joined) Stderr() io.Writer { return outputTo{j.r, opStderr} }

// Exit reports the cell's end to the home, with its exit code and error,
// and closes the connection.
func (j *Joined) Exit(code int, cellErr error) error {
	defer j.r.close()
	c := &call{Op: opExit, Code: code}
	if cellErr != nil {
		c.Message = cellErr.Error()
	}
	_, err := j.r.wc.roundTrip(c)
	return err
}

// Return sends the cell, stopped here, home (a snapshot, opaque here), where
// the rank resumes, and closes the connection. Once it is sent the cell is
// the home's: the caller must not run it, whatever the error.
func (j *Joined) Return(cell []byte) error {
	defer j.r.close()
	wc := j.r.wc
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if err := wc.sendRaw(&call{Op: opReturn, Code: len(cell)}, cell); err != nil {
		return fmt.Errorf("mpi: return rank %d home: %w", j.r.rank, err)
	}
	var rp reply
	if err := wc.recv(&rp); err != nil {
		return fmt.Errorf("mpi: return rank %d home: %w", j.r.rank, err)
	}
	return nil
}

type outputTo struct {
	r  *remoteRank
	op op
}

func (o outputTo) Write(p []byte) (int, error) {
	if _, err := o.r.call(&call{Op: o.op, Send: p, HasSend: true}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// remoteRank is the endpoint of a moved rank: every call is made at the
// home (Move.do). Only the cell's goroutine calls it.
type remoteRank struct {
	wc      *wireConn
	rank    int
	name    string
	wtime   float64   // the world's MPI_Wtime at since
	since   time.Time // monotonic
	comms   map[Comm][2]int
	closeFn func()
	lost    error // set when the connection broke
}

var _ endpoint = (*remoteRank)(nil)

func (rr *remoteRank) close() {
	if rr.closeFn != nil {
		rr.closeFn()
	}
}

// call makes c at the home. A broken connection ends the rank: every later
// call fails as if its world were down.
func (rr *remoteRank) call(c *call) (*reply, error) {
	if rr.lost != nil {
		return nil, rr.lost
	}
	rp, err := rr.wc.roundTrip(c)
	if err != nil {
		rr.lost = &FailedError{Rank: rr.rank, Err: fmt.Errorf("connection to the world's home lost: %w", err)}
		rr.close()
		return nil, rr.lost
	}
	return rp, rp.Err.decode()
}

func (rr *remoteRank) check() error { return rr.lost }

func (rr *remoteRank) markInit()      { rr.call(&call{Op: opInit}) }
func (rr *remoteRank) markFinalized() { rr.call(&call{Op: opFinalize}) }

func (rr *remoteRank) commInfo(h Comm) (rank, size int, err error) {
	if v, ok := rr.comms[h]; ok {
		return v[0], v[1], nil
	}
	rp, err := rr.call(&call{Op: opCommInfo, Comm: h})
	if err != nil {
		return 0, 0, err
	}
	rr.comms[h] = [2]int{rp.Int, rp.Int2}
	return rp.Int, rp.Int2, nil
}

func (rr *remoteRank) split(ctx context.Context, h Comm, kind collKind, color, key int, bad error) (Comm, error) {
	rp, err := rr.call(&call{Op: opSplit, Comm: h, Kind: kind, Color: color, Key: key, Bad: encodeErr(bad)})
	if err != nil {
		return CommNull, err
	}
	return Comm(rp.Int), nil
}

func (rr *remoteRank) CommFree(h Comm) error {
	delete(rr.comms, h)
	_, err := rr.call(&call{Op: opCommFree, Comm: h})
	return err
}

func (rr *remoteRank) ProcessorName() string { return rr.name }

func (rr *remoteRank) Wtime() float64 { return rr.wtime + time.Since(rr.since).Seconds() }

func (rr *remoteRank) Abort(h Comm, code int) error {
	_, err := rr.call(&call{Op: opAbort, Comm: h, Code: code})
	if err == nil {
		err = &AbortError{Rank: rr.rank, Code: code}
	}
	return err
}

func (rr *remoteRank) Send(ctx context.Context, buf []byte, dest, tag int, h Comm) error {
	_, err := rr.call(&call{Op: opSend, Comm: h, Peer: dest, Tag: tag, Send: buf, HasSend: true})
	return err
}

func (rr *remoteRank) recv(ctx context.Context, buf buffer, source, tag int, h Comm) (Status, error) {
	rp, err := rr.call(&call{Op: opRecv, Comm: h, Peer: source, Tag: tag, RecvLen: buf.n})
	return rr.received(rp, err, &buf)
}

func (rr *remoteRank) sendrecv(ctx context.Context, sendbuf []byte, dest, sendtag int, recvbuf buffer, source, recvtag int, h Comm) (Status, error) {
	rp, err := rr.call(&call{Op: opSendrecv, Comm: h, Peer: dest, Tag: sendtag, Send: sendbuf, HasSend: true,
		Peer2: source, Tag2: recvtag, RecvLen: recvbuf.n})
	return rr.received(rp, err, &recvbuf)
}

// received copies a completed receive's data into buf and returns its
// status.
func (rr *remoteRank) received(rp *reply, err error, buf *buffer) (Status, error) {
	if rp == nil || len(rp.Statuses) != 1 {
		return Status{}, err
	}
	st := rp.Statuses[0].decode()
	if err := copyIn(buf, rp.Data[0]); err != nil && st.Err == nil {
		st.Err = err
	}
	return st, st.Err
}

// copyIn puts received bytes into a receive's buffer at the mover.
func copyIn(buf *buffer, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	b, ok := buf.bytes()
	if !ok || len(data) > len(b) {
		return fmt.Errorf("mpi: %w: receive buffer left linear memory", ErrBuffer)
	}
	copy(b, data)
	return nil
}

func (rr *remoteRank) Isend(ctx context.Context, buf []byte, dest, tag int, h Comm) (*Request, error) {
	rp, err := rr.call(&call{Op: opIsend, Comm: h, Peer: dest, Tag: tag, Send: buf, HasSend: true})
	if err != nil {
		return nil, err
	}
	return &Request{home: int32(rp.Int), buf: sliceBuffer(nil)}, nil
}

func (rr *remoteRank) irecv(buf buffer, source, tag int, h Comm) (*Request, error) {
	rp, err := rr.call(&call{Op: opIrecv, Comm: h, Peer: source, Tag: tag, RecvLen: buf.n, RecvOff: buf.off})
	if err != nil {
		return nil, err
	}
	return &Request{home: int32(rp.Int), buf: buf}, nil
}

func (rr *remoteRank) Wait(ctx context.Context, q *Request) (Status, error) {
	if q == nil {
		return emptyStatus(), nil
	}
	sts, err := rr.complete(opWait, []*Request{q})
	if sts == nil {
		return Status{}, err
	}
	return sts[0], sts[0].Err
}

func (rr *remoteRank) Waitall(ctx context.Context, qs []*Request) ([]Status, error) {
	sts, err := rr.complete(opWaitall, qs)
	if sts == nil {
		return nil, err
	}
	for _, st := range sts {
		if st.Err != nil {
			return sts, st.Err
		}
	}
	return sts, nil
}

func (rr *remoteRank) Test(q *Request) (Status, bool, error) {
	if q == nil {
		return emptyStatus(), true, nil
	}
	sts, err := rr.complete(opTest, []*Request{q})
	if sts == nil {
		return Status{}, false, err
	}
	return sts[0], true, sts[0].Err
}

// complete waits for or tests requests at the home: nil statuses if they
// did not complete.
func (rr *remoteRank) complete(o op, qs []*Request) ([]Status, error) {
	c := &call{Op: o, Handles: make([]int32, len(qs))}
	for i, q := range qs {
		if q != nil {
			c.Handles[i] = q.home
		}
	}
	rp, err := rr.call(c)
	if rp == nil || !rp.Done {
		return nil, err
	}
	if len(rp.Statuses) != len(qs) || len(rp.Data) != len(qs) {
		return nil, fmt.Errorf("mpi: %w: the home answered %d statuses for %d requests", ErrOther, len(rp.Statuses), len(qs))
	}
	sts := make([]Status, len(qs))
	for i, q := range qs {
		sts[i] = rp.Statuses[i].decode()
		if q == nil {
			continue
		}
		if err := copyIn(&q.buf, rp.Data[i]); err != nil && sts[i].Err == nil {
			sts[i].Err = err
		}
	}
	return sts, nil
}

func (rr *remoteRank) Barrier(ctx context.Context, h Comm) error {
	_, err := rr.call(&call{Op: opBarrier, Comm: h})
	return err
}

// collective makes a collective at the home: send goes there, and recv
// both ways when it is an input too (MPI_IN_PLACE, a broadcast's root);
// otherwise only its size goes.
func (rr *remoteRank) collective(c *call, send, recv []byte, recvIsInput bool) error {
	c.HasSend, c.Send = send != nil, send
	c.HasRecv, c.RecvLen = recv != nil, len(recv)
	if recvIsInput {
		c.Recv = recv
	}
	rp, err := rr.call(c)
	if rp != nil && recv != nil && len(rp.Recv) == len(recv) {
		copy(recv, rp.Recv)
	}
	return err
}

func (rr *remoteRank) bcast(ctx context.Context, h Comm, buf []byte, root int, bad error) error {
	rank, _, _ := rr.commInfo(h)
	return rr.collective(&call{Op: opBcast, Comm: h, Peer: root, Bad: encodeErr(bad)}, nil, buf, rank == root)
}

func (rr *remoteRank) reduce(ctx context.Context, h Comm, send, recv []byte, dt Datatype, op Op, root int, bad error) error {
	return rr.collective(&call{Op: opReduce, Comm: h, Peer: root, Type: dt, ReduceOp: op, Bad: encodeErr(bad)}, send, recv, send == nil)
}

func (rr *remoteRank) allreduce(ctx context.Context, h Comm, send, recv []byte, dt Datatype, op Op, bad error) error {
	return rr.collective(&call{Op: opAllreduce, Comm: h, Type: dt, ReduceOp: op, Bad: encodeErr(bad)}, send, recv, send == nil)
}

func (rr *remoteRank) gather(ctx context.Context, h Comm, send, recv []byte, counts, displs []int, root int, bad error) error {
	return rr.collective(&call{Op: opGather, Comm: h, Peer: root, Bad: encodeErr(bad),
		HasCounts: counts != nil, Counts: counts, Displs: displs}, send, recv, send == nil)
}

func (rr *remoteRank) scatter(ctx context.Context, h Comm, send []byte, counts, displs []int, recv []byte, root int, bad error) error {
	return rr.collective(&call{Op: opScatter, Comm: h, Peer: root, Bad: encodeErr(bad),
		HasCounts: counts != nil, Counts: counts, Displs: displs}, send, recv, false)
}

func (rr *remoteRank) allgather(ctx context.Context, h Comm, send, recv []byte, bad error) error {
	return rr.collective(&call{Op: opAllgather, Comm: h, Bad: encodeErr(bad)}, send, recv, send == nil)
}

func (rr *remoteRank) alltoall(ctx context.Context, h Comm, send, recv []byte, bad error) error {
	return rr.collective(&call{Op: opAlltoall, Comm: h, Bad: encodeErr(bad)}, send, recv, send == nil)
}
