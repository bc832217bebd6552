package wazero

import (
	"errors"
	"fmt"

	"github.com/cloudskin/cloudskin/cell/engine"
)

// readImports lists a module's imports in declaration order. wazero's API
// lists imported functions and memories only, separately, so this reads
// the import section of the binary itself. It is called on modules wazero
// has already validated, but still never trusts a length.
func readImports(wasm []byte) ([]engine.Import, error) {
	r := &reader{b: wasm}
	if len(wasm) < 8 {
		return nil, errors.New("too short")
	}
	r.off = 8 // magic and version
	for r.off < len(r.b) {
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, r.err
		}
		if size > uint32(len(r.b)-r.off) {
			return nil, fmt.Errorf("section %d: size %d past the end", id, size)
		}
		if id != 2 { // not the import section
			r.off += int(size)
			continue
		}
		sec := &reader{b: r.b[r.off : r.off+int(size)]}
		imports := sec.imports()
		if sec.err != nil {
			return nil, fmt.Errorf("import section at %d: %w", r.off, sec.err)
		}
		return imports, nil
	}
	return nil, nil
}

// reader decodes the WebAssembly binary format. The first error sticks;
// after it every read returns zero.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: "+format, append([]any{r.off}, args...)...)
	}
	r.off = len(r.b)
}

func (r *reader) byte() byte {
	if r.off >= len(r.b) {
		r.fail("unexpected EOF")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= bits {
			r.fail("LEB128 number too long")
			return 0
		}
		c := r.byte()
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(35)) }

func (r *reader) name() string {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("name of %d bytes past the end", n)
		return ""
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s
}

// valType skips a value or reference type: one byte, or for typed
// references (0x63, 0x64) a byte and a heap type.
func (r *reader) valType() {
	if t := r.byte(); t == 0x63 || t == 0x64 {
		r.uleb(35) // heap type (a signed LEB128 of the same length)
	}
}

// limits skips table or memory limits: flags, minimum, optional maximum.
func (r *reader) limits() {
	flags := r.byte()
	bits := uint(35)
	if flags&0x04 != 0 { // 64-bit
		bits = 70
	}
	r.uleb(bits)
	if flags&0x01 != 0 {
		r.uleb(bits)
	}
}

func (r *reader) imports() []engine.Import {
	n := r.count()
	var out []engine.Import
	for i := uint32(0); i < n && r.err == nil; i++ {
		imp := engine.Import{Module: r.name(), Name: r.name()}
		switch kind := r.byte(); kind {
		case 0x00: // function: type index
			imp.Kind = engine.ImportFunc
			r.u32()
		case 0x01: // table: reference type, limits
			imp.Kind = engine.ImportTable
			r.valType()
			r.limits()
		case 0x02: // memory: limits
			imp.Kind = engine.ImportMemory
			r.limits()
		case 0x03: // global: value type, mutability
			imp.Kind = engine.ImportGlobal
			r.valType()
			r.byte()
		case 0x04: // tag (exceptions): attribute, type index
			// engine.Import has no kind for tags; the zero kind makes
			// engine.CheckImports report the import as unsupported.
			r.byte()
			r.u32()
		default:
			r.fail("import %s.%s of unsupported kind %#x", imp.Module, imp.Name, kind)
		}
		out = append(out, imp)
	}
	return out
}
