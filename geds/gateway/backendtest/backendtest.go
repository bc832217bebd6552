// Package backendtest is the contract every gateway.Backend must meet,
// written once and run by each implementation's own test (the directory
// backend's, and the GEDS adapter's).
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/geds/gateway"
)

// Run runs the whole contract against fresh, empty backends made by open.
func Run(t *testing.T, open func(t *testing.T) gateway.Backend) {
	RunWith(t, Limits{}, open)
}

// Limits are what a backend says it does not do, each with the reason;
// the parts of the contract they name are skipped with it, and a backend
// that claims a limit must refuse what it cannot do with an error.
type Limits struct {
	// DotSegments: keys with "." path segments ("./x", "x/.") are
	// refused, with an error wrapping fs.ErrInvalid.
	DotSegments string
	// AtomicReplace: a PUT over an existing key may leave a moment in
	// which readers find no object (never a mix of the two).
	AtomicReplace string
}

// RunWith runs the contract, less what limits names.
func RunWith(t *testing.T, limits Limits, open func(t *testing.T) gateway.Backend) {
	t.Run("Buckets", func(t *testing.T) { testBuckets(t, open(t)) })
	t.Run("PutGetHead", func(t *testing.T) { testPutGetHead(t, open(t)) })
	t.Run("Ranges", func(t *testing.T) { testRanges(t, open(t)) })
	t.Run("MissingThings", func(t *testing.T) { testMissing(t, open(t)) })
	t.Run("AwkwardKeys", func(t *testing.T) { testAwkwardKeys(t, open(t), limits.DotSegments != "") })
	t.Run("ListPages", func(t *testing.T) { testListPages(t, open(t)) })
	t.Run("FailedWritesStoreNothing", func(t *testing.T) { testFailedWrites(t, open(t)) })
	t.Run("ReadersSeeWholeObjects", func(t *testing.T) {
		if limits.AtomicReplace != "" {
			t.Skip(limits.AtomicReplace)
		}
		testAtomicReplace(t, open(t))
	})
	t.Run("ConcurrentPutsAndDeletesUnderOnePrefix", func(t *testing.T) { testPutDeleteRace(t, open(t)) })
}

func mustCreate(t *testing.T, b gateway.Backend, bucket string) {
	t.Helper()
	if err := b.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatalf("CreateBucket(%s): %v", bucket, err)
	}
}

func mustPut(t *testing.T, b gateway.Backend, bucket, key string, data []byte) gateway.ObjectInfo {
	t.Helper()
	info, err := b.PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
	if info.Key != key || info.Size != int64(len(data)) || info.ETag == "" || strings.Contains(info.ETag, `"`) {
		t.Fatalf("PutObject(%s/%s) = %+v; want key, size %d and an unquoted ETag", bucket, key, info, len(data))
	}
	return info
}

