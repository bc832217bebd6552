package lts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Dir is Storage in a directory. A Put writes a temporary file, syncs it,
// renames it into place and syncs the directory, so an object is either
// whole or absent after a crash. A directory that has disappeared (an
// unmounted or removed network share) counts as unavailable, not as
// missing objects, so the store waits for it instead of losing track.
type Dir struct {
	root string
}

// NewDir returns storage in root, which is created if missing.
func NewDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("lts: directory is required")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("lts: create %s: %w", root, err)
	}
	return &Dir{root: root}, nil
}

// Root returns the directory.
func (d *Dir) Root() string { return d.root }

func (d *Dir) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// available reports the directory being gone as an outage.
func (d *Dir) available() error {
	if _, err := os.Stat(d.root); err != nil {
		return fmt.Errorf("lts: directory %s: %w: %w", d.root, ErrUnavailable, err)
	}
	return nil
}

// Put implements Storage.
func (d *Dir) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := d.available(); err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("lts: put %s: %w", key, err)
	}
	f, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return fmt.Errorf("lts: put %s: %w", key, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lts: put %s: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("lts: put %s: %w", key, err)
	}
	return nil
}

// Get implements Storage.
func (d *Dir) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		if aerr := d.available(); aerr != nil {
			return nil, aerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lts: get %s: %w", key, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("lts: get %s: %w", key, err)
	}
	if off < 0 || off > st.Size() {
		return nil, fmt.Errorf("lts: get %s: offset %d outside the object of %d bytes", key, off, st.Size())
	}
	if n < 0 || off+n > st.Size() {
		n = st.Size() - off
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("lts: get %s: %w", key, err)
	}
	return buf, nil
}

// Delete implements Storage.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := d.available(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lts: delete %s: %w", key, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
