package stream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// tiered sets small chunks and log files so that a few hundred kilobytes
// exercise chunking and log truncation.
func tiered(storage lts.Storage) func(*stream.Options) {
	return func(o *stream.Options) {
		o.LTS = storage
		o.ChunkBytes = 16 << 10
		o.MaxLogFileBytes = 64 << 10
		o.TierInterval = 5 * time.Millisecond
		o.ChunkAge = time.Hour
	}
}

func newDirLTS(t testing.TB) *lts.Dir {
	t.Helper()
	d, err := lts.NewDir(filepath.Join(t.TempDir(), "lts"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// writeEvents writes n events per key for keys 0..keys-1 through one
// idempotent writer, each padded to size bytes.
func writeEvents(t testing.TB, s *stream.Store, name stream.StreamName, writer string, keys, n, size int) {
	t.Helper()
	writeEventsFrom(t, s, name, writer, keys, 1, n, size)
}

// writeEventsFrom writes events numbered from to n per key.
func writeEventsFrom(t testing.TB, s *stream.Store, name stream.StreamName, writer string, keys, from, n, size int) {
	t.Helper()
	ctx := context.Background()
	w, err := s.NewWriter(name, writer)
	if err != nil {
		t.Fatal(err)
	}
	var acks []*stream.Ack
	for i := from; i <= n; i++ {
		for k := range keys {
			ack, err := w.WriteAsync(ctx, fmt.Sprintf("key-%d", k), padded(writer, k, i, size))
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, ack)
		}
	}
	for _, a := range acks {
		if _, err := a.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// padded is payload(writer, key, n) followed by spaces up to size bytes;
// parse ignores the padding.
func padded(writer string, key, n, size int) []byte {
	b := payload(writer, key, n)
	if len(b) < size {
		b = append(b, bytes.Repeat([]byte{' '}, size-len(b))...)
	}
	return b
}

func countObjects(t testing.TB, root string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".chunk") {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTierMovesDataToLTSAndReadsItBack(t *testing.T) {
	ctx := context.Background()
	dir, storage := t.TempDir(), newDirLTS(t)
	s := openStore(t, dir, tiered(storage))
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	writeEvents(t, s, cams, "w", 4, 300, 200) // 4 keys × 300 events × ~204 bytes ≈ 245 KB
	before := readStream(t, s, cams)
	logBefore := s.LocalBytes()

	moved, err := s.TierAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if moved < 200<<10 {
		t.Fatalf("tiered %d bytes, want all ~245 KB", moved)
	}
	if logAfter := s.LocalBytes(); logAfter > logBefore/2 {
		t.Fatalf("the log holds %d bytes after tiering, %d before: it was not truncated", logAfter, logBefore)
	}
	if n := countObjects(t, storage.Root()); n < 10 {
		t.Fatalf("%d chunks in LTS, want at least 10 of 16 KiB", n)
	}
	after := readStream(t, s, cams)
	sameEvents(t, before, after)
	checkPerKeyOrder(t, after)

	// After a restart the chunks are found again from the log's
	// checkpoint, and new appends continue after them.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, tiered(storage))
	defer s.Close()
	sameEvents(t, before, readStream(t, s, cams))
	writeEventsFrom(t, s, cams, "w", 4, 301, 310, 200)
	got := checkPerKeyOrder(t, readStream(t, s, cams))
	for k := range 4 {
		if n := got[fmt.Sprintf("w/k%d", k)]; n != 310 {
			t.Fatalf("key %d: %d events, want 310", k, n)
		}
	}
}

// sameEvents checks that two reads returned the same events, offsets and
// times included.
func sameEvents(t testing.TB, want, got map[stream.SegmentID][]stream.Event) {
	t.Helper()
	for id, evs := range want {
		if len(got[id]) != len(evs) {
			t.Fatalf("segment %s: %d events, want %d", id, len(got[id]), len(evs))
		}
		for i, ev := range evs {
			g := got[id][i]
			if g.Offset != ev.Offset || g.Next != ev.Next || !g.Time.Equal(ev.Time) || !bytes.Equal(g.Data, ev.Data) {
				t.Fatalf("segment %s event %d: got offset %d time %s %q, want offset %d time %s %q",
					id, i, g.Offset, g.Time, g.Data, ev.Offset, ev.Time, ev.Data)
			}
		}
	}
}

// TestTierWhileWritingAndReading runs the tiering loop under concurrent
// writers and a catch-up reader and a tail reader: every event is read
// once, in order, whether it came from the log or from LTS.
func TestTierWhileWritingAndReading(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	storage := newDirLTS(t)
	s := openStore(t, t.TempDir(), tiered(storage))
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	var run sync.WaitGroup
	run.Go(func() { s.Run(ctx) })
	defer run.Wait()
	defer cancel()

	const writers, perWriter = 4, 400
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { writeEvents(t, s, cams, fmt.Sprintf("w%d", w), 1, perWriter, 300) })
	}
	info, _ := s.Stream(cams)
	seg := info.Segments[0].ID
	tail := make(chan map[string]int, 1)
	go func() {
		last := map[string]int{}
		off := int64(0)
		for total := 0; total < writers*perWriter; {
			b, err := s.ReadSegment(ctx, cams, seg, off, stream.ReadOptions{MaxBytes: 8 << 10})
			if err != nil {
				t.Error(err)
				break
			}
			for _, ev := range b.Events {
				g := parse(t, ev.Data)
				if g.n != last[g.writer]+1 {
					t.Errorf("tail reader: %s event %d after %d", g.writer, g.n, last[g.writer])
				}
				last[g.writer] = g.n
				total++
			}
			off = b.Next
		}
		tail <- last
	}()
	wg.Wait()
	last := <-tail
	for w := range writers {
		if n := last[fmt.Sprintf("w%d", w)]; n != perWriter {
			t.Fatalf("tail reader saw %d events of w%d, want %d", n, w, perWriter)
		}
	}
	waitFor(t, func() bool { return countObjects(t, storage.Root()) >= 10 })
	got := checkPerKeyOrder(t, readStream(t, s, cams))
	for w := range writers {
		if n := got[fmt.Sprintf("w%d/k0", w)]; n != perWriter {
			t.Fatalf("catch-up read saw %d events of w%d, want %d", n, w, perWriter)
		}
	}
}

func TestTierTruncateAndDeleteRemoveChunks(t *testing.T) {
	ctx := context.Background()
	storage := newDirLTS(t)
	s := openStore(t, t.TempDir(), tiered(storage))
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	writeEvents(t, s, cams, "w", 1, 400, 200)
	if _, err := s.TierAll(ctx); err != nil {
		t.Fatal(err)
	}
	chunks := countObjects(t, storage.Root())
	evs := readStream(t, s, cams)
	info, _ := s.Stream(cams)
	seg := info.Segments[0].ID
	all := evs[seg]

	// An offset inside an event of a tiered chunk is refused.
	mid := all[len(all)/2]
	if err := s.Truncate(ctx, cams, stream.StreamCut{seg: mid.Offset + 1}); err == nil {
		t.Fatal("truncating inside an event of a tiered chunk succeeded")
	}
	// A boundary in the middle of a chunk is fine; the chunks before it
	// are deleted from LTS by the next pass.
	if err := s.Truncate(ctx, cams, stream.StreamCut{seg: mid.Offset}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tier(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countObjects(t, storage.Root()); n >= chunks || n == 0 {
		t.Fatalf("%d chunks after truncating half the stream, %d before", n, chunks)
	}
	got := readStream(t, s, cams)[seg]
	if len(got) != len(all)-len(all)/2 || got[0].Offset != mid.Offset {
		t.Fatalf("after truncation read %d events from %d, want %d from %d", len(got), got[0].Offset, len(all)-len(all)/2, mid.Offset)
	}
	if _, err := s.ReadSegment(ctx, cams, seg, 0, stream.ReadOptions{NoWait: true}); !errors.Is(err, stream.ErrTruncated) {
		t.Fatalf("reading truncated data: %v, want ErrTruncated", err)
	}

	if err := s.DeleteStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tier(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countObjects(t, storage.Root()); n != 0 {
		t.Fatalf("%d chunks left after deleting the stream", n)
	}
}

func TestTierRetentionDropsWholeChunks(t *testing.T) {
	ctx := context.Background()
	storage := newDirLTS(t)
	s := openStore(t, t.TempDir(), tiered(storage))
	defer s.Close()
	createStream(t, s, cams, stream.StreamConfig{Segments: 1, Retention: stream.RetentionPolicy{MaxBytes: 40 << 10}})
	writeEvents(t, s, cams, "w", 1, 1000, 200) // ~200 KB
	if _, err := s.TierAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyRetention(ctx); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Stream(cams)
	kept := info.Segments[0].End - info.Segments[0].Start
	if kept > 40<<10 || kept < 40<<10-16<<10-1024 {
		t.Fatalf("retention kept %d bytes, want 40 KiB less at most a chunk", kept)
	}
	if _, err := s.Tier(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countObjects(t, storage.Root()); n > 4 {
		t.Fatalf("%d chunks in LTS after retention kept ~%d bytes", n, kept)
	}
	evs := readStream(t, s, cams)[info.Segments[0].ID]
	if last := parse(t, evs[len(evs)-1].Data); last.n != 1000 {
		t.Fatalf("the newest event is %d, want 1000", last.n)
	}
}

func TestTierDamagedChunkIsAnError(t *testing.T) {
	ctx := context.Background()
	dir, storage := t.TempDir(), newDirLTS(t)
	s := openStore(t, dir, tiered(storage))
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	writeEvents(t, s, cams, "w", 1, 100, 100)
	if _, err := s.TierAll(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir, tiered(storage)) // nothing cached
	defer s.Close()
	var first string
	filepath.WalkDir(storage.Root(), func(path string, d fs.DirEntry, err error) error {
		if first == "" && strings.HasSuffix(path, ".chunk") {
			first = path
		}
		return nil
	})
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(first, b, 0o600); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Stream(cams)
	_, err = s.ReadSegment(ctx, cams, info.Segments[0].ID, 0, stream.ReadOptions{NoWait: true})
	if err == nil || !strings.Contains(err.Error(), "checksum") || !strings.Contains(err.Error(), ".chunk") {
		t.Fatalf("reading a damaged chunk: %v, want a checksum error naming the chunk", err)
	}
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkCatchUpFromLTS reads a 1 GiB segment (the catch-up
// workload) that lives wholly in LTS (a directory, MinIO, or GEDS with the
// chunks in this node's tier 0 and persisted to MinIO), from a freshly
// opened store (empty caches; the OS page cache is warm), the way a
// catch-up reader does: 1 MiB batches, the next chunk prefetched while the
// current one is read.
func BenchmarkCatchUpFromLTS(b *testing.B) {
	b.Run("lts=dir", func(b *testing.B) { benchCatchUp(b, newDirLTS(b)) })
	b.Run("lts=minio", func(b *testing.B) {
		_, storage := newS3LTS(b)
		benchCatchUp(b, storage)
	})
	b.Run("lts=geds", func(b *testing.B) { benchCatchUp(b, newGEDSLTS(b)) })
}

func benchCatchUp(b *testing.B, storage lts.Storage) {
	const total, event = 1 << 30, 64 << 10
	ctx := context.Background()
	dir := b.TempDir()
	big := func(o *stream.Options) {
		o.LTS = storage
		o.ChunkBytes = 8 << 20
	}
	s := openStore(b, dir, big)
	createStream(b, s, cams, stream.StreamConfig{Segments: 1})
	w, _ := s.NewWriter(cams, "w")
	data := make([]byte, event)
	for range total / event {
		if _, err := w.WriteAsync(ctx, "k", data); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := s.TierAll(ctx); err != nil {
		b.Fatal(err)
	}
	info, _ := s.Stream(cams)
	seg, end := info.Segments[0].ID, info.Segments[0].End
	s.Close()
	b.SetBytes(end)
	for b.Loop() {
		s := openStore(b, dir, big)
		for off := int64(0); off < end; {
			batch, err := s.ReadSegment(ctx, cams, seg, off, stream.ReadOptions{MaxBytes: 1 << 20, NoWait: true})
			if err != nil {
				b.Fatal(err)
			}
			off = batch.Next
		}
		s.Close()
	}
}

// BenchmarkTierAll measures how fast the store moves a backlog of 64 MiB
// in 4 segments from its log to LTS (what catching up after an outage
// costs), chunks of 8 MiB, log truncated at the end.
func BenchmarkTierAll(b *testing.B) {
	b.Run("lts=dir", func(b *testing.B) { benchTierAll(b, newDirLTS(b)) })
	b.Run("lts=minio", func(b *testing.B) {
		_, storage := newS3LTS(b)
		benchTierAll(b, storage)
	})
}

func benchTierAll(b *testing.B, storage lts.Storage) {
	const total, event = 64 << 20, 4 << 10
	ctx := context.Background()
	data := make([]byte, event)
	b.SetBytes(total)
	for b.Loop() {
		b.StopTimer()
		s := openStore(b, b.TempDir(), func(o *stream.Options) { o.LTS = storage; o.LTSPrefix = fmt.Sprintf("run-%d/", time.Now().UnixNano()) })
		createStream(b, s, cams, stream.StreamConfig{Segments: 4})
		w, _ := s.NewWriter(cams, "w")
		for i := range total / event {
			if _, err := w.WriteAsync(ctx, fmt.Sprint(i%16), data); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.TierAll(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// TestTierReadWhileLTSIsGone reads tiered data while the LTS directory is
// gone (an unmounted share): the read fails saying LTS is unavailable, and
// works again once it is back; data still in the log reads throughout.
func TestTierReadWhileLTSIsGone(t *testing.T) {
	ctx := context.Background()
	dir, storage := t.TempDir(), newDirLTS(t)
	s := openStore(t, dir, tiered(storage))
	createStream(t, s, cams, stream.StreamConfig{Segments: 1})
	writeEvents(t, s, cams, "w", 1, 200, 200)
	if _, err := s.TierAll(ctx); err != nil {
		t.Fatal(err)
	}
	writeEventsFrom(t, s, cams, "w", 1, 201, 210, 200) // stays in the log
	want := readStream(t, s, cams)
	s.Close()
	s = openStore(t, dir, tiered(storage))
	defer s.Close()
	info, _ := s.Stream(cams)
	seg := info.Segments[0].ID
	last := want[seg][200] // the first event that is only in the log

	away := storage.Root() + ".away"
	if err := os.Rename(storage.Root(), away); err != nil {
		t.Fatal(err)
	}
	_, err := s.ReadSegment(ctx, cams, seg, 0, stream.ReadOptions{NoWait: true})
	if !errors.Is(err, lts.ErrUnavailable) {
		t.Fatalf("reading tiered data with LTS gone: %v, want ErrUnavailable", err)
	}
	b, err := s.ReadSegment(ctx, cams, seg, last.Offset, stream.ReadOptions{NoWait: true})
	if err != nil || len(b.Events) != 10 {
		t.Fatalf("reading the log's data with LTS gone: %d events, %v", len(b.Events), err)
	}
	if err := os.Rename(away, storage.Root()); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, want, readStream(t, s, cams))
}
