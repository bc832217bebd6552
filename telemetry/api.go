package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// Mux is where Routes registers its handlers, with Go 1.22 patterns
// ("GET /api/v1/query"). internal/httpserver.Server is one; a bare
// *http.ServeMux is not (its HandleFunc takes a func type, not
// http.HandlerFunc), so wrap it.
type Mux interface {
	HandleFunc(pattern string, h http.HandlerFunc)
}

// maxFormBytes bounds a POSTed form; a PromQL expression is small.
const maxFormBytes = 1 << 20

// API serves Prometheus's query API over a Querier, so that Grafana,
// promtool or client_golang's API client can read the control plane's
// telemetry as they read a Prometheus.
type API struct {
	q   Querier
	log *slog.Logger
	now func() time.Time
}

// NewAPI returns the API over q. log receives internal errors; nil discards.
func NewAPI(q Querier, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &API{q: q, log: log, now: time.Now}
}

// Routes registers the query, label and series endpoints of Prometheus's
// HTTP API v1 on mux.
func (a *API) Routes(mux Mux) {
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		mux.HandleFunc(method+" /api/v1/query", a.handle(a.query))
		mux.HandleFunc(method+" /api/v1/query_range", a.handle(a.queryRange))
		mux.HandleFunc(method+" /api/v1/labels", a.handle(a.labelNames))
		mux.HandleFunc(method+" /api/v1/series", a.handle(a.series))
	}
	mux.HandleFunc("GET /api/v1/label/{name}/values", a.handle(a.labelValues))
}

// handle parses the request's form (query string and, for POST, the
// url-encoded body), runs f and writes its answer: JSON bytes as they are,
// anything else through encoding/json, in Prometheus's envelope.
func (a *API) handle(f func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			a.writeError(w, badData(fmt.Errorf("telemetry: request form: %w", err)))
			return
		}
		data, err := f(r)
		if err != nil {
			a.writeError(w, err)
			return
		}
		var body []byte
		if raw, ok := data.(json.RawMessage); ok {
			body = raw
		} else if body, err = json.Marshal(data); err != nil {
			a.writeError(w, fmt.Errorf("telemetry: encode answer: %w", err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		out := make([]byte, 0, len(body)+40)
		out = append(out, `{"status":"success","data":`...)
		out = append(out, body...)
		w.Write(append(out, "}\n"...)) // the client may have gone; nothing to do then
	}
}

// statusOf maps error types to the status codes Prometheus answers with.
var statusOf = map[ErrorType]int{
	ErrorBadData:     http.StatusBadRequest,
	ErrorExecution:   http.StatusUnprocessableEntity,
	ErrorTimeout:     http.StatusServiceUnavailable,
	ErrorCanceled:    499, // nginx's "client closed request", as Prometheus uses
	ErrorUnavailable: http.StatusServiceUnavailable,
	ErrorInternal:    http.StatusInternalServerError,
}

// errNotImplemented marks look-ups the Querier does not offer.
var errNotImplemented = errors.New("telemetry: label and series look-ups are not offered by this store")

func (a *API) writeError(w http.ResponseWriter, err error) {
	typ := TypeOf(err)
	code := statusOf[typ]
	if errors.Is(err, errNotImplemented) {
		code = http.StatusNotImplemented
	}
	if typ == ErrorInternal {
		a.log.Error("telemetry: query API", "err", err)
	}
	body, _ := json.Marshal(struct { // strings only: cannot fail
		Status    string    `json:"status"`
		ErrorType ErrorType `json:"errorType"`
		Error     string    `json:"error"`
	}{"error", typ, err.Error()})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(body, '\n')) // the client may have gone; nothing to do then
}

func badData(err error) error { return &QueryError{Type: ErrorBadData, Err: err} }

func (a *API) query(r *http.Request) (any, error) {
	expr, err := queryParam(r)
	if err != nil {
		return nil, err
	}
	at, err := timeParam(r, "time", a.now())
	if err != nil {
		return nil, err
	}
	ctx, cancel, err := withTimeoutParam(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	res, err := a.q.Query(ctx, expr, at)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(appendResult(nil, res)), nil
}

func (a *API) queryRange(r *http.Request) (any, error) {
	expr, err := queryParam(r)
	if err != nil {
		return nil, err
	}
	start, err := requiredTimeParam(r, "start")
	if err != nil {
		return nil, err
	}
	end, err := requiredTimeParam(r, "end")
	if err != nil {
		return nil, err
	}
	step, err := durationParam(r, "step")
	if err != nil {
		return nil, err
	}
	ctx, cancel, err := withTimeoutParam(r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	series, err := a.q.QueryRange(ctx, expr, start, end, step)
	if err != nil {
		return nil, err
	}
	return json.RawMessage(appendResult(nil, Result{Type: ValueMatrix, Series: series})), nil
}

func (a *API) labelNames(r *http.Request) (any, error) {
	mq, start, end, err := a.metadataParams(r)
	if err != nil {
		return nil, err
	}
	names, err := mq.LabelNames(r.Context(), r.Form["match[]"], start, end)
	return nonNil(names), err
}

func (a *API) labelValues(r *http.Request) (any, error) {
	mq, start, end, err := a.metadataParams(r)
	if err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	if !model.UTF8Validation.IsValidLabelName(name) {
		return nil, badData(fmt.Errorf("telemetry: invalid label name %q", name))
	}
	values, err := mq.LabelValues(r.Context(), name, r.Form["match[]"], start, end)
	return nonNil(values), err
}

func (a *API) series(r *http.Request) (any, error) {
	mq, start, end, err := a.metadataParams(r)
	if err != nil {
		return nil, err
	}
	if len(r.Form["match[]"]) == 0 {
		return nil, badData(errors.New("telemetry: no match[] parameter given"))
	}
	sets, err := mq.Series(r.Context(), r.Form["match[]"], start, end)
	return nonNil(sets), err
}

func (a *API) metadataParams(r *http.Request) (mq MetadataQuerier, start, end time.Time, err error) {
	mq, ok := a.q.(MetadataQuerier)
	if !ok {
		return nil, start, end, &QueryError{Type: ErrorUnavailable, Err: errNotImplemented}
	}
	if start, err = timeParam(r, "start", time.Time{}); err != nil {
		return nil, start, end, err
	}
	end, err = timeParam(r, "end", time.Time{})
	return mq, start, end, err
}

// nonNil makes an empty answer [] rather than null, as Prometheus does.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func queryParam(r *http.Request) (string, error) {
	expr := r.Form.Get("query")
	if expr == "" {
		return "", badData(errors.New("telemetry: the query parameter is missing"))
	}
	return expr, nil
}

func requiredTimeParam(r *http.Request, name string) (time.Time, error) {
	if r.Form.Get(name) == "" {
		return time.Time{}, badData(fmt.Errorf("telemetry: the %s parameter is missing", name))
	}
	return timeParam(r, name, time.Time{})
}

func timeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	s := r.Form.Get(name)
	if s == "" {
		return def, nil
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, badData(fmt.Errorf("telemetry: parameter %s: %w", name, err))
	}
	return t, nil
}

