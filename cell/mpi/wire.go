package mpi

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"sync"
)

// The protocol between a moved rank and its world's home
// (docs/formats/mpi-remote.md): a stream of gob-encoded messages each way
// on one connection, strictly request and reply. gob, from the standard
// library, is made for exactly this (Go values between Go programs, types
// described once per stream); what is ours is which values travel.
//
// The mover dials the home and sends a hello naming the rank and the move's
// token; the home answers with a welcome carrying the cell (its snapshot,
// opaque here), the rank's request table and the world's clock. The mover
// restores the cell and sends attach; from the home's ack on, the rank
// runs at the mover, and each of its MPI calls is one call and one reply.
// The cell's output travels as calls too, so the job's output stays whole
// at the home, and the rank's end is a last call.

// protocolVersion is in every hello; a home refuses another.
const protocolVersion = 1

type hello struct {
	Version int
	Rank    int
	Token   string
}

type welcome struct {
	Err string // non-empty: refused, and why
	// CellLen is the length of the cell's bytes, which follow the welcome
	// on the connection as they are: gob reads a large byte slice in
	// small growing steps (a 512 MiB cell took 7 s).
	CellLen int64
	Table   movedTable
	Wtime   float64 // the world's MPI_Wtime when sent
	Name    string  // MPI_Get_processor_name
}

// movedTable is what the moved rank's bindings keep: its MPI_Init and
// MPI_Finalize flags and its request handles, each naming the home's
// request and, for a receive, where its buffer is in the cell's memory.
type movedTable struct {
	Initialized, Finalized bool
	Requests               []movedRequest // handle h is Requests[h-1]
	Free                   []int32
}

type movedRequest struct {
	Used   bool // false: a free slot
	Home   int32
	Off    uint32
	Len    int
	IsRecv bool
}

type attach struct{ OK bool }

// op names a call.
type op uint8

const (
	opInit op = iota + 1
	opFinalize
	opCommInfo
	opSplit
	opCommFree
	opAbort
	opSend
	opRecv
	opSendrecv
	opIsend
	opIrecv
	opWait
	opWaitall
	opTest
	opBarrier
	opBcast
	opReduce
	opAllreduce
	opGather
	opScatter
	opAllgather
	opAlltoall
	opStdout
	opStderr
	opExit
	opReturn // the cell stopped to go home: Code raw bytes of it follow
)

// call is one call of the moved rank. Fields a call does not use are zero
// (gob sends nothing for them). Nil and empty byte slices mean different
// things to MPI (nil is MPI_IN_PLACE), and gob does not tell them apart,
// so the Has fields do.
type call struct {
	Op        op
	Comm      Comm
	Peer      int // dest, source or root
	Tag       int
	Peer2     int // Sendrecv's source
	Tag2      int
	Kind      collKind
	Color     int
	Key       int
	Type      Datatype
	ReduceOp  Op
	Code      int // MPI_Abort's, or the exit code
	Handles   []int32
	HasCounts bool
	Counts    []int
	Displs    []int
	HasSend   bool
	Send      []byte
	HasRecv   bool
	Recv      []byte
	RecvLen   int // a receive's buffer size
	RecvOff   uint32
	Bad       *wireErr
	Message   string // an exit's error
}

type reply struct {
	Err      *wireErr
	Int      int
	Int2     int
	Done     bool
	Statuses []wireStatus
	Data     [][]byte // per status: received bytes that are not at the mover yet
	Recv     []byte   // a collective's receive buffer
}

type wireStatus struct {
	Source, Tag, Count int
	Err                *wireErr
}

// wireErr is an error that crosses: its kind and what MPI needs of it.
type wireErr struct {
	Kind  errKind
	Class Class
	Msg   string
	Rank  int
	Code  int
}

type errKind uint8

const (
	errClass  errKind = iota + 1 // an error code for the guest
	errFailed                    // *FailedError: the world is down
	errAbort                     // *AbortError
)

