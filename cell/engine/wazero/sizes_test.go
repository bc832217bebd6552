package wazero

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/cell/engine/enginetest"
)

// uleb encodes an unsigned LEB128 number.
func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// module assembles a module from sections given as id and payload.
func module(sections ...[]byte) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		b = append(b, s[0])
		b = append(b, uleb(uint64(len(s)-1))...)
		b = append(b, s[1:]...)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// TestCheckSizes feeds modules whose counts claim far more than they hold.
// Unchecked, wazero allocates what they claim and the process dies of
// "out of memory" (the first one was found by FuzzCompile).
func TestCheckSizes(t *testing.T) {
	huge := uleb(0xe8e8e8e8)
	for _, tc := range []struct {
		name string
		wasm []byte
	}{
		{"import count", module(cat([]byte{2}, huge, []byte("\x00\x01a\x00\x00")))},
		{"import name", module(cat([]byte{2, 1}, huge, []byte("env")))},
		{"export count", module(cat([]byte{7}, huge))},
		{"type params", module(cat([]byte{1, 1, 0x60}, huge))},
		{"function count", module(cat([]byte{3}, huge))},
		{"code size", module([]byte{1, 1, 0x60, 0, 0}, []byte{3, 1, 0}, cat([]byte{10, 1}, huge))},
		{"locals", module([]byte{1, 1, 0x60, 0, 0}, []byte{3, 1, 0},
			cat([]byte{10, 1}, uleb(8), []byte{1}, uleb(4_000_000_000), []byte{0x7f, 0x0b}))},
		{"data bytes", module(cat([]byte{11, 1, 0, 0x41, 0, 0x0b}, huge))},
		{"element vector", module(cat([]byte{9, 1, 0, 0x41, 0, 0x0b}, huge))},
		{"custom name", module(cat([]byte{0}, huge))},
		{"function names", module(cat([]byte{0, 4}, []byte("name"), []byte{1, 5}, huge))},
		{"local names", module(cat([]byte{0, 4}, []byte("name"), []byte{2, 7, 1, 0}, huge))},
	} {
		err := checkSizes(tc.wasm)
		if err == nil || !strings.Contains(err.Error(), "3907578088") && !strings.Contains(err.Error(), "locals") {
			t.Errorf("%s: checkSizes(% x) = %v, want an error about the huge number", tc.name, tc.wasm, err)
		}
	}
	// The engine refuses them before wazero sees them.
	e := newEngine(t, Options{})
	_, err := e.Compile(context.Background(), module(cat([]byte{2}, huge, []byte("\x00\x01a\x00\x00"))))
	if err == nil || !strings.Contains(err.Error(), "malformed module") {
		t.Errorf("Compile of a module claiming 3.9e9 imports: %v", err)
	}
	// Every valid test module passes.
	for _, name := range enginetest.ModuleNames() {
		if err := checkSizes(enginetest.Module(name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Within the limit of locals is fine.
	ok := module([]byte{1, 1, 0x60, 0, 0}, []byte{3, 1, 0},
		cat([]byte{10, 1, 6, 1}, uleb(maxLocals), []byte{0x7f, 0x0b}))
	if err := checkSizes(ok); err != nil {
		t.Errorf("%d locals: %v", maxLocals, err)
	}
	if _, err := e.Compile(context.Background(), ok); err != nil {
		t.Errorf("compile with %d locals: %v", maxLocals, err)
	}
}
