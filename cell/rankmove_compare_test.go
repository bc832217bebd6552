package cell_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/mpi"
)

// TestCompareRankMove measures, for `make bench`, what moving one rank of
// a running MPI world costs: the rank's downtime (from its stop to the
// mover's attach: capture, transfer over loopback TCP, restore) with 1,
// 64 and 512 MiB of touched heap, against sending the same bytes once
// over loopback TCP; and the round trip of an 8-byte ping-pong once one
// side moved (each of its MPI calls is a round trip to the world's home)
// against both ranks in one process; and the downtime of bringing the
// rank home again (from the request, made at the attach, to the home
// holding the decoded cell: the stop at the next host call, capture,
// transfer back; the home's restore comes after), against the same
// floor. It runs only when CLOUDSKIN_COMPARE_OUT is set.
func TestCompareRankMove(t *testing.T) {
	f := compareOutput(t)
	wasm := migratableModule(t, "testdata/rankmove.c") // toolchain.Find supplies mpi.h
	const command = "CLOUDSKIN_COMPARE_OUT=… go test -run TestCompareRankMove ./cell"
	for _, e := range engines {
		rt := cell.NewRuntime(cell.Options{CacheDir: t.TempDir()})
		p, err := rt.Load(context.Background(), wasm, e)
		if err != nil {
			t.Fatal(err)
		}
		var local, moved []float64
		for range 3 {
			local = append(local, pingPong(t, p, false))
			moved = append(moved, pingPong(t, p, true))
		}
		fmt.Fprintf(f, "MPI pingpong-8B round trip, 2 ranks, rank 1 moved to another process over loopback TCP (%s)\t%s\t%s\t%.2f µs\t%.2f µs\n",
			e, command, "both ranks in one process", median(moved), median(local))
		for _, mib := range []int{1, 64, 512} {
			var downs, backs, floors []float64
			var size, backSize int
			for range map[bool]int{true: 1, false: 3}[mib == 512] {
				res := rankMoveDowntime(t, p, mib)
				downs, backs, size, backSize = append(downs, float64(res.Downtime)), append(backs, float64(res.back)), res.bytes, res.backBytes
				floors = append(floors, float64(tcpCopyTime(t, size)))
			}
			fmt.Fprintf(f, "one MPI rank moved over loopback TCP while the other runs, %d MiB touched (%s); %d bytes moved\t%s\t%s\t%s\t%s\n",
				mib, e, size, command, "sending the same bytes once over loopback TCP", ms(time.Duration(median(downs))), ms(time.Duration(median(floors))))
			fmt.Fprintf(f, "the same rank brought home again, from the request to the home holding the decoded cell, %d MiB touched (%s); %d bytes moved\t%s\t%s\t%s\t%s\n",
				mib, e, backSize, command, "sending the same bytes once over loopback TCP", ms(time.Duration(median(backs))), ms(time.Duration(median(floors))))
		}
		p.Close(context.Background())
		rt.Close(context.Background())
	}
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

var rttLine = regexp.MustCompile(`rtt ([0-9.]+) us, (\d+) round trips`)

// pingPong runs rankmove with 20000 round trips, rank 1 moved before its
// first call if move, and returns the round trip rank 0 measured.
func pingPong(t *testing.T, p *cell.Program, move bool) float64 {
	t.Helper()
	const iters = 20000
	out, _ := runRankMove(t, p, []string{"1", strconv.Itoa(iters)}, func(moveNow func()) func([]byte) {
		if move {
			moveNow()
		}
		return nil
	}, false)
	m := rttLine.FindStringSubmatch(out)
	if m == nil || m[2] != strconv.Itoa(iters) {
		t.Fatalf("rankmove printed %q", out)
	}
	rtt, _ := strconv.ParseFloat(m[1], 64)
	return rtt
}

// rankMoveDowntime runs rankmove with mib MiB per rank, moves rank 1 once
// both touched their heaps and brings it home as soon as its mover
// attached; it returns both downtimes and the bytes moved each way.
func rankMoveDowntime(t *testing.T, p *cell.Program, mib int) rankMoveOutcome {
	t.Helper()
	var moveOnce sync.Once
	out, res := runRankMove(t, p, []string{strconv.Itoa(mib), "20000"}, func(moveNow func()) func([]byte) {
		return func(b []byte) {
			if bytes.Contains(b, []byte("touched")) {
				moveOnce.Do(moveNow)
			}
		}
	}, true)
	if !res.Attached || res.backBytes == 0 || !rttLine.MatchString(out) {
		t.Fatalf("move %+v, output %q", res, out)
	}
	return res
}

type rankMoveOutcome struct {
	cell.RankMoveResult
	bytes int
	// back is the return's downtime, from the request to the mover to
	// the home holding the decoded cell; backBytes what came back.
	back      time.Duration
	backBytes int
}

// runRankMove runs rankmove on 2 ranks with args; setup gets the function
// that asks rank 1 to move (to a mover on the same program, over loopback
// TCP) and may return a watcher of rank 0's output. With comeBack, the
// rank is sent home as soon as its mover attached.
func runRankMove(t *testing.T, p *cell.Program, args []string, setup func(moveNow func()) func([]byte), comeBack bool) (string, rankMoveOutcome) {
	t.Helper()
	ctx := context.Background()
	hm := mpi.NewHome()
	addr := serveHome(t, hm)
	moves := make(chan cell.RankMove, 1)
	var outcome rankMoveOutcome
	var mover sync.WaitGroup
	goHome := make(chan struct{})
	var askedHome time.Time
	moveNow := func() {
		moves <- cell.RankMove{Rank: 1, Home: hm, AttachWithin: time.Minute,
			Offered: func(o cell.RankOffer) {
				outcome.bytes = o.Bytes
				mover.Go(func() {
					conn, err := net.Dial("tcp", addr)
					if err != nil {
						t.Error(err)
						return
					}
					if _, _, err := p.RunMovedRankReturning(ctx, cell.Spec{}, conn, o.Rank, o.Token, goHome); err != nil {
						t.Error(err)
					}
				})
			},
			Moved: func(r cell.RankMoveResult) {
				outcome.RankMoveResult = r
				if comeBack && r.Attached {
					askedHome = time.Now()
					close(goHome)
				}
			},
			Returned: func(r cell.RankReturn) {
				outcome.back, outcome.backBytes = time.Since(askedHome), r.Bytes
			},
		}
	}
	var out watchedBuffer
	out.watch = setup(moveNow)
	spec := func(rank int) cell.Spec {
		s := cell.Spec{Args: args}
		if rank == 0 {
			s.Stdout = &out
		}
		return s
	}
	if _, _, err := p.RunMPIStoppable(ctx, 2, spec, nil, cell.WorldStop{Move: moves}); err != nil {
		t.Fatal(err)
	}
	mover.Wait()
	return out.String(), outcome
}

// watchedBuffer keeps what is written and shows each write to watch.
type watchedBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	watch func([]byte)
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.b.Write(p)
	w.mu.Unlock()
	if w.watch != nil {
		w.watch(p)
	}
	return len(p), nil
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// tcpCopyTime is how long sending n bytes once over loopback TCP takes,
// from dialling to the receiver having read them all.
func tcpCopyTime(t *testing.T, n int) time.Duration {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan int64, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- -1
			return
		}
		defer conn.Close()
		got, _ := io.Copy(io.Discard, conn)
		done <- got
	}()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 31)
	}
	begin := time.Now()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(data); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := <-done; got != int64(n) {
		t.Fatalf("received %d of %d bytes", got, n)
	}
	return time.Since(begin)
}
