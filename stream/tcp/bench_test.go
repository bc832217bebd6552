package tcp

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
)

// BenchmarkPipelinedAppends measures durable appends of 1 KiB events
// from 1 and 16 publishers, each on its own connection with one routing
// key and up to 32 appends in flight: the case where a connection's
// append lane either waits for each fsync or lets the log's group commit
// take many appends of one key at once. It reports events/s and the
// append latency's p50 and p99 (send to acknowledgement).
func BenchmarkPipelinedAppends(b *testing.B) {
	for _, publishers := range []int{1, 16} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			benchPipelined(b, publishers, 1024, 32)
		})
	}
}

func benchPipelined(b *testing.B, publishers, size, window int) {
	st, err := stream.Open(context.Background(), stream.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer(st.Service(), Options{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	defer func() {
		srv.Shutdown(context.Background())
		<-served
	}()
	ctx := context.Background()
	clients := make([]*Client, publishers)
	for i := range clients {
		if clients[i], err = Dial(ctx, ln.Addr().String(), DialOptions{}); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	if err := clients[0].CreateScope(ctx, cams.Scope); err != nil {
		b.Fatal(err)
	}
	if _, err := clients[0].CreateStream(ctx, cams, stream.StreamConfig{Segments: 4}); err != nil {
		b.Fatal(err)
	}
	event := make([]byte, size)
	var mu sync.Mutex
	var lats []time.Duration
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for i, c := range clients {
		n := b.N / publishers
		if i < b.N%publishers {
			n++
		}
		wg.Go(func() {
			mine, err := publish(ctx, c, fmt.Sprintf("key-%d", i), event, n, window)
			if err != nil {
				errs <- err
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	slices.Sort(lats)
	b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
	b.ReportMetric(float64(lats[len(lats)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lats[min(len(lats)*99/100, len(lats)-1)])/1e6, "p99-ms")
}

// publish appends n events with one key, keeping up to window in flight,
// and returns each one's latency.
func publish(ctx context.Context, c *Client, key string, event []byte, n, window int) ([]time.Duration, error) {
	type sent struct {
		at time.Time
		p  *PendingAppend
	}
	lats := make([]time.Duration, 0, n)
	var inflight []sent
	wait := func() error {
		s := inflight[0]
		inflight = inflight[1:]
		if _, err := s.p.Wait(ctx); err != nil {
			return err
		}
		lats = append(lats, time.Since(s.at))
		return nil
	}
	for range n {
		if len(inflight) == window {
			if err := wait(); err != nil {
				return lats, err
			}
		}
		at := time.Now()
		p, err := c.AppendAsync(ctx, stream.AppendRequest{Stream: cams, RoutingKey: key, Events: [][]byte{event}})
		if err != nil {
			return lats, err
		}
		inflight = append(inflight, sent{at, p})
	}
	for len(inflight) > 0 {
		if err := wait(); err != nil {
			return lats, err
		}
	}
	return lats, nil
}
