package main

// `stream serve` runs the stream store on its own, serving its TCP
// protocol; `stream bench` measures a store through that protocol.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/stream/tcp"
)

func newStreamServeCommand(g *globals) *cobra.Command {
	var listen, httpListen, ltsDir string
	var instances, containers int
	cmd := &cobra.Command{
		Use:   "serve [--data DIR] [--listen ADDR] [--http-listen ADDR] [--lts DIR] [--instances N] [--containers N]",
		Short: "Run a standalone stream store serving its TCP protocol",
		Long: `Run the stream store on its own, without the rest of the continuum: its data
in --data/streams (the same place 'cloudskin up' keeps it, so either can open
it, one at a time), data older than a chunk moved to long-term storage in
--lts (default --data/streams/lts), and its TCP protocol on --listen, which
the other 'cloudskin stream' commands use (docs/formats/stream-wire.md).
With --http-listen it also serves the REST API that 'cloudskin up' serves on
its control plane (docs/formats/stream-api.md), the instance API included,
which the Learning Plane's stream actuator calls (spec.actuator.server).

By default it is one store, the fastest (one log whose group commit serves
every stream). With --instances N it runs as a cluster: --containers stores,
each with its own log (8 for a new directory; the count is recorded and
cannot change), hosted by N segment-store instances, which clients can
change while it runs ('cloudskin stream instances'). A directory that holds
a cluster is opened as one; one that holds a single store cannot become a
cluster.

On SIGINT or SIGTERM it stops taking requests, finishes the appends in
flight, and closes the store.`,
		Example: `  cloudskin stream serve
  cloudskin stream serve --instances 2
  cloudskin stream serve --data /var/lib/streams --listen 0.0.0.0:7072 --lts /mnt/archive`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if instances < 0 || containers < 0 {
				return fmt.Errorf("stream serve: --instances %d --containers %d: want 0 (one store) or more instances and 0 (the default) or more containers", instances, containers)
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			dir := filepath.Join(g.dataDir, "streams")
			if ltsDir == "" {
				ltsDir = filepath.Join(dir, "lts")
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("stream serve: data directory: %w", err)
			}
			tier, err := lts.NewDir(ltsDir)
			if err != nil {
				return err
			}
			st, isSingle, err := streamapi.OpenBackend(cmd.Context(), streamapi.BackendOptions{
				Store: stream.Options{Dir: dir, LTS: tier, Log: log}, Instances: instances, Containers: containers,
			})
			if err != nil {
				return err
			}
			defer st.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("stream serve: listen on %s: %w", listen, err)
			}
			srv := tcp.NewServer(st.Service(), tcp.Options{Log: log})
			what := "a single stream store"
			if sc, ok := st.Service().(stream.InstanceScaler); ok && !isSingle {
				what = fmt.Sprintf("a stream store cluster (%d instance(s))", len(sc.Instances()))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cloudskin stream serve: %s at tcp://%s, data in %s, long-term storage in %s\n", what, ln.Addr(), dir, ltsDir)
			// Serve shuts the server down gracefully when the signal
			// context ends; the store is closed after it (deferred).
			grp, ctx := errgroup.WithContext(cmd.Context())
			grp.Go(func() error { return srv.Serve(ctx, ln) })
			if httpListen != "" {
				hln, err := net.Listen("tcp", httpListen)
				if err != nil {
					return fmt.Errorf("stream serve: listen on %s: %w", httpListen, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "cloudskin stream serve: REST API at http://%s%s\n", hln.Addr(), streamapi.Base)
				grp.Go(func() error { return serveREST(ctx, hln, st.Service(), log) })
			}
			grp.Go(func() error { return st.Run(ctx) })
			err = grp.Wait()
			fmt.Fprintln(cmd.OutOrStdout(), "cloudskin stream serve: stopped")
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", tcp.DefaultAddr, "address of the TCP protocol")
	cmd.Flags().StringVar(&httpListen, "http-listen", "", "address of the REST API, "+streamapi.Base+" with the instance API (empty: none)")
	cmd.Flags().StringVar(&ltsDir, "lts", "", "long-term storage directory (default --data/streams/lts)")
	cmd.Flags().IntVar(&instances, "instances", 0, "segment-store instances of a cluster at start (0: one store, no cluster)")
	cmd.Flags().IntVar(&containers, "containers", 0, "containers (stores) of a new cluster; 0: the recorded count, or 8")
	return cmd
}

// serveREST serves the store's REST API (the one up serves on the control
// plane's address) on ln until ctx ends, then shuts it down gracefully.
func serveREST(ctx context.Context, ln net.Listener, svc stream.Service, log *slog.Logger) error {
	mux := http.NewServeMux()
	streamapi.NewHandler(svc, log).Register(mux)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	})
	defer stop()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stream serve: REST API: %w", err)
	}
	return nil
}

