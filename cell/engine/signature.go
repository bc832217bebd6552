package engine

import (
	"runtime/debug"
	"strings"
)

// Signature formats a function type for keys and error messages:
// "(i32,i64)->(f64)".
func Signature(params, results []ValueType) string {
	return FormatSignature(typeNames(params), typeNames(results))
}

// FormatSignature formats value type names as Signature does, for adapters
// describing their engine's own types (which include some ValueType lacks).
func FormatSignature(params, results []string) string {
	return "(" + strings.Join(params, ",") + ")->(" + strings.Join(results, ",") + ")"
}

func typeNames(ts []ValueType) []string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.String()
	}
	return names
}

// ModuleVersion returns the version of a Go module this binary was built
// with, or "unknown" (as in test binaries, which record no dependencies).
// Engines name themselves with it and key their compiled-code caches by it.
func ModuleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path != path {
			continue
		}
		if dep.Replace != nil && dep.Replace.Version != "" {
			return dep.Replace.Version
		}
		if dep.Version != "" {
			return dep.Version
		}
	}
	return "unknown"
}
