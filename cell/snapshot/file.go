package snapshot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes s to path atomically: to a temporary file in the same
// directory (mode 0600: memory holds the program's secrets), synced, then
// renamed over path. A crash leaves either the old file or the new one,
// never half a snapshot.
func WriteFile(path string, s *Snapshot) (err error) {
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
	if err := encode(f, s); err != nil {
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
