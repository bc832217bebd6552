package wasi

import (
	"errors"
	"fmt"
	"os"
)

// Restore makes the WASI state of a cell that continues from st, taken by
// State from a System that may have lived in another process or on another
// machine. The result is that System again, as far as the guest can tell:
//
//   - args, environment and preopens are st's (cfg's are ignored), each
//     preopen opened with os.Root as New does;
//   - every fd of st is open on the same number: stdio on the stream it
//     had (fd_renumber may have moved it), a preopen's own directory, and
//     every file and directory the guest opened, reopened by its path
//     relative to its preopen with the access mode, oflags, fdflags,
//     rights and offset it had; numbers st does not have are free, so the
//     next fd opened is the lowest of those, as usual;
//   - the monotonic clock goes on from st.Monotonic: Restore sets
//     MonotonicOffset to it (cfg's is ignored) and never answers less, so
//     the caller need not and the clock cannot go back.
//
// cfg supplies what a snapshot cannot carry: stdio, the clocks and
// randomness.
//
// Files are reopened, never created: O_CREAT, O_EXCL and O_TRUNC are left
// out when opening again (the file exists now, and truncating it again
// would lose what the cell wrote), though the fd still reports the oflags
// it was opened with. A file or directory that is gone, or is now the other
// kind, is an error naming the fd and path; so is a preopen directory that
// is gone. What is reopened is whatever is at the path now: a file renamed
// or unlinked while open (State records the path it was opened by) is not
// followed. fd_readdir's cached listing is not carried either: it is read
// again at the guest's next call, so a cookie lands on the same entry only
// if the directory did not change. State that New and the guest could not
// have made (unknown kinds, flags or rights, write access in a read-only
// preopen, an fd number twice) is refused rather than trusted.
func Restore(cfg Config, st State) (*System, error) {
	cfg.Args, cfg.Env, cfg.Preopens = st.Args, st.Env, st.Preopens
	cfg.MonotonicOffset = st.Monotonic
	s, err := newSystem(cfg)
	if err != nil {
		return nil, err
	}
	// A Config.Monotonic that starts below zero must not take the clock
	// back either.
	s.lastMono = st.Monotonic
	if err := s.restoreFDs(st); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// restoreFDs opens st's preopens and puts every fd of st in the table.
func (s *System) restoreFDs(st State) error {
	// The preopens' own directories, for the fds that are them; those the
	// guest closed are closed again at the end.
	dirs := make([]*os.File, len(st.Preopens))
	defer func() {
		for _, d := range dirs {
			if d != nil {
				_ = d.Close()
			}
		}
	}()
	for i, p := range st.Preopens {
		dir, err := s.openPreopen(i, p)
		if err != nil {
			return err
		}
		dirs[i] = dir
	}
	for _, saved := range st.FDs {
		if err := s.restoreFD(saved, dirs); err != nil {
			return fmt.Errorf("wasi: restore fd %d: %w", saved.FD, err)
		}
	}
	return nil
}

// restoreFD opens one fd of a State and puts it on its number.
func (s *System) restoreFD(saved FDState, dirs []*os.File) error {
	if saved.FD >= maxFDs {
		return fmt.Errorf("beyond the fd table's %d entries", maxFDs)
	}
	if _, dup := s.fds[saved.FD]; dup {
		return errors.New("listed twice")
	}
	if saved.OFlags&^oflagsAll != 0 || saved.FDFlags&^fdflagsAll != 0 {
		return fmt.Errorf("unknown oflags %#x or fdflags %#x", saved.OFlags, saved.FDFlags)
	}
	if saved.Offset < 0 {
		return fmt.Errorf("negative offset %d", saved.Offset)
	}
	var e *fdEntry
	var err error
	switch {
	case saved.Kind == KindStdio:
		e, err = restoreStdio(saved)
	case saved.IsPreopen:
		e, err = restorePreopen(saved, dirs)
	case saved.Kind == KindDir || saved.Kind == KindFile:
		e, err = s.reopen(saved)
	default:
		err = fmt.Errorf("unknown kind %q", saved.Kind)
	}
	if err != nil {
		return err
	}
	s.fds[saved.FD] = e
	if err := applyFDState(e, saved); err != nil {
		// e is in the table, so Close closes its file.
		return err
	}
	return nil
}

// restoreStdio makes the entry of a stdio fd. Its access mode is the
// stream's; a State saying otherwise was not made by State.
func restoreStdio(saved FDState) (*fdEntry, error) {
	if saved.Stdio < 0 || saved.Stdio > 2 || saved.Preopen != -1 || saved.IsPreopen || saved.Path != "" {
		return nil, fmt.Errorf("stdio fd with stream %d, preopen %d, path %q", saved.Stdio, saved.Preopen, saved.Path)
	}
	e := newStdioEntry(saved.Stdio)
	if saved.Read != e.read || saved.Write != e.write {
		return nil, fmt.Errorf("stream %d with read %v, write %v", saved.Stdio, saved.Read, saved.Write)
	}
	return e, nil
}

// restorePreopen makes the entry of a preopen's own directory fd from the
// directory openPreopen opened, which it takes out of dirs. fd_renumber
// may have moved it, but there is no dup: each preopen has at most one.
func restorePreopen(saved FDState, dirs []*os.File) (*fdEntry, error) {
	if saved.Kind != KindDir || saved.Path != "." || saved.Stdio != 0 || !saved.Read || saved.Write {
		return nil, fmt.Errorf("preopen fd of kind %q, path %q, read %v, write %v", saved.Kind, saved.Path, saved.Read, saved.Write)
	}
	if saved.Preopen < 0 || saved.Preopen >= len(dirs) {
		return nil, fmt.Errorf("preopen %d of %d", saved.Preopen, len(dirs))
	}
	dir := dirs[saved.Preopen]
	if dir == nil {
		return nil, fmt.Errorf("preopen %d has a second fd", saved.Preopen)
	}
	dirs[saved.Preopen] = nil
	return newPreopenEntry(saved.Preopen, dir), nil
}

// reopen opens a file or directory fd again by its path in its preopen,
// with its access mode and without creating or truncating anything.
func (s *System) reopen(saved FDState) (*fdEntry, error) {
	if saved.Preopen < 0 || saved.Preopen >= len(s.preopens) {
		return nil, fmt.Errorf("%s %q in preopen %d of %d", saved.Kind, saved.Path, saved.Preopen, len(s.preopens))
	}
	pre := s.preopens[saved.Preopen]
	where := fmt.Sprintf("%s %q in preopen %q (%s)", saved.Kind, saved.Path, pre.GuestPath, pre.HostDir)
	if saved.Stdio != 0 || saved.Path == "" {
		return nil, fmt.Errorf("%s: stdio stream %d or empty path", where, saved.Stdio)
	}
	if !saved.Read && !saved.Write {
		return nil, fmt.Errorf("%s: neither read nor write access", where)
	}
	// A read-only preopen is read-only whatever a State says.
	if saved.Write && pre.ReadOnly {
		return nil, fmt.Errorf("%s: write access in a read-only preopen", where)
	}
	flag := os.O_RDONLY
	switch {
	case saved.Read && saved.Write:
		flag = os.O_RDWR
	case saved.Write:
		flag = os.O_WRONLY
	}
	// os.Root confines the path as it did when the guest opened it; the
	// final symlink, if any, is followed (inside the root), as path_open
	// checked when it mattered.
	f, err := pre.root.OpenFile(saved.Path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("reopening %s: %w", where, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("reopening %s: %w", where, err)
	}
	if info.IsDir() != (saved.Kind == KindDir) {
		_ = f.Close()
		return nil, fmt.Errorf("reopening %s: it is now a %s", where, kindOf(info.IsDir()))
	}
	return &fdEntry{
		kind:    saved.Kind,
		file:    f,
		preopen: saved.Preopen,
		path:    saved.Path,
		read:    saved.Read,
		write:   saved.Write,
		// The most a path_open with this access mode could have granted;
		// applyFDState narrows it to what the fd had.
		rightsBase:       maxRights(saved.Kind, saved.Read, saved.Write),
		rightsInheriting: rightsDir | rightsFile,
	}, nil
}

func kindOf(isDir bool) FDKind {
	if isDir {
		return KindDir
	}
	return KindFile
}

// maxRights is the most rights_base an fd of kind and access mode can
// have: what openTarget grants at most.
func maxRights(kind FDKind, read, write bool) uint64 {
	r := uint64(rightsFile)
	if kind == KindDir {
		r = rightsDir
	}
	if !read {
		r &^= rightsReading
	}
	if !write {
		r &^= rightsWriting
	}
	return r
}

// applyFDState gives a freshly made entry the flags, rights and offset saved
// recorded. Rights can only have been narrowed since the fd was made, so
// rights beyond the entry's are refused: a State cannot grant what the
// guest could not have had.
func applyFDState(e *fdEntry, saved FDState) error {
	if saved.RightsBase&^e.rightsBase != 0 || saved.RightsInheriting&^e.rightsInheriting != 0 {
		return fmt.Errorf("rights %#x/%#x beyond the %#x/%#x a %s fd can have",
			saved.RightsBase, saved.RightsInheriting, e.rightsBase, e.rightsInheriting, saved.Kind)
	}
	e.rightsBase, e.rightsInheriting = saved.RightsBase, saved.RightsInheriting
	e.oflags = saved.OFlags
	e.fdflags = saved.FDFlags
	e.offset = saved.Offset
	return nil
}
