package cell_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/mpi"
)

// serveHome accepts movers' connections for hm on loopback until the test
// ends, and returns the address.
func serveHome(t *testing.T, hm *mpi.Home) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hm.Serve(ctx, ln, nil); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// moveRun is one world run in which one rank is asked to move.
type moveRun struct {
	out     bytes.Buffer
	results []cell.Result
	err     error
	moved   cell.RankMoveResult
	offer   cell.RankOffer
}

// runMoving runs mpimove on 4 ranks with from, asks rank to move after
// delay, and has mover (if any) take it to the end.
func runMoving(t *testing.T, from *cell.Program, rank int, delay, attachWithin time.Duration, mover func(addr string, o cell.RankOffer)) *moveRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hm := mpi.NewHome()
	addr := serveHome(t, hm)
	run := &moveRun{}
	moves := make(chan cell.RankMove, 1)
	var moverDone sync.WaitGroup
	go func() {
		time.Sleep(delay)
		moves <- cell.RankMove{
			Rank: rank, Home: hm, AttachWithin: attachWithin,
			Offered: func(o cell.RankOffer) {
				run.offer = o
				if mover != nil {
					moverDone.Go(func() { mover(addr, o) })
				}
			},
			Moved: func(r cell.RankMoveResult) { run.moved = r },
		}
	}()
	snaps, results, err := from.RunMPIStoppable(ctx, 4, worldSpec(&run.out, "6", "20"), nil, cell.WorldStop{Move: moves})
	moverDone.Wait()
	if snaps != nil {
		t.Fatalf("the world stopped (%d snapshots); nothing asked it to", len(snaps))
	}
	run.results, run.err = results, err
	return run
}

// One rank of a running world moves to another engine over TCP, mid-run,
// while the other three run on: the world's output (rank 0 prints, so when
// it moves its output travels home too) is byte for byte that of a world
// that never moved, and every rank exits 0.
func TestMPIRankMovesWhileTheOthersRun(t *testing.T) {
	progs := map[cell.EngineChoice]*cell.Program{}
	for _, e := range engines {
		progs[e] = load(t, "mpimove-m", e)
	}
	var want bytes.Buffer
	if _, res, err := progs[cell.Wazero].RunMPIStoppable(context.Background(), 4, worldSpec(&want, "6", "20"), nil, cell.WorldStop{}); err != nil || res[0].ExitCode != 0 {
		t.Fatalf("world that does not move: %v %+v", err, res)
	}
	for _, tc := range []struct {
		rank     int
		from, to cell.EngineChoice
	}{{0, cell.Wazero, cell.Wasmtime}, {3, cell.Wasmtime, cell.Wazero}} {
		t.Run(string(tc.from)+" to "+string(tc.to), func(t *testing.T) {
			var moverRes cell.Result
			var moverErr error
			run := runMoving(t, progs[tc.from], tc.rank, 50*time.Millisecond, 10*time.Second, func(addr string, o cell.RankOffer) {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					moverErr = err
					return
				}
				moverRes, moverErr = progs[tc.to].RunMovedRank(context.Background(), cell.Spec{Name: "mpimove"}, conn, o.Rank, o.Token)
			})
			if run.err != nil || moverErr != nil {
				t.Fatalf("world: %v; mover: %v", run.err, moverErr)
			}
			if !run.moved.Attached || run.moved.Downtime <= 0 || run.offer.Bytes == 0 {
				t.Fatalf("move %+v, offer %+v", run.moved, run.offer)
			}
			for i, r := range run.results {
				if r.ExitCode != 0 {
					t.Fatalf("rank %d exit %d", i, r.ExitCode)
				}
			}
			if moverRes.ExitCode != 0 {
				t.Fatalf("moved rank exit %d", moverRes.ExitCode)
			}
			if run.out.String() != want.String() {
				t.Fatalf("with rank %d moved:\n%s\nwant:\n%s", tc.rank, run.out.String(), want.String())
			}
			t.Logf("rank %d moved at host call %d: %d bytes, downtime %s", tc.rank, run.offer.HostCall, run.offer.Bytes, run.moved.Downtime)
		})
	}
}

