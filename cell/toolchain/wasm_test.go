package toolchain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// module is what the tests need to know about a compiled module: its
// imports ("module.name") and exports, parsed straight from the binary so
// the tests depend on no WebAssembly tool or engine.
type module struct {
	imports          map[string]byte   // "module.name" -> kind
	exports          map[string]export // name -> what
	globals          []global          // defined globals (after imported ones)
	nimportedGlobals int
}

type export struct {
	kind  byte // 0 func, 1 table, 2 memory, 3 global
	index uint32
}

type global struct {
	valtype byte
	mutable bool
}

// Kinds of imports and exports.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
)

// exportedGlobal returns the global that name exports.
func (m *module) exportedGlobal(name string) (global, error) {
	e, ok := m.exports[name]
	if !ok {
		return global{}, fmt.Errorf("no export %q", name)
	}
	if e.kind != kindGlobal {
		return global{}, fmt.Errorf("export %q is of kind %d, not a global", name, e.kind)
	}
	i := int(e.index) - m.nimportedGlobals
	if i < 0 || i >= len(m.globals) {
		return global{}, fmt.Errorf("export %q: global %d is imported or out of range", name, e.index)
	}
	return m.globals[i], nil
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errors.New("truncated module")
	}
	r.b = nil
}

func (r *reader) u32() uint32 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 1<<32-1 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil || uint32(len(r.b)) < n {
		r.fail()
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) name() string { return string(r.bytes(r.u32())) }

func (r *reader) limits() {
	if r.byte()&1 != 0 {
		r.u32()
		r.u32()
	} else {
		r.u32()
	}
}

// constExpr skips a constant expression such as i32.const N; end.
func (r *reader) constExpr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b: // end
			return
		case 0x41, 0x42: // i32.const, i64.const: signed LEB128
			for r.byte()&0x80 != 0 {
			}
		case 0x43: // f32.const
			r.bytes(4)
		case 0x44: // f64.const
			r.bytes(8)
		case 0x23: // global.get
			r.u32()
		default:
			r.err = fmt.Errorf("unexpected opcode 0x%02x in a constant expression", op)
		}
	}
}

func parseModule(b []byte) (*module, error) {
	if !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, errors.New("not a WebAssembly 1.0 module")
	}
	m := &module{imports: map[string]byte{}, exports: map[string]export{}}
	r := &reader{b: b[8:]}
	for len(r.b) > 0 && r.err == nil {
		id := r.byte()
		s := &reader{b: r.bytes(r.u32())}
		switch id {
		case 2: // imports
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				key := s.name() + "." + s.name()
				kind := s.byte()
				m.imports[key] = kind
				switch kind {
				case kindFunc:
					s.u32()
				case kindTable:
					s.byte()
					s.limits()
				case kindMemory:
					s.limits()
				case kindGlobal:
					s.byte()
					s.byte()
					m.nimportedGlobals++
				}
			}
		case 6: // globals
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				g := global{valtype: s.byte(), mutable: s.byte() == 1}
				s.constExpr()
				m.globals = append(m.globals, g)
			}
		case 7: // exports
			for n := s.u32(); n > 0 && s.err == nil; n-- {
				name := s.name()
				m.exports[name] = export{kind: s.byte(), index: s.u32()}
			}
		}
		if s.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, s.err)
		}
	}
	return m, r.err
}
