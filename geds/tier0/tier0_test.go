package tier0

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/geds/metadata"
)

// stepClock advances one millisecond per call, so access order is exact.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newStore(t *testing.T, limit int64) *Store {
	t.Helper()
	clk := &stepClock{t: time.Unix(1000, 0)}
	s, err := New(Config{Dir: t.TempDir(), Limit: limit, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func write(t *testing.T, s *Store, bucket, key string, data []byte) *Writer {
	t.Helper()
	w, err := s.Create(bucket, key, "id-"+key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCreateAppendSealRead(t *testing.T) {
	s := newStore(t, 1<<20)
	w := write(t, s, "bkt", "a/b", []byte("hello "))

	// The writer's process reads what was written so far.
	r, err := s.Open("bkt", "a/b", "")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := r.ReadAt(buf, 0)
	if n != 6 || err != io.EOF || string(buf[:n]) != "hello " || r.Sealed() {
		t.Fatalf("unsealed read = %d %v %q", n, err, buf[:n])
	}
	if _, err := r.Bytes(); !errors.Is(err, ErrNotSealed) {
		t.Errorf("Bytes of an open object: %v, want ErrNotSealed", err)
	}
	if _, err := w.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.ReadAt(buf, 0); string(buf[:n]) != "hello world" || r.Size() != 11 {
		t.Errorf("after append: %q, size %d", buf[:n], r.Size())
	}
	r.Close()

	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := w.Seal(); err != nil {
		t.Errorf("second seal: %v", err)
	}
	if _, err := w.Write([]byte("!")); !errors.Is(err, ErrSealed) {
		t.Errorf("write after seal: %v, want ErrSealed", err)
	}
	r, err = s.Open("bkt", "a/b", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Sealed() || r.Size() != 11 {
		t.Errorf("sealed reader: sealed=%v size=%d", r.Sealed(), r.Size())
	}
	if n, err := r.ReadAt(buf[:5], 6); n != 5 || err != nil || string(buf[:5]) != "world" {
		t.Errorf("ReadAt(5, 6) = %d %v %q", n, err, buf[:5])
	}
	if s.Used() != 11 {
		t.Errorf("used = %d, want 11", s.Used())
	}
}

func TestBytesIsAZeroCopyViewOfTheMapping(t *testing.T) {
	s := newStore(t, 1<<20)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	w := write(t, s, "bkt", "k", data)
	w.Seal()
	r1, _ := s.Open("bkt", "k", "")
	r2, _ := s.Open("bkt", "k", "")
	defer r1.Close()
	defer r2.Close()
	b1, err := r1.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := r2.Bytes()
	if !bytes.Equal(b1, data) {
		t.Fatal("Bytes differs from what was written")
	}
	// Both readers see the same memory: the mapping, not copies of it.
	if &b1[0] != &b2[0] {
		t.Error("two readers got different buffers; want one shared mapping")
	}
	// A later reader, while the others are open, gets the same mapping too.
	r3, _ := s.Open("bkt", "k", "")
	b3, _ := r3.Bytes()
	r3.Close()
	if &b3[0] != &b1[0] {
		t.Error("a third reader got another buffer")
	}
}

func TestReadPastTheEnd(t *testing.T) {
	s := newStore(t, 1<<20)
	w := write(t, s, "bkt", "k", []byte("0123456789"))
	w.Seal()
	r, _ := s.Open("bkt", "k", "")
	defer r.Close()
	buf := make([]byte, 4)
	for _, c := range []struct {
		off     int64
		n       int
		err     error
		content string
	}{
		{6, 4, nil, "6789"},   // exactly to the end: no EOF, like os.File
		{8, 2, io.EOF, "89"},  // straddling: short read and EOF
		{10, 0, io.EOF, ""},   // at the end
		{1000, 0, io.EOF, ""}, // far past
	} {
		n, err := r.ReadAt(buf, c.off)
		if n != c.n || err != c.err || string(buf[:n]) != c.content {
			t.Errorf("ReadAt(4, %d) = %d %v %q, want %d %v %q", c.off, n, err, buf[:n], c.n, c.err, c.content)
		}
	}
	if _, err := r.ReadAt(buf, -1); err == nil {
		t.Error("negative offset accepted")
	}
}

func TestEmptyObject(t *testing.T) {
	s := newStore(t, 1<<20)
	w, _ := s.Create("bkt", "empty", "id")
	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Open("bkt", "empty", "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := r.Bytes()
	if err != nil || len(b) != 0 {
		t.Errorf("Bytes = %v %v", b, err)
	}
	if n, err := r.ReadAt(make([]byte, 1), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt = %d %v", n, err)
	}
}

func TestLimit(t *testing.T) {
	s := newStore(t, 100)
	w := write(t, s, "bkt", "a", make([]byte, 60))
	w2, _ := s.Create("bkt", "b", "id-b")
	_, err := w2.Write(make([]byte, 41))
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "60 of 100") {
		t.Fatalf("write past the limit: %v, want ErrFull saying 60 of 100", err)
	}
	if w2.Size() != 0 || s.Used() != 60 {
		t.Errorf("failed write left size %d, used %d", w2.Size(), s.Used())
	}
	if _, err := w2.Write(make([]byte, 40)); err != nil {
		t.Fatalf("write up to the limit: %v", err)
	}
	w.Seal()
	if err := s.Remove("bkt", "a", ""); err != nil {
		t.Fatal(err)
	}
	if s.Used() != 40 {
		t.Errorf("used after remove = %d, want 40", s.Used())
	}
	if err := w2.Abort(); err != nil {
		t.Fatal(err)
	}
	if s.Used() != 0 {
		t.Errorf("used after abort = %d", s.Used())
	}
	if _, err := s.Open("bkt", "b", ""); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("aborted object still there: %v", err)
	}
}

func TestBadNamesRefused(t *testing.T) {
	s := newStore(t, 1<<20)
	for _, c := range []struct{ bucket, key string }{
		{"bkt", ".."}, {"bkt", "a/../../etc/passwd"}, {"bkt", "a\x00b"}, {"bkt", ""},
		{"bkt", strings.Repeat("k", 5000)}, {"..", "k"}, {"", "k"}, {"b/../c", "k"},
	} {
		if _, err := s.Create(c.bucket, c.key, "id"); !errors.Is(err, metadata.ErrInvalidName) {
			t.Errorf("Create(%q, %.20q) = %v, want ErrInvalidName", c.bucket, c.key, err)
		}
	}
	if _, err := s.Create("bkt", "x", "id"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("bkt", "x", "id2"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second create: %v, want fs.ErrExist", err)
	}
}

func TestColdestFirst(t *testing.T) {
	s := newStore(t, 1<<20)
	for _, k := range []string{"a", "b", "c"} {
		write(t, s, "bkt", k, []byte(k)).Seal()
	}
	write(t, s, "bkt", "open", []byte("x")) // not sealed: never a spill candidate
	r, _ := s.Open("bkt", "a", "")          // a becomes the warmest
	r.ReadAt(make([]byte, 1), 0)
	r.Close()
	var order []string
	for _, in := range s.Coldest() {
		order = append(order, in.Key)
	}
	if strings.Join(order, ",") != "b,c,a" {
		t.Errorf("coldest first = %v, want b,c,a", order)
	}
}

func TestRemoveWhileReading(t *testing.T) {
	s := newStore(t, 1<<20)
	write(t, s, "bkt", "k", []byte("still here")).Seal()
	r, _ := s.Open("bkt", "k", "")
	path := s.pathFor("bkt", "k")
	if err := s.Remove("bkt", "k", "wrong-id"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("remove with another id: %v", err)
	}
	if err := s.Remove("bkt", "k", "id-k"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there: %v", err)
	}
	if s.Used() != 0 {
		t.Errorf("used = %d", s.Used())
	}
	b, err := r.Bytes()
	if err != nil || string(b) != "still here" {
		t.Errorf("open reader after remove: %q %v", b, err)
	}
	r.Close()
	if _, err := r.Bytes(); !errors.Is(err, ErrClosed) {
		t.Errorf("Bytes after close: %v", err)
	}
}

func TestDirectoryLockAndLeftovers(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{Dir: dir, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, "bkt", "k", []byte("x")).Seal()
	if _, err := New(Config{Dir: dir, Limit: 100}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second store on one directory: %v", err)
	}
	// A crashed process leaves files; the next one starts empty.
	leftover := filepath.Join(dir, "objects", "bkt", "junk")
	os.WriteFile(leftover, []byte("old"), 0o600)
	s.lock.Close() // as if the process died without Close
	s2, err := New(Config{Dir: dir, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover kept: %v", err)
	}
	if len(s2.Objects()) != 0 || s2.Used() != 0 {
		t.Errorf("new store not empty")
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{Limit: 1}); err == nil {
		t.Error("no directory accepted")
	}
	if _, err := New(Config{Dir: t.TempDir()}); err == nil {
		t.Error("zero limit accepted")
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	s := newStore(t, 1<<30)
	data := bytes.Repeat([]byte{7}, 1<<16)
	write(t, s, "bkt", "shared", data).Seal()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r, err := s.Open("bkt", "shared", "")
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			buf := make([]byte, 4096)
			for off := int64(0); off < int64(len(data)); off += 4096 {
				if n, err := r.ReadAt(buf, off); n != 4096 || err != nil || buf[0] != 7 {
					t.Errorf("ReadAt = %d %v", n, err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			key := string(rune('a' + i))
			w, err := s.Create("bkt", key, key)
			if err != nil {
				t.Error(err)
				return
			}
			for range 16 {
				w.Write(make([]byte, 1024))
			}
			w.Seal()
			s.Remove("bkt", key, key)
		}()
	}
	wg.Wait()
	if s.Used() != int64(len(data)) {
		t.Errorf("used = %d, want %d", s.Used(), len(data))
	}
}

// TestRenameReplaces: renaming a sealed life onto a name that has one
// makes it the current life of that name at once, while the replaced life
// stays readable by its id (and through readers already open) until it is
// removed; removing it then leaves the new life alone.
func TestRenameReplaces(t *testing.T) {
	s := newStore(t, 1<<20)
	old := write(t, s, "bkt", "k", []byte("old"))
	old.Seal()
	oldReader, err := s.Open("bkt", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	defer oldReader.Close()
	next, err := s.Create("staging", "tmp", "id-next")
	if err != nil {
		t.Fatal(err)
	}
	next.Write([]byte("new!"))
	if err := s.Rename("id-next", "bkt", "k"); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("Rename of an unsealed life = %v, want ErrNotSealed", err)
	}
	next.Seal()
	if err := s.Rename("id-next", "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	read := func(id string) string {
		t.Helper()
		r, err := s.Open("bkt", "k", id)
		if err != nil {
			t.Fatalf("Open(bkt, k, %q): %v", id, err)
		}
		defer r.Close()
		b, _ := r.Bytes()
		return string(b)
	}
	if got := read(""); got != "new!" {
		t.Fatalf("current life of bkt/k = %q, want the renamed one", got)
	}
	if got := read("id-k"); got != "old" {
		t.Fatalf("replaced life by id = %q, want old", got)
	}
	if _, err := s.Stat("staging", "tmp"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the old name still exists: %v", err)
	}
	if in, err := s.Stat("bkt", "k"); err != nil || in.ID != "id-next" {
		t.Fatalf("Stat(bkt, k) = %+v, %v; want id-next", in, err)
	}
	if got := len(s.Objects()); got != 2 {
		t.Fatalf("%d objects listed, want both lives", got)
	}
	if err := s.Remove("bkt", "k", "id-k"); err != nil {
		t.Fatal(err)
	}
	if p := make([]byte, 3); func() bool { n, _ := oldReader.ReadAt(p, 0); return n != 3 || string(p) != "old" }() {
		t.Fatal("a reader open on the replaced life lost its bytes when it was removed")
	}
	if got := read(""); got != "new!" || s.Used() != 4 {
		t.Fatalf("after removing the old life: current %q, used %d; want new! and 4", got, s.Used())
	}
	if err := s.Rename("no-such-id", "bkt", "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Rename of an unknown id = %v", err)
	}
	if _, err := s.Create("bkt", "other", "id-next"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create reusing a live id = %v, want fs.ErrExist", err)
	}
}

// TestHoldKeepsOutOfColdest: a held life is not offered for spilling until
// it is released.
func TestHoldKeepsOutOfColdest(t *testing.T) {
	s := newStore(t, 1<<20)
	for _, k := range []string{"a", "b"} {
		write(t, s, "bkt", k, []byte(k)).Seal()
	}
	release, err := s.Hold("id-a")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Coldest(); len(c) != 1 || c[0].Key != "b" {
		t.Fatalf("Coldest while a is held = %+v, want only b", c)
	}
	release()
	release() // a second call does nothing
	if c := s.Coldest(); len(c) != 2 {
		t.Fatalf("Coldest after release = %+v, want both", c)
	}
	if _, err := s.Hold("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Hold of an unknown id = %v", err)
	}
}

// FuzzObjectPath checks that any bucket name tier 0 accepts, with any id,
// maps to a file inside its directory, one level below the bucket's.
func FuzzObjectPath(f *testing.F) {
	for _, s := range [][2]string{{"bkt", "k"}, {"bkt", "../../x"}, {"..", "k"}, {"bkt", "a\x00"}, {"a.b", "/x/./y"}} {
		f.Add(s[0], s[1])
	}
	s := &Store{dir: "/tier0/objects"}
	f.Fuzz(func(t *testing.T, bucket, id string) {
		if metadata.ValidateObjectName(bucket, "k") != nil {
			return
		}
		p := s.pathFor(bucket, id)
		rel, err := filepath.Rel(s.dir, p)
		if err != nil || strings.HasPrefix(rel, "..") || filepath.Dir(rel) != bucket || strings.Count(rel, "/") != 1 {
			t.Fatalf("(%q, %q) maps to %s", bucket, id, p)
		}
	})
}

func BenchmarkReadAt4KiB(b *testing.B) {
	s, err := New(Config{Dir: b.TempDir(), Limit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w, _ := s.Create("bkt", "k", "id")
	w.Write(make([]byte, 1<<20))
	w.Seal()
	r, _ := s.Open("bkt", "k", "")
	defer r.Close()
	buf := make([]byte, 4096)
	b.SetBytes(4096)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := r.ReadAt(buf, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
	}
}
