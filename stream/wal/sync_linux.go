package wal

import (
	"os"

	"golang.org/x/sys/unix"
)

// dataSync makes written bytes durable. fdatasync skips the inode's
// timestamps, which recovery does not need, but still persists a new size.
func dataSync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
