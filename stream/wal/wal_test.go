package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func openLog(t *testing.T, dir string, maxFile int64) *FileLog {
	t.Helper()
	l, err := Open(Options{Dir: dir, MaxFileBytes: maxFile})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rec(i int) Record { return Record{Type: 1, Data: fmt.Appendf(nil, "record-%06d", i)} }

// readAll reads every record from the log's first address.
func readAll(t *testing.T, l Log) []Entry {
	t.Helper()
	first, _ := l.Bounds()
	var out []Entry
	for e, err := range l.Read(first) {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func appendN(t *testing.T, l Log, from, n int) []Address {
	t.Helper()
	var addrs []Address
	for i := from; i < from+n; i++ {
		a, err := AppendSync(context.Background(), l, rec(i))
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a...)
	}
	return addrs
}

func checkRecords(t *testing.T, got []Entry, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	for i, e := range got {
		if want := rec(from + i); e.Type != want.Type || !bytes.Equal(e.Data, want.Data) {
			t.Fatalf("record %d = %d %q, want %d %q", i, e.Type, e.Data, want.Type, want.Data)
		}
		if i > 0 && e.Addr != got[i-1].Next {
			t.Fatalf("record %d at %d, previous ends at %d", i, e.Addr, got[i-1].Next)
		}
	}
}

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	addrs := appendN(t, l, 0, 10)
	got := readAll(t, l)
	checkRecords(t, got, 0, 10)
	for i, e := range got {
		if e.Addr != addrs[i] {
			t.Fatalf("record %d read at %d, appended at %d", i, e.Addr, addrs[i])
		}
	}
	// Reading from the middle starts at that record.
	var mid []Entry
	for e, err := range l.Read(addrs[5]) {
		if err != nil {
			t.Fatal(err)
		}
		mid = append(mid, e)
	}
	checkRecords(t, mid, 5, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]Record{rec(0)}, func([]Address, error) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}

	l = openLog(t, dir, 0)
	defer l.Close()
	if r := l.Recovered(); r.TornBytes != 0 || r.Files != 1 {
		t.Fatalf("clean reopen recovered %+v", r)
	}
	appendN(t, l, 10, 5)
	checkRecords(t, readAll(t, l), 0, 15)
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	defer l.Close()
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("a second Open of the same directory succeeded")
	}
}

