package tier0

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// Writer appends to an object until it is sealed.
type Writer struct {
	s *Store
	e *entry

	mu sync.Mutex // serialises writes, seal and abort
	f  *os.File   // nil once sealed or aborted
}

// Write appends p. It fails with ErrFull (wrapped) when p does not fit in
// the limit; nothing of p is then written.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writable(); err != nil {
		return 0, err
	}
	if err := w.s.reserve(w.e, int64(len(p))); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	if n < len(p) {
		w.s.release(w.e, int64(len(p)-n))
	}
	w.e.size.Add(int64(n))
	w.e.lastAccess.Store(w.s.stamp())
	if err != nil {
		return n, fmt.Errorf("tier0: write %s/%s: %w", w.e.name.bucket, w.e.name.key, err)
	}
	return n, nil
}

func (w *Writer) writable() error {
	switch {
	case w.e.sealed.Load():
		return fmt.Errorf("tier0: %s/%s: %w", w.e.name.bucket, w.e.name.key, ErrSealed)
	case w.f == nil:
		return fmt.Errorf("tier0: %s/%s: writer aborted: %w", w.e.name.bucket, w.e.name.key, ErrClosed)
	}
	return nil
}

// Size returns the bytes written so far.
func (w *Writer) Size() int64 { return w.e.size.Load() }

// ID returns the object's id.
func (w *Writer) ID() string { return w.e.id }

// Seal makes the object immutable; sealing again is a no-op. Tier 0 is
// ephemeral, so there is no fsync: durability is the persistency tier's job.
func (w *Writer) Seal() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.e.sealed.Load() {
		return nil
	}
	if w.f == nil {
		return fmt.Errorf("tier0: seal %s/%s: writer aborted: %w", w.e.name.bucket, w.e.name.key, ErrClosed)
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return fmt.Errorf("tier0: seal %s/%s: %w", w.e.name.bucket, w.e.name.key, err)
	}
	w.e.sealed.Store(true)
	return nil
}

// Abort gives up an unsealed object and removes it.
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.e.sealed.Load() {
		return fmt.Errorf("tier0: abort %s/%s: %w", w.e.name.bucket, w.e.name.key, ErrSealed)
	}
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	err := w.s.Remove(w.e.name.bucket, w.e.name.key, w.e.id)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Reader reads one object. ReadAt may be called concurrently; Close must
// come after every ReadAt has returned and every slice from Bytes is done
// with, because Close may unmap the bytes.
type Reader struct {
	s      *Store
	e      *entry
	data   []byte   // the mapping, for a sealed object
	file   *os.File // for an object still being written
	closed atomic.Bool
}

// Sealed reports whether the reader reads a sealed object.
func (r *Reader) Sealed() bool { return r.file == nil }

// ID returns the object's id.
func (r *Reader) ID() string { return r.e.id }

// Size returns the object's size: for an object still being written, what
// has been written so far.
func (r *Reader) Size() int64 {
	if r.file == nil {
		return int64(len(r.data))
	}
	return r.e.size.Load()
}

// ReadAt reads len(p) bytes at off, like io.ReaderAt: a read that reaches
// the end returns what there was and io.EOF.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if r.closed.Load() {
		return 0, fmt.Errorf("tier0: read %s/%s: %w", r.e.name.bucket, r.e.name.key, ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("tier0: read %s/%s: negative offset %d", r.e.name.bucket, r.e.name.key, off)
	}
	r.e.lastAccess.Store(r.s.stamp())
	if r.file != nil {
		return r.readOpen(p, off)
	}
	if off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	n := copy(p, r.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readOpen reads an object still being written, never past what the
// writer had written when the read began.
func (r *Reader) readOpen(p []byte, off int64) (int, error) {
	size := r.e.size.Load()
	if off >= size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), size-off)
	n, err := r.file.ReadAt(p[:want], off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("tier0: read %s/%s: %w", r.e.name.bucket, r.e.name.key, err)
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// Bytes returns the sealed object's bytes without copying: a view of the
// mapping, read-only (writing to it faults), valid until Close.
func (r *Reader) Bytes() ([]byte, error) {
	if r.closed.Load() {
		return nil, fmt.Errorf("tier0: %s/%s: %w", r.e.name.bucket, r.e.name.key, ErrClosed)
	}
	if r.file != nil {
		return nil, fmt.Errorf("tier0: Bytes of %s/%s: %w (read it with ReadAt)", r.e.name.bucket, r.e.name.key, ErrNotSealed)
	}
	r.e.lastAccess.Store(r.s.stamp())
	return r.data, nil
}

// Close releases the reader; closing twice is a no-op.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	if r.file != nil {
		r.file.Close()
	}
	r.s.releaseReader(r.e)
	return nil
}