// A move no mover takes in time is abandoned: the rank goes on where it
// was and the world's output is unchanged. A mover that cannot restore
// the cell (another module) refuses it and leaves it to the home.
func TestMPIRankMoveNobodyTakes(t *testing.T) {
	p := load(t, "mpimove-m", cell.Wazero)
	other := load(t, "ring-m", cell.Wazero)
	var want bytes.Buffer
	if _, _, err := p.RunMPIStoppable(context.Background(), 4, worldSpec(&want, "6", "20"), nil, cell.WorldStop{}); err != nil {
		t.Fatal(err)
	}
	var refusal error
	run := runMoving(t, p, 2, 30*time.Millisecond, 300*time.Millisecond, func(addr string, o cell.RankOffer) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			refusal = err
			return
		}
		_, refusal = other.RunMovedRank(context.Background(), cell.Spec{}, conn, o.Rank, o.Token)
	})
	if run.err != nil {
		t.Fatal(run.err)
	}
	if refusal == nil || !strings.Contains(refusal.Error(), "module") {
		t.Fatalf("a mover of another module: %v", refusal)
	}
	if run.moved.Attached || run.moved.Err == nil {
		t.Fatalf("move %+v: want it abandoned with a reason", run.moved)
	}
	if run.out.String() != want.String() {
		t.Fatalf("after an abandoned move:\n%s\nwant:\n%s", run.out.String(), want.String())
	}
}

// A mover killed after it attached loses the rank: the world fails with an
// error that names it, rather than hanging or running the rank twice.
func TestMPIRankMoverDies(t *testing.T) {
	p := load(t, "mpimove-m", cell.Wazero)
	run := runMoving(t, p, 1, 30*time.Millisecond, 10*time.Second, func(addr string, o cell.RankOffer) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		ctx, kill := context.WithCancel(context.Background())
		time.AfterFunc(60*time.Millisecond, kill)
		p.RunMovedRank(ctx, cell.Spec{Name: "mpimove"}, conn, o.Rank, o.Token)
	})
	if !run.moved.Attached {
		t.Fatalf("move %+v: want attached", run.moved)
	}
	if run.err == nil || !strings.Contains(run.err.Error(), "rank 1") {
		t.Fatalf("world with its moved rank killed: %v", run.err)
	}
}

// cutProxy forwards one connection to target and cuts it (both ways) once
// limit bytes have gone through in either direction.
type cutProxy struct {
	ln     net.Listener
	target string
	limit  int64
}

func newCutProxy(t *testing.T, target string, limit int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, limit: limit}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.forward(c) })
		}
	})
	return p
}

func (p *cutProxy) forward(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	var moved atomic.Int64
	var once sync.Once
	cut := func() { once.Do(func() { c.Close(); up.Close() }) }
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				left := p.limit - moved.Add(int64(n)) + int64(n)
				if left <= 0 {
					cut()
					return
				}
				if int64(n) > left {
					dst.Write(buf[:left])
					cut()
					return
				}
				if _, err := dst.Write(buf[:n]); err != nil {
					cut()
					return
				}
			}
			if err != nil {
				cut()
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { pipe(up, c) })
	pipe(c, up)
	wg.Wait()
}

