package sigv4

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// canonicalRequest joins the parts of a request that are signed, as
// AWS defines it: method, URI, query, headers, signed header names and the
// payload hash, one per line.
func canonicalRequest(method, uri, query, headers string, signedHeaders []string, payload string) string {
	var b strings.Builder
	b.Grow(len(method) + len(uri) + len(query) + len(headers) + len(payload) + 64)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	b.WriteString(headers)
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String()
}

// canonicalURI encodes a decoded path the way S3 signs it: each byte
// outside the unreserved set percent-encoded, slashes kept, and never
// normalised (S3 keys may contain "//" and ".").
func canonicalURI(path string) string {
	if path == "" {
		return "/"
	}
	return uriEncode(path, false)
}

// canonicalQuery returns the raw query's parameters decoded, re-encoded
// the AWS way, sorted by name and then value, without the parameter
// skip (the signature itself, for presigned URLs). Parameters without a
// value get an empty one ("acl" becomes "acl=").
func canonicalQuery(raw, skip string) string {
	if raw == "" {
		return ""
	}
	type param struct{ name, value string }
	var params []param
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		name, value, _ := strings.Cut(part, "=")
		// Verify has already checked the query parses, so errors here are
		// impossible; an undecodable part would only fail the signature.
		name, _ = url.QueryUnescape(name)
		value, _ = url.QueryUnescape(value)
		if name == skip {
			continue
		}
		params = append(params, param{uriEncode(name, true), uriEncode(value, true)})
	}
	sort.Slice(params, func(i, j int) bool {
		if params[i].name != params[j].name {
			return params[i].name < params[j].name
		}
		return params[i].value < params[j].value
	})
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// canonicalHeaders returns "name:value\n" for each signed header, in the
// signed order. Values are trimmed and runs of spaces folded to one;
// repeated headers are joined with commas. Go's server moves Host and
// Transfer-Encoding out of the header map (and may drop Content-Length),
// so those come from the request's fields.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(headerValue(r, name))
		b.WriteByte('\n')
	}
	return b.String()
}

func headerValue(r *http.Request, name string) string {
	values := r.Header.Values(name)
	if len(values) == 0 {
		switch name {
		case "host":
			return r.Host
		case "content-length":
			if r.ContentLength >= 0 {
				return strconv.FormatInt(r.ContentLength, 10)
			}
		case "transfer-encoding":
			return strings.Join(r.TransferEncoding, ",")
		}
		return ""
	}
	folded := make([]string, len(values)) // Values shares the request's slice
	for i, v := range values {
		folded[i] = foldSpaces(v)
	}
	return strings.Join(folded, ",")
}

// foldSpaces trims v and turns each run of spaces into one space.
func foldSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// uriEncode percent-encodes every byte except the unreserved characters
// A-Z a-z 0-9 - . _ ~ and, unless encodeSlash, the slash. Hex digits are
// upper case, as AWS requires.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
