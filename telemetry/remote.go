package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Remote reads an external Prometheus, Thanos Query or any server with
// Prometheus's HTTP API, through client_golang's API client. It implements
// Querier and MetadataQuerier. It is safe for concurrent use.
type Remote struct {
	url string
	api v1.API
}

// NewRemote returns a Remote for the server at baseURL (e.g.
// http://prometheus:9090, or with a path prefix for a server behind a
// proxy). client makes the requests; nil uses client_golang's default.
func NewRemote(baseURL string, client *http.Client) (*Remote, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: remote URL %q: want http:// or https:// with a host", baseURL)
	}
	c, err := api.NewClient(api.Config{Address: baseURL, Client: client})
	if err != nil {
		return nil, fmt.Errorf("telemetry: remote %s: %w", baseURL, err)
	}
	return &Remote{url: baseURL, api: v1.NewAPI(c)}, nil
}

// URL is the server's base URL.
func (r *Remote) URL() string { return r.url }

// Query evaluates expr at the instant at (now when at is zero) on the remote server.
func (r *Remote) Query(ctx context.Context, expr string, at time.Time) (Result, error) {
	if at.IsZero() {
		at = time.Now()
	}
	v, _, _, err := r.api.Query(ctx, expr, at)
	if err != nil {
		return Result{}, r.error(ctx, fmt.Sprintf("query %q", expr), err)
	}
	switch v := v.(type) {
	case model.Vector:
		samples := make([]Sample, 0, len(v))
		for _, s := range v {
			if s.Histogram == nil {
				samples = append(samples, Sample{Labels: labelMap(s.Metric), Value: float64(s.Value), T: s.Timestamp.Time().UTC()})
			}
		}
		return Result{Type: ValueVector, Samples: samples, T: at}, nil
	case model.Matrix:
		return Result{Type: ValueMatrix, Series: seriesOfMatrix(v), T: at}, nil
	case *model.Scalar:
		return Result{Type: ValueScalar, Samples: []Sample{{Labels: map[string]string{}, Value: float64(v.Value), T: v.Timestamp.Time().UTC()}}, T: at}, nil
	case *model.String:
		return Result{Type: ValueString, String: v.Value, T: v.Timestamp.Time().UTC()}, nil
	}
	return Result{}, &QueryError{Type: ErrorInternal, Err: fmt.Errorf("telemetry: remote %s: query %q: unexpected result type %T", r.url, expr, v)}
}

// QueryRange evaluates expr from start to end every step on the remote server.
func (r *Remote) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]Series, error) {
	if err := checkRange(start, end, step); err != nil {
		return nil, &QueryError{Type: ErrorBadData, Err: fmt.Errorf("telemetry: remote %s: range query %q: %w", r.url, expr, err)}
	}
	v, _, _, err := r.api.QueryRange(ctx, expr, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		return nil, r.error(ctx, fmt.Sprintf("range query %q", expr), err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, &QueryError{Type: ErrorInternal, Err: fmt.Errorf("telemetry: remote %s: range query %q gave a %T, not a matrix", r.url, expr, v)}
	}
	return seriesOfMatrix(m), nil
}

// LabelNames returns the label names the remote server knows for the series that match.
func (r *Remote) LabelNames(ctx context.Context, matchers []string, start, end time.Time) ([]string, error) {
	names, _, _, err := r.api.LabelNames(ctx, matchers, start, end)
	if err != nil {
		return nil, r.error(ctx, "label names", err)
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(n)
	}
	return out, nil
}

// LabelValues returns the values of label name the remote server knows.
func (r *Remote) LabelValues(ctx context.Context, name string, matchers []string, start, end time.Time) ([]string, error) {
	values, _, _, err := r.api.LabelValues(ctx, name, matchers, start, end)
	if err != nil {
		return nil, r.error(ctx, fmt.Sprintf("values of label %q", name), err)
	}
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out, nil
}

// Series returns the label sets of the series that match on the remote server.
func (r *Remote) Series(ctx context.Context, matchers []string, start, end time.Time) ([]map[string]string, error) {
	if len(matchers) == 0 {
		return nil, &QueryError{Type: ErrorBadData, Err: fmt.Errorf("telemetry: remote %s: series look-up: no match[] selector given", r.url)}
	}
	sets, _, _, err := r.api.Series(ctx, matchers, start, end)
	if err != nil {
		return nil, r.error(ctx, "series", err)
	}
	out := make([]map[string]string, len(sets))
	for i, ls := range sets {
		out[i] = labelMap(model.Metric(ls))
	}
	return out, nil
}

// error names the server and the request in err and classifies it.
func (r *Remote) error(ctx context.Context, what string, err error) error {
	var apiErr *v1.Error
	switch {
	case errors.As(err, &apiErr):
		typ, msg := remoteError(apiErr)
		return &QueryError{Type: typ, Err: fmt.Errorf("telemetry: remote %s: %s: %s", r.url, what, msg)}
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &QueryError{Type: ErrorTimeout, Err: fmt.Errorf("telemetry: remote %s: %s: %w", r.url, what, err)}
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return &QueryError{Type: ErrorCanceled, Err: fmt.Errorf("telemetry: remote %s: %s: %w", r.url, what, err)}
	}
	// Refused, reset, unknown host.
	return &QueryError{Type: ErrorUnavailable, Err: fmt.Errorf("telemetry: remote %s: %s: %w", r.url, what, err)}
}

// remoteError classifies an error of the API client. The client decodes
// Prometheus's error bodies only for 400 and 422; for other codes (503 on a
// timeout, for one) the type and message are read from the body here.
func remoteError(e *v1.Error) (ErrorType, string) {
	known := []ErrorType{ErrorBadData, ErrorExecution, ErrorTimeout, ErrorCanceled, ErrorUnavailable, ErrorInternal}
	if t := ErrorType(e.Type); slices.Contains(known, t) {
		return t, e.Msg
	}
	var body struct {
		ErrorType ErrorType `json:"errorType"`
		Error     string    `json:"error"`
	}
	if json.Unmarshal([]byte(e.Detail), &body) == nil && slices.Contains(known, body.ErrorType) {
		return body.ErrorType, body.Error
	}
	msg := e.Msg
	if e.Detail != "" {
		msg += ": " + strings.TrimSpace(e.Detail)
	}
	if e.Type == v1.ErrServer || e.Type == v1.ErrBadResponse {
		return ErrorUnavailable, msg
	}
	return ErrorInternal, msg
}

func seriesOfMatrix(m model.Matrix) []Series {
	out := make([]Series, 0, len(m))
	for _, s := range m {
		if len(s.Values) == 0 {
			continue // native histograms only
		}
		points := make([]Point, len(s.Values))
		for i, p := range s.Values {
			points[i] = Point{T: p.Timestamp.Time().UTC(), V: float64(p.Value)}
		}
		out = append(out, Series{Labels: labelMap(s.Metric), Points: points})
	}
	return out
}

func labelMap(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}
