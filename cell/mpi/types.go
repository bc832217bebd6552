package mpi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Constants with the values of include/mpi.h.
const (
	AnySource = -1     // MPI_ANY_SOURCE
	AnyTag    = -1     // MPI_ANY_TAG
	ProcNull  = -2     // MPI_PROC_NULL
	Undefined = -32766 // MPI_UNDEFINED

	// TagUB is the largest tag (MPI_TAG_UB); MPI only promises 32767.
	TagUB = math.MaxInt32

	// MaxProcessorName is MPI_MAX_PROCESSOR_NAME, the size of the buffer
	// MPI_Get_processor_name writes, NUL included.
	MaxProcessorName = 256
)

// Comm is a communicator handle. Handles are per rank: the same
// communicator may have different handles on different ranks, as in MPI.
type Comm int32

// The predefined communicators.
const (
	CommNull  Comm = 0
	CommWorld Comm = 1
	CommSelf  Comm = 2
)

// Datatype is a basic MPI datatype.
type Datatype int32

// The datatypes of mpi.h. Long is 4 bytes, as C's long is on wasm32.
const (
	DatatypeNull Datatype = iota
	Char                  // signed char
	Byte                  // uint8
	Int                   // int32
	Unsigned              // uint32
	Long                  // int32 on wasm32
	LongLong              // int64
	Float                 // float32
	Double                // float64
)

// Size is the datatype's size in bytes, or 0 if it is not a valid datatype.
func (t Datatype) Size() int {
	switch t {
	case Char, Byte:
		return 1
	case Int, Unsigned, Long, Float:
		return 4
	case LongLong, Double:
		return 8
	}
	return 0
}

func (t Datatype) String() string {
	switch t {
	case DatatypeNull:
		return "MPI_DATATYPE_NULL"
	case Char:
		return "MPI_CHAR"
	case Byte:
		return "MPI_BYTE"
	case Int:
		return "MPI_INT"
	case Unsigned:
		return "MPI_UNSIGNED"
	case Long:
		return "MPI_LONG"
	case LongLong:
		return "MPI_LONG_LONG"
	case Float:
		return "MPI_FLOAT"
	case Double:
		return "MPI_DOUBLE"
	}
	return fmt.Sprintf("Datatype(%d)", int32(t))
}

// Op is a predefined reduction operation.
type Op int32

// The operations of mpi.h.
const (
	OpNull Op = iota
	Sum
	Prod
	Min
	Max
	Land
	Lor
)

func (o Op) String() string {
	switch o {
	case OpNull:
		return "MPI_OP_NULL"
	case Sum:
		return "MPI_SUM"
	case Prod:
		return "MPI_PROD"
	case Min:
		return "MPI_MIN"
	case Max:
		return "MPI_MAX"
	case Land:
		return "MPI_LAND"
	case Lor:
		return "MPI_LOR"
	}
	return fmt.Sprintf("Op(%d)", int32(o))
}

// checkOp says whether op may reduce values of type t. MPI defines the
// logical operations on integers only. Char and Byte are reduced as signed
// and unsigned 8-bit integers with every operation, which MPI 3.1 does not
// require (it lists MPI_SIGNED_CHAR, not MPI_CHAR, and allows only bitwise
// operations on MPI_BYTE) but programs do.
func checkOp(t Datatype, op Op) error {
	if t.Size() == 0 {
		return fmt.Errorf("mpi: %w: %v", ErrType, t)
	}
	switch op {
	case Sum, Prod, Min, Max:
		return nil
	case Land, Lor:
		if t == Float || t == Double {
			return fmt.Errorf("mpi: %w: %v is not defined on %v", ErrOp, op, t)
		}
		return nil
	}
	return fmt.Errorf("mpi: %w: %v", ErrOp, op)
}

// Class is an MPI error class: the value an MPI function returns to C.
// Errors from this package wrap one; errors.As finds it.
type Class int32

// The error classes of mpi.h (Open MPI's values).
const (
	Success     Class = 0
	ErrBuffer   Class = 1
	ErrCount    Class = 2
	ErrType     Class = 3
	ErrTag      Class = 4
	ErrComm     Class = 5
	ErrRank     Class = 6
	ErrRequest  Class = 7
	ErrRoot     Class = 8
	ErrGroup    Class = 9
	ErrOp       Class = 10
	ErrArg      Class = 13
	ErrUnknown  Class = 14
	ErrTruncate Class = 15
	ErrOther    Class = 16
	ErrIntern   Class = 17
)

