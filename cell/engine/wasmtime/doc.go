// Package wasmtime runs cells on wasmtime (github.com/bytecodealliance/
// wasmtime-go), whose Cranelift compiler makes near-native code: the engine
// for long-running cells. It needs cgo; built without cgo, New returns an
// error saying so and Available reports false, so a static build can still
// link the package and fall back to the wazero engine.
//
// Each instance gets its own wasmtime Store, so instances share nothing but
// compiled code. Host functions are bound to the instance's Store as Go
// closures, memory limits are the Store's limiter, and compiled modules are
// cached on disk as serialized artifacts (see cache.go).
//
// Cancellation uses epoch interruption, whose epoch is global to the engine,
// in a way that stops only the cancelled instance; see epoch.go.
package wasmtime

// Options configures an Engine.
type Options struct {
	// CacheDir keeps compiled modules on disk, keyed by the hash of the
	// module and of the engine's version and settings, so a module
	// compiled once is not compiled again by later processes. Empty
	// means no disk cache.
	CacheDir string
}
