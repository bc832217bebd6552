package gateway

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckBucketName(t *testing.T) {
	for _, ok := range []string{"abc", "my-bucket.v2", "0-0", strings.Repeat("a", 63), "1.2.3.4a"} {
		if err := checkBucketName(ok); err != nil {
			t.Errorf("checkBucketName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ab", strings.Repeat("a", 64), "Abc", "a_b", "-ab", "ab-", ".ab", "a..b", "a.-b", "a-.b",
		"192.168.0.1", "xn--ab", "sthree-x", "amzn-s3-demo-x", "ab-s3alias", "ab--ol-s3", "ab.mrap", "ab--x-s3", "ab--table-s3", "a b", "a/b"} {
		if err := checkBucketName(bad); err == nil {
			t.Errorf("checkBucketName(%q) accepted", bad)
		}
	}
}

func TestCheckKey(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "a/", "/a", "a//b", "..a", "a..", "./a", "a/./b", strings.Repeat("k", 1024), "ключ"} {
		if err := checkKey(ok); err != nil {
			t.Errorf("checkKey(%q) = %v", ok, err)
		}
	}
	for key, code := range map[string]string{
		"":                        "InvalidArgument",
		"..":                      "InvalidArgument",
		"a/..":                    "InvalidArgument",
		"../a":                    "InvalidArgument",
		"a/../b":                  "InvalidArgument",
		"a\x00b":                  "InvalidArgument",
		"\xff":                    "InvalidArgument",
		strings.Repeat("k", 1025): "KeyTooLongError",
	} {
		var e *apiError
		if err := checkKey(key); !errors.As(err, &e) || e.Code != code {
			t.Errorf("checkKey(%.20q) = %v, want %s", key, err, code)
		}
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		header string
		size   int64
		want   string // "off,n", "416", or "ignore"
	}{
		{"bytes=0-9", 100, "0,10"},
		{"bytes=10-", 100, "10,90"},
		{"bytes=-10", 100, "90,10"},
		{"bytes=-200", 100, "0,100"},
		{"bytes=90-200", 100, "90,10"},
		{"bytes=99-99", 100, "99,1"},
		{"bytes=100-", 100, "416"},
		{"bytes=100-200", 100, "416"},
		{"bytes=-0", 100, "416"},
		{"bytes=0-", 0, "416"},
		{"bytes=-5", 0, "416"},
		{"BYTES = 1-2", 100, "1,2"},
		{"bytes=5-4", 100, "ignore"},
		{"bytes=1-2,4-5", 100, "ignore"},
		{"bytes=a-b", 100, "ignore"},
		{"bytes=-", 100, "ignore"},
		{"bytes=+1-2", 100, "ignore"},
		{"items=1-2", 100, "ignore"},
		{"bytes=99999999999999999999-", 100, "ignore"},
		{"", 100, "ignore"},
	} {
		r, ok := parseRange(c.header)
		got := "ignore"
		if ok {
			got = "416"
			if off, n, sat := r.resolve(c.size); sat {
				got = fmt.Sprintf("%d,%d", off, n)
			}
		}
		if got != c.want {
			t.Errorf("Range %q on %d bytes: %s, want %s", c.header, c.size, got, c.want)
		}
	}
}

func TestParseCompleteBody(t *testing.T) {
	parts, err := parseCompleteBody([]byte(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Part><PartNumber>1</PartNumber><ETag>"aa"</ETag><ChecksumCRC32C>x</ChecksumCRC32C></Part>` +
		`<Part><ETag>&quot;bb&quot;</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>`))
	if err != nil || len(parts) != 2 || parts[0] != (completePart{1, "aa"}) || parts[1] != (completePart{3, "bb"}) {
		t.Fatalf("parseCompleteBody = %+v, %v", parts, err)
	}
	for body, code := range map[string]string{
		"":    "MalformedXML",
		"<x>": "MalformedXML",
		"<CompleteMultipartUpload></CompleteMultipartUpload>":                                                                                                           "MalformedXML",
		"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>":                                                      "InvalidPart",
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>":                                                                    "InvalidPart",
		"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>": "InvalidPartOrder",
		"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>":                                                      "MalformedXML",
	} {
		var e *apiError
		if _, err := parseCompleteBody([]byte(body)); !errors.As(err, &e) || e.Code != code {
			t.Errorf("parseCompleteBody(%q) = %v, want %s", body, err, code)
		}
	}
}

func TestSegmentEncoding(t *testing.T) {
	for seg, name := range map[string]string{
		"":     "%2F",
		"a":    "a",
		".":    "%2E",
		"..":   "%2E.",
		".a.b": "%2Ea.b",
		"%":    "%25",
		"a%2F": "a%252F",
	} {
		if got := encodeSegment(seg); got != name {
			t.Errorf("encodeSegment(%q) = %q, want %q", seg, got, name)
		}
		if back, ok := decodeSegment(name); !ok || back != seg {
			t.Errorf("decodeSegment(%q) = %q, %v", name, back, ok)
		}
	}
	for _, foreign := range []string{".tmp", "%", "%2", "%41", "a%2E", "%2e", "x%"} {
		if _, ok := decodeSegment(foreign); ok {
			t.Errorf("decodeSegment(%q) accepted a name encodeSegment never makes", foreign)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, h := range []string{"bytes=0-9", "bytes=-5", "bytes=7-", "bytes=1-2,3-4", "bytes= 9 - 10 ", "bytes=-0"} {
		f.Add(h, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				return
			}
		}
		r, ok := parseRange(h)
		if !ok {
			return
		}
		off, n, sat := r.resolve(size)
		if !sat {
			return
		}
		if off < 0 || n < 1 || off+n > size {
			t.Fatalf("Range %q on %d bytes resolved to offset %d, length %d", h, size, off, n)
		}
		if cr := contentRange(off, n, size); !strings.HasPrefix(cr, "bytes ") {
			t.Fatalf("content range %q", cr)
		}
	})
}

func FuzzCompleteBody(f *testing.F) {
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>b</ETag></Part><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>`))
	f.Add([]byte(`<?xml version="1.0"?><CompleteMultipartUpload xmlns="x"></CompleteMultipartUpload>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, err := parseCompleteBody(body)
		if err != nil {
			var e *apiError
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an S3 error", err)
			}
			return
		}
		if len(parts) == 0 || len(parts) > maxPartNumber {
			t.Fatalf("accepted %d parts", len(parts))
		}
		for i, p := range parts {
			if p.PartNumber < 1 || p.PartNumber > maxPartNumber || p.ETag == "" || strings.Trim(p.ETag, `"`) != p.ETag {
				t.Fatalf("accepted part %+v", p)
			}
			if i > 0 && p.PartNumber <= parts[i-1].PartNumber {
				t.Fatalf("accepted parts out of order: %+v", parts)
			}
		}
	})
}

