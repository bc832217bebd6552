package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/cloudskin/cloudskin/internal/httpserver"
)

// The control plane's server is a Mux.
var _ Mux = (*httpserver.Server)(nil)

// serveMux adapts http.ServeMux to Mux.
type serveMux struct{ *http.ServeMux }

func (m serveMux) HandleFunc(pattern string, h http.HandlerFunc) { m.Handle(pattern, h) }

// serveAPI serves the API over q and returns its URL.
func serveAPI(t testing.TB, q Querier) string {
	t.Helper()
	mux := serveMux{http.NewServeMux()}
	NewAPI(q, nil).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// promClient is client_golang's Prometheus API client on base.
func promClient(t testing.TB, base string) v1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: base})
	if err != nil {
		t.Fatal(err)
	}
	return v1.NewAPI(c)
}

// apiTestDB holds two series of 13 samples, one every 5 s from t0.
func apiTestDB(t testing.TB) *DB {
	t.Helper()
	db := openTestDB(t, DBOptions{})
	var samples []Sample
	for i := range 13 {
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		samples = append(samples,
			Sample{Labels: map[string]string{"__name__": "requests_total", "job": "agent", "site": "edge"}, T: at, Value: float64(10 * i)},
			Sample{Labels: map[string]string{"__name__": "requests_total", "job": "agent", "site": "cloud"}, T: at, Value: float64(i)})
	}
	if err := db.Append(context.Background(), samples...); err != nil {
		t.Fatal(err)
	}
	return db
}

// client_golang's API client, the reference decoder of Prometheus's JSON,
// reads our answers: a range query gives the matrix we wrote.
func TestAPIRangeQueryWithPrometheusClient(t *testing.T) {
	prom := promClient(t, serveAPI(t, apiTestDB(t)))
	ctx := context.Background()
	v, _, _, err := prom.QueryRange(ctx, `rate(requests_total[20s])`, v1.Range{Start: t0.Add(20 * time.Second), End: t0.Add(60 * time.Second), Step: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := v.(model.Matrix)
	if !ok || len(m) != 2 {
		t.Fatalf("answer %T %v, want a matrix of 2 series", v, v)
	}
	want := map[string]float64{"edge": 2, "cloud": 0.2}
	for _, s := range m {
		if s.Metric["job"] != "agent" || s.Metric["__name__"] != "" {
			t.Errorf("labels %v: want job=agent and no __name__ after rate", s.Metric)
		}
		if len(s.Values) != 5 {
			t.Errorf("site %s: %d points, want 5", s.Metric["site"], len(s.Values))
		}
		for i, p := range s.Values {
			if wantT := model.TimeFromUnixNano(t0.Add(time.Duration(20+10*i) * time.Second).UnixNano()); p.Timestamp != wantT {
				t.Errorf("point %d at %v, want %v", i, p.Timestamp, wantT)
			}
			if !near(float64(p.Value), want[string(s.Metric["site"])]) {
				t.Errorf("site %s point %d = %v, want %v", s.Metric["site"], i, p.Value, want[string(s.Metric["site"])])
			}
		}
	}

	// Instant queries of every result type.
	at := t0.Add(60 * time.Second)
	v, _, _, err = prom.Query(ctx, `requests_total{site="edge"}`, at)
	if vec, ok := v.(model.Vector); err != nil || !ok || len(vec) != 1 || vec[0].Value != 120 || vec[0].Timestamp.Time().Unix() != at.Unix() {
		t.Errorf("vector query: %v, %v; want 120 at %s", v, err, at)
	}
	v, _, _, err = prom.Query(ctx, `requests_total{site="cloud"}[11s]`, at)
	if mat, ok := v.(model.Matrix); err != nil || !ok || len(mat) != 1 || len(mat[0].Values) != 3 {
		t.Errorf("matrix query: %v, %v; want 3 points", v, err)
	}
	v, _, _, err = prom.Query(ctx, `1/0`, at.Add(1500*time.Millisecond))
	if sc, ok := v.(*model.Scalar); err != nil || !ok || !math.IsInf(float64(sc.Value), 1) || sc.Timestamp != model.TimeFromUnixNano(at.Add(1500*time.Millisecond).UnixNano()) {
		t.Errorf("scalar query: %v, %v; want +Inf at .5 s", v, err)
	}
	// (client_golang does not decode string results; TestAPIJSONShape checks them.)
	v, _, _, err = prom.Query(ctx, `0/0`, at)
	if sc, ok := v.(*model.Scalar); err != nil || !ok || !math.IsNaN(float64(sc.Value)) {
		t.Errorf("NaN query: %v, %v", v, err)
	}

	// Labels and series.
	names, _, _, err := prom.LabelNames(ctx, nil, time.Time{}, time.Time{})
	if want := (model.LabelNames{"__name__", "job", "site"}); err != nil || !reflect.DeepEqual(names, want) {
		t.Errorf("label names %v, %v; want %v", names, err, want)
	}
	values, _, _, err := prom.LabelValues(ctx, "site", []string{`requests_total`}, t0, at)
	if want := (model.LabelValues{"cloud", "edge"}); err != nil || !reflect.DeepEqual(values, want) {
		t.Errorf("site values %v, %v; want %v", values, err, want)
	}
	series, _, _, err := prom.Series(ctx, []string{`{site="edge"}`}, t0, at)
	if err != nil || len(series) != 1 || series[0]["site"] != "edge" {
		t.Errorf("series %v, %v", series, err)
	}
}

// The exact bytes of an answer, as Prometheus writes them.
func TestAPIJSONShape(t *testing.T) {
	base := serveAPI(t, apiTestDB(t))
	body := get(t, base+"/api/v1/query_range?query=requests_total{site=\"cloud\"}&start=2026-11-24T10:00:00Z&end=1795514405.5&step=5s", http.StatusOK)
	want := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"requests_total","job":"agent","site":"cloud"},"values":[[1795514400,"0"],[1795514405,"1"]]}]}}`
	if strings.TrimSpace(body) != want {
		t.Errorf("range answer\n got %s\nwant %s", body, want)
	}
	body = get(t, base+"/api/v1/query?query=vector(0.25)&time=1795514400.125", http.StatusOK)
	want = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1795514400.125,"0.25"]}]}}`
	if strings.TrimSpace(body) != want {
		t.Errorf("instant answer\n got %s\nwant %s", body, want)
	}
	body = get(t, base+"/api/v1/query?query=nothing_here&time=1795514400", http.StatusOK)
	want = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	if strings.TrimSpace(body) != want {
		t.Errorf("empty answer\n got %s\nwant %s", body, want)
	}
	body = get(t, base+"/api/v1/query?query="+url.QueryEscape(`"a \"quoted\" string"`)+"&time=1795514400.05", http.StatusOK)
	want = `{"status":"success","data":{"resultType":"string","result":[1795514400.05,"a \"quoted\" string"]}}`
	if strings.TrimSpace(body) != want {
		t.Errorf("string answer\n got %s\nwant %s", body, want)
	}
	body = get(t, base+"/api/v1/label/nope/values", http.StatusOK)
	if want := `{"status":"success","data":[]}`; strings.TrimSpace(body) != want {
		t.Errorf("empty label values\n got %s\nwant %s", body, want)
	}
}

