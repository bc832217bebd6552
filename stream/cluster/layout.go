package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxContainers bounds the number of containers of a cluster.
const MaxContainers = 1024

// DefaultContainers is the number of containers of a new cluster when
// Options.Containers is 0.
const DefaultContainers = 8

// layoutFile is the file under the cluster's directory that records how
// streams map to containers.
const layoutFile = "cluster.json"

// hashName names ContainerOf's hash in the layout file, so that a future
// change of hash is detected rather than silently misrouting streams.
const hashName = "fnv1a64-fmix64-mod"

// layout is the content of cluster.json (docs/formats/stream-cluster.md).
type layout struct {
	Format     int    `json:"format"`
	Containers int    `json:"containers"`
	Hash       string `json:"hash"`
}

// parseLayout decodes and checks cluster.json.
func parseLayout(data []byte) (layout, error) {
	var l layout
	if err := json.Unmarshal(data, &l); err != nil {
		return layout{}, fmt.Errorf("decoding: %w", err)
	}
	switch {
	case l.Format != 1:
		return layout{}, fmt.Errorf("format %d, this version reads format 1", l.Format)
	case l.Containers < 1 || l.Containers > MaxContainers:
		return layout{}, fmt.Errorf("containers %d: want 1 to %d", l.Containers, MaxContainers)
	case l.Hash != hashName:
		return layout{}, fmt.Errorf("hash %q: this version knows only %q", l.Hash, hashName)
	}
	return l, nil
}

// loadLayout reads the cluster's layout, or creates it with want
// containers (DefaultContainers if 0). A recorded count that differs from a
// non-zero want is an error: the count decides where streams live.
func loadLayout(dir string, want int) (layout, error) {
	if want < 0 || want > MaxContainers {
		return layout{}, fmt.Errorf("stream cluster: %d containers: want 1 to %d", want, MaxContainers)
	}
	path := filepath.Join(dir, layoutFile)
	data, err := os.ReadFile(path)
	if err == nil {
		l, err := parseLayout(data)
		if err != nil {
			return layout{}, fmt.Errorf("stream cluster: %s: %w", path, err)
		}
		if want != 0 && want != l.Containers {
			return layout{}, fmt.Errorf("stream cluster: %s records %d containers, %d were asked for; the count cannot change once streams are placed", path, l.Containers, want)
		}
		return l, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return layout{}, fmt.Errorf("stream cluster: %w", err)
	}
	if want == 0 {
		want = DefaultContainers
	}
	l := layout{Format: 1, Containers: want, Hash: hashName}
	if err := writeLayout(dir, l); err != nil {
		return layout{}, err
	}
	return l, nil
}

// writeLayout writes the file through a temporary file, synced and renamed,
// so that a crash leaves either no file or a whole one.
func writeLayout(dir string, l layout) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("stream cluster: %w", err)
	}
	data, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("stream cluster: encoding layout: %w", err)
	}
	tmp := filepath.Join(dir, layoutFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("stream cluster: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, layoutFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("stream cluster: writing %s: %w", layoutFile, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// HoldsCluster reports whether dir holds a cluster (its layout file).
func HoldsCluster(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, layoutFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stream cluster: %w", err)
	}
	return true, nil
}

// HoldsStore reports whether dir holds a single stream.Store (its log,
// dir/wal) and no cluster layout. Opening a cluster there would leave that
// store's streams out of sight.
func HoldsStore(dir string) (bool, error) {
	if isCluster, err := HoldsCluster(dir); isCluster || err != nil {
		return false, err
	}
	fi, err := os.Stat(filepath.Join(dir, "wal"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stream cluster: %w", err)
	}
	return fi.IsDir(), nil
}