func get(t *testing.T, b gateway.Backend, bucket, key string, off, n int64) ([]byte, gateway.ObjectInfo) {
	t.Helper()
	rc, info, err := b.GetObject(context.Background(), bucket, key, off, n)
	if err != nil {
		t.Fatalf("GetObject(%s/%s, %d, %d): %v", bucket, key, off, n, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return data, info
}

func testBuckets(t *testing.T, b gateway.Backend) {
	ctx := context.Background()
	for _, name := range []string{"zeta", "alpha", "mid-1"} {
		mustCreate(t, b, name)
	}
	if err := b.CreateBucket(ctx, "alpha"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateBucket of an existing bucket: %v, want fs.ErrExist", err)
	}
	list, err := b.ListBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, bi := range list {
		names = append(names, bi.Name)
		if bi.Created.IsZero() {
			t.Errorf("bucket %s has no creation time", bi.Name)
		}
	}
	if !slices.Equal(names, []string{"alpha", "mid-1", "zeta"}) {
		t.Fatalf("ListBuckets = %v, want alpha, mid-1, zeta", names)
	}
	mustPut(t, b, "alpha", "dir/obj", []byte("x"))
	if err := b.DeleteBucket(ctx, "alpha"); !errors.Is(err, gateway.ErrBucketNotEmpty) {
		t.Fatalf("DeleteBucket of a bucket with objects: %v, want ErrBucketNotEmpty", err)
	}
	if err := b.DeleteObject(ctx, "alpha", "dir/obj"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteBucket(ctx, "alpha"); err != nil {
		t.Fatalf("DeleteBucket after its last object went: %v", err)
	}
	if err := b.DeleteBucket(ctx, "alpha"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("DeleteBucket of a missing bucket: %v, want fs.ErrNotExist", err)
	}
	list, _ = b.ListBuckets(ctx)
	if len(list) != 2 {
		t.Fatalf("after delete, ListBuckets = %v", list)
	}
}

func testPutGetHead(t *testing.T, b gateway.Backend) {
	ctx := context.Background()
	mustCreate(t, b, "bkt")
	data := bytes.Repeat([]byte("0123456789"), 1000)
	put := mustPut(t, b, "bkt", "k", data)
	got, info := get(t, b, "bkt", "k", 0, -1)
	if !bytes.Equal(got, data) || info.ETag != put.ETag || info.Size != put.Size {
		t.Fatalf("GetObject = %d bytes, %+v; put %+v", len(got), info, put)
	}
	head, err := b.HeadObject(ctx, "bkt", "k")
	if err != nil || head.ETag != put.ETag || head.Size != put.Size || head.Key != "k" || head.ModTime.IsZero() {
		t.Fatalf("HeadObject = %+v, %v; put %+v", head, err, put)
	}
	// Unknown size.
	info, err = b.PutObject(ctx, "bkt", "k", bytes.NewReader([]byte("new")), -1)
	if err != nil || info.Size != 3 {
		t.Fatalf("PutObject with unknown size = %+v, %v", info, err)
	}
	if info.ETag == put.ETag {
		t.Fatal("different content has the same ETag")
	}
	if got, _ := get(t, b, "bkt", "k", 0, -1); string(got) != "new" {
		t.Fatalf("after replacing, GetObject = %q", got)
	}
	empty := mustPut(t, b, "bkt", "empty", nil)
	if got, info := get(t, b, "bkt", "empty", 0, -1); len(got) != 0 || info.Size != 0 || info.ETag != empty.ETag {
		t.Fatalf("empty object: %q, %+v", got, info)
	}
}

func testRanges(t *testing.T, b gateway.Backend) {
	mustCreate(t, b, "bkt")
	data := []byte("abcdefghij")
	mustPut(t, b, "bkt", "k", data)
	for _, c := range []struct {
		off, n int64
		want   string
	}{
		{0, -1, "abcdefghij"},
		{0, 3, "abc"},
		{7, -1, "hij"},
		{7, 100, "hij"},
		{9, 1, "j"},
		{10, -1, ""},
		{4, 0, ""},
	} {
		got, info := get(t, b, "bkt", "k", c.off, c.n)
		if string(got) != c.want || info.Size != 10 {
			t.Errorf("GetObject(%d, %d) = %q (size %d), want %q (size 10)", c.off, c.n, got, info.Size, c.want)
		}
	}
}

func testMissing(t *testing.T, b gateway.Backend) {
	ctx := context.Background()
	mustCreate(t, b, "bkt")
	if _, _, err := b.GetObject(ctx, "bkt", "nope", 0, -1); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GetObject of a missing key: %v", err)
	}
	if _, err := b.HeadObject(ctx, "bkt", "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("HeadObject of a missing key: %v", err)
	}
	if err := b.DeleteObject(ctx, "bkt", "nope"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("DeleteObject of a missing key: %v", err)
	}
	if _, err := b.HeadObject(ctx, "bkt", "nope/deeper"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("HeadObject of a missing nested key: %v", err)
	}
	for name, err := range map[string]error{
		"GetObject":    func() error { _, _, err := b.GetObject(ctx, "gone", "k", 0, -1); return err }(),
		"HeadObject":   func() error { _, err := b.HeadObject(ctx, "gone", "k"); return err }(),
		"PutObject":    func() error { _, err := b.PutObject(ctx, "gone", "k", strings.NewReader("x"), 1); return err }(),
		"DeleteObject": b.DeleteObject(ctx, "gone", "k"),
		"ListObjects":  func() error { _, _, err := b.ListObjects(ctx, "gone", "", "", 10); return err }(),
	} {
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s in a missing bucket: %v, want fs.ErrNotExist", name, err)
		}
	}
	if list, _ := b.ListBuckets(ctx); len(list) != 1 {
		t.Errorf("a put into a missing bucket created it: %v", list)
	}
}

// awkwardKeys are keys a file-system backend could get wrong: a key and a
// "directory" of the same name, empty segments, dots, percent signs.
var awkwardKeys = []string{
	"a", "a/b", "a/", "a//b", "a-c", "a0", "a/b/c", ".hidden", "./x", "x/.", "%", "%2F", "a%/b",
	"a%25", "ключ/значение", "sp ace", "plus+sign", "trailing/", "/leading", "~tilde",
}

// hasDotSegment reports whether a key has a "." or ".." path segment.
func hasDotSegment(k string) bool {
	for _, seg := range strings.Split(k, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func testAwkwardKeys(t *testing.T, b gateway.Backend, refusesDots bool) {
	ctx := context.Background()
	mustCreate(t, b, "bkt")
	var stored []string
	for _, k := range awkwardKeys {
		if refusesDots && hasDotSegment(k) {
			if _, err := b.PutObject(ctx, "bkt", k, strings.NewReader("x"), 1); !errors.Is(err, fs.ErrInvalid) {
				t.Errorf("PutObject(%q) with a dot segment: %v, want an error wrapping fs.ErrInvalid", k, err)
			}
			continue
		}
		mustPut(t, b, "bkt", k, []byte("value of "+k))
		stored = append(stored, k)
	}
	for _, k := range stored {
		if got, _ := get(t, b, "bkt", k, 0, -1); string(got) != "value of "+k {
			t.Errorf("GetObject(%q) = %q", k, got)
		}
	}
	objs, more, err := b.ListObjects(ctx, "bkt", "", "", 1000)
	if err != nil || more {
		t.Fatalf("ListObjects = %v, more=%v", err, more)
	}
	want := slices.Clone(stored)
	sort.Strings(want)
	if got := keys(objs); !slices.Equal(got, want) {
		t.Fatalf("ListObjects keys =\n%q\nwant (byte order)\n%q", got, want)
	}
	for _, k := range stored {
		if err := b.DeleteObject(ctx, "bkt", k); err != nil {
			t.Fatalf("DeleteObject(%q): %v", k, err)
		}
	}
	if err := b.DeleteBucket(ctx, "bkt"); err != nil {
		t.Fatalf("DeleteBucket after deleting every awkward key: %v", err)
	}
}

func keys(objs []gateway.ObjectInfo) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}

func testListPages(t *testing.T, b gateway.Backend) {
	ctx := context.Background()
	mustCreate(t, b, "bkt")
	var all []string
	for i := range 30 {
		k := fmt.Sprintf("p%d/k%02d", i%3, i)
		all = append(all, k)
		mustPut(t, b, "bkt", k, []byte{byte(i)})
	}
	all = append(all, "p1", "q")
	mustPut(t, b, "bkt", "p1", []byte("p1"))
	mustPut(t, b, "bkt", "q", []byte("q"))
	sort.Strings(all)
	for _, c := range []struct {
		prefix string
		page   int
	}{{"", 1}, {"", 7}, {"", 100}, {"p1", 4}, {"p1/", 3}, {"p2/k1", 2}, {"zz", 5}} {
		var want []string
		for _, k := range all {
			if strings.HasPrefix(k, c.prefix) {
				want = append(want, k)
			}
		}
		var got []string
		after := ""
		for {
			objs, more, err := b.ListObjects(ctx, "bkt", c.prefix, after, c.page)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) > c.page {
				t.Fatalf("page of %d has %d objects", c.page, len(objs))
			}
			got = append(got, keys(objs)...)
			if !more {
				break
			}
			if len(objs) == 0 {
				t.Fatal("an empty page says there is more")
			}
			after = objs[len(objs)-1].Key
		}
		if !slices.Equal(got, want) {
			t.Errorf("prefix %q pages of %d: %q, want %q", c.prefix, c.page, got, want)
		}
	}
	// startAfter need not be a key.
	objs, _, err := b.ListObjects(ctx, "bkt", "", "p1/k0", 2)
	if err != nil || !slices.Equal(keys(objs), []string{"p1/k01", "p1/k04"}) {
		t.Fatalf("ListObjects after p1/k0 = %q, %v", keys(objs), err)
	}
}

// failingReader returns err after n bytes.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func testFailedWrites(t *testing.T, b gateway.Backend) {
	ctx := context.Background()
	mustCreate(t, b, "bkt")
	old := mustPut(t, b, "bkt", "kept", []byte("old"))
	boom := errors.New("signature failed at the end")

	_, err := b.PutObject(ctx, "bkt", "kept", &failingReader{n: 100000, err: boom}, -1)
	if !errors.Is(err, boom) {
		t.Errorf("PutObject with a failing reader: %v, want it to wrap the reader's error", err)
	}
	if _, err := b.PutObject(ctx, "bkt", "new/key", &failingReader{n: 10, err: boom}, 20); err == nil {
		t.Error("PutObject with a failing reader succeeded")
	}
	if _, err := b.PutObject(ctx, "bkt", "short", strings.NewReader("12345"), 10); err == nil {
		t.Error("PutObject of 5 bytes declared as 10 succeeded")
	}
	if _, err := b.PutObject(ctx, "bkt", "long", strings.NewReader("12345"), 3); err == nil {
		t.Error("PutObject of 5 bytes declared as 3 succeeded")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.PutObject(canceled, "bkt", "canceled", strings.NewReader("12345"), 5); err == nil {
		t.Error("PutObject with a canceled context succeeded")
	}
	if got, info := get(t, b, "bkt", "kept", 0, -1); string(got) != "old" || info.ETag != old.ETag {
		t.Errorf("a failed write changed the object: %q, %+v", got, info)
	}
	objs, _, err := b.ListObjects(ctx, "bkt", "", "", 100)
	if err != nil || !slices.Equal(keys(objs), []string{"kept"}) {
		t.Errorf("after failed writes, ListObjects = %q, %v; want only kept", keys(objs), err)
	}
	if err := b.DeleteObject(ctx, "bkt", "kept"); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteBucket(ctx, "bkt"); err != nil {
		t.Errorf("failed writes left the bucket not empty: %v", err)
	}
}

// testAtomicReplace overwrites one key with two contents of different
// sizes while others read it: every read must see one whole version.
func testAtomicReplace(t *testing.T, b gateway.Backend) {
	ctx := context.Background()
	mustCreate(t, b, "bkt")
	versions := [][]byte{bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 512<<10)}
	mustPut(t, b, "bkt", "hot", versions[0])
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range 2 {
		wg.Go(func() {
			for i := range 10 {
				v := versions[(w+i)%2]
				if _, err := b.PutObject(ctx, "bkt", "hot", bytes.NewReader(v), int64(len(v))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 20 {
				rc, info, err := b.GetObject(ctx, "bkt", "hot", 0, -1)
				if err != nil {
					errs <- err
					return
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(data, versions[0]) && !bytes.Equal(data, versions[1]) || int64(len(data)) != info.Size {
					errs <- fmt.Errorf("read %d bytes (info says %d) that are neither version", len(data), info.Size)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testPutDeleteRace writes keys under one prefix while others under it are
// deleted: a backend that removes emptied "directories" must not lose a
// write that needed one.
func testPutDeleteRace(t *testing.T, b gateway.Backend) {
	ctx := context.Background()
	mustCreate(t, b, "bkt")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			if _, err := b.PutObject(ctx, "bkt", fmt.Sprintf("d/e/keep%02d", i), strings.NewReader("k"), 1); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			key := fmt.Sprintf("d/e/temp%02d", i)
			if _, err := b.PutObject(ctx, "bkt", key, strings.NewReader("t"), 1); err != nil {
				errs <- err
				return
			}
			if err := b.DeleteObject(ctx, "bkt", key); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	objs, _, err := b.ListObjects(ctx, "bkt", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != n {
		t.Fatalf("after the race, %d objects listed, want the %d kept: %q", len(objs), n, keys(objs))
	}
}
