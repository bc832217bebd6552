package bolt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cloudskin/cloudskin/store"
	"github.com/cloudskin/cloudskin/store/bolt"
	"github.com/cloudskin/cloudskin/store/storetest"
)

func TestContract(t *testing.T) {
	var path string
	open := func(t *testing.T) store.Store {
		path = filepath.Join(t.TempDir(), "state.db")
		return mustOpen(t, path)
	}
	reopen := func(t *testing.T) store.Store { return mustOpen(t, path) }
	storetest.Run(t, open, reopen)
}

func TestSecondOpenIsRefusedWithClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpen(t, path)
	defer s.Close()
	_, err := bolt.Open(path)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: err = %v, want a lock error", err)
	}
}

func TestOpenRejectsCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.Open(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open corrupt file: err = %v, want an error naming %s", err, path)
	}
}

func mustOpen(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// BenchmarkPutConcurrent measures fsynced Puts from 16 writers at once,
// which share commits (Batch).
func BenchmarkPutConcurrent(b *testing.B) {
	s, err := bolt.Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 512)
	b.SetParallelism(8) // 16 goroutines on 2 cores
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Put(context.Background(), fmt.Sprintf("/bench/%d", n.Add(1)%1000), value); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
