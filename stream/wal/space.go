package wal

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrDiskFull is wrapped by Append's error when the file system holding the
// log has less free space than Options.MinFreeBytes. Nothing of the refused
// append was queued; the log stays usable and takes appends again once
// space is freed.
var ErrDiskFull = errors.New("wal: disk almost full")

// spaceRecheck is how long a free-space reading is trusted while appends
// fit comfortably; other processes may fill or free the disk meanwhile.
const spaceRecheck = time.Second

// spaceGuard refuses appends that would eat into a reserve of free disk
// space, so that the log stops taking data before the disk is full instead
// of failing a write half-way (which, like a failed fdatasync, leaves the
// log unusable until it is reopened). It asks the file system (statfs) at
// most once per spaceRecheck while the estimate is comfortable, and before
// every refusal, so a refusal is always based on a fresh reading.
type spaceGuard struct {
	dir     string
	reserve int64
	free    func(dir string) (int64, error)
	now     func() time.Time

	mu      sync.Mutex
	avail   int64     // free bytes at the last reading
	written int64     // bytes accepted since that reading
	read    time.Time // when it was taken
}

func newSpaceGuard(dir string, reserve int64) *spaceGuard {
	if reserve <= 0 {
		return nil
	}
	return &spaceGuard{dir: dir, reserve: reserve, free: freeBytes, now: time.Now}
}

// admit accounts for an append of size bytes, or refuses it with an error
// wrapping ErrDiskFull. An append that may use the reserve needs only to
// fit. A nil guard admits everything.
func (g *spaceGuard) admit(size int, useReserve bool) error {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	reserve := g.reserve
	if useReserve {
		reserve = 0
	}
	fits := g.avail-g.written-int64(size) >= reserve
	if !fits || g.now().Sub(g.read) >= spaceRecheck {
		avail, err := g.free(g.dir)
		if err != nil {
			return fmt.Errorf("wal: free space of %s: %w", g.dir, err)
		}
		g.avail, g.written, g.read = avail, 0, g.now()
	}
	if left := g.avail - g.written - int64(size); left < reserve {
		return fmt.Errorf("%w: %d bytes free for %s, below the reserve of %d; appends resume once space is freed",
			ErrDiskFull, max(g.avail-g.written, 0), g.dir, g.reserve)
	}
	g.written += int64(size)
	return nil
}
