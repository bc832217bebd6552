//go:build cgo

package wasmtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// The disk cache holds one file per module and engine build:
//
//	<CacheDir>/<sha256 of the wasm>-<engine key>.cwasm
//
// containing the SHA-256 of the serialized module followed by the module
// as Module.Serialize wrote it. wasmtime runs deserialized code without
// checking it, so the checksum keeps a damaged file (a torn write, a disk
// error) from being run: such a file is ignored, and the module compiled
// again and written anew. The cache directory must still be trusted, as
// whoever can write to it can run code in the host.

// cachePath is where the compiled form of wasm is cached.
func (e *Engine) cachePath(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return filepath.Join(e.cacheDir, hex.EncodeToString(sum[:])+"-"+e.cacheKey+".cwasm")
}

// cached returns the module cached at path, or nil if there is none that
// is intact and valid for this engine.
func (e *Engine) cached(path string) *wasmtime.Module {
	data, err := os.ReadFile(path)
	if err != nil || len(data) < sha256.Size {
		return nil
	}
	sum, payload := data[:sha256.Size], data[sha256.Size:]
	if got := sha256.Sum256(payload); !bytes.Equal(got[:], sum) {
		return nil
	}
	m, err := wasmtime.NewModuleDeserialize(e.eng, payload)
	if err != nil {
		return nil
	}
	return m
}

// store writes m to path atomically: into a temporary file that is then
// renamed, so readers see the old file or the whole new one.
func (e *Engine) store(path string, m *wasmtime.Module) (err error) {
	payload, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("serialize for the cache: %w", err)
	}
	sum := sha256.Sum256(payload)
	f, err := os.CreateTemp(e.cacheDir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = fmt.Errorf("cache: %w", err)
		}
	}()
	if _, err = f.Write(sum[:]); err != nil {
		return err
	}
	if _, err = f.Write(payload); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
