// Package disktest gives tests a small, real file system that fills up: a
// tmpfs of a chosen size mounted on a temporary directory, so that a test
// can watch code meet ENOSPC from the kernel rather than from a fake.
// Mounting needs root (CAP_SYS_ADMIN), which `make test` has in CI; where it
// is missing the test is skipped with the reason.
package disktest

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Small mounts a tmpfs of size bytes on a new temporary directory and
// returns the directory. It is unmounted when the test ends.
func Small(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("disktest: cannot mount a %d-byte tmpfs on %s (needs root): %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("disktest: unmount %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file of size bytes under dir (zeros, really allocated) and
// returns its path; removing it gives the space back.
func Fill(t testing.TB, dir string, size int64) string {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			t.Fatalf("disktest: fill %s: %v", f.Name(), err)
		}
	}
	return f.Name()
}
