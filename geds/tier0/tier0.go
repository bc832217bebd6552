package tier0

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudskin/cloudskin/geds/metadata"
)

// Errors returned (wrapped) by the store.
var (
	// ErrFull: the write would take tier 0 past its limit.
	ErrFull = errors.New("tier 0 full")
	// ErrSealed: the object is sealed and cannot be written.
	ErrSealed = errors.New("object is sealed")
	// ErrNotSealed: the operation needs a sealed object.
	ErrNotSealed = errors.New("object is not sealed")
	// ErrRemoved: the object was removed while open.
	ErrRemoved = errors.New("object was removed")
	// ErrClosed: the store or the reader is closed.
	ErrClosed = errors.New("closed")
)

// DefaultMaxMapped bounds how many sealed objects stay memory-mapped while
// no reader has them open, well below Linux's default vm.max_map_count
// (65530), which the Go runtime needs too.
const DefaultMaxMapped = 16384

// Config configures a Store.
type Config struct {
	// Dir is the tier's directory; the store owns Dir/objects and Dir/LOCK.
	Dir string
	// Limit is the most bytes the objects may take.
	Limit int64
	// Now is the clock for access times; nil means the system's monotonic
	// clock (cheaper than time.Now, which every read would pay for).
	Now func() time.Time
	// MaxMapped: see DefaultMaxMapped; 0 means the default.
	MaxMapped int
}

// Store is one node's tier 0. It is safe for concurrent use.
type Store struct {
	dir       string
	limit     int64
	stamp     func() int64 // access time in unix nanoseconds
	maxMapped int
	lock      *os.File

	mu      sync.Mutex
	objects map[objectName]*entry // the current life of each name
	lives   map[string]*entry     // every object by id, replaced lives included
	used    int64                 // bytes charged to objects (written or reserved)
	mapped  int                   // entries holding a mapping
	closed  bool
}

type objectName struct{ bucket, key string }

// entry is one object. Fields under "mu:" are guarded by Store.mu.
type entry struct {
	name objectName // the name it was created with, for messages
	id   string
	path string
	copy bool // a cache copy of an object held elsewhere (CreateCopy)

	size       atomic.Int64 // bytes written so far; the final size once sealed
	sealed     atomic.Bool
	lastAccess atomic.Int64 // unix nanoseconds

	// mu:
	current objectName // the name it has now (Rename changes it)
	held    int        // Hold calls not yet released: not offered for spilling
	charged int64      // bytes of the store's used that are this entry's
	removed bool       // no longer in the store; unmap at the last reader's close
	refs    int        // open readers
	data    []byte     // the mapping of a sealed object (nil if not mapped)
	isMap   bool       // data is a mapping (an empty object has none)
}

// Info describes an object in tier 0.
type Info struct {
	Bucket, Key, ID string
	Size            int64
	Sealed          bool
	LastAccess      time.Time
	// Copy: a cache copy of an object held elsewhere, dropped rather than
	// spilled.
	Copy bool
}

// New opens the tier in cfg.Dir, clearing what a previous process left.
func New(cfg Config) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("tier0: no directory given")
	}
	if cfg.Limit <= 0 {
		return nil, fmt.Errorf("tier0: limit %d: must be positive", cfg.Limit)
	}
	if cfg.MaxMapped <= 0 {
		cfg.MaxMapped = DefaultMaxMapped
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("tier0: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Dir, "objects")
	if err := os.RemoveAll(dir); err != nil {
		lock.Close()
		return nil, fmt.Errorf("tier0: clearing %s: %w", dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		lock.Close()
		return nil, fmt.Errorf("tier0: %w", err)
	}
	return &Store{
		dir: dir, limit: cfg.Limit, stamp: accessClock(cfg.Now), maxMapped: cfg.MaxMapped, lock: lock,
		objects: map[objectName]*entry{}, lives: map[string]*entry{},
	}, nil
}

// lockDir takes an exclusive lock on dir/LOCK for the life of the store.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tier0: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("tier0: %s is in use by another process (%v)", dir, err)
	}
	return f, nil
}

// accessClock returns now in unix nanoseconds. Without a clock of the
// caller's, it reads only the monotonic clock: time.Since on a time with a
// monotonic reading is one vDSO call where time.Now is two, and reads stamp
// their object on every call.
func accessClock(now func() time.Time) func() int64 {
	if now != nil {
		return func() int64 { return now().UnixNano() }
	}
	base := time.Now()
	wall := base.UnixNano()
	return func() int64 { return wall + int64(time.Since(base)) }
}

// Limit returns the configured limit in bytes.
func (s *Store) Limit() int64 { return s.limit }