// A connection cut at random points between the mover and the home never
// loses the rank silently nor runs it twice: cut before the move commits,
// the rank goes on at home and the world's output is exact; cut after, the
// world fails naming the rank. Either way nothing hangs.
func TestMPIRankMoveConnectionCutAnywhere(t *testing.T) {
	p := load(t, "mpimove-m", cell.Wazero)
	var want bytes.Buffer
	if _, _, err := p.RunMPIStoppable(context.Background(), 4, worldSpec(&want, "6", "20"), nil, cell.WorldStop{}); err != nil {
		t.Fatal(err)
	}
	// Cut points, in bytes through the connection either way, past the
	// cell's bytes (known once the rank is offered): before them (in the
	// hello or the welcome), about the attach and its commit, and among
	// the moved rank's calls.
	rng := rand.New(rand.NewPCG(4, 2))
	cuts := []func(cellBytes int64) int64{
		func(int64) int64 { return 1 },
		func(int64) int64 { return 40 },
		func(n int64) int64 { return n / 2 },
	}
	for range 6 {
		k := rng.Int64N(1500)
		cuts = append(cuts, func(n int64) int64 { return n + k })
	}
	for range 6 {
		k := 1500 + rng.Int64N(30_000)
		cuts = append(cuts, func(n int64) int64 { return n + k })
	}
	var stayed, lost int
	for _, cutAt := range cuts {
		var limit int64
		run := runMoving(t, p, 2, 30*time.Millisecond, 500*time.Millisecond, func(addr string, o cell.RankOffer) {
			limit = cutAt(int64(o.Bytes))
			proxy := newCutProxy(t, addr, limit)
			conn, err := net.Dial("tcp", proxy.ln.Addr().String())
			if err != nil {
				return
			}
			p.RunMovedRank(context.Background(), cell.Spec{Name: "mpimove"}, conn, o.Rank, o.Token)
		})
		switch {
		case !run.moved.Attached:
			stayed++
			if run.err != nil || run.out.String() != want.String() {
				t.Fatalf("cut after %d bytes, move abandoned: %v\n%s\nwant:\n%s", limit, run.err, run.out.String(), want.String())
			}
		case run.err == nil:
			// The cut came after the rank's last call: it ended at the
			// mover and the home heard of it.
			if run.out.String() != want.String() {
				t.Fatalf("cut after %d bytes, after the end: output\n%s", limit, run.out.String())
			}
		default:
			lost++
			if !strings.Contains(run.err.Error(), "rank 2") {
				t.Fatalf("cut after %d bytes, after the commit: %v", limit, run.err)
			}
		}
	}
	t.Logf("%d cuts: %d before the commit (rank stayed home), %d after (world failed)", len(cuts), stayed, lost)
	if stayed == 0 || lost == 0 {
		t.Errorf("the cuts did not reach both sides of the commit: %d stayed, %d lost", stayed, lost)
	}
}

// A world spread from its start: ranks 2 and 3 are offered before they
// start and run in "another process" (a mover on loopback TCP), the others
// here; the output equals a world run in one place, for a module that is
// not migratable (RunMPISpread) and for one that is (WorldStop.Away).
func TestMPIWorldSpreadFromTheStart(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		module string
		args   []string
	}{{"ring", nil}, {"mpimove-m", []string{"3"}}} {
		t.Run(tc.module, func(t *testing.T) {
			p := load(t, tc.module, cell.Wazero)
			var want bytes.Buffer
			if _, err := p.RunMPI(ctx, 4, worldSpec(&want, tc.args...)); err != nil {
				t.Fatal(err)
			}
			hm := mpi.NewHome()
			addr := serveHome(t, hm)
			var movers sync.WaitGroup
			var mu sync.Mutex
			attached := map[int]bool{}
			away := map[int]cell.RankMove{}
			for _, r := range []int{2, 3} {
				away[r] = cell.RankMove{Rank: r, Home: hm, AttachWithin: 10 * time.Second,
					Offered: func(o cell.RankOffer) {
						if o.Bytes != 0 {
							t.Errorf("rank %d offered with %d bytes before it started", o.Rank, o.Bytes)
						}
						movers.Go(func() {
							conn, err := net.Dial("tcp", addr)
							if err != nil {
								t.Error(err)
								return
							}
							// A rank that starts here gets its args here, as
							// an agent takes them from the run's spec.
							if res, err := p.RunMovedRank(ctx, cell.Spec{Name: "mpimove", Args: tc.args}, conn, o.Rank, o.Token); err != nil || res.ExitCode != 0 {
								t.Errorf("rank %d away: %v, exit %d", o.Rank, err, res.ExitCode)
							}
						})
					},
					Moved: func(r cell.RankMoveResult) { mu.Lock(); attached[r.Rank] = r.Attached; mu.Unlock() },
				}
			}
			var got bytes.Buffer
			var err error
			if p.Migratable {
				_, _, err = p.RunMPIStoppable(ctx, 4, worldSpec(&got, tc.args...), nil, cell.WorldStop{Away: away})
			} else {
				_, err = p.RunMPISpread(ctx, 4, worldSpec(&got, tc.args...), away)
			}
			movers.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if !attached[2] || !attached[3] {
				t.Fatalf("ranks away: %v", attached)
			}
			if got.String() != want.String() {
				t.Fatalf("spread world:\n%s\nwant:\n%s", got.String(), want.String())
			}
		})
	}
}

