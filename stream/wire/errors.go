package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
)

// Code says what kind of error an Error frame carries, so that the client
// can hand back the error the store gave (errors.Is works across the
// connection).
type Code uint8

// Error codes. A code this version does not know still decodes: its Error
// unwraps to nothing and is an error like any other.
const (
	// CodeBadRequest: a bad name, offset, size or message; the request
	// was refused and nothing changed.
	CodeBadRequest Code = 1
	// CodeNotFound wraps stream.ErrNotFound.
	CodeNotFound Code = 2
	// CodeExists wraps stream.ErrExists.
	CodeExists Code = 3
	// CodeConflict: the request clashes with the state (a scope with
	// streams, a stream a reader group reads, a group with readers).
	CodeConflict Code = 4
	// CodeTruncated wraps stream.ErrTruncated.
	CodeTruncated Code = 5
	// CodeBackPressure wraps stream.ErrBackPressure: nothing was stored;
	// retry later.
	CodeBackPressure Code = 6
	// CodeUnavailable wraps lts.ErrUnavailable.
	CodeUnavailable Code = 7
	// CodeClosed wraps stream.ErrClosed: the store is closed or the
	// server is shutting down.
	CodeClosed Code = 8
	// CodeUnauthorized: no token, or one the server does not accept, for
	// a request that writes.
	CodeUnauthorized Code = 9
	// CodeVersion: the hello's protocol version is not one the server
	// speaks.
	CodeVersion Code = 10
	// CodeCanceled wraps context.Canceled: the request was cancelled (by
	// a Cancel frame, or the server stopped waiting).
	CodeCanceled Code = 11
	// CodeReaderClosed wraps stream.ErrReaderClosed.
	CodeReaderClosed Code = 12
	// CodeInternal: the store failed; it refuses everything until it is
	// reopened.
	CodeInternal Code = 13
	// CodeSealed wraps stream.ErrSealed: a scale names a segment that is
	// sealed already.
	CodeSealed Code = 14
	// CodeUnsupported wraps ErrUnsupported: the server's store cannot do
	// what was asked (list or set segment-store instances of a single
	// store).
	CodeUnsupported Code = 15
)

// Errors for codes that have no sentinel in package stream.
var (
	ErrBadRequest   = errors.New("bad request")
	ErrConflict     = errors.New("conflict")
	ErrUnauthorized = errors.New("unauthorized")
	ErrVersion      = errors.New("unsupported protocol version")
	ErrInternal     = errors.New("stream store failed")
	ErrUnsupported  = errors.New("not supported by this server")
)

var codeErrors = map[Code]error{
	CodeBadRequest:   ErrBadRequest,
	CodeNotFound:     stream.ErrNotFound,
	CodeExists:       stream.ErrExists,
	CodeConflict:     ErrConflict,
	CodeTruncated:    stream.ErrTruncated,
	CodeBackPressure: stream.ErrBackPressure,
	CodeUnavailable:  lts.ErrUnavailable,
	CodeClosed:       stream.ErrClosed,
	CodeUnauthorized: ErrUnauthorized,
	CodeVersion:      ErrVersion,
	CodeCanceled:     context.Canceled,
	CodeReaderClosed: stream.ErrReaderClosed,
	CodeInternal:     ErrInternal,
	CodeSealed:       stream.ErrSealed,
	CodeUnsupported:  ErrUnsupported,
}

// Error is an error answer: a code and the server's message. It unwraps
// to the sentinel error of its code.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the sentinel error of the code, or nil for an unknown
// code.
func (e *Error) Unwrap() error { return codeErrors[e.Code] }

func (e Error) appendPayload(b []byte) []byte {
	return appendString(append(b, byte(e.Code)), e.Message)
}
func (e *Error) decode(d *decoder) { e.Code, e.Message = Code(d.u8("code")), d.str("message") }

// Errorf returns an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorOf turns an error of the store into an error answer. Errors the
// store does not mark (bad names, offsets, sizes) are bad requests.
func ErrorOf(err error) *Error {
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	return &Error{Code: CodeOf(err), Message: err.Error()}
}

// CodeOf returns the code of an error of the store.
func CodeOf(err error) Code {
	var we *Error
	if errors.As(err, &we) {
		return we.Code
	}
	// Most specific first: a back-pressure error may also mention LTS.
	for _, c := range []Code{CodeBackPressure, CodeReaderClosed, CodeNotFound, CodeExists, CodeSealed, CodeTruncated, CodeClosed, CodeUnavailable, CodeConflict, CodeUnauthorized, CodeVersion, CodeUnsupported, CodeInternal} {
		if errors.Is(err, codeErrors[c]) {
			return c
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CodeCanceled
	}
	return CodeBadRequest
}