// Used returns the bytes charged to objects, including reservations of
// writes in progress.
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Close unmaps the objects no reader has open and deletes the tier's files.
// Readers still open keep their mapping until they close.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, e := range s.lives {
		e.removed = true
		if e.refs == 0 {
			s.unmapLocked(e)
		}
	}
	s.objects, s.lives = nil, nil
	s.mu.Unlock()
	err := os.RemoveAll(s.dir)
	s.lock.Close() // releases the flock
	if err != nil {
		return fmt.Errorf("tier0: removing %s: %w", s.dir, err)
	}
	return nil
}

// pathFor is where an object's bytes live: the bucket (validated, so one
// safe path segment) and the SHA-256 of the object's id, so that each life
// of a key has a file of its own.
func (s *Store) pathFor(bucket, id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(s.dir, bucket, hex.EncodeToString(sum[:]))
}

// Create starts a new object. id is the object's id in the metadata
// service, checked by Remove and by peers so one life of a key is never
// mistaken for another.
func (s *Store) Create(bucket, key, id string) (*Writer, error) {
	return s.create(bucket, key, id, false)
}

// CreateCopy starts a cache copy of the life id of an object that another
// node holds or the persistency tier keeps. It is found only by its id
// (Open with the id), never by name, so it never stands in for another
// life of the key; Coldest offers copies first, to be dropped.
func (s *Store) CreateCopy(bucket, key, id string) (*Writer, error) {
	return s.create(bucket, key, id, true)
}

func (s *Store) create(bucket, key, id string, isCopy bool) (*Writer, error) {
	if err := metadata.ValidateObjectName(bucket, key); err != nil {
		return nil, fmt.Errorf("tier0: %w", err)
	}
	if id == "" {
		return nil, fmt.Errorf("tier0: create %s/%s: empty id", bucket, key)
	}
	name := objectName{bucket, key}
	path := s.pathFor(bucket, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("tier0: %w", ErrClosed)
	}
	if _, ok := s.objects[name]; ok && !isCopy {
		return nil, fmt.Errorf("tier0: %s/%s: %w", bucket, key, fs.ErrExist)
	}
	if _, ok := s.lives[id]; ok {
		return nil, fmt.Errorf("tier0: %s/%s: id %s is taken: %w", bucket, key, id, fs.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("tier0: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tier0: create %s/%s: %w", bucket, key, err)
	}
	e := &entry{name: name, id: id, path: path, current: name, copy: isCopy}
	e.lastAccess.Store(s.stamp())
	if !isCopy {
		s.objects[name] = e
	}
	s.lives[id] = e
	return &Writer{s: s, e: e, f: f}, nil
}

// Open opens an object for reading: sealed objects through their mapping,
// an object still being written up to what was written so far. With an id,
// it opens that life of the object, whatever name it has now (an id is
// never reused), so a life that was replaced stays readable until it is
// removed; with "", the current life of bucket/key.
func (s *Store) Open(bucket, key, id string) (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("tier0: %w", ErrClosed)
	}
	e, ok := s.lookupLocked(bucket, key, id)
	if !ok {
		return nil, fmt.Errorf("tier0: %s/%s: %w", bucket, key, fs.ErrNotExist)
	}
	r := &Reader{s: s, e: e}
	if e.sealed.Load() {
		if err := s.mapLocked(e); err != nil {
			return nil, err
		}
		r.data = e.data
	} else {
		f, err := os.Open(e.path)
		if err != nil {
			return nil, fmt.Errorf("tier0: open %s/%s: %w", bucket, key, err)
		}
		r.file = f
	}
	e.refs++
	e.lastAccess.Store(s.stamp())
	return r, nil
}

// Stat describes the current life of one object.
func (s *Store) Stat(bucket, key string) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.objects[objectName{bucket, key}]
	if !ok {
		return Info{}, fmt.Errorf("tier0: %s/%s: %w", bucket, key, fs.ErrNotExist)
	}
	return e.info(), nil
}

// lookupLocked finds the life id, or with "" the current life of
// bucket/key.
func (s *Store) lookupLocked(bucket, key, id string) (*entry, bool) {
	if id != "" {
		e, ok := s.lives[id]
		return e, ok
	}
	e, ok := s.objects[objectName{bucket, key}]
	return e, ok
}

