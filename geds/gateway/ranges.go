package gateway

import (
	"strconv"
	"strings"
)

// byteRange is one range of a Range header: first-last, first- (open), or
// the last n bytes (suffix).
type byteRange struct {
	first, last int64 // last < 0: to the end
	suffix      int64 // > 0: the last suffix bytes; first and last unused
}

// parseRange parses "bytes=a-b", "bytes=a-" and "bytes=-n". ok is false
// for anything else, including several ranges: like S3 (and as RFC 9110
// allows) the gateway then ignores the header and sends the whole object.
func parseRange(h string) (r byteRange, ok bool) {
	unit, spec, found := strings.Cut(strings.TrimSpace(h), "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return r, false
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return r, false
	}
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return r, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, ok := parseDigits(b)
		if !ok {
			return r, false
		}
		if n == 0 {
			// "bytes=-0" is syntactically fine but never satisfiable.
			return byteRange{first: -1, last: -1}, true
		}
		return byteRange{suffix: n}, true
	}
	first, ok := parseDigits(a)
	if !ok {
		return r, false
	}
	if b == "" {
		return byteRange{first: first, last: -1}, true
	}
	last, ok := parseDigits(b)
	if !ok || last < first {
		return r, false
	}
	return byteRange{first: first, last: last}, true
}

// parseDigits parses a non-negative decimal without sign or spaces.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// resolve returns the offset and length r selects in an object of size
// bytes; ok is false if it selects nothing (answered 416).
func (r byteRange) resolve(size int64) (off, n int64, ok bool) {
	if r.suffix > 0 {
		if size == 0 {
			return 0, 0, false
		}
		off = max(size-r.suffix, 0)
		return off, size - off, true
	}
	if r.first < 0 || r.first >= size {
		return 0, 0, false
	}
	end := size - 1
	if r.last >= 0 && r.last < end {
		end = r.last
	}
	return r.first, end - r.first + 1, true
}

// contentRange is the Content-Range value of a partial answer.
func contentRange(off, n, size int64) string {
	return "bytes " + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10) + "/" + strconv.FormatInt(size, 10)
}
