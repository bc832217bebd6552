package gateway

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DirBackend is a Backend over a local directory, one sub-directory per
// bucket. It is what the gateway's tests run on, and with the gateway it
// is a standalone S3 server. Its layout is in
// docs/formats/geds-s3-gateway.md:
//
//	<dir>/.tmp/            objects being written, renamed into place when whole
//	<dir>/.buckets/<name>  a bucket's creation time
//	<dir>/<bucket>/        the bucket: key segments before the last are
//	                       directories named <segment>%, the last one is
//	                       the object file, named <segment>
//
// Segments are escaped ('%' as %25, a leading '.' as %2E, the empty
// segment as %2F) so every key, including "a" beside "a/b", "a//b" and
// "a/", has its own path. An object file is a 20-byte header ("GGW1" and
// the MD5 of the data, which is the ETag) followed by the data.
//
// Nothing is fsynced: GEDS data is ephemeral, and a crash may lose recent
// objects (but never exposes half of one). One process owns a directory.
type DirBackend struct {
	root string
}

const (
	dirTemp       = ".tmp"
	dirBuckets    = ".buckets"
	objectMagic   = "GGW1"
	headerSize    = len(objectMagic) + md5.Size
	dirSuffix     = "%"
	maxNameLength = 255 // bytes in one file name on Linux file systems
	// renameAttempts bounds retries of a write whose parent directory was
	// removed by a concurrent delete between creating and using it.
	renameAttempts = 10
)

// NewDirBackend opens (creating if needed) a directory backend at dir and
// removes writes a previous process left unfinished.
func NewDirBackend(dir string) (*DirBackend, error) {
	d := &DirBackend{root: dir}
	for _, sub := range []string{dirTemp, dirBuckets} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("geds dir backend: %w", err)
		}
	}
	entries, err := os.ReadDir(filepath.Join(dir, dirTemp))
	if err != nil {
		return nil, fmt.Errorf("geds dir backend: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, dirTemp, e.Name())); err != nil {
			return nil, fmt.Errorf("geds dir backend: remove unfinished write: %w", err)
		}
	}
	return d, nil
}

func (d *DirBackend) bucketDir(bucket string) string { return filepath.Join(d.root, bucket) }

func (d *DirBackend) checkBucket(bucket string) error {
	if err := checkBucketName(bucket); err != nil {
		return fmt.Errorf("geds dir backend: %v: %w", err, fs.ErrInvalid)
	}
	return nil
}

// bucketExists returns nil, ErrNoSuchBucket (wrapped) or a file system error.
func (d *DirBackend) bucketExists(bucket string) error {
	st, err := os.Stat(d.bucketDir(bucket))
	if errors.Is(err, fs.ErrNotExist) || err == nil && !st.IsDir() {
		return fmt.Errorf("geds dir backend: bucket %q: %w", bucket, ErrNoSuchBucket)
	}
	return err
}

// objectPath maps a key to its file.
func (d *DirBackend) objectPath(bucket, key string) (string, error) {
	if err := d.checkBucket(bucket); err != nil {
		return "", err
	}
	if key == "" || strings.IndexByte(key, 0) >= 0 {
		return "", fmt.Errorf("geds dir backend: key %q is empty or holds a NUL: %w", key, fs.ErrInvalid)
	}
	segs := strings.Split(key, "/")
	parts := make([]string, 0, len(segs)+2)
	parts = append(parts, d.root, bucket)
	for i, s := range segs {
		name := encodeSegment(s)
		if i < len(segs)-1 {
			name += dirSuffix
		}
		if len(name) > maxNameLength {
			return "", fmt.Errorf("geds dir backend: key segment %.40q... is too long for a file name: %w", s, fs.ErrInvalid)
		}
		parts = append(parts, name)
	}
	return filepath.Join(parts...), nil
}

