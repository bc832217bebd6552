package mpi_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/cell/mpi"
)

// ranks runs f on every rank of a new world of n ranks and waits.
func ranks(b *testing.B, n int, f func(ctx context.Context, r *mpi.Rank) error) {
	w := newWorld(n)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := f(ctx, w.Rank(i)); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
}

func benchAllreduce(b *testing.B, count int) {
	b.SetBytes(int64(8 * count))
	b.ResetTimer()
	ranks(b, 4, func(ctx context.Context, r *mpi.Rank) error {
		send, recv := make([]byte, 8*count), make([]byte, 8*count)
		for range b.N {
			if err := r.Allreduce(ctx, send, recv, mpi.Double, mpi.Sum, mpi.CommWorld); err != nil {
				return err
			}
		}
		return nil
	})
}

// MPI_Allreduce of one double on 4 ranks: the cost of a collective's
// synchronisation.
func BenchmarkAllreduce1Double(b *testing.B) { benchAllreduce(b, 1) }

// MPI_Allreduce of 1 MiB of doubles on 4 ranks: copying and reducing.
func BenchmarkAllreduce1MiB(b *testing.B) { benchAllreduce(b, 1<<20/8) }

// Ping-pong of 8 bytes between 2 ranks; ns/op is one round trip.
func BenchmarkPingPong8B(b *testing.B) {
	ranks(b, 2, func(ctx context.Context, r *mpi.Rank) error {
		buf := make([]byte, 8)
		peer := 1 - r.Index()
		for range b.N {
			if r.Index() == 0 {
				if err := r.Send(ctx, buf, peer, 0, mpi.CommWorld); err != nil {
					return err
				}
			}
			if _, err := r.Recv(ctx, buf, peer, 0, mpi.CommWorld); err != nil {
				return err
			}
			if r.Index() == 1 {
				if err := r.Send(ctx, buf, peer, 0, mpi.CommWorld); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
