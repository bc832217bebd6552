package telemetry

import (
	"context"
	"errors"
	"time"
)

// Querier answers PromQL. The embedded DB and a Remote Prometheus or Thanos
// both implement it, so the HTTP API and the Learning Plane read telemetry
// the same way whichever store is behind it.
type Querier interface {
	// Query evaluates expr at one instant; a zero at means now.
	Query(ctx context.Context, expr string, at time.Time) (Result, error)
	// QueryRange evaluates expr at every step from start to end (both
	// included) and returns one series per label set.
	QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Series, error)
}

// MetadataQuerier answers the label and series look-ups of Prometheus's
// API. Both DB and Remote implement it; a Querier that does not makes the
// HTTP API answer those routes with 501.
//
// matchers are series selectors such as `up{job="agent"}`; a series is
// counted when it matches any of them (all series when there are none).
// A zero start or end leaves that side of the time range open.
type MetadataQuerier interface {
	LabelNames(ctx context.Context, matchers []string, start, end time.Time) ([]string, error)
	LabelValues(ctx context.Context, name string, matchers []string, start, end time.Time) ([]string, error)
	Series(ctx context.Context, matchers []string, start, end time.Time) ([]map[string]string, error)
}

// ValueType is the type of a query result, spelled as in Prometheus's API.
type ValueType string

// The result types of PromQL.
const (
	ValueVector ValueType = "vector"
	ValueMatrix ValueType = "matrix"
	ValueScalar ValueType = "scalar"
	ValueString ValueType = "string"
)

// Result is what an instant query returns. Most expressions give a vector
// (Samples); a range selector such as `up[5m]` gives a matrix (Series); a
// number gives a scalar (one Sample without labels); a string literal gives
// String.
type Result struct {
	Type    ValueType
	Samples []Sample
	Series  []Series
	String  string
	// T is the evaluation time; it is the time of a string result.
	T time.Time
}

// Sample is one value of one series at one time. Labels include __name__
// when the expression keeps it.
type Sample struct {
	Labels map[string]string
	Value  float64
	T      time.Time
}

// Series is the values of one label set over time.
type Series struct {
	Labels map[string]string
	Points []Point
}

// Point is one value at one time.
type Point struct {
	T time.Time
	V float64
}

// ErrorType says what kind of failure a query met, in the words of
// Prometheus's HTTP API (its "errorType" field), so that the API can answer
// with the same status codes whichever Querier failed.
type ErrorType string

// The error types a Querier reports.
const (
	// ErrorBadData: the expression or a parameter is malformed (HTTP 400).
	ErrorBadData ErrorType = "bad_data"
	// ErrorExecution: the expression is valid but evaluating it failed,
	// e.g. it would load too many samples (HTTP 422).
	ErrorExecution ErrorType = "execution"
	// ErrorTimeout: the query ran out of time (HTTP 503).
	ErrorTimeout ErrorType = "timeout"
	// ErrorCanceled: the caller went away (HTTP 499).
	ErrorCanceled ErrorType = "canceled"
	// ErrorUnavailable: the store cannot be reached, e.g. a Remote that
	// refuses connections or a DB that is closed (HTTP 503).
	ErrorUnavailable ErrorType = "unavailable"
	// ErrorInternal: anything else (HTTP 500).
	ErrorInternal ErrorType = "internal"
)

// QueryError is the error Querier and MetadataQuerier implementations
// return: the failure with its type.
type QueryError struct {
	Type ErrorType
	Err  error
}

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

// TypeOf returns the ErrorType of err: the type of the QueryError in its
// chain, or ErrorInternal when there is none.
func TypeOf(err error) ErrorType {
	var qe *QueryError
	if errors.As(err, &qe) {
		return qe.Type
	}
	return ErrorInternal
}

// maxPointsPerSeries bounds a range query as Prometheus does: a step so
// small that one series would have more points than this is refused.
const maxPointsPerSeries = 11000

// checkRange validates the parameters of a range query the same way for
// every Querier, so a caller gets the same answer from DB and Remote.
func checkRange(start, end time.Time, step time.Duration) error {
	switch {
	case step <= 0:
		return errors.New("step must be positive")
	case end.Before(start):
		return errors.New("end is before start")
	case end.Sub(start)/step > maxPointsPerSeries:
		return errors.New("more than 11,000 points per series: use a larger step")
	}
	return nil
}