func TestGroupCommitAcksInOrder(t *testing.T) {
	reg := prometheus.NewRegistry()
	l, err := Open(Options{Dir: t.TempDir(), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// Appends are made in a known order under a lock, as the stream store
	// does, while the committer runs; acknowledgements must come back in
	// that order with growing addresses.
	const writers, each = 16, 50
	var (
		mu     sync.Mutex
		order  []int
		acked  []int
		addrOf = map[int]Address{}
		wg     sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := w*each + i
				done := make(chan error, 1)
				mu.Lock()
				order = append(order, id)
				err := l.Append([]Record{rec(id)}, func(a []Address, err error) {
					mu.Lock()
					acked = append(acked, id)
					if err == nil {
						addrOf[id] = a[0]
					}
					mu.Unlock()
					done <- err
				})
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if err := <-done; err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(acked) != writers*each {
		t.Fatalf("%d acknowledgements, want %d", len(acked), writers*each)
	}
	for i := range order {
		if acked[i] != order[i] {
			t.Fatalf("acknowledgement %d is of append %d, but append %d was made %dth", i, acked[i], order[i], i)
		}
		if i > 0 && addrOf[order[i]] <= addrOf[order[i-1]] {
			t.Fatalf("append %d got address %d, not after %d", i, addrOf[order[i]], addrOf[order[i-1]])
		}
	}
	st := l.Stats()
	if st.Records != writers*each || st.Syncs >= st.Records {
		t.Fatalf("stats %+v: want %d records in fewer syncs (group commit)", st, writers*each)
	}
	if got := counterValue(t, reg, "stream_wal_fsyncs_total"); got != float64(st.Syncs) {
		t.Fatalf("stream_wal_fsyncs_total = %v, want %d", got, st.Syncs)
	}
	t.Logf("%d records in %d syncs", st.Records, st.Syncs)
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestBarrierWaitsForEarlierAppends(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	defer l.Close()
	var mu sync.Mutex
	var events []string
	done := make(chan struct{})
	note := func(s string) func([]Address, error) {
		return func(_ []Address, err error) {
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			events = append(events, s)
			mu.Unlock()
			if s == "barrier" {
				close(done)
			}
		}
	}
	for i := range 5 {
		if err := l.Append([]Record{rec(i)}, note(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Append(nil, note("barrier")); err != nil {
		t.Fatal(err)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(events) != "[0 1 2 3 4 barrier]" {
		t.Fatalf("acknowledgements %v", events)
	}
}

func TestRollTruncateAndReadTruncated(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 200) // a new file every few records
	addrs := appendN(t, l, 0, 40)
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(files) < 5 {
		t.Fatalf("%d files after 40 records with a 200-byte limit", len(files))
	}
	if err := l.Truncate(addrs[20]); err != nil {
		t.Fatal(err)
	}
	first, end := l.Bounds()
	if first > addrs[20] || first <= addrs[0] {
		t.Fatalf("after Truncate(%d) the log starts at %d", addrs[20], first)
	}
	if end != addrs[39]+Address(FrameSize(len(rec(39).Data))) {
		t.Fatalf("end %d", end)
	}
	for _, err := range l.Read(addrs[0]) {
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("read of a truncated address: %v, want ErrTruncated", err)
		}
	}
	var got []Entry
	for e, err := range l.Read(addrs[20]) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e)
	}
	checkRecords(t, got, 20, 20)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir, 200)
	defer l.Close()
	if f, _ := l.Bounds(); f != first {
		t.Fatalf("reopened log starts at %d, want %d", f, first)
	}
	appendN(t, l, 40, 3)
	all := readAll(t, l)
	if all[len(all)-1].Addr <= addrs[39] || string(all[len(all)-1].Data) != string(rec(42).Data) {
		t.Fatalf("last record after reopen: %+v", all[len(all)-1])
	}
}

// lastFile returns the path of the log file appended to last.
func lastFile(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no log files: %v", err)
	}
	return files[len(files)-1]
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestTornTailIsCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail func(next Address) []byte
	}{
		{"half a header", func(next Address) []byte { return AppendRecord(nil, next, rec(99))[:7] }},
		{"half a payload", func(next Address) []byte { b := AppendRecord(nil, next, rec(99)); return b[:len(b)-3] }},
		{"zeros", func(Address) []byte { return make([]byte, 4096) }},
		{"whole record then half", func(next Address) []byte {
			// A write that reached the disk only in part: the record is
			// there but its payload bytes are not all right.
			b := AppendRecord(nil, next, rec(99))
			b[len(b)-1] ^= 0xff
			return b
		}},
		{"garbage", func(Address) []byte { return bytes.Repeat([]byte{0xa5, 0x17, 0x3c}, 1000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, 0)
			appendN(t, l, 0, 10)
			_, next := l.Bounds()
			l.Close()
			tail := tc.tail(next)
			appendBytes(t, lastFile(t, dir), tail)

			l = openLog(t, dir, 0)
			defer l.Close()
			r := l.Recovered()
			if r.TornBytes != int64(len(tail)) || r.TornAt != next {
				t.Fatalf("recovered %+v, want %d torn bytes at %d", r, len(tail), next)
			}
			checkRecords(t, readAll(t, l), 0, 10)
			appendN(t, l, 10, 2)
			checkRecords(t, readAll(t, l), 0, 12)
		})
	}
}

func TestFileCutInsideLastRecord(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	addrs := appendN(t, l, 0, 10)
	l.Close()
	// The last record's final bytes never reached the disk.
	path := lastFile(t, dir)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-5); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, 0)
	defer l.Close()
	if r := l.Recovered(); r.TornAt != addrs[9] || r.TornBytes != int64(FrameSize(len(rec(9).Data))-5) {
		t.Fatalf("recovered %+v, want the partial record at %d cut", r, addrs[9])
	}
	checkRecords(t, readAll(t, l), 0, 9)
	appendN(t, l, 9, 1)
	checkRecords(t, readAll(t, l), 0, 10)
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestDamageBeforeIntactRecordsIsAnError(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	addrs := appendN(t, l, 0, 10)
	l.Close()
	// A payload byte of record 3, with six intact records after it.
	flipByte(t, lastFile(t, dir), fileHeaderSize+int64(addrs[3])+frameHeaderSize+2)
	_, err := Open(Options{Dir: dir})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	if want := fmt.Sprintf("record at address %d", addrs[3]); !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not name %q", err, want)
	}
	if want := fmt.Sprintf("intact record follows at address %d", addrs[4]); !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestDamageFarFromTheEndIsAnError(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 1<<30)
	big := Record{Type: 2, Data: bytes.Repeat([]byte("x"), 12<<20)}
	ctx := context.Background()
	a0, err := AppendSync(ctx, l, big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AppendSync(ctx, l, big); err != nil {
		t.Fatal(err)
	}
	l.Close()
	flipByte(t, lastFile(t, dir), fileHeaderSize+int64(a0[0])+frameHeaderSize+100)
	_, err = Open(Options{Dir: dir})
	if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("farther than an interrupted write reaches")) {
		t.Fatalf("Open = %v, want ErrCorrupt beyond the torn window", err)
	}
}

