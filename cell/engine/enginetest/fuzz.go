package enginetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// Fuzz checks that Compile never panics, whatever the bytes, and that
// instantiating whatever compiled never panics either. A Compile error
// saying "internal error" fails too: adapters say so when they disagree
// with their engine about a module. It seeds the corpus
// with the test modules and corruptions of them; adapters call it from
// their FuzzCompile, whose corpus lives in their testdata/fuzz.
func Fuzz(f *testing.F, e engine.Engine) {
	for _, name := range ModuleNames() {
		wasm := Module(name)
		f.Add(wasm)
		f.Add(wasm[:len(wasm)/2])
		f.Add(wasm[:len(wasm)-1])
		flipped := append([]byte{}, wasm...)
		flipped[len(flipped)/2] ^= 0xff
		f.Add(flipped)
	}
	f.Add([]byte{})
	f.Add([]byte("\x00asm"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := e.Compile(ctx, wasm)
		if err != nil {
			// Adapters say "internal error" when they disagree with their
			// engine about a module, which is a bug.
			if strings.Contains(err.Error(), "internal error") {
				t.Fatal(err)
			}
			return
		}
		defer func() { _ = c.Close(ctx) }()
		c.Imports()
		// A start function may loop forever (the timeout stops it) or a
		// memory be huge (the limit refuses it).
		inst, err := c.Instantiate(ctx, engine.InstanceConfig{MemoryLimitPages: 64})
		if err != nil {
			return
		}
		_ = inst.Close(ctx)
	})
}
