package stream_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cloudskin/cloudskin/internal/disktest"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/wal"
)

// On a disk that fills up, the store refuses appends with back-pressure
// before the disk is full and stays usable: everything acknowledged is
// readable, tiering to LTS frees the log (its records may use the reserve),
// appends then succeed again, and a reopened store finds every event.
func TestFullDiskPushesBackAndTieringMakesRoom(t *testing.T) {
	disk := disktest.Small(t, 12<<20)
	storage := newDirLTS(t)
	open := func() *stream.Store {
		return openStore(t, filepath.Join(disk, "store"), func(o *stream.Options) {
			o.LTS = storage
			o.MinFreeBytes = 4 << 20
			o.MaxLogFileBytes = 256 << 10
			o.ChunkBytes = 64 << 10
		})
	}
	s := open()
	createStream(t, s, cams, stream.StreamConfig{Segments: 2})
	ctx := context.Background()
	w, err := s.NewWriter(cams, "camera")
	if err != nil {
		t.Fatal(err)
	}

	acked := 0
	for {
		err = w.Write(ctx, "k0", padded("camera", 0, acked+1, 16<<10))
		if err != nil {
			break
		}
		acked++
		if acked > 1000 {
			t.Fatal("16 MiB of events fit on a 12 MiB disk with a 4 MiB reserve")
		}
	}
	if !errors.Is(err, stream.ErrBackPressure) || !errors.Is(err, wal.ErrDiskFull) {
		t.Fatalf("append %d on a full disk: %v, want ErrBackPressure and wal.ErrDiskFull", acked+1, err)
	}
	if acked < 200 {
		t.Fatalf("only %d events of 16 KiB fit before the reserve, want about 480", acked)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("the store failed on a full disk: %v", err)
	}
	if got := checkPerKeyOrder(t, readStream(t, s, cams))["camera/k0"]; got != acked {
		t.Fatalf("read %d events after the disk filled, %d were acknowledged", got, acked)
	}

	if _, err := s.TierAll(ctx); err != nil {
		t.Fatalf("tiering on a full disk: %v", err)
	}
	if err := w.Write(ctx, "k0", padded("camera", 0, acked+1, 16<<10)); err != nil {
		t.Fatalf("append after tiering freed the log: %v", err)
	}
	acked++
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open()
	defer s.Close()
	if got := checkPerKeyOrder(t, readStream(t, s, cams))["camera/k0"]; got != acked {
		t.Fatalf("reopened store has %d events, %d were acknowledged", got, acked)
	}
}
