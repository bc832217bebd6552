package v1alpha1

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// ProblemContentType is the media type of API errors (RFC 9457).
const ProblemContentType = "application/problem+json"

// ApplyResultHeader says what a PUT of an application or a POST of a
// block did: "created", "configured" or "unchanged" (kubectl's words).
const ApplyResultHeader = "Cloudskin-Apply-Result"

// ProblemTypeBase prefixes the type URI of each kind of problem; the
// Reason, in kebab case, follows.
const ProblemTypeBase = "https://cloudskin.io/problems/"

// Status is the body of every API error: an RFC 9457 problem document
// ("type", "title", "status", "detail", "instance") with the extension
// member "reason", a machine-readable word (NotFound, BadRequest,
// Invalid, Conflict, Unauthorized, Forbidden, Internal...). Clients
// decode it with ParseStatus and use it as an error.
type Status struct {
	// Type is a URI naming the kind of problem.
	Type string `json:"type" yaml:"type"`
	// Title is the HTTP status' text.
	Title string `json:"title" yaml:"title"`
	// Code is the HTTP status code.
	Code int `json:"status" yaml:"status"`
	// Message says what went wrong, for people.
	Message string `json:"detail" yaml:"detail"`
	// Instance is the request path the problem is about.
	Instance string `json:"instance,omitempty" yaml:"instance,omitempty"`
	// Reason is a machine-readable word.
	Reason string `json:"reason" yaml:"reason"`
}

// NewStatus returns the problem for code, reason and message.
func NewStatus(code int, reason, message string) Status {
	return Status{Type: ProblemTypeBase + kebab(reason), Title: http.StatusText(code), Code: code, Message: message, Reason: reason}
}

// Error makes a Status usable as an error on the client side.
func (s *Status) Error() string {
	return fmt.Sprintf("%s (%d %s)", s.Message, s.Code, s.Reason)
}

// ParseStatus reads an error answer: a problem document, or, from
// something that is not a CloudSkin server, its text.
func ParseStatus(code int, body []byte) *Status {
	var st Status
	if err := json.Unmarshal(body, &st); err != nil || st.Type == "" || st.Reason == "" {
		st = Status{Title: http.StatusText(code), Reason: strings.ReplaceAll(http.StatusText(code), " ", ""), Message: strings.TrimSpace(string(body))}
	}
	st.Code = code
	return &st
}

func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