// A moved rank sent home: its mover stops it at a host call and sends the
// cell back, the home resumes it (with the receives it posted while away),
// and the world's output is that of a world that never moved; the rank
// may then move again.
func TestMPIRankComesHome(t *testing.T) {
	p := load(t, "mpimove-m", cell.Wazero)
	var want bytes.Buffer
	if _, _, err := p.RunMPIStoppable(context.Background(), 4, worldSpec(&want, "8", "20"), nil, cell.WorldStop{}); err != nil {
		t.Fatal(err)
	}
	hm := mpi.NewHome()
	addr := serveHome(t, hm)
	moves := make(chan cell.RankMove, 2)
	var mu sync.Mutex // the home's rank and the movers report
	var returned []cell.RankReturn
	var trips []bool
	var movers sync.WaitGroup
	var move func()
	move = func() {
		moves <- cell.RankMove{Rank: 1, Home: hm, AttachWithin: 10 * time.Second,
			Offered: func(o cell.RankOffer) {
				movers.Go(func() {
					conn, err := net.Dial("tcp", addr)
					if err != nil {
						t.Error(err)
						return
					}
					goHome := make(chan struct{})
					time.AfterFunc(40*time.Millisecond, func() { close(goHome) })
					_, home, err := p.RunMovedRankReturning(context.Background(), cell.Spec{Name: "mpimove"}, conn, o.Rank, o.Token, goHome)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					trips = append(trips, home)
					mu.Unlock()
				})
			},
			Returned: func(r cell.RankReturn) {
				mu.Lock()
				returned = append(returned, r)
				again := len(returned) == 1
				mu.Unlock()
				if again {
					go move() // and away again
				}
			},
		}
	}
	go func() { time.Sleep(30 * time.Millisecond); move() }()
	var got bytes.Buffer
	_, _, err := p.RunMPIStoppable(context.Background(), 4, worldSpec(&got, "8", "20"), nil, cell.WorldStop{Move: moves})
	movers.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(returned) == 0 || returned[0].Bytes == 0 || len(trips) == 0 || !trips[0] {
		t.Fatalf("returns %+v, mover trips %v", returned, trips)
	}
	if got.String() != want.String() {
		t.Fatalf("after a rank came home:\n%s\nwant:\n%s", got.String(), want.String())
	}
	t.Logf("the rank went away %d times and came home %d times", len(trips), len(returned))
}

// The world's home ending while a rank is away (its agent killed) ends the
// moved rank too: its next MPI call finds the connection gone and the cell
// stops with an error, rather than waiting forever for its world.
func TestMPIRankAwayWhenTheHomeEnds(t *testing.T) {
	p := load(t, "mpimove-m", cell.Wazero)
	hm := mpi.NewHome()
	addr := serveHome(t, hm)
	ctx, killHome := context.WithCancel(context.Background())
	defer killHome()
	moverDone := make(chan error, 1)
	moves := make(chan cell.RankMove, 1)
	moves <- cell.RankMove{Rank: 1, Home: hm, AttachWithin: 10 * time.Second,
		Offered: func(o cell.RankOffer) {
			go func() {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					moverDone <- err
					return
				}
				_, err = p.RunMovedRank(context.Background(), cell.Spec{Name: "mpimove"}, conn, o.Rank, o.Token)
				moverDone <- err
			}()
		},
		Moved: func(r cell.RankMoveResult) {
			if r.Attached {
				time.AfterFunc(50*time.Millisecond, killHome)
			}
		},
	}
	var out bytes.Buffer
	if _, _, err := p.RunMPIStoppable(ctx, 4, worldSpec(&out, "100", "20"), nil, cell.WorldStop{Move: moves}); err == nil {
		t.Fatal("a world whose home was killed ended well")
	}
	select {
	case err := <-moverDone:
		if err == nil {
			t.Fatal("the moved rank ended well without its home")
		}
		t.Logf("the moved rank ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the moved rank still runs 30 s after its home ended")
	}
}
