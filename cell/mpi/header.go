package mpi

import _ "embed"

//go:embed include/mpi.h
var header []byte

// Header returns include/mpi.h, the C side of this package's ABI. The
// toolchain writes it onto the include path of programs built as cells.
// The caller gets its own copy.
func Header() []byte {
	return append([]byte(nil), header...)
}