// encodeSegment escapes a key segment into a file name that is never "",
// "." or "..", never ends in '%' (kept for directories), and decodes back.
func encodeSegment(s string) string {
	if s == "" {
		return "%2F" // a '/' can never be inside a segment
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			b.WriteString("%25")
		case c == '.' && i == 0:
			b.WriteString("%2E")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// decodeSegment reverses encodeSegment; ok is false for names it did not
// make, which listing skips.
func decodeSegment(name string) (string, bool) {
	if name == "%2F" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+3 > len(name) {
			return "", false
		}
		switch name[i+1 : i+3] {
		case "25":
			b.WriteByte('%')
		case "2E":
			b.WriteByte('.')
		default:
			return "", false
		}
		i += 2
	}
	s := b.String()
	return s, encodeSegment(s) == name
}

// CreateBucket makes the bucket's directory.
func (d *DirBackend) CreateBucket(ctx context.Context, bucket string) error {
	if err := d.checkBucket(bucket); err != nil {
		return err
	}
	if err := os.Mkdir(d.bucketDir(bucket), 0o700); err != nil {
		return fmt.Errorf("geds dir backend: create bucket %q: %w", bucket, err)
	}
	created := time.Now().UTC().Format(time.RFC3339Nano)
	if err := os.WriteFile(filepath.Join(d.root, dirBuckets, bucket), []byte(created), 0o600); err != nil {
		return fmt.Errorf("geds dir backend: record bucket %q: %w", bucket, err)
	}
	return nil
}

// DeleteBucket removes the bucket's directory if it holds no objects.
// Removing a directory fails unless it is empty, so a write racing with
// the delete either lands first (and the delete fails) or fails itself.
func (d *DirBackend) DeleteBucket(ctx context.Context, bucket string) error {
	if err := d.checkBucket(bucket); err != nil {
		return err
	}
	dir := d.bucketDir(bucket)
	err := os.Remove(dir)
	if isNotEmpty(err) {
		// Directories a crash left empty do not make a bucket non-empty.
		objs, _, lerr := d.ListObjects(ctx, bucket, "", "", 1)
		if lerr == nil && len(objs) == 0 {
			removeEmptyDirs(dir)
			err = os.Remove(dir)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("geds dir backend: bucket %q: %w", bucket, ErrNoSuchBucket)
	case isNotEmpty(err):
		return fmt.Errorf("geds dir backend: bucket %q: %w", bucket, ErrBucketNotEmpty)
	case err != nil:
		return fmt.Errorf("geds dir backend: delete bucket %q: %w", bucket, err)
	}
	if err := os.Remove(filepath.Join(d.root, dirBuckets, bucket)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("geds dir backend: forget bucket %q: %w", bucket, err)
	}
	return nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// removeEmptyDirs removes the empty directories under dir, deepest first.
func removeEmptyDirs(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			sub := filepath.Join(dir, e.Name())
			removeEmptyDirs(sub)
			_ = os.Remove(sub) // fails, as it should, unless empty
		}
	}
}

// ListBuckets lists the bucket directories.
func (d *DirBackend) ListBuckets(ctx context.Context) ([]BucketInfo, error) {
	entries, err := os.ReadDir(d.root)
	if err != nil {
		return nil, fmt.Errorf("geds dir backend: list buckets: %w", err)
	}
	var out []BucketInfo
	for _, e := range entries {
		if !e.IsDir() || checkBucketName(e.Name()) != nil {
			continue
		}
		b := BucketInfo{Name: e.Name()}
		if data, err := os.ReadFile(filepath.Join(d.root, dirBuckets, e.Name())); err == nil {
			b.Created, _ = time.Parse(time.RFC3339Nano, string(data))
		}
		if b.Created.IsZero() {
			if info, err := e.Info(); err == nil {
				b.Created = info.ModTime()
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// PutObject writes the object to a temporary file, computing its MD5, and
// renames it into place once r has ended well.
func (d *DirBackend) PutObject(ctx context.Context, bucket, key string, r io.Reader, size int64) (ObjectInfo, error) {
	path, err := d.objectPath(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := d.bucketExists(bucket); err != nil {
		return ObjectInfo{}, err
	}
	f, err := os.CreateTemp(filepath.Join(d.root, dirTemp), "put-*")
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // finds nothing once renamed
	info, err := writeObject(ctx, f, r, size)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("geds dir backend: %w", cerr)
	}
	if err != nil {
		return ObjectInfo{}, err
	}
	info.Key = key
	for attempt := 1; ; attempt++ {
		if err := d.makeParents(bucket, path); err != nil {
			return ObjectInfo{}, err
		}
		err := os.Rename(tmp, path)
		if err == nil {
			return info, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == renameAttempts {
			return ObjectInfo{}, fmt.Errorf("geds dir backend: put %s/%s: %w", bucket, key, err)
		}
	}
}

// writeObject writes the header and r's bytes to f.
func writeObject(ctx context.Context, f *os.File, r io.Reader, size int64) (ObjectInfo, error) {
	var header [headerSize]byte
	copy(header[:], objectMagic)
	if _, err := f.Write(header[:]); err != nil {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: %w", err)
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(f, h), ctxReader{ctx, r})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: write: %w", err)
	}
	if size >= 0 && n != size {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: the body had %d bytes, %d were declared", n, size)
	}
	sum := h.Sum(nil)
	if _, err := f.WriteAt(sum, int64(len(objectMagic))); err != nil {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: %w", err)
	}
	return ObjectInfo{Size: n, ModTime: st.ModTime(), ETag: hex.EncodeToString(sum)}, nil
}

// makeParents creates the directories between the bucket and path. It
// never creates the bucket: a write into a deleted bucket fails.
func (d *DirBackend) makeParents(bucket, path string) error {
	if err := d.bucketExists(bucket); err != nil {
		return err
	}
	base := d.bucketDir(bucket)
	rel, err := filepath.Rel(base, filepath.Dir(path))
	if err != nil || rel == "." {
		return err
	}
	dir := base
	for name := range strings.SplitSeq(rel, string(filepath.Separator)) {
		dir = filepath.Join(dir, name)
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			if errors.Is(err, fs.ErrNotExist) {
				return d.bucketExists(bucket) // nil if only a parent went: the caller retries
			}
			return fmt.Errorf("geds dir backend: %w", err)
		}
	}
	return nil
}

// ctxReader stops a copy when ctx ends (a request's, when its client
// goes away).
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// GetObject opens the object and returns a reader of the asked range.
func (d *DirBackend) GetObject(ctx context.Context, bucket, key string, off, n int64) (io.ReadCloser, ObjectInfo, error) {
	f, info, err := d.open(bucket, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	if off < 0 || off > info.Size {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("geds dir backend: offset %d is outside %s/%s (%d bytes): %w", off, bucket, key, info.Size, fs.ErrInvalid)
	}
	if n < 0 || n > info.Size-off {
		n = info.Size - off
	}
	return &objectReader{SectionReader: io.NewSectionReader(f, int64(headerSize)+off, n), f: f}, info, nil
}

type objectReader struct {
	*io.SectionReader
	f *os.File
}

func (r *objectReader) Close() error { return r.f.Close() }

// HeadObject reads the object's header.
func (d *DirBackend) HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	f, info, err := d.open(bucket, key)
	if err != nil {
		return ObjectInfo{}, err
	}
	f.Close()
	return info, nil
}

func (d *DirBackend) open(bucket, key string) (*os.File, ObjectInfo, error) {
	path, err := d.objectPath(bucket, key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, ObjectInfo{}, d.missing(bucket, key)
		}
		return nil, ObjectInfo{}, fmt.Errorf("geds dir backend: %w", err)
	}
	info, err := readInfo(f, key)
	if err != nil {
		f.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ObjectInfo{}, d.missing(bucket, key)
		}
		return nil, ObjectInfo{}, err
	}
	return f, info, nil
}

// readInfo reads an object file's header and size.
func readInfo(f *os.File, key string) (ObjectInfo, error) {
	st, err := f.Stat()
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: %w", err)
	}
	if !st.Mode().IsRegular() {
		return ObjectInfo{}, fs.ErrNotExist
	}
	var header [headerSize]byte
	if _, err := f.ReadAt(header[:], 0); err != nil || !bytes.HasPrefix(header[:], []byte(objectMagic)) {
		return ObjectInfo{}, fmt.Errorf("geds dir backend: %s is not an object file (bad header)", f.Name())
	}
	return ObjectInfo{
		Key:     key,
		Size:    st.Size() - int64(headerSize),
		ModTime: st.ModTime(),
		ETag:    hex.EncodeToString(header[len(objectMagic):]),
	}, nil
}

// missing is the error for a key that is not there: the bucket's, if that
// is what is missing.
func (d *DirBackend) missing(bucket, key string) error {
	if err := d.bucketExists(bucket); err != nil {
		return err
	}
	return fmt.Errorf("geds dir backend: %s/%s: %w", bucket, key, ErrNoSuchKey)
}

// DeleteObject removes the object file and the directories it leaves empty.
func (d *DirBackend) DeleteObject(ctx context.Context, bucket, key string) error {
	path, err := d.objectPath(bucket, key)
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return d.missing(bucket, key)
		}
		return fmt.Errorf("geds dir backend: delete %s/%s: %w", bucket, key, err)
	}
	base := d.bucketDir(bucket)
	for dir := filepath.Dir(path); dir != base && strings.HasPrefix(dir, base); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or already gone): the directories above are not empty either
		}
	}
	return nil
}

