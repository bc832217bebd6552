package streamapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/stream/tcp"
	"github.com/cloudskin/cloudskin/stream/tcp/tcptest"
)

// TestCompareStreams compares durable publishing with acknowledgements
// against NATS JetStream, both servers on loopback in this run: 1 KiB
// events, 1 and 16 concurrent publishers, each waiting for every
// acknowledgement. Our store acknowledges after fdatasync (group commit);
// JetStream stores to files with sync_interval: always (a sync per write).
// It runs only when CLOUDSKIN_COMPARE_OUT is set (bench/compare-streams.sh)
// and writes TSV rows: benchmark, command, peer, median ours, median peer.
func TestCompareStreams(t *testing.T) {
	out := os.Getenv("CLOUDSKIN_COMPARE_OUT")
	if out == "" {
		t.Skip("set CLOUDSKIN_COMPARE_OUT to run the comparison (bench/compare-streams.sh)")
	}
	natsBin := findNATS(t)
	runs := envInt("CLOUDSKIN_COMPARE_RUNS", 3)
	seconds := envInt("CLOUDSKIN_COMPARE_SECONDS", 3)
	f, err := os.OpenFile(out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	event := make([]byte, 1024)
	for _, publishers := range []int{1, 16} {
		var ours, oursTCP, peer []result
		for range runs {
			ours = append(ours, publishOurs(t, publishers, event, time.Duration(seconds)*time.Second))
			oursTCP = append(oursTCP, publishTCP(t, publishers, event, time.Duration(seconds)*time.Second))
			peer = append(peer, publishNATS(t, natsBin, publishers, event, time.Duration(seconds)*time.Second))
		}
		o, ot, p := medianResult(ours), medianResult(oursTCP), medianResult(peer)
		t.Logf("%d publishers: ours over HTTP %.0f/s p50 %s; ours over TCP %.0f/s p50 %s; JetStream %.0f/s p50 %s", publishers, o.rate, o.p50, ot.rate, ot.p50, p.rate, p.p50)
		what := fmt.Sprintf("durable publish, 1 KiB events, %d publisher(s) each waiting for its ack, loopback", publishers)
		peerCmd := "NATS JetStream v2.15.2: js.Publish, file storage, sync_interval: always"
		for _, row := range []struct {
			cmd string
			r   result
		}{
			{"stream store: POST /streams/v1/.../events over HTTP (fdatasync before ack, group commit)", o},
			{"stream store: Client.Append over its TCP protocol (stream/tcp), one connection for all publishers (fdatasync before ack, group commit)", ot},
		} {
			fmt.Fprintf(f, "%s: throughput\t%s\t%s\t%.0f events/s\t%.0f events/s\n", what, row.cmd, peerCmd, row.r.rate, p.rate)
			fmt.Fprintf(f, "%s: p50 latency\t%s\t%s\t%.3f ms\t%.3f ms\n", what, row.cmd, peerCmd, ms(row.r.p50), ms(p.p50))
		}
	}
}

type result struct {
	rate float64 // acknowledged events per second
	p50  time.Duration
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func medianResult(rs []result) result {
	rates := make([]float64, len(rs))
	p50s := make([]time.Duration, len(rs))
	for i, r := range rs {
		rates[i], p50s[i] = r.rate, r.p50
	}
	slices.Sort(rates)
	slices.Sort(p50s)
	return result{rate: rates[len(rs)/2], p50: p50s[len(rs)/2]}
}

// drive runs publishers that each call publish in a loop for d, and
// returns the acknowledged rate and the median latency.
func drive(t *testing.T, publishers int, d time.Duration, publish func(ctx context.Context, i int) error) result {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	lat := make([][]time.Duration, publishers)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range publishers {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := publish(context.Background(), i); err != nil {
					t.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	return result{rate: float64(len(all)) / took.Seconds(), p50: all[len(all)/2]}
}

func publishOurs(t *testing.T, publishers int, event []byte, d time.Duration) result {
	s, err := stream.Open(context.Background(), stream.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	streamapi.NewHandler(s.Service(), nil).Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := streamapi.NewClient("http://"+ln.Addr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.CreateScope(ctx, "bench"); err != nil {
		t.Fatal(err)
	}
	name := stream.StreamName{Scope: "bench", Stream: "events"}
	if _, err := c.CreateStream(ctx, name, streamapi.StreamSpec{Segments: 4}); err != nil {
		t.Fatal(err)
	}
	return drive(t, publishers, d, func(ctx context.Context, i int) error {
		_, err := c.Append(ctx, name, streamapi.AppendRequest{RoutingKey: strconv.Itoa(i), Events: [][]byte{event}})
		return err
	})
}

// publishTCP is publishOurs over the TCP protocol, all publishers sharing
// one connection, as publishNATS's share one.
func publishTCP(t *testing.T, publishers int, event []byte, d time.Duration) result {
	_, addr := tcptest.Store(t)
	ctx := context.Background()
	c, err := tcp.Dial(ctx, addr, tcp.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateScope(ctx, "bench"); err != nil {
		t.Fatal(err)
	}
	name := stream.StreamName{Scope: "bench", Stream: "events"}
	if _, err := c.CreateStream(ctx, name, stream.StreamConfig{Segments: 4}); err != nil {
		t.Fatal(err)
	}
	return drive(t, publishers, d, func(ctx context.Context, i int) error {
		_, err := c.Append(ctx, stream.AppendRequest{Stream: name, RoutingKey: strconv.Itoa(i), Events: [][]byte{event}})
		return err
	})
}

func publishNATS(t *testing.T, bin string, publishers int, event []byte, d time.Duration) result {
	url := startNATS(t, bin)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	return drive(t, publishers, d, func(ctx context.Context, i int) error {
		_, err := js.Publish(ctx, "bench."+strconv.Itoa(i), event)
		return err
	})
}

// startNATS runs a nats-server with file-backed JetStream that syncs every
// write, until the test ends, and returns its URL.
func startNATS(t *testing.T, bin string) string {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(dir, "nats.conf")
	text := fmt.Sprintf("host: %s\nport: %s\njetstream {\n  store_dir: %q\n  sync_interval: always\n}\n", host, port, filepath.Join(dir, "js"))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url := "nats://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server at %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func findNATS(t *testing.T) string {
	if p := os.Getenv("CLOUDSKIN_NATS_SERVER"); p != "" {
		return p
	}
	p, err := filepath.Abs("../../.tools/bin/nats-server")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no nats-server at %s: run scripts/install-deps.sh", p)
	}
	return p
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
