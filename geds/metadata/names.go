package metadata

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Naming limits. Bucket names follow S3's rules so that a GEDS bucket can be
// mounted on, spilled to and served as an S3 bucket under the same name.
const (
	MinBucketLen = 3
	MaxBucketLen = 63
	// MaxKeyBytes is S3's limit on key length.
	MaxKeyBytes = 1024
	// MaxNodeIDLen bounds a holder's node id.
	MaxNodeIDLen = 128
)

// ErrInvalidName is wrapped by every name validation error.
var ErrInvalidName = errors.New("invalid name")

// ValidateBucket checks a bucket name: 3 to 63 characters of lower-case
// letters, digits, '.' and '-', starting and ending with a letter or digit,
// with no "..".
func ValidateBucket(name string) error {
	if len(name) < MinBucketLen || len(name) > MaxBucketLen {
		return nameError("bucket", name, fmt.Sprintf("must be %d to %d characters long, is %d", MinBucketLen, MaxBucketLen, len(name)))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLowerAlnum(c) && c != '.' && c != '-' {
			return nameError("bucket", name, fmt.Sprintf("character %q at %d: only a-z, 0-9, '.' and '-' are allowed", c, i))
		}
	}
	if !isLowerAlnum(name[0]) || !isLowerAlnum(name[len(name)-1]) {
		return nameError("bucket", name, "must start and end with a letter or digit")
	}
	if strings.Contains(name, "..") {
		return nameError("bucket", name, `must not contain ".."`)
	}
	return nil
}

// ValidateKey checks an object key: 1 to 1024 bytes of UTF-8 without NUL,
// and no path segment (between slashes) that is "." or "..", so that no
// layer that maps keys to paths (tier 0, a gateway, a filesystem-backed S3)
// can be walked out of its directory.
func ValidateKey(key string) error {
	if key == "" {
		return nameError("key", key, "must not be empty")
	}
	if len(key) > MaxKeyBytes {
		return nameError("key", key[:32]+"…", fmt.Sprintf("is %d bytes, the limit is %d", len(key), MaxKeyBytes))
	}
	if i := strings.IndexByte(key, 0); i >= 0 {
		return nameError("key", key, fmt.Sprintf("contains a NUL byte at %d", i))
	}
	if !utf8.ValidString(key) {
		return nameError("key", key, "is not valid UTF-8")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return nameError("key", key, fmt.Sprintf("has a %q path segment", seg))
		}
	}
	return nil
}

// ValidateNodeID checks a holder's node id: 1 to 128 characters of letters,
// digits, '.', '_' and '-'.
func ValidateNodeID(id string) error {
	if id == "" || len(id) > MaxNodeIDLen {
		return nameError("node id", id, fmt.Sprintf("must be 1 to %d characters long", MaxNodeIDLen))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !isLowerAlnum(c) && !('A' <= c && c <= 'Z') && c != '.' && c != '_' && c != '-' {
			return nameError("node id", id, fmt.Sprintf("character %q at %d: only letters, digits, '.', '_' and '-' are allowed", c, i))
		}
	}
	return nil
}

// ValidateObjectName checks a bucket and a key together.
func ValidateObjectName(bucket, key string) error {
	if err := ValidateBucket(bucket); err != nil {
		return err
	}
	return ValidateKey(key)
}

func isLowerAlnum(c byte) bool { return ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') }

func nameError(what, name, problem string) error {
	return fmt.Errorf("%s %q %s: %w", what, name, problem, ErrInvalidName)
}