// Remove deletes the life id of an object ("" means the current life of
// bucket/key) and returns its bytes to the limit. Readers that have it
// open keep reading their mapping until they close.
func (s *Store) Remove(bucket, key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookupLocked(bucket, key, id)
	if !ok {
		return fmt.Errorf("tier0: %s/%s: %w", bucket, key, fs.ErrNotExist)
	}
	if s.objects[e.current] == e {
		delete(s.objects, e.current)
	}
	delete(s.lives, e.id)
	e.removed = true
	s.used -= e.charged
	e.charged = 0
	if e.refs == 0 {
		s.unmapLocked(e)
	}
	if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tier0: remove %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Rename gives the sealed life id the name bucket/key, as rename(2) does a
// file: the life that had that name, if any, loses it but stays readable
// by its id until it is removed. The bytes do not move.
func (s *Store) Rename(id, bucket, key string) error {
	if err := metadata.ValidateObjectName(bucket, key); err != nil {
		return fmt.Errorf("tier0: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lives[id]
	if !ok {
		return fmt.Errorf("tier0: rename of id %s: %w", id, fs.ErrNotExist)
	}
	if !e.sealed.Load() {
		return fmt.Errorf("tier0: rename %s/%s: %w", e.current.bucket, e.current.key, ErrNotSealed)
	}
	if e.copy {
		return fmt.Errorf("tier0: rename %s/%s: a cache copy has no name", e.current.bucket, e.current.key)
	}
	if s.objects[e.current] == e {
		delete(s.objects, e.current)
	}
	e.current = objectName{bucket, key}
	s.objects[e.current] = e
	return nil
}

// Hold keeps the life id out of Coldest, so the spiller leaves it alone,
// until release is called: while the metadata server renames it, its name
// there and here differ for a moment.
func (s *Store) Hold(id string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lives[id]
	if !ok {
		return nil, fmt.Errorf("tier0: hold of id %s: %w", id, fs.ErrNotExist)
	}
	e.held++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			e.held--
			s.mu.Unlock()
		})
	}, nil
}

// Objects returns every object, sealed or not, replaced lives included.
func (s *Store) Objects() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Info, 0, len(s.lives))
	for _, e := range s.lives {
		out = append(out, e.info())
	}
	return out
}

// Coldest returns the sealed objects not held (Hold), cache copies first,
// then least recently accessed first: the order in which to drop or spill
// them (dropping a copy costs nothing).
func (s *Store) Coldest() []Info {
	s.mu.Lock()
	sealed := make([]Info, 0, len(s.lives))
	for _, e := range s.lives {
		if e.sealed.Load() && e.held == 0 {
			sealed = append(sealed, e.info())
		}
	}
	s.mu.Unlock()
	slices.SortFunc(sealed, func(a, b Info) int {
		if a.Copy != b.Copy {
			if a.Copy {
				return -1
			}
			return 1
		}
		if c := a.LastAccess.Compare(b.LastAccess); c != 0 {
			return c
		}
		// Same instant: a stable order keeps spilling deterministic.
		if a.Bucket != b.Bucket {
			if a.Bucket < b.Bucket {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	return sealed
}

// info describes e; s.mu must be held.
func (e *entry) info() Info {
	return Info{
		Bucket: e.current.bucket, Key: e.current.key, ID: e.id,
		Size: e.size.Load(), Sealed: e.sealed.Load(),
		LastAccess: time.Unix(0, e.lastAccess.Load()), Copy: e.copy,
	}
}

// reserve charges n bytes to e, or fails with ErrFull.
func (s *Store) reserve(e *entry, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.removed {
		return fmt.Errorf("tier0: %s/%s: %w", e.name.bucket, e.name.key, ErrRemoved)
	}
	if s.used+n > s.limit {
		return fmt.Errorf("tier0: writing %d bytes to %s/%s: %d of %d bytes used: %w", n, e.name.bucket, e.name.key, s.used, s.limit, ErrFull)
	}
	s.used += n
	e.charged += n
	return nil
}

// release returns n reserved bytes that were not written.
func (s *Store) release(e *entry, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.removed {
		return // Remove already returned all of e's bytes
	}
	s.used -= n
	e.charged -= n
}

// mapLocked maps a sealed object if it is not mapped yet.
func (s *Store) mapLocked(e *entry) error {
	if e.data != nil {
		return nil
	}
	size := e.size.Load()
	if size == 0 {
		e.data = []byte{}
		return nil
	}
	f, err := os.Open(e.path)
	if err != nil {
		return fmt.Errorf("tier0: open %s/%s: %w", e.name.bucket, e.name.key, err)
	}
	defer f.Close() // the mapping outlives the descriptor
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("tier0: mmap %s/%s (%d bytes): %w", e.name.bucket, e.name.key, size, err)
	}
	e.data, e.isMap = data, true
	s.mapped++
	return nil
}

func (s *Store) unmapLocked(e *entry) {
	if e.isMap {
		_ = unix.Munmap(e.data) // only fails for a bad address, which would be our bug
		s.mapped--
	}
	e.data, e.isMap = nil, false
}

// releaseReader drops a reader's hold on e; the mapping goes when the
// object is removed or when too many idle objects are mapped.
func (s *Store) releaseReader(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.refs--
	if e.refs == 0 && (e.removed || s.mapped > s.maxMapped) {
		s.unmapLocked(e)
	}
}