func durationParam(r *http.Request, name string) (time.Duration, error) {
	s := r.Form.Get(name)
	if s == "" {
		return 0, badData(fmt.Errorf("telemetry: the %s parameter is missing", name))
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, badData(fmt.Errorf("telemetry: parameter %s: %w", name, err))
	}
	if d <= 0 {
		return 0, badData(fmt.Errorf("telemetry: parameter %s: must be positive", name))
	}
	return d, nil
}

// withTimeoutParam bounds the request's context by its timeout parameter.
func withTimeoutParam(r *http.Request) (context.Context, context.CancelFunc, error) {
	if r.Form.Get("timeout") == "" {
		return r.Context(), func() {}, nil
	}
	d, err := durationParam(r, "timeout")
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return ctx, cancel, nil
}

// ParseTime reads a time as Prometheus's API accepts it: Unix seconds with
// an optional fraction ("1700000000.5") or RFC 3339 ("2026-11-24T10:00:00Z").
func ParseTime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		// Beyond ±2^53 ms float seconds lose whole milliseconds; far beyond
		// any real timestamp anyway, and UnixMilli must not overflow.
		const limit = 1 << 53 / 1000
		if math.IsNaN(f) || f > limit || f < -limit {
			return time.Time{}, fmt.Errorf("time %q is out of range", s)
		}
		return time.UnixMilli(int64(math.Round(f * 1000))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as Unix seconds or RFC 3339 time", s)
}

// ParseDuration reads a duration as Prometheus's API accepts it: seconds
// with an optional fraction ("15", "0.5") or a Prometheus duration ("15s",
// "1m30s", "2h", "1d").
func ParseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ns := f * float64(time.Second)
		if math.IsNaN(ns) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(ns), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q as seconds or a duration like 15s", s)
}

// appendResult appends the "data" object of a query answer in Prometheus's
// JSON form: sample values as strings (so NaN and ±Inf survive), times as
// Unix seconds with millisecond fractions. It is written by hand because
// range answers are large and these pairs are most of them.
func appendResult(b []byte, res Result) []byte {
	b = append(b, `{"resultType":"`...)
	b = append(b, res.Type...)
	b = append(b, `","result":`...)
	switch res.Type {
	case ValueVector:
		b = append(b, '[')
		for i, s := range res.Samples {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendJSON(b, s.Labels)
			b = append(b, `,"value":`...)
			b = appendPoint(b, s.T, s.Value)
			b = append(b, '}')
		}
		b = append(b, ']')
	case ValueMatrix:
		b = append(b, '[')
		for i, s := range res.Series {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendJSON(b, s.Labels)
			b = append(b, `,"values":[`...)
			for j, p := range s.Points {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendPoint(b, p.T, p.V)
			}
			b = append(b, "]}"...)
		}
		b = append(b, ']')
	case ValueScalar:
		var s Sample
		if len(res.Samples) > 0 {
			s = res.Samples[0]
		}
		b = appendPoint(b, s.T, s.Value)
	case ValueString:
		b = append(b, '[')
		b = appendTime(b, res.T)
		b = append(b, ',')
		b = appendJSON(b, res.String)
		b = append(b, ']')
	default:
		b = append(b, "[]"...)
	}
	return append(b, '}')
}

// appendJSON appends v (label maps, strings) encoded by encoding/json,
// which sorts map keys and escapes what JSON needs.
func appendJSON(b []byte, v any) []byte {
	enc, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...) // maps of strings and strings always encode
	}
	return append(b, enc...)
}

// appendPoint appends [seconds, "value"].
func appendPoint(b []byte, t time.Time, v float64) []byte {
	b = append(b, '[')
	b = appendTime(b, t)
	b = append(b, `,"`...)
	b = appendFloat(b, v)
	return append(b, `"]`...)
}

// appendTime appends Unix seconds with the milliseconds as a fraction,
// without trailing zeros, as Prometheus writes them.
func appendTime(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	b = strconv.AppendInt(b, ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		for frac%10 == 0 {
			frac /= 10
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return b
}

// appendFloat appends v as Prometheus does: plain notation, exponent for
// very small or very large magnitudes, NaN, +Inf and -Inf spelled so.
func appendFloat(b []byte, v float64) []byte {
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	return strconv.AppendFloat(b, v, format, -1, 64)
}