func (c Class) Error() string {
	switch c {
	case Success:
		return "MPI_SUCCESS"
	case ErrBuffer:
		return "MPI_ERR_BUFFER"
	case ErrCount:
		return "MPI_ERR_COUNT"
	case ErrType:
		return "MPI_ERR_TYPE"
	case ErrTag:
		return "MPI_ERR_TAG"
	case ErrComm:
		return "MPI_ERR_COMM"
	case ErrRank:
		return "MPI_ERR_RANK"
	case ErrRequest:
		return "MPI_ERR_REQUEST"
	case ErrRoot:
		return "MPI_ERR_ROOT"
	case ErrGroup:
		return "MPI_ERR_GROUP"
	case ErrOp:
		return "MPI_ERR_OP"
	case ErrArg:
		return "MPI_ERR_ARG"
	case ErrUnknown:
		return "MPI_ERR_UNKNOWN"
	case ErrTruncate:
		return "MPI_ERR_TRUNCATE"
	case ErrOther:
		return "MPI_ERR_OTHER"
	case ErrIntern:
		return "MPI_ERR_INTERN"
	}
	return fmt.Sprintf("MPI error class %d", int32(c))
}

// ClassOf is the MPI error class of err: Success for nil, the wrapped Class
// if there is one, and ErrOther otherwise (a failed world, a cancelled
// context).
func ClassOf(err error) Class {
	if err == nil {
		return Success
	}
	var c Class
	if errors.As(err, &c) {
		return c
	}
	return ErrOther
}

// reduce combines in into acc element-wise (acc = acc op in), both holding
// len(acc)/t.Size() elements in wasm's little-endian layout. The caller has
// checked t and op with checkOp. Integers wrap around like C's unsigned
// arithmetic (and like every MPI on two's-complement machines).
func reduce(t Datatype, op Op, acc, in []byte) {
	le := binary.LittleEndian
	switch t {
	case Char:
		for i := range acc {
			acc[i] = byte(combine(op, int8(acc[i]), int8(in[i])))
		}
	case Byte:
		for i := range acc {
			acc[i] = combine(op, acc[i], in[i])
		}
	case Int, Long:
		for i := 0; i+4 <= len(acc); i += 4 {
			v := combine(op, int32(le.Uint32(acc[i:])), int32(le.Uint32(in[i:])))
			le.PutUint32(acc[i:], uint32(v))
		}
	case Unsigned:
		for i := 0; i+4 <= len(acc); i += 4 {
			le.PutUint32(acc[i:], combine(op, le.Uint32(acc[i:]), le.Uint32(in[i:])))
		}
	case LongLong:
		for i := 0; i+8 <= len(acc); i += 8 {
			v := combine(op, int64(le.Uint64(acc[i:])), int64(le.Uint64(in[i:])))
			le.PutUint64(acc[i:], uint64(v))
		}
	case Float:
		for i := 0; i+4 <= len(acc); i += 4 {
			v := combine(op, math.Float32frombits(le.Uint32(acc[i:])), math.Float32frombits(le.Uint32(in[i:])))
			le.PutUint32(acc[i:], math.Float32bits(v))
		}
	case Double:
		for i := 0; i+8 <= len(acc); i += 8 {
			v := combine(op, math.Float64frombits(le.Uint64(acc[i:])), math.Float64frombits(le.Uint64(in[i:])))
			le.PutUint64(acc[i:], math.Float64bits(v))
		}
	}
}

type number interface {
	~int8 | ~uint8 | ~int32 | ~uint32 | ~int64 | ~float32 | ~float64
}

func combine[T number](op Op, a, b T) T {
	switch op {
	case Sum:
		return a + b
	case Prod:
		return a * b
	case Min:
		if b < a {
			return b
		}
		return a
	case Max:
		if b > a {
			return b
		}
		return a
	case Land:
		if a != 0 && b != 0 {
			return 1
		}
		return 0
	case Lor:
		if a != 0 || b != 0 {
			return 1
		}
		return 0
	}
	return a
}
