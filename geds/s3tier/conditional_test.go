package s3tier_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/internal/miniotest"
)

// smallParts makes objects over 5 MiB go up as multipart uploads.
func smallParts(c *s3tier.Config) { c.PartSize = 5 << 20 }

// refused reports whether err is a refused condition, and nothing else.
func refused(err error) bool {
	return errors.Is(err, s3tier.ErrPrecondition) && errors.Is(err, fs.ErrExist) && !errors.Is(err, s3tier.ErrUnavailable)
}

// testConditionalPuts: PutIfAbsent and PutIfMatch store only over what
// they name, return the new object's ETag, and tag it with its life; for
// single PUTs and multipart uploads, from files and streams.
func testConditionalPuts(t *testing.T, srv *miniotest.Server) {
	ctx := context.Background()
	tier := newTier(t, srv, smallParts)
	mustEnsure(t, tier, "conditional")
	sizes := map[string]int{"4KiB": 4 << 10, "11MiB": 11 << 20}
	for name, size := range sizes {
		sources := map[string]func([]byte) io.Reader{
			"ReaderAt": func(b []byte) io.Reader { return bytes.NewReader(b) },
			"Stream":   func(b []byte) io.Reader { return plainReader{bytes.NewReader(b)} },
		}
		for kind, src := range sources {
			t.Run(name+"/"+kind, func(t *testing.T) {
				key := "obj-" + name + "-" + kind
				first, second := payload(size, 1), payload(size, 2)
				etag1, err := tier.PutIfAbsent(ctx, "conditional", key, "life-1", src(first), int64(size))
				if err != nil || etag1 == "" {
					t.Fatalf("PutIfAbsent of a new key: ETag %q, err %v", etag1, err)
				}
				checkHead(t, tier, key, etag1, "life-1")

				if _, err := tier.PutIfAbsent(ctx, "conditional", key, "life-2", src(second), int64(size)); !refused(err) {
					t.Fatalf("PutIfAbsent over an object: err = %v, want ErrPrecondition", err)
				}
				if _, err := tier.PutIfMatch(ctx, "conditional", key, "life-2", src(second), int64(size), "0123456789abcdef0123456789abcdef"); !refused(err) {
					t.Fatalf("PutIfMatch of another ETag: err = %v, want ErrPrecondition", err)
				}
				checkHead(t, tier, key, etag1, "life-1")
				if got := readRange(t, tier, "conditional", key, 0, -1); !bytes.Equal(got, first) {
					t.Fatal("a refused put changed the object")
				}

				etag2, err := tier.PutIfMatch(ctx, "conditional", key, "life-2", src(second), int64(size), etag1)
				if err != nil || etag2 == "" || etag2 == etag1 {
					t.Fatalf("PutIfMatch of the object's ETag: ETag %q (was %q), err %v", etag2, etag1, err)
				}
				checkHead(t, tier, key, etag2, "life-2")
				if got := readRange(t, tier, "conditional", key, 0, -1); !bytes.Equal(got, second) {
					t.Fatal("PutIfMatch did not store its bytes")
				}
			})
		}
	}
	_, err := tier.PutIfMatch(ctx, "conditional", "never-put", "life", strings.NewReader("x"), 1, "0123456789abcdef0123456789abcdef")
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, s3tier.ErrPrecondition) {
		t.Errorf("PutIfMatch of a missing key: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := tier.PutIfMatch(ctx, "conditional", "k", "life", strings.NewReader("x"), 1, ""); err == nil || !strings.Contains(err.Error(), "empty ETag") {
		t.Errorf("PutIfMatch of an empty ETag: err = %v, want an empty ETag error", err)
	}
	for upload := range srv.Client().ListIncompleteUploads(ctx, "conditional", "", true) {
		t.Errorf("refused multipart upload of %s left behind (err %v)", upload.Key, upload.Err)
	}
}

func checkHead(t *testing.T, tier *s3tier.Tier, key, etag, life string) {
	t.Helper()
	_, gotETag, gotLife, err := tier.Head(context.Background(), "conditional", key)
	if err != nil || gotETag != etag || gotLife != life {
		t.Fatalf("Head(%s) = ETag %q life %q, err %v; want %q, %q", key, gotETag, gotLife, err, etag, life)
	}
}

// intruder is a stream that, once its first part has been read, has
// another client store an object under the key: the object a conditional
// multipart upload is about to replace changes while its parts go up.
type intruder struct {
	r        io.Reader
	read     int
	after    int
	once     sync.Once
	intrude  func() error
	intruded error
}

