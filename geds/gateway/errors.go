package gateway

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/cloudskin/cloudskin/geds/gateway/sigv4"
)

// apiError is an S3 error: its code decides the HTTP status.
type apiError struct {
	Code    string
	Message string
}

func (e *apiError) Error() string { return "geds gateway: " + e.Code + ": " + e.Message }

func apiErrorf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// statusOf is the HTTP status of each S3 error code we answer with.
var statusOf = map[string]int{
	"AccessDenied":                      http.StatusForbidden,
	"AuthorizationHeaderMalformed":      http.StatusBadRequest,
	"AuthorizationQueryParametersError": http.StatusBadRequest,
	"BadDigest":                         http.StatusBadRequest,
	"BucketAlreadyOwnedByYou":           http.StatusConflict,
	"BucketNotEmpty":                    http.StatusConflict,
	"EntityTooLarge":                    http.StatusBadRequest,
	"EntityTooSmall":                    http.StatusBadRequest,
	"IncompleteBody":                    http.StatusBadRequest,
	"InternalError":                     http.StatusInternalServerError,
	"InvalidAccessKeyId":                http.StatusForbidden,
	"InvalidArgument":                   http.StatusBadRequest,
	"InvalidBucketName":                 http.StatusBadRequest,
	"InvalidDigest":                     http.StatusBadRequest,
	"InvalidLocationConstraint":         http.StatusBadRequest,
	"InvalidPart":                       http.StatusBadRequest,
	"InvalidPartOrder":                  http.StatusBadRequest,
	"InvalidRange":                      http.StatusRequestedRangeNotSatisfiable,
	"InvalidRequest":                    http.StatusBadRequest,
	"KeyTooLongError":                   http.StatusBadRequest,
	"MalformedXML":                      http.StatusBadRequest,
	"MethodNotAllowed":                  http.StatusMethodNotAllowed,
	"NoSuchBucket":                      http.StatusNotFound,
	"NoSuchKey":                         http.StatusNotFound,
	"NoSuchUpload":                      http.StatusNotFound,
	"NoSuchVersion":                     http.StatusNotFound,
	"NotImplemented":                    http.StatusNotImplemented,
	"PreconditionFailed":                http.StatusPreconditionFailed,
	"RequestTimeTooSkewed":              http.StatusForbidden,
	"RequestTimeout":                    http.StatusBadRequest,
	"ServiceUnavailable":                http.StatusServiceUnavailable,
	"SignatureDoesNotMatch":             http.StatusForbidden,
	"XAmzContentSHA256Mismatch":         http.StatusBadRequest,
}

// errorBody is the XML body of an S3 error.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string
	RequestID string `xml:"RequestId"`
}

// writeError answers err as an S3 error. Errors that are neither ours nor
// a known backend condition are internal: logged in full, answered with a
// generic message.
func (g *Gateway) writeError(c *call, err error) {
	var notModified errNotModified
	if errors.As(err, &notModified) {
		c.w.Header().Set("ETag", quoteETag(notModified.info.ETag))
		c.w.Header().Set("Last-Modified", notModified.info.ModTime.UTC().Format(http.TimeFormat))
		c.w.WriteHeader(http.StatusNotModified)
		return
	}
	code, message := g.classify(c, err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	if status >= 500 {
		g.log.Error("geds gateway: request failed", "method", c.r.Method, "path", c.r.URL.Path, "requestId", c.requestID, "err", err)
	} else {
		g.log.Debug("geds gateway: request refused", "method", c.r.Method, "path", c.r.URL.Path, "code", code, "err", err)
	}
	h := c.w.Header()
	h.Del("ETag")
	h.Del("Last-Modified")
	if c.r.Method == http.MethodHead {
		c.w.WriteHeader(status)
		return
	}
	writeXML(c.w, status, errorBody{Code: code, Message: message, Resource: c.r.URL.Path, RequestID: c.requestID})
}

func (g *Gateway) classify(c *call, err error) (code, message string) {
	var api *apiError
	var auth *sigv4.Error
	switch {
	case errors.As(err, &api):
		return api.Code, api.Message
	case errors.As(err, &auth):
		return auth.Code, auth.Message
	case errors.Is(err, fs.ErrInvalid):
		return "InvalidArgument", err.Error()
	case errors.Is(err, context.Canceled) && c.r.Context().Err() != nil:
		return "RequestTimeout", "the client went away"
	}
	return "InternalError", "we encountered an internal error; please try again (request " + c.requestID + ")"
}
