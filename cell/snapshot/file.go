package snapshot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes s to path atomically: to a temporary file in the same
// directory (mode 0600: memory holds the program's secrets), synced, then
// renamed over path. A crash leaves either the old file or the new one,
// never half a snapshot.
func WriteFile(path string, s *Snapshot) error {
	return WriteWorldFile(path, []*Snapshot{s})
}

// WriteWorldFile writes the snapshots of an MPI world's ranks, in rank
// order, one after the other in one file, as WriteFile writes one.
func WriteWorldFile(path string, snaps []*Snapshot) (err error) {
	if len(snaps) == 0 {
		return fmt.Errorf("snapshot %s: no snapshots to write", path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// CreateTemp makes the file 0600 already; say so explicitly, as the
	// mode is part of the contract.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := EncodeAll(w, snaps); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	// Make the rename itself durable.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot %s: sync directory: %w", path, err)
	}
	return nil
}

// ReadFile reads the snapshot at path (see Decode); want, if non-nil, is
// the hash of the module it will be resumed with. Unlike Decode it refuses
// data after the snapshot: a file holds one snapshot.
func ReadFile(path string, want *[32]byte) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := decode(f, want)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	var one [1]byte
	switch n, err := f.Read(one[:]); {
	case n > 0:
		return nil, fmt.Errorf("snapshot %s: %w: data after the trailer", path, ErrCorrupt)
	case err != io.EOF:
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return s, nil
}

// ReadWorldFile reads every snapshot in the file at path (DecodeAll).
func ReadWorldFile(path string, want *[32]byte) ([]*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	snaps, err := DecodeAll(f, want)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return snaps, nil
}

// EncodeAll writes snapshots one after the other: an MPI world's ranks in
// rank order, or a single cell.
func EncodeAll(w io.Writer, snaps []*Snapshot) error {
	if len(snaps) == 0 {
		return errors.New("no snapshots to write")
	}
	for i, s := range snaps {
		if err := encode(w, s); err != nil {
			return fmt.Errorf("snapshot %d: %w", i, err)
		}
	}
	return nil
}

// DecodeAll reads every snapshot EncodeAll wrote, until the end of r: one
// for a single cell, one per rank for an MPI world. want is as for
// Decode. Each must be whole: data that ends inside one is refused.
func DecodeAll(r io.Reader, want *[32]byte) ([]*Snapshot, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var snaps []*Snapshot
	for {
		s, err := decode(br, want)
		if err != nil {
			return nil, fmt.Errorf("snapshot %d: %w", len(snaps), err)
		}
		snaps = append(snaps, s)
		switch _, err := br.Peek(1); {
		case err == io.EOF:
			return snaps, nil
		case err != nil:
			return nil, err
		}
	}
}
