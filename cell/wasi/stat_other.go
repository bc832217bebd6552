//go:build !linux

package wasi

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// statOf converts a host FileInfo to a preview1 filestat. Off Linux we use
// only what fs.FileInfo has: no inode or device, one link, and the
// modification time for every time.
func statOf(info fs.FileInfo) filestat {
	st := baseStat(info)
	st.nlink = 1
	st.atim = st.mtim
	st.ctim = st.mtim
	return st
}

// setFileTimes is not available off Linux: there is no portable way to set
// an open file's times without its path.
func setFileTimes(*os.File, time.Time, time.Time) error {
	return syscall.ENOSYS
}