func newStreamBenchCommand(g *globals) *cobra.Command {
	var writers, size, segments, inFlight int
	var rate float64
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "bench SCOPE/STREAM [--writers N] [--in-flight N] [--size BYTES] [--rate EVENTS/S] [--duration D]",
		Short: "Measure append throughput and latency of a stream store",
		Long: `Append events of --size bytes to a stream (created with --segments if it is
missing) from --writers writers, each with its own connection and routing
key, each with up to --in-flight appends waiting for their acknowledgement
(durable: on disk; 1, the default, waits for each before the next), for
--duration, at --rate events per second in all (0: as fast as they can).
It prints the throughput and the append latency's percentiles; on a
terminal it shows progress every second.`,
		Example: `  cloudskin stream bench bench/events --writers 16 --size 1024 --duration 10s
  cloudskin stream bench bench/events --writers 1 --in-flight 32
  cloudskin stream bench bench/frames --writers 4 --size 102400 --rate 120`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if writers < 1 || inFlight < 1 || size < 0 || size > stream.MaxAppendBytes || rate < 0 || duration <= 0 {
				return fmt.Errorf("want --writers and --in-flight of 1 or more, --size from 0 to %d, --rate of 0 or more, --duration above 0", stream.MaxAppendBytes)
			}
			c, name, err := g.streamConnArgs(cmd, args)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			if err := c.CreateScope(ctx, name.Scope); err != nil && !errors.Is(err, stream.ErrExists) {
				return err
			}
			if _, err := c.CreateStream(ctx, name, stream.StreamConfig{Segments: segments}); err != nil && !errors.Is(err, stream.ErrExists) {
				return err
			}
			b := &bench{name: name, writers: writers, inFlight: inFlight, size: size, rate: rate, duration: duration}
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				b.progress = f
			}
			res, err := b.run(ctx, func(ctx context.Context) (*tcp.Client, error) { return g.streamConn(cmd) })
			if err != nil {
				return err
			}
			res.print(cmd.OutOrStdout(), b)
			return nil
		},
	}
	cmd.Flags().IntVar(&writers, "writers", 1, "concurrent writers, each with its own connection")
	cmd.Flags().IntVar(&inFlight, "in-flight", 1, "appends each writer has waiting for their acknowledgement (pipelined)")
	cmd.Flags().IntVar(&size, "size", 1024, "bytes per event")
	cmd.Flags().Float64Var(&rate, "rate", 0, "events per second in all (0: as fast as acknowledgements allow)")
	cmd.Flags().DurationVar(&duration, "duration", 10*time.Second, "how long to append")
	cmd.Flags().IntVar(&segments, "segments", 1, "segments of the stream, if it is created")
	return cmd
}

// bench is one run of `stream bench`.
type bench struct {
	name     stream.StreamName
	writers  int
	inFlight int
	size     int
	rate     float64
	duration time.Duration
	progress io.Writer // nil: no progress

	mu   sync.Mutex
	lats []time.Duration
}

type benchResult struct {
	events int
	took   time.Duration
	lats   []time.Duration // sorted
}

func (b *bench) run(ctx context.Context, dial func(context.Context) (*tcp.Client, error)) (benchResult, error) {
	clients := make([]*tcp.Client, b.writers)
	for i := range clients {
		c, err := dial(ctx)
		if err != nil {
			return benchResult{}, err
		}
		defer c.Close()
		clients[i] = c
	}
	ctx, cancel := context.WithTimeout(ctx, b.duration)
	defer cancel()
	stopProgress := b.showProgress(ctx)
	grp, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	for i, c := range clients {
		grp.Go(func() error { return b.write(gctx, c, i) })
	}
	err := grp.Wait()
	took := time.Since(start)
	stopProgress()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return benchResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	lats := slices.Clone(b.lats)
	slices.Sort(lats)
	if len(lats) == 0 {
		return benchResult{}, fmt.Errorf("stream bench: nothing was acknowledged in %s", b.duration)
	}
	return benchResult{events: len(lats), took: took, lats: lats}, nil
}

