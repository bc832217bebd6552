package peer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// errBadRange: the Range header is not one byte range we understand.
	errBadRange = errors.New("bad Range header")
	// errUnsatisfiable: the range starts at or after the end of the object.
	errUnsatisfiable = errors.New("range not satisfiable")
)

// parseRange reads a Range header holding one byte range, "bytes=a-b",
// "bytes=a-" or "bytes=-n", against an object of size bytes, and returns
// the offset and length it selects (clamped to the object, as RFC 9110
// says). An empty header selects the whole object.
func parseRange(h string, size int64) (off, n int64, err error) {
	if h == "" {
		return 0, size, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, 0, fmt.Errorf("%w %q: want bytes=first-last", errBadRange, h)
	}
	if strings.Contains(spec, ",") {
		return 0, 0, fmt.Errorf("%w %q: only one range per request", errBadRange, h)
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, fmt.Errorf("%w %q: want bytes=first-last", errBadRange, h)
	}
	if first == "" { // suffix: the last n bytes
		suffix, err := parseOffset(last)
		if err != nil || suffix == 0 {
			return 0, 0, fmt.Errorf("%w %q: bad suffix length", errBadRange, h)
		}
		suffix = min(suffix, size)
		if suffix == 0 {
			return 0, 0, fmt.Errorf("%w: object is empty", errUnsatisfiable)
		}
		return size - suffix, suffix, nil
	}
	start, err := parseOffset(first)
	if err != nil {
		return 0, 0, fmt.Errorf("%w %q: bad first byte", errBadRange, h)
	}
	end := size - 1
	if last != "" {
		if end, err = parseOffset(last); err != nil || end < start {
			return 0, 0, fmt.Errorf("%w %q: bad last byte", errBadRange, h)
		}
		end = min(end, size-1)
	}
	if start >= size {
		return 0, 0, fmt.Errorf("%w: first byte %d, object size %d", errUnsatisfiable, start, size)
	}
	return start, end - start + 1, nil
}

// parseOffset parses a non-negative decimal with digits only (no sign).
func parseOffset(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errBadRange
	}
	return strconv.ParseInt(s, 10, 64)
}

// formatRange is the Range header for n bytes at off; n < 0 means to the end.
func formatRange(off, n int64) string {
	if n < 0 {
		return "bytes=" + strconv.FormatInt(off, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10)
}