func (s *intruder) Read(p []byte) (int, error) {
	if s.read >= s.after {
		s.once.Do(func() { s.intruded = s.intrude() })
	}
	n, err := s.r.Read(p)
	s.read += n
	return n, err
}

// testConditionCheckedAtCompletion: a multipart upload's condition holds
// when the object is replaced, at CompleteMultipartUpload, not only when
// the upload starts. minio-go alone checks it only at the start.
func testConditionCheckedAtCompletion(t *testing.T, srv *miniotest.Server) {
	ctx := context.Background()
	tier := newTier(t, srv, smallParts)
	mustEnsure(t, tier, "completion")
	const size = 11 << 20 // three parts of 5, 5 and 1 MiB
	other := []byte("stored by another client during the upload")
	intrude := func(key string) func() error {
		return func() error {
			return tier.Put(ctx, "completion", key, bytes.NewReader(other), int64(len(other)))
		}
	}

	cases := map[string]func(key string, r io.Reader) error{
		"IfAbsent": func(key string, r io.Reader) error {
			_, err := tier.PutIfAbsent(ctx, "completion", key, "late", r, size)
			return err
		},
		"IfMatch": func(key string, r io.Reader) error {
			etag, err := tier.PutIfAbsent(ctx, "completion", key, "before", strings.NewReader("before"), 6)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tier.PutIfMatch(ctx, "completion", key, "late", r, size, etag)
			return err
		},
	}
	for name, put := range cases {
		t.Run(name, func(t *testing.T) {
			key := "k-" + name
			src := &intruder{r: bytes.NewReader(payload(size, 9)), after: 5 << 20, intrude: intrude(key)}
			err := put(key, src)
			if src.intruded != nil {
				t.Fatalf("the other client's put: %v", src.intruded)
			}
			if !refused(err) {
				t.Fatalf("upload whose condition broke while its parts went up: err = %v, want ErrPrecondition", err)
			}
			if got := readRange(t, tier, "completion", key, 0, -1); !bytes.Equal(got, other) {
				t.Fatalf("S3 holds %d bytes, want the other client's object", len(got))
			}
		})
	}
	for upload := range srv.Client().ListIncompleteUploads(ctx, "completion", "", true) {
		t.Errorf("refused multipart upload of %s left behind (err %v)", upload.Key, upload.Err)
	}
}

// testGetRangeIfMatch: a read naming an ETag gets that object's bytes, and
// fails with ErrPrecondition, not the new bytes, once the key holds another.
func testGetRangeIfMatch(t *testing.T, tier *s3tier.Tier) {
	ctx := context.Background()
	mustEnsure(t, tier, "readmatch")
	first := payload(64<<10, 4)
	etag, err := tier.PutIfAbsent(ctx, "readmatch", "k", "", bytes.NewReader(first), int64(len(first)))
	if err != nil {
		t.Fatal(err)
	}
	read := func(off, n int64, etag string) ([]byte, error) {
		rc, err := tier.GetRangeIfMatch(ctx, "readmatch", "k", off, n, etag)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	if got, err := read(100, 1000, etag); err != nil || !bytes.Equal(got, first[100:1100]) {
		t.Fatalf("GetRangeIfMatch of the object's ETag: %d bytes, err %v", len(got), err)
	}
	if got, err := read(int64(len(first)), 10, etag); err != nil || len(got) != 0 {
		t.Fatalf("GetRangeIfMatch at the end: %d bytes, err %v; want empty", len(got), err)
	}

	mustPut(t, tier, "readmatch", "k", payload(64<<10, 5))
	for _, r := range []struct{ off, n int64 }{{100, 1000}, {0, -1}, {10, 0}, {int64(len(first)), 10}} {
		if got, err := read(r.off, r.n, etag); !refused(err) {
			t.Errorf("GetRangeIfMatch(%d, %d) of a replaced object: %d bytes, err %v; want ErrPrecondition", r.off, r.n, len(got), err)
		}
	}
	if _, err := read(0, -1, ""); err == nil || !strings.Contains(err.Error(), "empty ETag") {
		t.Errorf("GetRangeIfMatch of an empty ETag: err = %v, want an empty ETag error", err)
	}
	if err := tier.Delete(ctx, "readmatch", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := read(0, -1, etag); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("GetRangeIfMatch of a deleted object: err = %v, want fs.ErrNotExist", err)
	}
}