// write appends from one writer until ctx ends, paced to its share of the
// rate, with up to b.inFlight appends waiting (collect waits for them).
func (b *bench) write(ctx context.Context, c *tcp.Client, i int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	window := make(chan struct{}, b.inFlight)
	sent := make(chan sentAppend, b.inFlight)
	var collected error
	done := make(chan struct{})
	go func() {
		defer close(done)
		if collected = b.collect(ctx, i, sent, window); collected != nil {
			cancel() // stop sending: this writer failed
		}
	}()
	err := b.send(ctx, c, i, window, sent)
	close(sent)
	<-done
	if err != nil {
		return err
	}
	return collected
}

// send appends from one writer until ctx ends, each once window has room.
func (b *bench) send(ctx context.Context, c *tcp.Client, i int, window chan<- struct{}, sent chan<- sentAppend) error {
	event := make([]byte, b.size)
	for j := range event {
		event[j] = byte(i + j)
	}
	var period time.Duration
	if b.rate > 0 {
		period = time.Duration(float64(time.Second) * float64(b.writers) / b.rate)
	}
	next := time.Now().Add(period * time.Duration(i) / time.Duration(b.writers))
	key := "bench-" + strconv.Itoa(i)
	for {
		if period > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Until(next)):
			}
			next = next.Add(period)
			if late := time.Since(next); late > period {
				next = time.Now() // fell behind: skip rather than burst
			}
		}
		select {
		case window <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		t0 := time.Now()
		p, err := c.AppendAsync(ctx, stream.AppendRequest{Stream: b.name, RoutingKey: key, Events: [][]byte{event}})
		if ctx.Err() != nil {
			return nil // the end of the run: this one is not counted
		}
		if err != nil {
			return fmt.Errorf("writer %d: %w", i, err)
		}
		sent <- sentAppend{p, t0}
	}
}

// sentAppend is an append on its way, and when it was sent.
type sentAppend struct {
	p  *tcp.PendingAppend
	t0 time.Time
}

// collect waits for a writer's appends in the order they were sent,
// records their latencies and frees their places in the window, until
// sent is closed or ctx ends.
func (b *bench) collect(ctx context.Context, i int, sent <-chan sentAppend, window <-chan struct{}) error {
	for s := range sent {
		_, err := s.p.Wait(ctx)
		if ctx.Err() != nil {
			return nil // the end of the run: not counted
		}
		if err != nil {
			return fmt.Errorf("writer %d: %w", i, err)
		}
		d := time.Since(s.t0)
		b.mu.Lock()
		b.lats = append(b.lats, d)
		b.mu.Unlock()
		<-window
	}
	return nil
}

// showProgress prints the running count and rate every second until the
// returned function is called.
func (b *bench) showProgress(ctx context.Context) func() {
	if b.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		start, last, lastN := time.Now(), time.Now(), 0
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(b.progress, "\r\033[K")
				return
			case now := <-tick.C:
				b.mu.Lock()
				n := len(b.lats)
				b.mu.Unlock()
				fmt.Fprintf(b.progress, "\r\033[K%5.1fs of %s  %d events  %.0f events/s", now.Sub(start).Seconds(), b.duration, n, float64(n-lastN)/now.Sub(last).Seconds())
				last, lastN = now, n
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func (r benchResult) print(w io.Writer, b *bench) {
	rate := "as fast as acknowledged"
	if b.rate > 0 {
		rate = fmt.Sprintf("%g events/s", b.rate)
	}
	perSec := float64(r.events) / r.took.Seconds()
	fmt.Fprintf(w, "stream %s: %d writer(s) with up to %d append(s) in flight each, %d-byte events, %s, for %s\n",
		b.name, b.writers, b.inFlight, b.size, rate, r.took.Round(time.Millisecond))
	fmt.Fprintf(w, "throughput: %d events acknowledged, %.0f events/s, %.2f MiB/s\n", r.events, perSec, perSec*float64(b.size)/(1<<20))
	fmt.Fprintf(w, "append latency (durable): p50 %s  p95 %s  p99 %s  max %s\n",
		fmtMs(percentileOf(r.lats, 0.50)), fmtMs(percentileOf(r.lats, 0.95)), fmtMs(percentileOf(r.lats, 0.99)), fmtMs(r.lats[len(r.lats)-1]))
}

// percentileOf is the nearest-rank q-quantile of sorted durations.
func percentileOf(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func fmtMs(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }
