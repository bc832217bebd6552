package metadata

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateBucket(t *testing.T) {
	for _, ok := range []string{"abc", "my-bucket.v2", strings.Repeat("a", 63), "0-9"} {
		if err := ValidateBucket(ok); err != nil {
			t.Errorf("ValidateBucket(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ab", strings.Repeat("a", 64), "Upper", "a_b", "-ab", "ab-", "a..b", "a/b", "a\x00b", "../x"} {
		if err := ValidateBucket(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateBucket(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestValidateKey(t *testing.T) {
	for _, ok := range []string{"k", "a/b/c", "a//b", "/lead", "trail/", "..x", "x..", "a/.hidden", "ünï cödé ?#%", strings.Repeat("k", MaxKeyBytes)} {
		if err := ValidateKey(ok); err != nil {
			t.Errorf("ValidateKey(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/../b", "a/..", "./a", "a/./b", "a\x00b", "\xff", strings.Repeat("k", MaxKeyBytes+1)} {
		err := ValidateKey(bad)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
	if err := ValidateKey("a/../b"); !strings.Contains(err.Error(), `".."`) {
		t.Errorf("error does not say what is wrong: %v", err)
	}
}

func TestValidateNodeID(t *testing.T) {
	if err := ValidateNodeID("edge-1.rack_A"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "a b", "a/b", strings.Repeat("n", MaxNodeIDLen+1)} {
		if err := ValidateNodeID(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateNodeID(%q) = %v", bad, err)
		}
	}
}

// FuzzValidateKey checks that a key passing validation has every property
// the layers below rely on, and that validation never panics.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"k", "a/../b", "..", "a\x00", "\xff\xfe", "a//b/.", strings.Repeat("x", 1030)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		if key == "" || len(key) > MaxKeyBytes || strings.ContainsRune(key, 0) || !utf8.ValidString(key) {
			t.Fatalf("accepted %q", key)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("accepted %q with segment %q", key, seg)
			}
		}
	})
}

// FuzzValidateBucket checks that an accepted bucket name is safe as one
// path segment and as an S3 bucket name.
func FuzzValidateBucket(f *testing.F) {
	for _, s := range []string{"abc", "a..b", "-ab", "ABC", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateBucket(name) != nil {
			return
		}
		if len(name) < 3 || len(name) > 63 || strings.ContainsAny(name, "/\\\x00") || strings.Contains(name, "..") || name[0] == '.' {
			t.Fatalf("accepted %q", name)
		}
		for _, c := range []byte(name) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
				t.Fatalf("accepted %q with %q", name, c)
			}
		}
	})
}
