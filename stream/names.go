package stream

import (
	"errors"
	"fmt"
)

// Errors wrapped by the store's operations.
var (
	ErrNotFound  = errors.New("not found")
	ErrExists    = errors.New("already exists")
	ErrTruncated = errors.New("data truncated")
	ErrClosed    = errors.New("stream store is closed")
)

// maxNameLen keeps scope, stream and reader-group names DNS labels, like
// every other name in CloudSkin, so they are safe in URLs and file names.
const maxNameLen = 63

// validateName checks a scope, stream or reader-group name: 1 to 63
// lowercase letters, digits and '-', starting and ending with a letter or
// digit (a DNS-1123 label).
func validateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("stream: %s name is empty", kind)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("stream: %s name %q is %d characters, at most %d are allowed", kind, name, len(name), maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && c != '-' {
			return fmt.Errorf("stream: %s name %q: character %q at %d is not a lowercase letter, digit or '-'", kind, name, c, i)
		}
		if !alnum && (i == 0 || i == len(name)-1) {
			return fmt.Errorf("stream: %s name %q must start and end with a lowercase letter or digit", kind, name)
		}
	}
	return nil
}

// maxIDLen bounds writer and reader ids, which are stored with every event
// (writers) or checkpoint (readers).
const maxIDLen = 128

// validateID checks a writer or reader id: 1 to 128 letters, digits and
// any of "._:-".
func validateID(kind, id string) error {
	if id == "" {
		return fmt.Errorf("stream: %s id is empty", kind)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("stream: %s id %q is %d characters, at most %d are allowed", kind, id, len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
		if !ok {
			return fmt.Errorf("stream: %s id %q: character %q at %d is not a letter, digit or one of ._:-", kind, id, c, i)
		}
	}
	return nil
}

// StreamName names a stream within its scope.
type StreamName struct {
	Scope  string `json:"scope"`
	Stream string `json:"stream"`
}

// String returns "scope/stream".
func (n StreamName) String() string { return n.Scope + "/" + n.Stream }

// Validate checks both parts.
func (n StreamName) Validate() error {
	if err := validateName("scope", n.Scope); err != nil {
		return err
	}
	return validateName("stream", n.Stream)
}
