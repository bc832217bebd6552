package config

import (
	"slices"
	"strconv"
	"strings"
)

// Error is one problem found in a file.
type Error struct {
	File   string // as given by the caller
	Line   int    // 1-based; 0 if unknown
	Column int    // 1-based; 0 if unknown
	Path   string // dotted field path like "spec.capacity.cores" or "spec.sites[1].name"; "" if unknown
	Msg    string
}

// Error formats e like a compiler does, so that editors can jump to it:
// "sites.yaml:7:5: spec.capacity.cpus: unknown field (known fields: cores, memory, disk)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList holds several Errors: yaml.v3 reports all type errors of a
// document at once, and the user should see them all at once too.
type ErrorList []*Error

// Error returns the errors one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// tidy sorts errors by position and drops repeats: yaml.v3 reports an
// error in an anchored value once for each alias of it.
func (l ErrorList) tidy() ErrorList {
	slices.SortStableFunc(l, func(x, y *Error) int {
		if x.Line != y.Line {
			return x.Line - y.Line
		}
		return x.Column - y.Column
	})
	seen := map[Error]bool{}
	return slices.DeleteFunc(l, func(e *Error) bool {
		if seen[*e] {
			return true
		}
		seen[*e] = true
		return false
	})
}

// asError returns nil for no errors, the *Error itself for one (the common
// case, simpler for callers to inspect), and the list otherwise.
func (l ErrorList) asError() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	default:
		return l
	}
}
