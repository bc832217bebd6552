package wasi

import (
	"cmp"
	"slices"
	"time"
)

// State is a cell's WASI state as plain data: what a snapshot records so
// that the cell can be resumed, on either engine, with the same fds at the
// same offsets. It holds no host handles; Restore reopens each fd from its
// preopen index and path.
type State struct {
	Args     []string  `json:"args"`
	Env      []string  `json:"env"`
	Preopens []Preopen `json:"preopens"`
	// Monotonic is the cell's monotonic clock when the state was taken.
	// Restore makes it the MonotonicOffset, so the resumed cell's clock
	// goes on from there instead of jumping back to zero.
	Monotonic time.Duration `json:"monotonicNs"`
	// FDs are the open fds, by number.
	FDs []FDState `json:"fds"`
}

// FDState is one open fd.
type FDState struct {
	FD   uint32 `json:"fd"`
	Kind FDKind `json:"kind"`
	// Stdio is the stream of a stdio fd: 0 stdin, 1 stdout, 2 stderr. It
	// stays with the stream when fd_renumber moves it.
	Stdio int `json:"stdio,omitempty"`
	// Preopen is the index in Preopens the path is relative to; -1 for
	// stdio.
	Preopen int `json:"preopen"`
	// IsPreopen marks a preopen's own directory fd (the one
	// fd_prestat_get describes), as opposed to a directory opened later.
	IsPreopen bool `json:"isPreopen,omitempty"`
	// Path is slash-separated, relative to the preopen's root, "." for the
	// root itself. It is the path the fd was opened by: a file renamed or
	// unlinked while open is not followed.
	Path string `json:"path,omitempty"`
	// Read and Write are the host access mode the fd was opened with.
	Read  bool `json:"read"`
	Write bool `json:"write"`
	// OFlags, FDFlags and the rights are the preview1 values (path_open's
	// oflags, fdflags, rights_base, rights_inheriting), as currently set.
	OFlags           uint16 `json:"oflags"`
	FDFlags          uint16 `json:"fdflags"`
	RightsBase       uint64 `json:"rightsBase"`
	RightsInheriting uint64 `json:"rightsInheriting"`
	// Offset is the file position of a file fd.
	Offset int64 `json:"offset"`
}

// State returns the current WASI state. The cell should be stopped (or
// between host calls) for it to be a consistent snapshot; State itself is
// safe to call at any time.
func (s *System) State() State {
	mono := s.monotonicNow()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Args:      slices.Clone(s.args),
		Env:       slices.Clone(s.env),
		Monotonic: mono,
		FDs:       make([]FDState, 0, len(s.fds)),
	}
	for _, p := range s.preopens {
		st.Preopens = append(st.Preopens, p.Preopen)
	}
	for fd, e := range s.fds {
		st.FDs = append(st.FDs, FDState{
			FD:               fd,
			Kind:             e.kind,
			Stdio:            e.stdio,
			Preopen:          e.preopen,
			IsPreopen:        e.isPreopen,
			Path:             e.path,
			Read:             e.read,
			Write:            e.write,
			OFlags:           e.oflags,
			FDFlags:          e.fdflags,
			RightsBase:       e.rightsBase,
			RightsInheriting: e.rightsInheriting,
			Offset:           e.offset,
		})
	}
	slices.SortFunc(st.FDs, func(a, b FDState) int { return cmp.Compare(a.FD, b.FD) })
	return st
}
