//go:build linux

package wasi

import (
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"
)

// statOf converts a host FileInfo to a preview1 filestat, with the inode,
// device, link count and times only the host's stat has.
func statOf(info fs.FileInfo) filestat {
	st := baseStat(info)
	if sys, ok := info.Sys().(*syscall.Stat_t); ok {
		st.dev = uint64(sys.Dev)
		st.ino = uint64(sys.Ino)
		st.nlink = uint64(sys.Nlink)
		st.atim = nsOf(sys.Atim)
		st.ctim = nsOf(sys.Ctim)
	}
	return st
}

func nsOf(ts syscall.Timespec) uint64 {
	if ns := ts.Nano(); ns > 0 {
		return uint64(ns)
	}
	return 0
}

// setFileTimes sets the times of an open file. There is no os.File method
// for it, so we go through the file's /proc/self/fd link, which names the
// open file itself even after a rename or unlink. A zero time is left
// unchanged (os.Chtimes passes UTIME_OMIT).
func setFileTimes(f *os.File, atime, mtime time.Time) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	err = rc.Control(func(fd uintptr) {
		opErr = os.Chtimes("/proc/self/fd/"+strconv.FormatUint(uint64(fd), 10), atime, mtime)
	})
	if err != nil {
		return err
	}
	return opErr
}
