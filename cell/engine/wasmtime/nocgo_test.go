//go:build !cgo

package wasmtime

import (
	"strings"
	"testing"
)

func TestNoCgo(t *testing.T) {
	if Available() {
		t.Error("Available() = true without cgo")
	}
	e, err := New(Options{})
	if e != nil || err == nil || !strings.Contains(err.Error(), "--engine wazero") {
		t.Errorf("New() = %v, %v; want an error pointing at --engine wazero", e, err)
	}
}
