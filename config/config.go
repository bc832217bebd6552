// Package config reads and writes cloudskin's configuration files: the
// Continuum that configures `cloudskin up` and the ClientConfig that tells
// client commands where the control plane is.
//
// Files are Kubernetes-style resources (apiVersion, kind, metadata, spec)
// and are decoded strictly: an unknown field, a wrong type, a duplicate key,
// a second document or a wrong apiVersion or kind is an error, because a
// typo that is silently ignored is a setting the user believes in but does
// not get.
//
// yaml.v3 can reject unknown fields (Decoder.KnownFields), but it says only
// "line 7: field cpus not found in type v1alpha1.Capacity". The hand-written
// part of this package parses the file into a yaml.Node tree as well, maps
// each reported line back to the node it is about, and reports
// "sites.yaml:7:5: spec.capacity.cpus: unknown field (known fields: cores,
// memory, disk)": the file, line and column, the dotted field path, and
// what would have been accepted. yaml.v3 also accepts empty input and
// several documents in one stream, which a configuration file must not be,
// and silently truncates a float written for an integer (cores: 1.5 becomes
// 1), so Decode checks those on the node tree itself.
package config

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// defaultsYAML is the configuration `cloudskin up` runs with when given no
// file. It is a string, not a []byte, so nothing can modify it.
//
//go:embed defaults.yaml
var defaultsYAML string

// defaultsFile names the embedded defaults in errors.
const defaultsFile = "defaults.yaml (embedded)"

// DefaultsYAML returns the embedded defaults file, comments included, for
// users to start their own file from. The result is a fresh copy.
func DefaultsYAML() []byte {
	return []byte(defaultsYAML)
}

// DefaultContinuum returns the embedded defaults, decoded with Decode and
// validated. It panics if they are invalid: they are compiled into the
// binary, so that is a programming error, and the package's tests catch it.
func DefaultContinuum() v1alpha1.Continuum {
	var c v1alpha1.Continuum
	if err := Decode(defaultsFile, []byte(defaultsYAML), v1alpha1.KindContinuum, &c); err != nil {
		panic(fmt.Sprintf("config: invalid embedded defaults: %v", err))
	}
	if err := c.Validate(); err != nil {
		panic(fmt.Sprintf("config: invalid embedded defaults: %s: %v", defaultsFile, err))
	}
	return c
}

// LoadContinuum reads the Continuum at path; "" means the defaults only.
//
// The file is decoded on top of the defaults, so it needs to set only what
// it changes: a field it does not set keeps its default, and a list it sets
// (such as spec.sites) replaces the default list as a whole. A map it sets
// is merged into the default map, which is how yaml.v3 decodes into a
// non-nil map; the defaults have no maps outside the sites list, so today
// that cannot be observed.
func LoadContinuum(path string) (v1alpha1.Continuum, error) {
	c := DefaultContinuum()
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return v1alpha1.Continuum{}, fmt.Errorf("read continuum configuration: %w", err)
	}
	if err := Decode(path, data, v1alpha1.KindContinuum, &c); err != nil {
		return v1alpha1.Continuum{}, err
	}
	if err := c.Validate(); err != nil {
		return v1alpha1.Continuum{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// LoadClientConfig reads and validates the ClientConfig at path. If the file
// does not exist, errors.Is(err, fs.ErrNotExist) is true, so that callers
// can tell "not set up yet" from "broken".
func LoadClientConfig(path string) (v1alpha1.ClientConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return v1alpha1.ClientConfig{}, fmt.Errorf("read client configuration: %w", err)
	}
	var c v1alpha1.ClientConfig
	if err := Decode(path, data, v1alpha1.KindClientConfig, &c); err != nil {
		return v1alpha1.ClientConfig{}, err
	}
	if err := c.Validate(); err != nil {
		return v1alpha1.ClientConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WriteClientConfig validates c and writes it to path as YAML, creating the
// directory (mode 0700) if needed.
//
// The file is written to a temporary file in the same directory and then
// renamed over path, so a reader never sees a half-written file and a crash
// leaves the old file in place. It is mode 0600 because it will hold
// credentials.
func WriteClientConfig(path string, c v1alpha1.ClientConfig) error {
	// Refuse to write what LoadClientConfig would refuse to read.
	if err := c.Validate(); err != nil {
		return fmt.Errorf("write client configuration %s: %w", path, err)
	}
	data, err := marshal(c)
	if err != nil {
		return fmt.Errorf("write client configuration %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("write client configuration: %w", err)
	}
	return nil
}

// marshal encodes v as YAML indented by two spaces, as Kubernetes manifests
// are (yaml.Marshal indents by four).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeFileAtomic writes data to path with mode 0600 by renaming a
// temporary file from the same directory (rename is atomic only within one
// file system).
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// CreateTemp creates the file with mode 0600.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close() // may already be closed; the write error matters more
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	// Sync before rename: otherwise a crash can leave an empty file at path.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