func encodeErr(err error) *wireErr {
	if err == nil {
		return nil
	}
	var abort *AbortError
	if errors.As(err, &abort) {
		return &wireErr{Kind: errAbort, Rank: abort.Rank, Code: abort.Code, Msg: err.Error()}
	}
	var failed *FailedError
	if errors.As(err, &failed) {
		return &wireErr{Kind: errFailed, Rank: failed.Rank, Msg: failed.Err.Error()}
	}
	var c Class
	if errors.As(err, &c) {
		return &wireErr{Kind: errClass, Class: c, Msg: err.Error()}
	}
	// Anything else at the home (a cancelled context) ends the world.
	return &wireErr{Kind: errFailed, Rank: -1, Msg: err.Error()}
}

func (e *wireErr) decode() error {
	if e == nil {
		return nil
	}
	switch e.Kind {
	case errAbort:
		return &AbortError{Rank: e.Rank, Code: e.Code}
	case errClass:
		return &classError{class: e.Class, msg: e.Msg}
	default:
		return &FailedError{Rank: e.Rank, Err: errors.New(e.Msg)}
	}
}

func encodeStatus(st Status) wireStatus {
	return wireStatus{Source: st.Source, Tag: st.Tag, Count: st.Count, Err: encodeErr(st.Err)}
}

func (s wireStatus) decode() Status {
	return Status{Source: s.Source, Tag: s.Tag, Count: s.Count, Err: s.Err.decode()}
}

// wireConn is one end of the protocol: a buffered gob stream each way.
// Calls and replies alternate, so one lock serves both directions.
type wireConn struct {
	mu  sync.Mutex
	c   io.ReadWriteCloser
	w   *bufio.Writer
	r   *bufio.Reader // gob reads through it exactly one message at a time
	enc *gob.Encoder
	dec *gob.Decoder
}

func newWireConn(c io.ReadWriteCloser) *wireConn {
	w, r := bufio.NewWriterSize(c, 64<<10), bufio.NewReaderSize(c, 64<<10)
	return &wireConn{c: c, w: w, r: r, enc: gob.NewEncoder(w), dec: gob.NewDecoder(r)}
}

// maxCell bounds the cell bytes a mover accepts: a 4 GiB memory and
// change.
const maxCell = 5 << 30

// sendWelcome sends a welcome and the cell's bytes after it.
func (wc *wireConn) sendWelcome(wl *welcome, cell []byte) error {
	wl.CellLen = int64(len(cell))
	return wc.sendRaw(wl, cell)
}

// readCell reads n raw bytes of a cell that follow a message.
func (wc *wireConn) readCell(n int64) ([]byte, error) {
	if n < 0 || n > maxCell {
		return nil, fmt.Errorf("mpi: a cell of %d bytes", n)
	}
	cell := make([]byte, n)
	if _, err := io.ReadFull(wc.r, cell); err != nil {
		return nil, fmt.Errorf("mpi: receive the cell: %w", err)
	}
	return cell, nil
}

// recvWelcome receives a welcome and the cell's bytes after it.
func (wc *wireConn) recvWelcome() (*welcome, []byte, error) {
	var wl welcome
	if err := wc.recv(&wl); err != nil {
		return nil, nil, err
	}
	cell, err := wc.readCell(wl.CellLen)
	if err != nil {
		return nil, nil, err
	}
	return &wl, cell, nil
}

func (wc *wireConn) send(v any) error { return wc.sendRaw(v, nil) }

// sendRaw sends v and then raw, as they are: a cell's bytes after the
// message that gives their length (readCell reads them).
func (wc *wireConn) sendRaw(v any, raw []byte) error {
	if err := wc.enc.Encode(v); err != nil {
		return fmt.Errorf("mpi: send %T: %w", v, err)
	}
	if _, err := wc.w.Write(raw); err != nil {
		return fmt.Errorf("mpi: send %T: %w", v, err)
	}
	if err := wc.w.Flush(); err != nil {
		return fmt.Errorf("mpi: send %T: %w", v, err)
	}
	return nil
}

func (wc *wireConn) recv(v any) error {
	if err := wc.dec.Decode(v); err != nil {
		return fmt.Errorf("mpi: receive %T: %w", v, err)
	}
	return nil
}

// roundTrip sends c and waits for its reply.
func (wc *wireConn) roundTrip(c *call) (*reply, error) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if err := wc.send(c); err != nil {
		return nil, err
	}
	var rp reply
	if err := wc.recv(&rp); err != nil {
		return nil, err
	}
	return &rp, nil
}
