package federated

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/learning/forecast"
)

// recorder is an http.RoundTripper that keeps every byte a site sends.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent [][]byte // one entry per request: method, URL, headers and body
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var buf bytes.Buffer
	buf.WriteString(req.Method + " " + req.URL.String() + "\n")
	_ = req.Header.Write(&buf)
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		buf.Write(body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.sent = append(r.sent, buf.Bytes())
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// siteSeries is a site's load: a 12-step season of its own level, swing
// and phase with noise, and one distinctive value that cannot appear by
// chance.
func siteSeries(n int, level, swing, phase float64, marker float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	y := make([]float64, n)
	for i := range y {
		p := 2*math.Pi*float64(i)/12 + phase
		y[i] = level + swing*math.Sin(p) + 0.3*swing*math.Cos(2*p) + 0.05*swing*rng.NormFloat64()
	}
	y[n/2] = marker
	return y
}

var netConfig = forecast.RNNConfig{Season: 12, Hidden: 8, Seed: 1}

func newServer(t *testing.T, minSites int) *httptest.Server {
	t.Helper()
	agg, err := NewAggregator(minSites)
	if err != nil {
		t.Fatal(err)
	}
	if err := agg.Register("load", netConfig); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	agg.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// oneStepMAE is the mean absolute one-step error of net on y, with y's own
// normalisation.
func oneStepMAE(t *testing.T, net *forecast.RNN, y []float64) float64 {
	t.Helper()
	if err := net.Observe(y); err != nil {
		t.Fatal(err)
	}
	sum, n := 0.0, 0
	for i, f := range net.Fitted() {
		if !math.IsNaN(f) {
			sum += math.Abs(f - y[i])
			n++
		}
	}
	return sum / float64(n)
}

// TestRawTelemetryNeverLeavesTheSite runs three sites against an
// aggregator over loopback and checks every byte they send.
func TestRawTelemetryNeverLeavesTheSite(t *testing.T) {
	srv := newServer(t, 3)
	series := map[string][]float64{
		"edge-a": siteSeries(600, 12000, 900, 0, 12345.678, 1),
		"edge-b": siteSeries(600, 40, 12, 0.5, 47.110815, 2),
		"edge-c": siteSeries(600, 0.9, 0.2, 1, 0.81234567, 3),
	}
	sites := []string{"edge-a", "edge-b", "edge-c"}
	recorders := map[string]*recorder{}
	trainers := map[string]*Trainer{}
	for _, s := range sites {
		rec := &recorder{next: http.DefaultTransport}
		recorders[s] = rec
		y := series[s]
		trainers[s] = &Trainer{
			Site: s, Aggregator: Client{BaseURL: srv.URL, HTTP: &http.Client{Transport: rec}}, Model: "load", Epochs: 4,
			Source: func(context.Context) ([]float64, error) { return y, nil },
		}
	}
	ctx := context.Background()
	const rounds = 3
	for round := range rounds {
		for i, s := range sites {
			u, acc, err := trainers[s].Round(ctx)
			if err != nil {
				t.Fatalf("round %d, %s: %v", round, s, err)
			}
			if u.Round != round || acc.Averaged != (i == len(sites)-1) {
				t.Fatalf("round %d, %s: sent for round %d, answer %+v", round, s, u.Round, acc)
			}
		}
	}

	// (a) No raw value, nor a normalised one, appears in any request.
	for _, s := range sites {
		y := series[s]
		net, _ := forecast.NewRNN(netConfig)
		if err := net.Observe(y); err != nil {
			t.Fatal(err)
		}
		var forms []string
		for _, v := range y {
			z := (v - net.Mean) / net.Std
			forms = append(forms, strconv.FormatFloat(v, 'g', -1, 64), strconv.FormatFloat(z, 'g', -1, 64))
		}
		for _, other := range sites {
			for _, req := range recorders[other].sent {
				for _, f := range forms {
					if bytes.Contains(req, []byte(f)) {
						t.Fatalf("a request of %s contains %s, a value of %s's series", other, f, s)
					}
				}
			}
		}
		if len(recorders[s].sent) != 2*rounds {
			t.Errorf("%s sent %d requests, want %d (a GET and a POST per round)", s, len(recorders[s].sent), 2*rounds)
		}
	}
	// The markers themselves, to be sure the search would have found them.
	for _, marker := range []string{"12345.678", "47.110815", "0.81234567"} {
		for _, rec := range recorders {
			for _, req := range rec.sent {
				if strings.Contains(string(req), marker) {
					t.Fatalf("marker %s left a site", marker)
				}
			}
		}
	}

	// (c) The global model forecasts every site better than an untrained one.
	global, err := trainers["edge-a"].Global(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		untrained, _ := forecast.NewRNN(netConfig)
		before := oneStepMAE(t, untrained, series[s])
		after := oneStepMAE(t, global, series[s])
		t.Logf("%s: one-step MAE untrained %.4g, global after %d rounds %.4g", s, before, rounds, after)
		if !(after < before) {
			t.Errorf("%s: global model MAE %v, untrained %v", s, after, before)
		}
	}
}

// TestPayloadDoesNotGrowWithSeries: a site with ten times the history
// sends an update of the same size, up to the digits of each number.
func TestPayloadDoesNotGrowWithSeries(t *testing.T) {
	size := func(n int) int {
		srv := newServer(t, 1)
		rec := &recorder{next: http.DefaultTransport}
		y := siteSeries(n, 100, 20, 0, 123.456789, 5)
		tr := &Trainer{Site: "edge", Aggregator: Client{BaseURL: srv.URL, HTTP: &http.Client{Transport: rec}}, Model: "load", Epochs: 1,
			Source: func(context.Context) ([]float64, error) { return y, nil }}
		if _, _, err := tr.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		return len(rec.sent[1]) // the POST
	}
	small, large := size(500), size(5000)
	t.Logf("update size: %d bytes for 500 values, %d for 5,000", small, large)
	// Every number is a float64 in shortest form, at most 24 characters,
	// so the same parameter count can differ by a few bytes per number.
	if math.Abs(float64(large-small)) > 0.1*float64(small) {
		t.Errorf("update of %d bytes for 5,000 values vs %d for 500", large, small)
	}
}

func TestFedAvg(t *testing.T) {
	v := []float64{1.5, -2, 3}
	got, err := FedAvg([]Update{{Site: "a", Samples: 10, Params: v}, {Site: "b", Samples: 10, Params: v}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if got[i] != v[i] {
			t.Fatalf("average of identical vectors: %v, want %v", got, v)
		}
	}
	// Weighted by count: (100·[1, 0] + 300·[5, 4]) / 400 = [4, 3].
	got, err = FedAvg([]Update{{Site: "a", Samples: 100, Params: []float64{1, 0}}, {Site: "b", Samples: 300, Params: []float64{5, 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 4 || got[1] != 3 {
		t.Errorf("weighted average %v, want [4 3]", got)
	}
	bad := [][]Update{
		nil,
		{{Site: "a", Samples: 1, Params: []float64{1}}, {Site: "b", Samples: 1, Params: []float64{1, 2}}},
		{{Site: "a", Samples: 0, Params: []float64{1}}},
		{{Site: "a", Samples: 1, Params: []float64{math.NaN()}}},
	}
	for _, u := range bad {
		if _, err := FedAvg(u); err == nil {
			t.Errorf("FedAvg(%+v) succeeded", u)
		}
	}
}

func TestMergeHoltWinters(t *testing.T) {
	a := &forecast.HoltWinters{Season: 2, Seasonality: forecast.Additive, Alpha: 0.2, Beta: 0.1, Gamma: 0.4, Level: 10, Trend: 1, Seasonal: []float64{-1, 1}, N: 30}
	b := &forecast.HoltWinters{Season: 2, Seasonality: forecast.Additive, Alpha: 0.6, Beta: 0.3, Gamma: 0.0, Level: 30, Trend: -1, Seasonal: []float64{-3, 3}, N: 10}
	m, err := MergeHoltWinters([]SiteHoltWinters{{Samples: 30, Model: a}, {Samples: 10, Model: b}})
	if err != nil {
		t.Fatal(err)
	}
	// Weights 3/4 and 1/4.
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-12 }
	if !near(m.Alpha, 0.3) || !near(m.Beta, 0.15) || !near(m.Gamma, 0.3) || !near(m.Level, 15) || !near(m.Trend, 0.5) ||
		!near(m.Seasonal[0], -1.5) || !near(m.Seasonal[1], 1.5) || m.N != 40 {
		t.Errorf("merged %+v", m)
	}
	if _, err := m.Predict(2); err != nil {
		t.Errorf("merged model does not predict: %v", err)
	}
	c := &forecast.HoltWinters{Season: 3, Seasonal: []float64{0, 0, 0}}
	if _, err := MergeHoltWinters([]SiteHoltWinters{{Samples: 1, Model: a}, {Samples: 1, Model: c}}); err == nil {
		t.Error("merged models of different seasons")
	}
}

// TestAggregatorRejects covers the aggregator's refusals over HTTP.
func TestAggregatorRejects(t *testing.T) {
	srv := newServer(t, 2)
	net, _ := forecast.NewRNN(netConfig)
	good := Update{Site: "a", Round: 0, Samples: 10, Model: forecast.KindGRU, Shape: ShapeOf(net), Params: net.Weights(), Mean: 1, Std: 1}
	post := func(path string, body any) (int, string) {
		b, _ := json.Marshal(body)
		resp, err := http.Post(srv.URL+APIPrefix+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	stale := good
	stale.Round = 5
	short := good
	short.Params = short.Params[:3]
	short.Shape.Params = 3
	wrongShape := good
	wrongShape.Shape.Hidden = 9
	noSite := good
	noSite.Site = ""
	cases := []struct {
		name string
		path string
		body any
		code int
	}{
		{"stale round", "load/updates", stale, http.StatusConflict},
		{"short vector", "load/updates", short, http.StatusUnprocessableEntity},
		{"wrong shape", "load/updates", wrongShape, http.StatusUnprocessableEntity},
		{"no site", "load/updates", noSite, http.StatusUnprocessableEntity},
		{"unknown model", "other/updates", good, http.StatusNotFound},
		{"unknown field", "load/updates", map[string]any{"series": []float64{1}}, http.StatusBadRequest},
		{"aggregate with nothing pending", "load/aggregate", nil, http.StatusConflict},
		{"good", "load/updates", good, http.StatusAccepted},
		{"on-demand aggregate", "load/aggregate", nil, http.StatusOK},
		{"old round after averaging", "load/updates", good, http.StatusConflict},
	}
	for _, c := range cases {
		code, body := post(c.path, c.body)
		if code != c.code {
			t.Errorf("%s: status %d (%s), want %d", c.name, code, body, c.code)
		}
		if code >= 400 && !strings.Contains(body, `"status"`) {
			t.Errorf("%s: not a problem document: %s", c.name, body)
		}
	}
	resp, err := http.Get(srv.URL + APIPrefix + "load")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g GlobalModel
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
		t.Fatal(err)
	}
	if g.Round != 1 || len(g.Sites) != 1 || g.Sites[0] != "a" || g.Samples != 10 {
		t.Errorf("global after one on-demand round: %+v", g)
	}
	if _, err := forecast.Unmarshal(g.Model); err != nil {
		t.Errorf("global model does not load: %v", err)
	}
	var apiErr *httpapi.Error
	if _, err := NewAggregator(0); err == nil || errors.As(err, &apiErr) {
		t.Errorf("NewAggregator(0): %v", err)
	}
}