// ListObjects walks the bucket in key order, skipping the directories
// that cannot hold a key after startAfter with the prefix.
func (d *DirBackend) ListObjects(ctx context.Context, bucket, prefix, startAfter string, max int) ([]ObjectInfo, bool, error) {
	if err := d.checkBucket(bucket); err != nil {
		return nil, false, err
	}
	if max < 1 {
		return nil, false, fmt.Errorf("geds dir backend: list of %d objects: %w", max, fs.ErrInvalid)
	}
	if err := d.bucketExists(bucket); err != nil {
		return nil, false, err
	}
	l := &dirLister{ctx: ctx, prefix: prefix, after: startAfter, max: max}
	if _, err := l.walk(d.bucketDir(bucket), ""); err != nil {
		return nil, false, err
	}
	return l.out, l.more, nil
}

type dirLister struct {
	ctx    context.Context
	prefix string
	after  string
	max    int
	out    []ObjectInfo
	more   bool
}

// dirEntry is a directory entry with the key (or key prefix, for a
// directory, ending in '/') it stands for.
type dirEntry struct {
	key  string
	name string
	dir  bool
}

// walk lists dir, whose keys all start with keyPrefix; it returns true
// once the page is full.
func (l *dirLister) walk(dir, keyPrefix string) (bool, error) {
	if err := l.ctx.Err(); err != nil {
		return false, err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed by a concurrent delete
	}
	if err != nil {
		return false, fmt.Errorf("geds dir backend: list: %w", err)
	}
	list := make([]dirEntry, 0, len(entries))
	for _, e := range entries {
		name, isDir := e.Name(), e.IsDir()
		if isDir != strings.HasSuffix(name, dirSuffix) {
			continue // not ours
		}
		seg, ok := decodeSegment(strings.TrimSuffix(name, dirSuffix))
		if !ok {
			continue
		}
		key := keyPrefix + seg
		if isDir {
			key += "/"
		}
		list = append(list, dirEntry{key: key, name: name, dir: isDir})
	}
	// File names do not sort like keys ("a%" is the directory of "a/");
	// keys decide.
	sort.Slice(list, func(i, j int) bool { return list[i].key < list[j].key })
	for _, e := range list {
		if e.dir {
			// Every key below starts with e.key.
			if !strings.HasPrefix(e.key, l.prefix) && !strings.HasPrefix(l.prefix, e.key) {
				continue
			}
			if e.key < l.after && !strings.HasPrefix(l.after, e.key) {
				continue // all of them sort before startAfter
			}
			full, err := l.walk(filepath.Join(dir, e.name), e.key)
			if full || err != nil {
				return full, err
			}
			continue
		}
		if e.key <= l.after || !strings.HasPrefix(e.key, l.prefix) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted since the directory was read
		}
		if err != nil {
			return false, fmt.Errorf("geds dir backend: list: %w", err)
		}
		info, err := readInfo(f, e.key)
		f.Close()
		if err != nil {
			continue // not an object file
		}
		if len(l.out) == l.max {
			l.more = true
			return true, nil
		}
		l.out = append(l.out, info)
	}
	return false, nil
}