func TestDamageInSealedFile(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 200)
	addrs := appendN(t, l, 0, 30)
	l.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.wal"))

	// A damaged record in an older file is found when it is read.
	flipByte(t, files[0], fileHeaderSize+frameHeaderSize+1)
	l = openLog(t, dir, 200)
	var readErr error
	for _, err := range l.Read(addrs[0]) {
		if err != nil {
			readErr = err
		}
	}
	if !errors.Is(readErr, ErrCorrupt) {
		t.Fatalf("reading a damaged sealed file: %v, want ErrCorrupt", readErr)
	}
	l.Close()

	// An older file cut short is found at Open.
	if err := os.Truncate(files[1], fileHeaderSize+5); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a short sealed file = %v, want ErrCorrupt", err)
	}
}

func TestBadInput(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	defer l.Close()
	if err := l.Append([]Record{{Type: 0, Data: []byte("x")}}, func([]Address, error) {}); err == nil {
		t.Fatal("type 0 accepted")
	}
	if err := l.Append([]Record{{Type: 1, Data: make([]byte, MaxRecordSize+1)}}, func([]Address, error) {}); err == nil {
		t.Fatal("oversized record accepted")
	}
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without a directory succeeded")
	}
	for _, err := range l.Read(12345) {
		if err == nil {
			t.Fatal("read beyond the end succeeded")
		}
	}
}

func TestDecodeRecord(t *testing.T) {
	b := AppendRecord(nil, 77, Record{Type: 9, Data: []byte("payload")})
	r, n, err := DecodeRecord(b, 77)
	if err != nil || n != len(b) || r.Type != 9 || string(r.Data) != "payload" {
		t.Fatalf("DecodeRecord = %+v %d %v", r, n, err)
	}
	if _, _, err := DecodeRecord(b, 78); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decoding at the wrong address: %v, want ErrCorrupt", err)
	}
	if _, _, err := DecodeRecord(b[:len(b)-1], 77); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("decoding a short frame: %v, want unexpected EOF", err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, 0, Record{Type: 1, Data: []byte("hello")}), uint64(0))
	f.Add(AppendRecord(nil, 4096, Record{Type: 3, Data: nil}), uint64(4096))
	f.Add(make([]byte, 32), uint64(0))
	f.Add([]byte{1, 2, 3}, uint64(7))
	f.Fuzz(func(t *testing.T, b []byte, addr uint64) {
		r, n, err := DecodeRecord(b, Address(addr))
		if err != nil {
			return
		}
		if n > len(b) || n != FrameSize(len(r.Data)) {
			t.Fatalf("frame size %d of %d input bytes, payload %d", n, len(b), len(r.Data))
		}
		if again := AppendRecord(nil, Address(addr), r); !bytes.Equal(again, b[:n]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", again, b[:n])
		}
	})
}
