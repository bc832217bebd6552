package wazero

import (
	"errors"
	"fmt"
)

// maxLocals caps the locals of one function, as wasmtime and browsers do;
// wazero allows 2^32 and allocates a byte for each before compiling.
const maxLocals = 50000

// checkSizes rejects a module in which a count or length claims more than
// the bytes that follow it. wazero 1.12 allocates what such numbers say
// before reading, so a 96-byte module declaring four billion imports
// makes the Go runtime die of "out of memory", which no recover catches.
// A valid module always passes: every element of a vector takes at least
// one byte of its section.
//
// The walk covers every place where wazero allocates by a number from the
// binary: section vectors, names, function types, locals, element and data
// segments, and the name section. It stops at constructs wazero would
// reject anyway before allocating, leaving the error to wazero.
func checkSizes(wasm []byte) error {
	if len(wasm) < 8 {
		return nil // wazero reports the bad header
	}
	r := &reader{b: wasm, off: 8}
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			break
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			return fmt.Errorf("unexpected EOF: section %d claims %d bytes, %d remain", id, size, len(r.b)-r.off)
		}
		sec := &reader{b: r.b[r.off : r.off+int(size)]}
		checkSection(sec, id)
		if sec.err != nil {
			return fmt.Errorf("section %d at offset %d: %w", id, r.off, sec.err)
		}
		r.off += int(size)
	}
	return nil
}

// errStop ends the walk of a section at something wazero rejects.
var errStop = errors.New("stop")

func checkSection(r *reader, id byte) {
	switch id {
	case 0: // custom
		if r.name() == "name" {
			checkNames(r)
		}
	case 1: // type
		for range r.count() {
			checkType(r)
		}
	case 2: // import
		r.imports()
	case 3, 4, 5, 6, 13: // function, table, memory, global, tag
		r.count() // entries are fixed-size or checked by wazero
	case 7: // export
		for range r.count() {
			r.name()
			r.byte()
			r.u32()
		}
	case 9: // element
		for range r.count() {
			checkElement(r)
		}
	case 10: // code
		for range r.count() {
			body := &reader{b: r.bytes(r.count())}
			checkLocals(body)
			r.err = errors.Join(r.err, body.err)
		}
	case 11: // data
		for range r.count() {
			checkData(r)
		}
	}
	if errors.Is(r.err, errStop) {
		r.err = nil
	}
}

// checkType walks a type: a function type, or (GC) a recursion group or
// subtype of function, struct and array types.
func checkType(r *reader) {
	switch form := r.byte(); form {
	case 0x60: // func
		for range r.count() {
			r.valType()
		}
		for range r.count() {
			r.valType()
		}
	case 0x4e: // rec
		for range r.count() {
			checkType(r)
		}
	case 0x50, 0x4f: // sub, sub final
		for range r.count() {
			r.u32()
		}
		checkType(r)
	case 0x5f: // struct
		for range r.count() {
			r.valType() // or a packed type, one byte too
			r.byte()    // mutability
		}
	case 0x5e: // array
		r.valType()
		r.byte()
	default:
		r.stop()
	}
}

func checkLocals(r *reader) {
	var sum uint64
	for range r.count() {
		sum += uint64(r.u32())
		r.valType()
	}
	if sum > maxLocals && r.err == nil {
		r.fail("%d locals, more than %d", sum, maxLocals)
	}
}

func checkElement(r *reader) {
	flags := r.u32()
	if flags > 7 {
		r.stop()
		return
	}
	if flags&0b011 == 0b010 { // explicit table index
		r.u32()
	}
	if flags&0b001 == 0 { // active: offset expression
		r.constExpr()
	}
	exprs := flags&0b100 != 0
	if flags&0b011 != 0 { // element kind or reference type
		if exprs {
			r.valType()
		} else {
			r.byte()
		}
	}
	for range r.count() {
		if exprs {
			r.constExpr()
		} else {
			r.u32()
		}
	}
}

func checkData(r *reader) {
	switch r.u32() {
	case 0: // active, memory 0
		r.constExpr()
	case 1: // passive
	case 2: // active, explicit memory
		r.u32()
		r.constExpr()
	default:
		r.stop()
		return
	}
	r.bytes(r.count())
}

// checkNames walks the name section's module, function and local names.
func checkNames(r *reader) {
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		sub := &reader{b: r.bytes(r.count())}
		switch id {
		case 0: // module name
			sub.name()
		case 1: // function names
			sub.nameMap()
		case 2: // local names
			for range sub.count() {
				sub.u32()
				sub.nameMap()
			}
		}
		r.err = errors.Join(r.err, sub.err)
	}
}

func (r *reader) nameMap() {
	for range r.count() {
		r.u32()
		r.name()
	}
}

// count reads the length of a vector, which cannot exceed the bytes left.
func (r *reader) count() uint32 {
	n := r.u32()
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("count %d, but %d bytes remain", n, len(r.b)-r.off)
		return 0
	}
	return n
}

func (r *reader) bytes(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("%d bytes, but %d remain", n, len(r.b)-r.off)
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

// stop ends the walk of the section quietly.
func (r *reader) stop() {
	if r.err == nil {
		r.err = errStop
	}
	r.off = len(r.b)
}

// constExpr skips a constant expression, stopping at instructions wazero
// does not accept in one.
func (r *reader) constExpr() {
	for r.err == nil {
		switch op := r.byte(); op {
		case 0x0b: // end
			return
		case 0x41, 0x23, 0xd2: // i32.const, global.get, ref.func
			r.uleb(35)
		case 0x42: // i64.const
			r.uleb(70)
		case 0x43: // f32.const
			r.bytes(4)
		case 0x44: // f64.const
			r.bytes(8)
		case 0xd0: // ref.null heap type
			r.uleb(35)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended const arithmetic
		case 0xfd: // v128.const
			if r.u32() != 12 {
				r.stop()
				return
			}
			r.bytes(16)
		default:
			r.stop()
			return
		}
	}
}