// FuzzNames checks bucket and key validation and the directory backend's
// name escaping, which must be reversible and never make a name the file
// system treats specially.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"abc", "a/../b", "..", ".", "", "%2F", "a%", "ключ", "x\x00y", "a..b", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := checkBucketName(s); err == nil {
			if len(s) < 3 || len(s) > 63 || strings.ContainsAny(s, "/\\%") || s[0] == '.' {
				t.Fatalf("bucket name %q accepted", s)
			}
		}
		if err := checkKey(s); err == nil {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || len(s) > maxKeyLength {
				t.Fatalf("key %q accepted", s)
			}
			for seg := range strings.SplitSeq(s, "/") {
				if seg == ".." {
					t.Fatalf("key %q with a .. segment accepted", s)
				}
			}
		}
		if strings.Contains(s, "/") {
			return // segments never hold a slash
		}
		name := encodeSegment(s)
		if name == "" || name == "." || name == ".." || strings.HasSuffix(name, dirSuffix) || strings.HasPrefix(name, ".") {
			t.Fatalf("segment %q encodes to %q", s, name)
		}
		if back, ok := decodeSegment(name); !ok || back != s {
			t.Fatalf("segment %q encodes to %q which decodes to %q, %v", s, name, back, ok)
		}
		if back, ok := decodeSegment(s); ok && encodeSegment(back) != s {
			t.Fatalf("name %q decodes to %q which encodes to %q", s, back, encodeSegment(back))
		}
	})
}
