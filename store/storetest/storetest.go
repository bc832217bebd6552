// Package storetest is the contract every store.Store implementation must
// meet, written once and run against each implementation's own test.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/store"
)

// Run runs the contract against stores made by open. Reopen must return a
// store over the same data after the previous one was closed, so durability
// can be checked.
func Run(t *testing.T, open func(t *testing.T) store.Store, reopen func(t *testing.T) store.Store) {
	t.Run("GetMissing", func(t *testing.T) { testGetMissing(t, open(t)) })
	t.Run("PutGetDelete", func(t *testing.T) { testPutGetDelete(t, open(t)) })
	t.Run("ListPrefix", func(t *testing.T) { testListPrefix(t, open(t)) })
	t.Run("ValuesAreCopies", func(t *testing.T) { testValuesAreCopies(t, open(t)) })
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("SurvivesReopen", func(t *testing.T) { testSurvivesReopen(t, open(t), reopen) })
}

func testGetMissing(t *testing.T, s store.Store) {
	defer s.Close()
	if _, err := s.Get(context.Background(), "/nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get missing: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(context.Background(), "/nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Delete missing: err = %v, want ErrNotFound", err)
	}
}

func testPutGetDelete(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	mustPut(t, s, "/a", "1")
	mustPut(t, s, "/a", "2")
	if got := mustGet(t, s, "/a"); got != "2" {
		t.Fatalf("Get after overwrite = %q, want 2", got)
	}
	if err := s.Delete(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "/a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
}

func testListPrefix(t *testing.T, s store.Store) {
	defer s.Close()
	for _, k := range []string{"/sites/b", "/sites/a", "/sitesx", "/apps/a", "/sites/c"} {
		mustPut(t, s, k, k)
	}
	kvs, err := s.List(context.Background(), "/sites/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range kvs {
		if string(kv.Value) != kv.Key {
			t.Errorf("value of %s = %q", kv.Key, kv.Value)
		}
		keys = append(keys, kv.Key)
	}
	if fmt.Sprint(keys) != "[/sites/a /sites/b /sites/c]" {
		t.Fatalf("List(/sites/) keys = %v", keys)
	}
	empty, err := s.List(context.Background(), "/none/")
	if err != nil || len(empty) != 0 {
		t.Fatalf("List(/none/) = %v, %v; want empty", empty, err)
	}
}

func testValuesAreCopies(t *testing.T, s store.Store) {
	defer s.Close()
	v := []byte("abc")
	if err := s.Put(context.Background(), "/k", v); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	got, _ := s.Get(context.Background(), "/k")
	got[1] = 'Y'
	if again := mustGet(t, s, "/k"); again != "abc" {
		t.Fatalf("stored value changed through caller's slice: %q", again)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "/k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with canceled context: err = %v", err)
	}
	if _, err := s.Get(context.Background(), "/k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("canceled Put wrote anyway: %v", err)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				key := fmt.Sprintf("/c/%d/%02d", i, j)
				if err := s.Put(context.Background(), key, []byte(key)); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.List(context.Background(), "/c/"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	kvs, err := s.List(context.Background(), "/c/")
	if err != nil || len(kvs) != 160 {
		t.Fatalf("after concurrent puts: %d entries, err %v; want 160", len(kvs), err)
	}
}

func testSurvivesReopen(t *testing.T, s store.Store, reopen func(t *testing.T) store.Store) {
	mustPut(t, s, "/durable", "yes")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen(t)
	defer s2.Close()
	if got := mustGet(t, s2, "/durable"); got != "yes" {
		t.Fatalf("after reopen Get = %q, want yes", got)
	}
}

func mustPut(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	if err := s.Put(context.Background(), k, []byte(v)); err != nil {
		t.Fatalf("Put %s: %v", k, err)
	}
}

func mustGet(t *testing.T, s store.Store, k string) string {
	t.Helper()
	v, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get %s: %v", k, err)
	}
	return string(v)
}
