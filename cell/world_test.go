package cell_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cloudskin/cloudskin/cell"
	"github.com/cloudskin/cloudskin/cell/snapshot"
)

// worldSpec gives rank 0's output to out and the others' to discard.
func worldSpec(out *bytes.Buffer, args ...string) func(int) cell.Spec {
	return func(rank int) cell.Spec {
		s := cell.Spec{Name: "mpimove", Args: args}
		if rank == 0 {
			s.Stdout = out
		}
		return s
	}
}

// A world stopped at any of its collectives, written to a file, read back
// and resumed (on the same engine or the other one) prints exactly what an
// uninterrupted world prints: the unexpected messages, pending receives,
// split communicators and heap of every rank moved with it.
func TestMPIWorldStopsAtACollectiveAndResumes(t *testing.T) {
	ctx := context.Background()
	const ranks = 4
	progs := map[cell.EngineChoice]*cell.Program{}
	for _, e := range engines {
		progs[e] = load(t, "mpimove-m", e)
	}
	var want bytes.Buffer
	if _, res, err := progs[cell.Wazero].RunMPIStoppable(ctx, ranks, worldSpec(&want, "3"), nil, cell.WorldStop{}); err != nil || res[0].ExitCode != 0 {
		t.Fatalf("uninterrupted world: %v %+v", err, res)
	}
	if !bytes.Contains(want.Bytes(), []byte("clock monotonic")) {
		t.Fatalf("uninterrupted output: %q", want.String())
	}
	// Collectives on MPI_COMM_WORLD: split, then per step Barrier and
	// Allreduce: 7 for 3 steps, and MPI_Finalize is the 8th stop point.
	for at := uint64(1); at <= 8; at++ {
		from, to := engines[at%2], engines[(at+1)%2]
		t.Run(fmt.Sprintf("collective %d %s to %s", at, from, to), func(t *testing.T) {
			var out bytes.Buffer
			snaps, _, err := progs[from].RunMPIStoppable(ctx, ranks, worldSpec(&out, "3"), nil, cell.WorldStop{Collective: at})
			if err != nil {
				t.Fatal(err)
			}
			if len(snaps) != ranks {
				t.Fatalf("stopped world has %d snapshots, want %d", len(snaps), ranks)
			}
			path := filepath.Join(t.TempDir(), "world.csnp")
			if err := snapshot.WriteWorldFile(path, snaps); err != nil {
				t.Fatal(err)
			}
			back, err := snapshot.ReadWorldFile(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			again, res, err := progs[to].RunMPIStoppable(ctx, 0, worldSpec(&out), back, cell.WorldStop{})
			if err != nil || again != nil {
				t.Fatalf("resume: %v (snapshots %d)", err, len(again))
			}
			for i, r := range res {
				if r.ExitCode != 0 {
					t.Fatalf("rank %d exit %d", i, r.ExitCode)
				}
			}
			if out.String() != want.String() {
				t.Fatalf("stopped at collective %d and resumed:\n%s\nwant:\n%s", at, out.String(), want.String())
			}
		})
	}
}

// A stop requested while the world runs lands on a collective all ranks
// reach, and the world resumed from it finishes with the same output.
func TestMPIWorldStopRequestedWhileRunning(t *testing.T) {
	ctx := context.Background()
	p := load(t, "mpimove-m", cell.Wazero)
	var want bytes.Buffer
	if _, _, err := p.RunMPIStoppable(ctx, 3, worldSpec(&want, "40"), nil, cell.WorldStop{}); err != nil {
		t.Fatal(err)
	}
	req := make(chan struct{})
	var out bytes.Buffer
	spec := worldSpec(&out, "40")
	first := true
	wrapped := func(rank int) cell.Spec {
		s := spec(rank)
		if rank == 0 && first {
			first = false
			// Ask for the stop once rank 0 has printed its first line.
			s.Stdout = writerFunc(func(b []byte) (int, error) {
				select {
				case <-req:
				default:
					close(req)
				}
				return out.Write(b)
			})
		}
		return s
	}
	snaps, _, err := p.RunMPIStoppable(ctx, 3, wrapped, nil, cell.WorldStop{Request: req})
	if err != nil {
		t.Fatal(err)
	}
	if snaps == nil {
		t.Fatal("the world ended before it stopped")
	}
	if _, _, err := p.RunMPIStoppable(ctx, 0, worldSpec(&out), snaps, cell.WorldStop{}); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want.String())
	}
}

// Snapshots that are not one world's cut are refused with a reason.
func TestMPIWorldResumeRefusesMismatchedSnapshots(t *testing.T) {
	ctx := context.Background()
	p := load(t, "mpimove-m", cell.Wazero)
	var out bytes.Buffer
	at2, _, err := p.RunMPIStoppable(ctx, 2, worldSpec(&out, "3"), nil, cell.WorldStop{Collective: 2})
	if err != nil {
		t.Fatal(err)
	}
	at3, _, err := p.RunMPIStoppable(ctx, 2, worldSpec(&out, "3"), nil, cell.WorldStop{Collective: 3})
	if err != nil {
		t.Fatal(err)
	}
	for name, snaps := range map[string][]*snapshot.Snapshot{
		"two cuts":      {at2[0], at3[1]},
		"ranks swapped": {at2[1], at2[0]},
		"rank missing":  {at2[0]},
	} {
		if _, _, err := p.RunMPIStoppable(ctx, 0, worldSpec(&out), snaps, cell.WorldStop{}); err == nil {
			t.Errorf("%s: resumed", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	single := load(t, "hello", cell.Wazero)
	if _, _, err := single.RunMPIStoppable(ctx, 2, worldSpec(&out), nil, cell.WorldStop{}); err == nil {
		t.Error("a program that is not migratable ran as a stoppable world")
	}
}
