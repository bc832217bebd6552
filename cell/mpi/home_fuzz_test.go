package mpi

import (
	"bytes"
	"context"
	"encoding/gob"
	"io"
	"testing"
	"time"
)

// FuzzMovedRankCall feeds the home arbitrary calls of a moved rank, as a
// broken or hostile mover could send them: the home answers each (an error
// code, a failed world) and never panics; a call that would block (a
// receive nobody sends to) ends with the context.
func FuzzMovedRankCall(f *testing.F) {
	f.Add(uint8(opSend), int32(1), 0, 0, []byte("x"), true, 0, uint32(0), []byte{}, []byte{}, uint8(0), uint8(0))
	f.Add(uint8(opIrecv), int32(1), 0, 0, []byte{}, false, 8, uint32(64), []byte{}, []byte{}, uint8(0), uint8(0))
	f.Add(uint8(opWait), int32(1), 0, 0, []byte{}, false, 0, uint32(0), []byte{1}, []byte{}, uint8(0), uint8(0))
	f.Add(uint8(opAllreduce), int32(1), 0, 0, []byte{1, 0, 0, 0}, true, 4, uint32(0), []byte{}, []byte{}, uint8(Int), uint8(Sum))
	f.Add(uint8(opGather), int32(1), 0, 0, []byte{1, 2}, true, 2, uint32(0), []byte{}, []byte{2, 0}, uint8(0), uint8(0))
	f.Add(uint8(opSplit), int32(1), 1, 0, []byte{}, false, 0, uint32(0), []byte{}, []byte{}, uint8(kSplit), uint8(0))
	f.Add(uint8(opRecv), int32(1), 0, 0, []byte{}, false, -1, uint32(0), []byte{}, []byte{}, uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, o uint8, comm int32, peer, tag int, send []byte, hasSend bool, recvLen int, recvOff uint32,
		handles, counts []byte, typ, reduceOp uint8) {
		if recvLen > 1<<20 {
			recvLen = 1 << 20 // the home's own bound is 4 GiB; keep the fuzzer's memory small
		}
		w := NewWorld(1, Options{ProcessorName: "fuzz"})
		w.Rank(0).Module()
		m, err := NewHome().Offer(w, 0, nil, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c := &call{Op: op(o), Comm: Comm(comm), Peer: peer, Tag: tag, Peer2: peer, Tag2: tag,
			Kind: collKind(typ), Color: peer, Key: tag, Type: Datatype(typ), ReduceOp: Op(reduceOp),
			HasSend: hasSend, Send: send, HasRecv: recvLen >= 0, RecvLen: recvLen, RecvOff: recvOff,
			HasCounts: len(counts) > 0}
		for _, h := range handles {
			c.Handles = append(c.Handles, int32(int8(h)))
		}
		for _, n := range counts {
			c.Counts = append(c.Counts, int(int8(n)))
			c.Displs = append(c.Displs, int(n%4))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		if c.Op == opExit {
			return // ends the session; nothing to make
		}
		rp := m.do(ctx, c)
		if err := gob.NewEncoder(&bytes.Buffer{}).Encode(rp); err != nil {
			t.Fatalf("the reply cannot be sent: %v", err)
		}
	})
}
