package gateway

import (
	"net/netip"
	"strings"
	"unicode/utf8"
)

// maxKeyLength is S3's limit on a key's UTF-8 length.
const maxKeyLength = 1024

// checkBucketName applies S3's bucket naming rules: 3 to 63 lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit, no ".." or dot next to a hyphen, not an IPv4 address, and none of
// the prefixes and suffixes AWS reserves.
func checkBucketName(name string) error {
	if len(name) < 3 || len(name) > 63 {
		return apiErrorf("InvalidBucketName", "bucket name %.80q must be 3 to 63 characters long", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return apiErrorf("InvalidBucketName", "bucket name %q may hold only lower-case letters, digits, '.' and '-'", name)
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return apiErrorf("InvalidBucketName", "bucket name %q must start and end with a letter or digit", name)
	}
	for _, bad := range []string{"..", ".-", "-."} {
		if strings.Contains(name, bad) {
			return apiErrorf("InvalidBucketName", "bucket name %q may not contain %q", name, bad)
		}
	}
	if addr, err := netip.ParseAddr(name); err == nil && addr.Is4() {
		return apiErrorf("InvalidBucketName", "bucket name %q may not be an IP address", name)
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return apiErrorf("InvalidBucketName", "bucket name %q may not start with %q", name, p)
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, s) {
			return apiErrorf("InvalidBucketName", "bucket name %q may not end with %q", name, s)
		}
	}
	return nil
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// checkKey refuses keys S3 refuses (empty, over 1024 bytes, not UTF-8) and
// keys no backend should have to store: a NUL byte, or a ".." segment that
// a file-system backend could be tricked into following.
func checkKey(key string) error {
	switch {
	case key == "":
		return apiErrorf("InvalidArgument", "the object key is empty")
	case len(key) > maxKeyLength:
		return apiErrorf("KeyTooLongError", "the object key is %d bytes long; the limit is %d", len(key), maxKeyLength)
	case !utf8.ValidString(key):
		return apiErrorf("InvalidArgument", "the object key is not valid UTF-8")
	case strings.IndexByte(key, 0) >= 0:
		return apiErrorf("InvalidArgument", "the object key contains a NUL byte")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == ".." {
			return apiErrorf("InvalidArgument", "the object key %.200q contains a '..' segment", key)
		}
	}
	return nil
}
