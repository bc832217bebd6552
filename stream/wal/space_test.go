package wal

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/internal/disktest"
)

// bigRec is a 64 KiB record numbered i.
func bigRec(i int) Record {
	data := make([]byte, 64<<10)
	copy(data, rec(i).Data)
	return Record{Type: 1, Data: data}
}

// appendUntilError appends bigRecs from 0 until an append fails, at most
// limit of them, and returns how many were acknowledged and the error.
func appendUntilError(t *testing.T, l *FileLog, limit int) (int, error) {
	t.Helper()
	for i := range limit {
		if _, err := AppendSync(context.Background(), l, bigRec(i)); err != nil {
			return i, err
		}
	}
	t.Fatalf("%d appends of 64 KiB all fit on a small disk", limit)
	return 0, nil
}

func checkBigRecords(t *testing.T, l *FileLog, n int) {
	t.Helper()
	got := readAll(t, l)
	if len(got) != n {
		t.Fatalf("read %d records back, want the %d acknowledged", len(got), n)
	}
	for i, e := range got {
		if want := rec(i).Data; string(e.Data[:len(want)]) != string(want) {
			t.Fatalf("record %d holds %q, want %q", i, e.Data[:len(want)], want)
		}
	}
}

func TestDiskReserveRefusesAppendsUntilSpaceIsFreed(t *testing.T) {
	dir := disktest.Small(t, 8<<20)
	filler := disktest.Fill(t, dir, 3<<20)
	l, err := Open(Options{Dir: dir + "/wal", MaxFileBytes: 1 << 20, MinFreeBytes: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	acked, err := appendUntilError(t, l, 200)
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("append %d failed with %v, want ErrDiskFull", acked, err)
	}
	if acked < 20 {
		t.Fatalf("only %d appends of 64 KiB fit in 8 MiB less a 3 MiB filler and a 2 MiB reserve", acked)
	}
	// The log is still usable: reads work, and once the filler is gone
	// appends go on from where they were refused.
	checkBigRecords(t, l, acked)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := acked; i < acked+10; i++ {
		if _, err := AppendSync(context.Background(), l, bigRec(i)); err != nil {
			t.Fatalf("append %d after freeing 3 MiB: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(Options{Dir: dir + "/wal"})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	checkBigRecords(t, l2, acked+10)
}

// Without a reserve the disk really fills: the write fails half-way, the
// log refuses everything after, and reopening it (once there is room)
// finds every acknowledged record and nothing of the failed write.
func TestFullDiskFailsTheLogAndLosesNothingAcknowledged(t *testing.T) {
	dir := disktest.Small(t, 4<<20)
	filler := disktest.Fill(t, dir, 1<<20)
	l, err := Open(Options{Dir: dir + "/wal", MaxFileBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	acked, err := appendUntilError(t, l, 200)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append %d failed with %v, want ENOSPC", acked, err)
	}
	if _, err := AppendSync(context.Background(), l, bigRec(acked)); err == nil {
		t.Fatal("the log took an append after a failed write")
	}
	l.Close()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(Options{Dir: dir + "/wal"})
	if err != nil {
		t.Fatalf("reopen after a full disk: %v", err)
	}
	defer l2.Close()
	checkBigRecords(t, l2, acked)
	if _, err := AppendSync(context.Background(), l2, bigRec(acked)); err != nil {
		t.Fatalf("append after reopening with room: %v", err)
	}
}

// The guard trusts a reading for a second while appends fit, asks again
// before refusing, and counts what it admitted against the reading.
func TestSpaceGuardReadsTheFileSystemSparingly(t *testing.T) {
	now := time.Unix(0, 0)
	size, used, reads := int64(10_000), int64(0), 0
	g := &spaceGuard{dir: "d", reserve: 1000, now: func() time.Time { return now },
		free: func(string) (int64, error) { reads++; return size - used, nil }}
	write := func(n int) error {
		err := g.admit(n, false)
		if err == nil {
			used += int64(n) // the write lands on the disk
		}
		return err
	}
	for range 8 {
		if err := write(1000); err != nil {
			t.Fatal(err)
		}
	}
	if reads != 1 {
		t.Fatalf("%d statfs calls for 8 appends within a second, want 1", reads)
	}
	if err := write(1500); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("admit beyond the reserve: %v, want ErrDiskFull", err)
	}
	if reads != 2 {
		t.Fatalf("refused without a fresh reading (%d reads)", reads)
	}
	if err := g.admit(1500, true); err != nil {
		t.Fatalf("an append that may use the reserve was refused: %v", err)
	}
	used += 1500
	used -= 5000 // someone freed space
	if err := write(1500); err != nil {
		t.Fatalf("admit after space was freed: %v", err)
	}
	now = now.Add(2 * time.Second)
	if err := write(1); err != nil {
		t.Fatal(err)
	}
	if reads != 4 {
		t.Fatalf("%d reads, want a new one after a second", reads)
	}
	if (*spaceGuard)(nil).admit(1<<40, false) != nil {
		t.Fatal("a nil guard refused an append")
	}
}
