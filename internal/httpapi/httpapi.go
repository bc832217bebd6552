// Package httpapi holds the small conventions every CloudSkin JSON API
// handler follows: strict request decoding with a size limit, JSON answers,
// and errors as RFC 9457 problem documents with the right HTTP code.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// MaxBodyBytes bounds request bodies; resources are small.
const MaxBodyBytes = 1 << 20

// Error is an error with the HTTP status it should produce.
type Error struct {
	Code   int
	Reason string
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// BadRequest wraps err as a 400.
func BadRequest(err error) error {
	return &Error{Code: http.StatusBadRequest, Reason: "BadRequest", Err: err}
}

// NotFound wraps err as a 404.
func NotFound(err error) error {
	return &Error{Code: http.StatusNotFound, Reason: "NotFound", Err: err}
}

// Unprocessable wraps err as a 422: the request is well-formed JSON but
// names something invalid (a field value, a block that does not exist).
func Unprocessable(err error) error {
	return &Error{Code: http.StatusUnprocessableEntity, Reason: "Invalid", Err: err}
}

// MethodNotAllowed wraps err as a 405; the caller sets the Allow header.
func MethodNotAllowed(err error) error {
	return &Error{Code: http.StatusMethodNotAllowed, Reason: "MethodNotAllowed", Err: err}
}

// Conflict wraps err as a 409.
func Conflict(err error) error {
	return &Error{Code: http.StatusConflict, Reason: "Conflict", Err: err}
}

// DecodeJSON reads one JSON value from r's body into v, rejecting unknown
// fields, trailing data and bodies over MaxBodyBytes.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return BadRequest(fmt.Errorf("request body: %w", err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest(fmt.Errorf("request body: unexpected data after the JSON value"))
	}
	return nil
}

// indentUpTo is the largest answer WriteJSON indents: small answers are
// read by people (curl), large ones by programs, for which indenting cost
// a fifth of a stream server's CPU.
const indentUpTo = 64 << 10

// WriteJSON writes v with the given status code, indented if it is small.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	writeJSON(w, code, "application/json", v)
}

func writeJSON(w http.ResponseWriter, code int, contentType string, v any) {
	w.Header().Set("Content-Type", contentType)
	body, err := json.Marshal(v)
	if err != nil {
		// Our answer types always marshal; this is a programming error.
		http.Error(w, "encode answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if len(body) <= indentUpTo {
		var out bytes.Buffer
		if json.Indent(&out, body, "", "  ") == nil {
			body = out.Bytes()
		}
	}
	w.WriteHeader(code)
	w.Write(append(body, '\n')) // the client may have gone; nothing useful to do
}

// WriteError writes err as an RFC 9457 problem (v1alpha1.Status). Errors
// that are not *Error are internal: logged in full, answered with a 500.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	code, reason := http.StatusInternalServerError, "Internal"
	var apiErr *Error
	if errors.As(err, &apiErr) {
		code, reason = apiErr.Code, apiErr.Reason
	} else {
		log.Error("internal error in API handler", "err", err)
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="cloudskin"`)
	}
	writeJSON(w, code, v1alpha1.ProblemContentType, v1alpha1.NewStatus(code, reason, err.Error()))
}

// HandlerFunc is a handler that returns its answer: a status code and a
// body to write as JSON (none for 204), or an error to write as a problem.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) (int, any, error)

// Handle adapts fn to http. toAPI maps the domain's errors to *Error (an
// error that is not one is answered as a 500 and logged); errors after the
// client went away are not answered, there is nobody to read them.
func Handle(log *slog.Logger, toAPI func(error) error, fn HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code, body, err := fn(w, r)
		if err != nil && r.Context().Err() != nil {
			return
		}
		if err != nil {
			WriteError(w, log, toAPI(err))
			return
		}
		if code == http.StatusNoContent {
			w.WriteHeader(code)
			return
		}
		WriteJSON(w, code, body)
	}
}
