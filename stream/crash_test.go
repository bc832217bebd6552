package stream_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
	"github.com/cloudskin/cloudskin/stream/wal"
)

const crashDirEnv = "STREAM_CRASH_TEST_DIR"

// TestHelperWriter is not a test: TestCrashRecovery runs the test binary
// again with only this function and a directory, and kills it. It appends
// forever with four idempotent writers, two waiting for each event and two
// pipelining, and prints "writer n" for every acknowledged event.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	ctx := context.Background()
	s, err := stream.Open(ctx, crashOptions(t, dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	go s.Run(ctx) // tiers to LTS as it goes, so kills land mid-tiering too
	if err := s.CreateScope(ctx, cams.Scope); err != nil && !errors.Is(err, stream.ErrExists) {
		t.Fatal(err)
	}
	if err := s.CreateStream(ctx, cams, stream.StreamConfig{Segments: 3}); err != nil && !errors.Is(err, stream.ErrExists) {
		t.Fatal(err)
	}
	// Each writer writes one key, numbering its events like its sequence
	// numbers, so it resumes after the last one stored.
	last := checkPerKeyOrder(t, readStream(t, s, cams))
	var out sync.Mutex
	ack := func(id string, n int) {
		out.Lock()
		fmt.Fprintf(os.Stdout, "%s %d\n", id, n)
		out.Unlock()
	}
	for i := range 4 {
		id := fmt.Sprintf("crash-w%d", i)
		w, err := s.NewWriter(cams, id)
		if err != nil {
			t.Fatal(err)
		}
		start := last[id+"/k"+strconv.Itoa(i)] + 1
		go func() {
			acks := make(chan *stream.Ack, 64)
			if i%2 == 1 {
				go func() {
					n := start
					for a := range acks {
						if _, err := a.Wait(ctx); err != nil {
							panic(err)
						}
						ack(id, n)
						n++
					}
				}()
			}
			for n := start; ; n++ {
				data := bytes.Repeat(payload(id, i, n), 1+n%7)
				if i%2 == 1 {
					a, err := w.WriteAsync(ctx, "key-"+id, data)
					if err != nil {
						panic(err)
					}
					acks <- a
					continue
				}
				if err := w.Write(ctx, "key-"+id, data); err != nil {
					panic(err)
				}
				ack(id, n)
			}
		}()
	}
	select {}
}

// crashOptions open the crash test's store with a directory LTS next to
// its log and chunks small enough that the data is tiered many times.
func crashOptions(t *testing.T, dir string) stream.Options {
	storage, err := lts.NewDir(filepath.Join(dir, "lts"))
	if err != nil {
		t.Fatal(err)
	}
	return stream.Options{Dir: dir, MaxLogFileBytes: 64 << 10, LTS: storage, ChunkBytes: 4 << 10, TierInterval: 2 * time.Millisecond}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	acked := map[string]int{}
	for round := range 4 {
		killAfter := 100 + rng.IntN(600)
		got := runAndKill(t, dir, killAfter)
		for id, n := range got {
			acked[id] = max(acked[id], n)
		}
		torn := 0
		if round%2 == 1 {
			torn = tearLastRecord(t, filepath.Join(dir, "wal"))
		}

		s, err := stream.Open(context.Background(), crashOptions(t, dir))
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		if rec := s.Recovered(); rec.TornBytes < int64(torn) {
			t.Fatalf("round %d: %d torn bytes cut, but %d were added", round, rec.TornBytes, torn)
		}
		// In order, no duplicates, no gaps, nothing acknowledged missing.
		stored := checkPerKeyOrder(t, readStream(t, s, cams))
		for id, n := range acked {
			if k := id + "/k" + id[len(id)-1:]; stored[k] < n {
				t.Fatalf("round %d: writer %s had %d events acknowledged, %d are stored", round, id, n, stored[k])
			}
		}
		t.Logf("round %d: killed after %d acks; acknowledged %v; %d records replayed, %d torn bytes cut, %d chunks in LTS",
			round, killAfter, acked, s.Recovered().Records, s.Recovered().TornBytes, countObjects(t, filepath.Join(dir, "lts")))

		if round == 3 {
			retryAfterCrash(t, s, acked, stored)
		}
		s.Close()
	}
}

// runAndKill runs TestHelperWriter until it has acknowledged killAfter
// events, kills it with SIGKILL and returns the last event acknowledged per
// writer.
func runAndKill(t *testing.T, dir string, killAfter int) map[string]int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]int{}
	lines := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		id, n, ok := strings.Cut(sc.Text(), " ")
		num, err := strconv.Atoi(n)
		if !ok || err != nil || !strings.HasPrefix(id, "crash-w") {
			continue
		}
		if num != acked[id]+1 && acked[id] != 0 {
			t.Errorf("writer %s acknowledged %d after %d", id, num, acked[id])
		}
		acked[id] = num
		if lines++; lines == killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v after %d acks, not killed; stderr:\n%s", err, lines, stderr.String())
	}
	return acked
}

// tearLastRecord appends the first half of a well-formed record to the
// last log file, as a write interrupted by a crash leaves it, and returns
// how many bytes it added.
func tearLastRecord(t *testing.T, walDir string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(walDir, "*.wal"))
	last := files[len(files)-1]
	base, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(last), ".wal"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	const fileHeader = 24 // docs/formats/stream-wal.md
	frame := wal.AppendRecord(nil, wal.Address(base+uint64(st.Size()-fileHeader)), wal.Record{Type: 1, Data: bytes.Repeat([]byte("torn"), 100)})
	half := frame[:len(frame)/2]
	f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(half); err != nil {
		t.Fatal(err)
	}
	return len(half)
}

// retryAfterCrash resends, as a writer that lost its acknowledgements
// would, each writer's events around the last one it saw acknowledged; the
// ones already stored must be dropped.
func retryAfterCrash(t *testing.T, s *stream.Store, acked, stored map[string]int) {
	t.Helper()
	ctx := context.Background()
	dups := 0
	for id, n := range acked {
		i, _ := strconv.Atoi(id[len(id)-1:])
		for seq := max(1, n-5); seq <= n+5; seq++ {
			r, err := s.Append(ctx, stream.AppendRequest{
				Stream: cams, RoutingKey: "key-" + id, WriterID: id, Seq: int64(seq),
				Events: [][]byte{bytes.Repeat(payload(id, i, seq), 1+seq%7)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if r.Duplicate != (seq <= stored[id+"/k"+strconv.Itoa(i)]) {
				t.Fatalf("writer %s seq %d: duplicate %v, but %d are stored", id, seq, r.Duplicate, stored[id+"/k"+strconv.Itoa(i)])
			}
			if r.Duplicate {
				dups++
			}
		}
	}
	if dups == 0 {
		t.Fatal("no retry was a duplicate")
	}
	after := checkPerKeyOrder(t, readStream(t, s, cams))
	for id, n := range acked {
		if k := id + "/k" + id[len(id)-1:]; after[k] != max(n+5, stored[k]) {
			t.Fatalf("writer %s: %d events after the retries, want %d", id, after[k], max(n+5, stored[k]))
		}
	}
}
