package engine

import (
	"fmt"
	"strings"
)

// CheckImports reports every import of a module that hosts do not provide,
// all at once, so that a cell needing several unimplemented functions is
// diagnosed in one go. Host modules provide functions only, so any memory,
// global or table import is reported too. Both adapters call it before
// instantiating, which keeps the error text identical on every engine:
//
//	unsupported imports: mpi.MPI_Type_vector, wasi_snapshot_preview1.sock_accept
//
// Signatures are not compared here (Import does not carry them); adapters
// check those with their engine's type information.
func CheckImports(imports []Import, hosts []HostModule) error {
	provided := make(map[string]map[string]bool, len(hosts))
	for _, h := range hosts {
		names := provided[h.Name]
		if names == nil {
			names = make(map[string]bool, len(h.Funcs))
			provided[h.Name] = names
		}
		for _, f := range h.Funcs {
			names[f.Name] = true
		}
	}
	var missing []string
	for _, imp := range imports {
		if imp.Kind == ImportFunc && provided[imp.Module][imp.Name] {
			continue
		}
		name := imp.Module + "." + imp.Name
		if imp.Kind != ImportFunc {
			name += " (" + kindName(imp.Kind) + ")"
		}
		missing = append(missing, name)
	}
	if len(missing) > 0 {
		return fmt.Errorf("unsupported imports: %s", strings.Join(missing, ", "))
	}
	return nil
}

// kindName names an import kind for error messages. It is not a String
// method so that this file adds no methods to types declared in engine.go.
func kindName(k ImportKind) string {
	switch k {
	case ImportFunc:
		return "func"
	case ImportMemory:
		return "memory"
	case ImportGlobal:
		return "global"
	case ImportTable:
		return "table"
	}
	return fmt.Sprintf("ImportKind(%d)", byte(k))
}
