package v1alpha1

import "fmt"

// KindStatus is the kind of an API error answer.
const KindStatus = "Status"

// Status is the body of every API error, shaped like Kubernetes' Status so
// that tools and people recognise it.
type Status struct {
	TypeMeta `json:",inline" yaml:",inline"`
	// Code is the HTTP status code.
	Code int `json:"code" yaml:"code"`
	// Reason is a machine-readable word: NotFound, BadRequest, Conflict, Internal...
	Reason string `json:"reason" yaml:"reason"`
	// Message says what went wrong, for people.
	Message string `json:"message" yaml:"message"`
}

// Error makes a Status usable as an error on the client side.
func (s *Status) Error() string {
	return fmt.Sprintf("%s (%d %s)", s.Message, s.Code, s.Reason)
}