// Errors: Prometheus's envelope, error types and status codes.
func TestAPIErrors(t *testing.T) {
	db := openTestDB(t, DBOptions{MaxSamples: 3})
	if err := db.Append(context.Background(),
		Sample{Labels: map[string]string{"__name__": "m"}, T: t0, Value: 1},
		Sample{Labels: map[string]string{"__name__": "m"}, T: t0.Add(time.Second), Value: 1},
		Sample{Labels: map[string]string{"__name__": "m"}, T: t0.Add(2 * time.Second), Value: 1},
		Sample{Labels: map[string]string{"__name__": "m"}, T: t0.Add(3 * time.Second), Value: 1}); err != nil {
		t.Fatal(err)
	}
	base := serveAPI(t, db)
	for _, tc := range []struct {
		path    string
		code    int
		errType string
		detail  string
	}{
		{"/api/v1/query?query=rate(m[", http.StatusBadRequest, "bad_data", "parse error"},
		{"/api/v1/query?query=", http.StatusBadRequest, "bad_data", "query parameter is missing"},
		{"/api/v1/query?query=m&time=yesterday", http.StatusBadRequest, "bad_data", "parameter time"},
		{"/api/v1/query?query=m&timeout=-1s", http.StatusBadRequest, "bad_data", "timeout"},
		{"/api/v1/query?query=m[1m]&time=1795514404", http.StatusUnprocessableEntity, "execution", "too many samples"},
		{"/api/v1/query_range?query=m&start=1&end=2", http.StatusBadRequest, "bad_data", "step"},
		{"/api/v1/query_range?query=m&start=1&end=2&step=0", http.StatusBadRequest, "bad_data", "step"},
		{"/api/v1/query_range?query=m&end=2&step=1", http.StatusBadRequest, "bad_data", "start"},
		{"/api/v1/query_range?query=m&start=10&end=2&step=1", http.StatusBadRequest, "bad_data", "end is before start"},
		{"/api/v1/series", http.StatusBadRequest, "bad_data", "match[]"},
		{"/api/v1/series?match[]=" + url.QueryEscape(`{a=~".*"}`), http.StatusBadRequest, "bad_data", "empty string"},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Status, ErrorType, Error string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || body.Status != "error" || body.ErrorType != tc.errType || !strings.Contains(body.Error, tc.detail) {
			t.Errorf("%s: %d %+v, want %d %s containing %q", tc.path, resp.StatusCode, body, tc.code, tc.errType, tc.detail)
		}
	}

	// client_golang reports a parse error as bad_data too.
	_, _, _, err := promClient(t, base).Query(context.Background(), "sum(", t0)
	var apiErr *v1.Error
	if !errors.As(err, &apiErr) || apiErr.Type != v1.ErrBadData {
		t.Errorf("client error %v, want bad_data", err)
	}
}

// A Querier without label and series look-ups answers them with 501.
func TestAPIMetadataNotImplemented(t *testing.T) {
	base := serveAPI(t, struct{ Querier }{apiTestDB(t)})
	get(t, base+"/api/v1/labels", http.StatusNotImplemented)
	get(t, base+"/api/v1/label/job/values", http.StatusNotImplemented)
	get(t, base+"/api/v1/series?match[]=up", http.StatusNotImplemented)
	get(t, base+"/api/v1/query?query=1", http.StatusOK)
}

// POSTed forms are read like query strings (client_golang posts by default).
func TestAPIPostForm(t *testing.T) {
	base := serveAPI(t, apiTestDB(t))
	form := url.Values{"query": {`sum(requests_total)`}, "time": {"1795514460"}}
	resp, err := http.PostForm(base+"/api/v1/query", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := `"value":[1795514460,"132"]`; resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
		t.Errorf("POST query: %d %s, want %s", resp.StatusCode, b, want)
	}
}

func TestParseTimeAndDuration(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1795514400":                t0,
		"1795514400.5":              t0.Add(500 * time.Millisecond),
		"2026-11-24T10:00:00Z":      t0,
		"2026-11-24T11:00:00+01:00": t0,
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "now", "NaN", "1e300", "2026-11-24"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
	for in, want := range map[string]time.Duration{"15": 15 * time.Second, "0.5": 500 * time.Millisecond, "15s": 15 * time.Second, "1m30s": 90 * time.Second, "1d": 24 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "15x", "1e300", "NaN"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}

func get(t testing.TB, u string, code int) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != code {
		t.Errorf("GET %s: %d %s, want %d", u, resp.StatusCode, b, code)
	}
	return string(b)
}
