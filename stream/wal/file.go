package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File header, little endian (docs/formats/stream-wal.md):
//
//	0  8  magic "CSKINWAL"
//	8  4  format version (1)
//	12 8  base: the address of the file's first record
//	20 4  CRC-32C of bytes 0..20
const (
	fileHeaderSize = 24
	fileMagic      = "CSKINWAL"
	fileVersion    = 1
	fileSuffix     = ".wal"
	tmpSuffix      = ".tmp"
)

func fileName(base Address) string { return fmt.Sprintf("%020d%s", uint64(base), fileSuffix) }

// parseFileName returns the base address a log file's name declares.
func parseFileName(name string) (Address, bool) {
	digits, ok := strings.CutSuffix(name, fileSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return Address(n), err == nil
}

func encodeFileHeader(base Address) []byte {
	h := make([]byte, fileHeaderSize)
	copy(h, fileMagic)
	binary.LittleEndian.PutUint32(h[8:12], fileVersion)
	binary.LittleEndian.PutUint64(h[12:20], uint64(base))
	binary.LittleEndian.PutUint32(h[20:24], crc32.Checksum(h[:20], castagnoli))
	return h
}

// checkFileHeader verifies that h is the header of a log file whose first
// record is at base.
func checkFileHeader(h []byte, base Address) error {
	if len(h) < fileHeaderSize {
		return fmt.Errorf("file header: %d bytes, want %d: %w", len(h), fileHeaderSize, ErrCorrupt)
	}
	if string(h[:8]) != fileMagic {
		return fmt.Errorf("file header: magic %q, want %q: %w", h[:8], fileMagic, ErrCorrupt)
	}
	if got, want := binary.LittleEndian.Uint32(h[20:24]), crc32.Checksum(h[:20], castagnoli); got != want {
		return fmt.Errorf("file header: checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	if v := binary.LittleEndian.Uint32(h[8:12]); v != fileVersion {
		return fmt.Errorf("file header: format version %d, this build reads %d", v, fileVersion)
	}
	if got := Address(binary.LittleEndian.Uint64(h[12:20])); got != base {
		return fmt.Errorf("file header: base address %d, but the file name says %d: %w", got, base, ErrCorrupt)
	}
	return nil
}

// createFile makes a new, empty log file starting at base. The header is
// written to a temporary name, synced, renamed and the directory synced, so
// a file with the final name always has a whole header. It returns the
// open file and its final path.
func createFile(dir string, base Address) (*os.File, string, error) {
	final := filepath.Join(dir, fileName(base))
	tmp := final + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("wal: create %s: %w", tmp, err)
	}
	if _, err := f.Write(encodeFileHeader(base)); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("wal: write header of %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("wal: sync %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("wal: rename %s: %w", tmp, err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, "", err
	}
	return f, final, nil
}

// syncDir makes file creations, renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("wal: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("wal: sync directory %s: %w", dir, err)
	}
	return nil
}
