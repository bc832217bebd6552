package wasi

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ModuleName is the import module wasi-libc's functions come from.
const ModuleName = "wasi_snapshot_preview1"

// Preopen is a host directory the guest sees at GuestPath.
type Preopen struct {
	// HostDir is the directory on the host. Nothing outside it is reachable.
	HostDir string `json:"hostDir"`
	// GuestPath is where wasi-libc mounts it, e.g. "/data" or ".".
	GuestPath string `json:"guestPath"`
	// ReadOnly refuses every change below it with EROFS. It is a property of
	// the preopen, not of the host directory: a second, writable preopen of
	// the same host directory can still change it.
	ReadOnly bool `json:"readOnly"`
}

// Config is what a cell's WASI starts from.
type Config struct {
	// Args are argv, including argv[0].
	Args []string
	// Env is the environment, each "KEY=VALUE".
	Env []string
	// Stdin is read by fd 0; nil is empty input.
	Stdin io.Reader
	// Stdout and Stderr receive fds 1 and 2; nil discards.
	Stdout, Stderr io.Writer
	// Preopens become fds 3, 4, ... in order.
	Preopens []Preopen
	// Now is the realtime clock; nil is time.Now.
	Now func() time.Time
	// Monotonic is the monotonic clock; nil is the time since New.
	// MonotonicOffset is added to it. Restore sets it to State.Monotonic,
	// so a resumed cell's clock continues instead of starting again at
	// zero; New takes it as given.
	Monotonic       func() time.Duration
	MonotonicOffset time.Duration
	// Random feeds random_get; nil is crypto/rand.
	Random io.Reader
}

// maxFDs bounds the fd table so a guest cannot make the host allocate
// without limit (fd_renumber to a huge number, or opening forever).
const maxFDs = 1 << 14

// System is one cell's WASI state. Its methods and the host functions of
// Module are safe for concurrent use, except that Stdin, Stdout and Stderr
// are used without a lock (a read from stdin may block for as long as the
// cell's input takes, and must not hold up State): a cell whose threads
// share stdio needs readers and writers that are safe for that.
type System struct {
	args []string
	env  []string

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	now        func() time.Time
	monotonic  func() time.Duration
	monoOffset time.Duration
	random     io.Reader

	preopens []preopenDir

	// mu guards everything below: the fd table and the clock's high-water
	// mark. Host calls hold it while they run, except while poll_oneoff
	// sleeps.
	mu       sync.Mutex
	fds      map[uint32]*fdEntry
	lastMono time.Duration
	closed   bool
}

// preopenDir is a Preopen with its confinement root.
type preopenDir struct {
	Preopen
	root *os.Root
}

// New makes the WASI state of one cell: stdio on fds 0-2 and each preopen,
// opened with os.Root, on fds 3 and up.
func New(cfg Config) (*System, error) {
	s, err := newSystem(cfg)
	if err != nil {
		return nil, err
	}
	for i := range uint32(3) {
		s.fds[i] = newStdioEntry(int(i))
	}
	for i, p := range cfg.Preopens {
		dir, err := s.openPreopen(i, p)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.fds[uint32(3+i)] = newPreopenEntry(i, dir)
	}
	return s, nil
}

// newSystem checks cfg's args and environment and makes a System with
// cfg's stdio, clocks and randomness (or their defaults), no preopens and
// an empty fd table: what New and Restore have in common.
func newSystem(cfg Config) (*System, error) {
	if err := checkStrings("argument", cfg.Args); err != nil {
		return nil, err
	}
	if err := checkStrings("environment variable", cfg.Env); err != nil {
		return nil, err
	}
	for _, kv := range cfg.Env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("wasi: environment variable %q is not KEY=VALUE", kv)
		}
	}
	s := &System{
		args:       append([]string(nil), cfg.Args...),
		env:        append([]string(nil), cfg.Env...),
		stdin:      cfg.Stdin,
		stdout:     cfg.Stdout,
		stderr:     cfg.Stderr,
		now:        cfg.Now,
		monotonic:  cfg.Monotonic,
		monoOffset: cfg.MonotonicOffset,
		random:     cfg.Random,
		fds:        make(map[uint32]*fdEntry),
	}
	if s.stdin == nil {
		s.stdin = eofReader{}
	}
	if s.stdout == nil {
		s.stdout = io.Discard
	}
	if s.stderr == nil {
		s.stderr = io.Discard
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.monotonic == nil {
		start := time.Now()
		s.monotonic = func() time.Duration { return time.Since(start) }
	}
	if s.random == nil {
		s.random = rand.Reader
	}
	return s, nil
}

// eofReader is stdin when the cell has none.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// checkStrings refuses NUL bytes: args and env reach C as NUL-terminated
// strings, so an embedded NUL would silently cut one short.
func checkStrings(what string, ss []string) error {
	for _, v := range ss {
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("wasi: %s %q contains a NUL byte", what, v)
		}
	}
	return nil
}

// openPreopen opens preopen i's root, appends it to s.preopens and
// returns its directory, for the preopen's own fd.
func (s *System) openPreopen(i int, p Preopen) (*os.File, error) {
	if p.GuestPath == "" {
		return nil, fmt.Errorf("wasi: preopen %d (%s): empty guest path", i, p.HostDir)
	}
	if strings.IndexByte(p.GuestPath, 0) >= 0 {
		return nil, fmt.Errorf("wasi: preopen %d: guest path %q contains a NUL byte", i, p.GuestPath)
	}
	root, err := os.OpenRoot(p.HostDir)
	if err != nil {
		return nil, fmt.Errorf("wasi: preopen %q for guest path %q: %w", p.HostDir, p.GuestPath, err)
	}
	// OpenRoot succeeds on a directory we cannot list; find out now rather
	// than when the guest first reads it.
	dir, err := root.Open(".")
	if err == nil {
		_, err = dir.ReadDir(1)
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		if dir != nil {
			_ = dir.Close()
		}
		_ = root.Close()
		return nil, fmt.Errorf("wasi: preopen %q for guest path %q: %w", p.HostDir, p.GuestPath, err)
	}
	s.preopens = append(s.preopens, preopenDir{Preopen: p, root: root})
	return dir, nil
}

// newPreopenEntry is the fd entry of preopen i's own directory.
func newPreopenEntry(i int, dir *os.File) *fdEntry {
	return &fdEntry{
		kind:             KindDir,
		file:             dir,
		preopen:          i,
		isPreopen:        true,
		path:             ".",
		read:             true,
		rightsBase:       rightsDir,
		rightsInheriting: rightsDir | rightsFile,
	}
}

// Close closes every open file and every preopen root. The System is
// unusable afterwards: host calls fail with EBADF.
func (s *System) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for fd, e := range s.fds {
		if err := e.close(); err != nil {
			errs = append(errs, fmt.Errorf("wasi: closing fd %d: %w", fd, err))
		}
		delete(s.fds, fd)
	}
	for _, p := range s.preopens {
		if err := p.root.Close(); err != nil {
			errs = append(errs, fmt.Errorf("wasi: closing preopen %q: %w", p.HostDir, err))
		}
	}
	return errors.Join(errs...)
}
