package federated

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/learning/backtest"
	"github.com/cloudskin/cloudskin/learning/forecast"
)

// dailyLoad is an hourly load of days days: a base level, a peak of the
// given height around peakHour (a bell three hours wide), noise of the
// given spread, and, when marker is not 0, that value in the middle.
func dailyLoad(days int, level, peak, peakHour, noise, marker float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 7))
	y := make([]float64, days*24)
	for i := range y {
		d := math.Abs(float64(i%24) - peakHour)
		d = math.Min(d, 24-d) // hours from the peak, around midnight too
		y[i] = level + peak*math.Exp(-d*d/18) + noise*rng.NormFloat64()
	}
	if marker != 0 {
		y[len(y)/2] = marker
	}
	return y
}

// hwServer serves an aggregator holding the Holt-Winters model "daily"
// of the given kind and season; it merges once minSites sites sent theirs.
func hwServer(t *testing.T, minSites int, seasonality forecast.Seasonality, season int) (*Aggregator, Client) {
	t.Helper()
	agg, err := NewAggregator(minSites)
	if err != nil {
		t.Fatal(err)
	}
	if err := agg.RegisterHoltWinters("daily", seasonality, season); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	agg.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return agg, Client{BaseURL: srv.URL, HTTP: srv.Client()}
}

func seriesSource(y []float64) Source {
	return func(context.Context) ([]float64, error) { return y, nil }
}

// fitHW fits a Holt-Winters model of season 24 on y.
func fitHW(t *testing.T, seasonality forecast.Seasonality, y []float64) *forecast.HoltWinters {
	t.Helper()
	m := &forecast.HoltWinters{Season: 24, Seasonality: seasonality}
	if err := m.Fit(y); err != nil {
		t.Fatal(err)
	}
	return m
}

func maeOf(t *testing.T, m forecast.Model, tail []float64) float64 {
	t.Helper()
	pred, err := m.Predict(len(tail))
	if err != nil {
		t.Fatal(err)
	}
	mae, err := backtest.MAE(tail, pred)
	if err != nil {
		t.Fatal(err)
	}
	return mae
}

// Two sites with different daily shapes (a morning peak at 100 requests,
// an evening one at 30) and the same season send one round each; the
// global model is MergeHoltWinters of their fits, which is the
// sample-weighted mean of every number, and its forecasts on each site's
// held-out last day are reported.
func TestHoltWintersRoundMergesTheSitesFits(t *testing.T) {
	for _, seasonality := range []forecast.Seasonality{forecast.Additive, forecast.Multiplicative} {
		t.Run(string(seasonality), func(t *testing.T) {
			_, cl := hwServer(t, 2, seasonality, 24)
			full := map[string][]float64{
				"edge-a": dailyLoad(20, 100, 60, 9, 3, 0, 1),
				"edge-b": dailyLoad(12, 30, 25, 20, 1.5, 0, 2),
			}
			sites := []string{"edge-a", "edge-b"}
			train, tail := map[string][]float64{}, map[string][]float64{}
			for _, s := range sites {
				y := full[s]
				train[s], tail[s] = y[:len(y)-24], y[len(y)-24:]
			}
			for i, s := range sites {
				tr := &Trainer{Site: s, Aggregator: cl, Model: "daily", Source: seriesSource(train[s])}
				u, acc, err := tr.Round(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if u.Samples != len(train[s]) || u.Params != nil || u.HoltWinters == nil || acc.Averaged != (i == 1) {
					t.Fatalf("%s sent %+v, answer %+v", s, u, acc)
				}
			}
			g, err := cl.Global(t.Context(), "daily")
			if err != nil {
				t.Fatal(err)
			}
			wantKind := forecast.KindHoltWinters
			if seasonality == forecast.Multiplicative {
				wantKind = forecast.KindHoltWintersMul
			}
			if g.Kind != wantKind || g.Round != 1 || !slices.Equal(g.Sites, sites) || g.Samples != 456+264 || g.Shape != (Shape{Season: 24}) {
				t.Fatalf("global after one round: %+v", g)
			}
			global, err := g.HoltWinters()
			if err != nil {
				t.Fatal(err)
			}

			// The same merge, done here from the sites' own fits.
			local := map[string]*forecast.HoltWinters{}
			var fits []SiteHoltWinters
			for _, s := range sites {
				local[s] = fitHW(t, seasonality, train[s])
				fits = append(fits, SiteHoltWinters{Samples: len(train[s]), Model: HoltWintersStateOf(local[s]).model(24, seasonality)})
			}
			direct, err := MergeHoltWinters(fits)
			if err != nil {
				t.Fatal(err)
			}
			if global.Alpha != direct.Alpha || global.Beta != direct.Beta || global.Gamma != direct.Gamma ||
				global.Level != direct.Level || global.Trend != direct.Trend || !slices.Equal(global.Seasonal, direct.Seasonal) ||
				global.Seasonality != seasonality || global.SSE != 0 || global.N != 0 {
				t.Fatalf("served global model %+v\nMergeHoltWinters       %+v", global, direct)
			}
			// And by hand: weights 456/720 and 264/720.
			a, b := local["edge-a"], local["edge-b"]
			wa, wb := 456.0/720, 264.0/720
			near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-12*math.Max(1, math.Abs(want)) }
			for _, p := range []struct {
				name        string
				got, fa, fb float64
			}{{"alpha", global.Alpha, a.Alpha, b.Alpha}, {"beta", global.Beta, a.Beta, b.Beta}, {"gamma", global.Gamma, a.Gamma, b.Gamma},
				{"level", global.Level, a.Level, b.Level}, {"trend", global.Trend, a.Trend, b.Trend}} {
				if !near(p.got, wa*p.fa+wb*p.fb) {
					t.Errorf("global %s %v, want %v·%v + %v·%v", p.name, p.got, wa, p.fa, wb, p.fb)
				}
			}
			for j := range global.Seasonal {
				if want := wa*a.Seasonal[j] + wb*b.Seasonal[j]; !near(global.Seasonal[j], want) {
					t.Errorf("global seasonal[%d] %v, want %v", j, global.Seasonal[j], want)
				}
			}

			// Forecasts of each site's held-out day.
			for _, s := range sites {
				own := maeOf(t, local[s], tail[s])
				adopted, err := HoltWintersForSite(global, train[s])
				if err != nil {
					t.Fatal(err)
				}
				withGlobal := maeOf(t, adopted, tail[s])
				asMerged := maeOf(t, global, tail[s])
				naive := &forecast.SeasonalNaive{Season: 24}
				if err := naive.Fit(train[s]); err != nil {
					t.Fatal(err)
				}
				seasonalNaive := maeOf(t, naive, tail[s])
				t.Logf("%s, held-out day MAE: own fit %.3g (α %.3f β %.3f γ %.3f), global α β γ over its series %.3g (α %.3f β %.3f γ %.3f), merged state as is %.3g, seasonal naive %.3g",
					s, own, local[s].Alpha, local[s].Beta, local[s].Gamma, withGlobal, global.Alpha, global.Beta, global.Gamma, asMerged, seasonalNaive)
				if adopted.Alpha != global.Alpha || adopted.Beta != global.Beta || adopted.Gamma != global.Gamma {
					t.Errorf("%s: the adopted model has α β γ %v %v %v, want the global ones", s, adopted.Alpha, adopted.Beta, adopted.Gamma)
				}
				// The global parameters over the site's own series forecast
				// about as well as its own fit and better than repeating the
				// last day; the merged state, a typical site's, does not
				// describe either site.
				if withGlobal > 1.5*own || withGlobal > seasonalNaive {
					t.Errorf("%s: global parameters forecast with MAE %.3g, own fit %.3g, seasonal naive %.3g", s, withGlobal, own, seasonalNaive)
				}
				if asMerged < 2*own {
					t.Errorf("%s: the merged state forecasts with MAE %.3g, own fit %.3g: the sites are not different enough to show it", s, asMerged, own)
				}
			}
		})
	}
}

// hwRequests is what a site sent: each request's bytes and the decoded
// JSON body of each update.
func hwRequests(t *testing.T, rec *recorder) (all [][]byte, updates []map[string]any) {
	t.Helper()
	for _, req := range rec.sent {
		all = append(all, req)
		if !bytes.HasPrefix(req, []byte("POST ")) {
			continue
		}
		body := req[bytes.IndexByte(req, '{'):] // the recorder writes the headers, then the body
		var u map[string]any
		if err := json.Unmarshal(body, &u); err != nil {
			t.Fatalf("update body %q: %v", body, err)
		}
		updates = append(updates, u)
	}
	return all, updates
}

// numbers collects every number in a decoded JSON value.
func numbers(v any, out *[]float64) {
	switch v := v.(type) {
	case float64:
		*out = append(*out, v)
	case []any:
		for _, e := range v {
			numbers(e, out)
		}
	case map[string]any:
		for _, e := range v {
			numbers(e, out)
		}
	}
}

// TestHoltWintersRawTelemetryNeverLeavesTheSite runs three sites of a
// Holt-Winters model against an aggregator over loopback and checks every
// byte they send: no observation, as text or as a number, and an update
// made of the fitted state and the sample count only.
func TestHoltWintersRawTelemetryNeverLeavesTheSite(t *testing.T) {
	_, cl := hwServer(t, 3, forecast.Additive, 24)
	series := map[string][]float64{
		"edge-a": dailyLoad(14, 12000, 900, 9, 40, 12345.678, 1),
		"edge-b": dailyLoad(10, 40, 12, 19, 0.8, 47.110815, 2),
		"edge-c": dailyLoad(21, 0.9, 0.2, 13, 0.01, 0.81234567, 3),
	}
	sites := slices.Sorted(maps.Keys(series))
	recorders := map[string]*recorder{}
	for _, s := range sites {
		recorders[s] = &recorder{next: http.DefaultTransport}
	}
	const rounds = 2
	for round := range rounds {
		for i, s := range sites {
			tr := &Trainer{Site: s, Aggregator: Client{BaseURL: cl.BaseURL, HTTP: &http.Client{Transport: recorders[s]}}, Model: "daily", Source: seriesSource(series[s])}
			u, acc, err := tr.Round(t.Context())
			if err != nil {
				t.Fatalf("round %d, %s: %v", round, s, err)
			}
			if u.Round != round || acc.Averaged != (i == len(sites)-1) {
				t.Fatalf("round %d, %s: sent for round %d, answer %+v", round, s, u.Round, acc)
			}
		}
	}
	observed := map[float64]string{}
	var forms []string
	for _, s := range sites {
		for _, v := range series[s] {
			observed[v] = s
			forms = append(forms, strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	for _, s := range sites {
		all, updates := hwRequests(t, recorders[s])
		if len(all) != 2*rounds || len(updates) != rounds {
			t.Fatalf("%s sent %d requests (%d updates), want a GET and a POST per round", s, len(all), len(updates))
		}
		for _, req := range all {
			for _, f := range forms {
				if bytes.Contains(req, []byte(f)) {
					t.Fatalf("a request of %s contains %s, an observation", s, f)
				}
			}
		}
		for _, u := range updates {
			var nums []float64
			numbers(u, &nums)
			for _, v := range nums {
				if owner, ok := observed[v]; ok {
					t.Fatalf("an update of %s holds %v, an observation of %s", s, v, owner)
				}
			}
			// The fitted state and the sample count, nothing else.
			if keys := slices.Sorted(maps.Keys(u)); !slices.Equal(keys, []string{"holtWinters", "model", "round", "samples", "shape", "site"}) {
				t.Errorf("%s's update has fields %v", s, keys)
			}
			hw := u["holtWinters"].(map[string]any)
			if keys := slices.Sorted(maps.Keys(hw)); !slices.Equal(keys, []string{"alpha", "beta", "gamma", "level", "seasonal", "trend"}) {
				t.Errorf("%s's holtWinters has fields %v", s, keys)
			}
			if n := len(hw["seasonal"].([]any)); n != 24 || len(nums) != 5+24+3 {
				t.Errorf("%s's update holds %d numbers, %d seasonal indices; want 5 + 24 and round, samples and season", s, len(nums), n)
			}
			if u["samples"].(float64) != float64(len(series[s])) {
				t.Errorf("%s sent samples %v, want %d", s, u["samples"], len(series[s]))
			}
		}
	}
	for _, marker := range []string{"12345.678", "47.110815", "0.81234567"} {
		for _, rec := range recorders {
			for _, req := range rec.sent {
				if strings.Contains(string(req), marker) {
					t.Fatalf("marker %s left a site", marker)
				}
			}
		}
	}
}

// A site with ten times the history sends an update of the same size, up
// to the digits of each number.
func TestHoltWintersPayloadDoesNotGrowWithSeries(t *testing.T) {
	size := func(days int) int {
		_, cl := hwServer(t, 1, forecast.Additive, 24)
		rec := &recorder{next: http.DefaultTransport}
		tr := &Trainer{Site: "edge", Aggregator: Client{BaseURL: cl.BaseURL, HTTP: &http.Client{Transport: rec}}, Model: "daily",
			Source: seriesSource(dailyLoad(days, 100, 50, 12, 4, 0, 5))}
		if _, _, err := tr.Round(t.Context()); err != nil {
			t.Fatal(err)
		}
		return len(rec.sent[1])
	}
	small, large := size(7), size(70)
	t.Logf("update size: %d bytes for 7 days of hours, %d for 70", small, large)
	if math.Abs(float64(large-small)) > 0.1*float64(small) {
		t.Errorf("update of %d bytes for 70 days vs %d for 7", large, small)
	}
}

// hwUpdate is a well-formed update of season 4, weight 100.
func hwUpdate(site string, round int) Update {
	return Update{Site: site, Round: round, Samples: 100, Model: forecast.KindHoltWinters, Shape: Shape{Season: 4},
		HoltWinters: &HoltWintersState{Alpha: 0.3, Beta: 0.05, Gamma: 0.2, Level: 50, Trend: 0.1, Seasonal: []float64{-5, 2, 6, -3}}}
}

// Bad updates and bad models are refused with a 422 that names the
// field, and malformed JSON with a 400, over HTTP and through the Go API.
func TestHoltWintersRefusals(t *testing.T) {
	agg, err := NewAggregator(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := agg.RegisterHoltWinters("daily", forecast.Additive, 4); err != nil {
		t.Fatal(err)
	}
	if err := agg.RegisterHoltWinters("ratio", forecast.Multiplicative, 4); err != nil {
		t.Fatal(err)
	}
	if err := agg.Register("net", netConfig); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	agg.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	with := func(change func(u *Update)) Update {
		u := hwUpdate("edge-1", 0)
		st := *u.HoltWinters
		st.Seasonal = slices.Clone(st.Seasonal)
		u.HoltWinters = &st
		change(&u)
		return u
	}
	mul := with(func(u *Update) {
		u.Model = forecast.KindHoltWintersMul
		u.HoltWinters.Seasonal = []float64{0.9, 1.2, 0, 0.9}
	})
	updates := []struct {
		name, model string
		u           Update
		mention     string
	}{
		{"wrong season", "daily", with(func(u *Update) { u.Shape.Season = 24 }), "shape.season is 24, the model's season is 4"},
		{"network shape", "daily", with(func(u *Update) { u.Shape.Hidden = 8 }), "shape:"},
		{"alpha above 1", "daily", with(func(u *Update) { u.HoltWinters.Alpha = 1.5 }), "holtWinters.alpha = 1.5 is outside [0, 1]"},
		{"beta below 0", "daily", with(func(u *Update) { u.HoltWinters.Beta = -0.01 }), "holtWinters.beta = -0.01 is outside [0, 1]"},
		{"gamma NaN", "daily", with(func(u *Update) { u.HoltWinters.Gamma = math.NaN() }), "holtWinters.gamma is NaN"},
		{"level infinite", "daily", with(func(u *Update) { u.HoltWinters.Level = math.Inf(1) }), "holtWinters.level is +Inf"},
		{"trend NaN", "daily", with(func(u *Update) { u.HoltWinters.Trend = math.NaN() }), "holtWinters.trend is NaN"},
		{"seasonal too short", "daily", with(func(u *Update) { u.HoltWinters.Seasonal = u.HoltWinters.Seasonal[:3] }), "holtWinters.seasonal has 3 indices, the season is 4"},
		{"seasonal too long", "daily", with(func(u *Update) { u.HoltWinters.Seasonal = append(u.HoltWinters.Seasonal, 1) }), "holtWinters.seasonal has 5 indices"},
		{"seasonal infinite", "daily", with(func(u *Update) { u.HoltWinters.Seasonal[2] = math.Inf(-1) }), "holtWinters.seasonal[2] is -Inf"},
		{"multiplicative index 0", "ratio", mul, "holtWinters.seasonal[2] = 0: multiplicative"},
		{"no state", "daily", with(func(u *Update) { u.HoltWinters = nil }), "holtWinters is missing"},
		{"a parameter vector", "daily", with(func(u *Update) { u.Params = []float64{1} }), "params:"},
		{"a normalisation", "daily", with(func(u *Update) { u.Std = 1 }), "mean, std:"},
		{"too few samples", "daily", with(func(u *Update) { u.Samples = 8 }), "samples is 8, fewer than the 9"},
		{"no samples", "daily", with(func(u *Update) { u.Samples = 0 }), "samples is 0"},
		{"other seasonality", "daily", mul, `model is "holt-winters-mul", the model's kind is "holt-winters"`},
		{"no site", "daily", with(func(u *Update) { u.Site = "" }), "no site"},
		{"network update of a Holt-Winters model", "daily", update(t, "edge-1", 0, 0), `model is "gru"`},
		{"Holt-Winters state in a network update", "net", func() Update { u := update(t, "edge-1", 0, 0); u.HoltWinters = hwUpdate("x", 0).HoltWinters; return u }(), "holtWinters is for Holt-Winters models"},
	}
	for _, c := range updates {
		_, err := agg.Submit(c.model, c.u)
		var apiErr *httpapi.Error
		if !errors.As(err, &apiErr) || apiErr.Code != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("%s: %v, want a 422 that says %q", c.name, err, c.mention)
		}
	}

	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+APIPrefix+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	put := func(path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, srv.URL+APIPrefix+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	good, _ := json.Marshal(hwUpdate("edge-1", 0))
	raw := func(old, new string) string { return strings.Replace(string(good), old, new, 1) }
	overHTTP := []struct {
		name, method, path, body string
		code                     int
		mention                  string
	}{
		{"NaN as a JSON literal", "POST", "daily/updates", raw(`"alpha":0.3`, `"alpha":NaN`), 400, "invalid character"},
		{"a number no float64 holds", "POST", "daily/updates", raw(`"level":50`, `"level":1e999`), 400, "holtWinters.level"},
		{"a string for a parameter", "POST", "daily/updates", raw(`"gamma":0.2`, `"gamma":"0.2"`), 400, "holtWinters.gamma"},
		{"observations sent along", "POST", "daily/updates", raw(`"alpha"`, `"observations":[1,2],"alpha"`), 400, `unknown field "observations"`},
		{"residuals sent along", "POST", "daily/updates", raw(`"model"`, `"residuals":[0.1],"model"`), 400, `unknown field "residuals"`},
		{"alpha above 1", "POST", "daily/updates", raw(`"alpha":0.3`, `"alpha":2`), 422, "holtWinters.alpha = 2 is outside [0, 1]"},
		{"wrong season", "POST", "daily/updates", raw(`"shape":{"season":4}`, `"shape":{"season":7}`), 422, "shape.season is 7"},
		{"unknown kind", "PUT", "odd", `{"kind": "arima", "season": 4}`, 422, `kind "arima"`},
		{"a network setting", "PUT", "odd", `{"kind": "holt-winters", "season": 4, "hidden": 8}`, 422, "hidden is not a setting of a holt-winters model"},
		{"season 0", "PUT", "odd", `{"kind": "holt-winters-mul", "season": 0}`, 422, "season must be 1 to 10080, got 0"},
		{"season too long", "PUT", "odd", `{"kind": "holt-winters", "season": 10081}`, 422, "season must be 1 to 10080"},
		{"a name in use", "PUT", "daily", `{"kind": "holt-winters", "season": 4}`, 409, "already registered"},
		{"good", "POST", "daily/updates", string(good), 202, ""},
	}
	for _, c := range overHTTP {
		do := post
		if c.method == "PUT" {
			do = put
		}
		code, body := do(c.path, c.body)
		if code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.code)
		}
		if code < 400 {
			continue
		}
		var problem struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal([]byte(body), &problem); err != nil || problem.Status != code || !strings.Contains(problem.Detail, c.mention) {
			t.Errorf("%s: %s, want a problem document saying %q", c.name, body, c.mention)
		}
	}
}

// The Go client cannot send NaN at all: encoding/json refuses it, so a
// site's bad fit fails at the site.
func TestHoltWintersClientRefusesNaN(t *testing.T) {
	_, cl := hwServer(t, 1, forecast.Additive, 4)
	u := hwUpdate("edge-1", 0)
	u.HoltWinters.Level = math.NaN()
	if _, err := cl.Submit(t.Context(), "daily", u); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("submit of a NaN level: %v", err)
	}
}

// An aggregator restarted on the same store file goes on with the same
// Holt-Winters model, round and pending update.
func TestHoltWintersAggregatorSurvivesARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	start := func() (*Aggregator, func()) { return aggregatorOn(t, path) }
	a, stop := start()
	if err := a.RegisterHoltWinters("daily", forecast.Additive, 4); err != nil {
		t.Fatal(err)
	}
	for _, u := range []Update{hwUpdate("a", 0), hwUpdate("b", 0), hwUpdate("c", 1)} {
		if _, err := a.Submit("daily", u); err != nil {
			t.Fatal(err)
		}
	}
	before, err := a.Global("daily")
	if err != nil {
		t.Fatal(err)
	}
	stop()

	a, stop = start()
	defer stop()
	after, err := a.Global("daily")
	if err != nil {
		t.Fatal(err)
	}
	if after.Kind != forecast.KindHoltWinters || after.Round != 1 || !slices.Equal(after.Sites, before.Sites) || !bytes.Equal(after.Model, before.Model) {
		t.Fatalf("after the restart: %+v\nbefore: %+v", after, before)
	}
	d := hwUpdate("d", 1)
	d.HoltWinters.Level = 70
	acc, err := a.Submit("daily", d)
	if err != nil || !acc.Averaged {
		t.Fatalf("d's update after the restart: %+v, %v; want round 1 merged with c's pending update", acc, err)
	}
	g, _ := a.Global("daily")
	hw, err := g.HoltWinters()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Sites, []string{"c", "d"}) || hw.Level != 60 {
		t.Fatalf("round 2: sites %v, level %v; want c and d, level (50 + 70) / 2", g.Sites, hw.Level)
	}
}

// The round-0 model is unfitted: it has a season and nothing to forecast
// with, and says so.
func TestHoltWintersRoundZeroIsNotMerged(t *testing.T) {
	_, cl := hwServer(t, 2, forecast.Multiplicative, 24)
	g, err := cl.Global(t.Context(), "daily")
	if err != nil {
		t.Fatal(err)
	}
	if g.Kind != forecast.KindHoltWintersMul || g.Round != 0 || g.Shape != (Shape{Season: 24}) {
		t.Fatalf("round 0: %+v", g)
	}
	if _, err := g.HoltWinters(); !errors.Is(err, ErrNotMerged) {
		t.Errorf("HoltWinters of round 0: %v, want ErrNotMerged", err)
	}
	list, err := cl.List(t.Context())
	if err != nil || len(list) != 1 || list[0].Kind != forecast.KindHoltWintersMul || list[0].Model != nil {
		t.Errorf("list: %+v, %v", list, err)
	}
	if _, err := list[0].HoltWinters(); err == nil {
		t.Error("HoltWinters of a list item, which has no model: no error")
	}
	net, err := newServerGlobal(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.HoltWinters(); err == nil || !strings.Contains(err.Error(), "not Holt-Winters") {
		t.Errorf("HoltWinters of a network: %v", err)
	}
}

func newServerGlobal(t *testing.T) (GlobalModel, error) {
	srv := newServer(t, 1)
	g, err := Client{BaseURL: srv.URL, HTTP: srv.Client()}.Global(t.Context(), "load")
	if g.Kind != forecast.KindGRU {
		t.Errorf("a network's kind: %q", g.Kind)
	}
	return g, err
}

// FitWith at the parameters Fit found reproduces Fit's state exactly, and
// refuses parameters outside [0, 1].
func TestFitWithReproducesFit(t *testing.T) {
	y := dailyLoad(10, 100, 50, 12, 4, 0, 9)
	fit := fitHW(t, forecast.Additive, y)
	again := &forecast.HoltWinters{Season: 24}
	if err := again.FitWith(y, fit.Alpha, fit.Beta, fit.Gamma); err != nil {
		t.Fatal(err)
	}
	if again.Level != fit.Level || again.Trend != fit.Trend || !slices.Equal(again.Seasonal, fit.Seasonal) || again.SSE != fit.SSE || again.N != fit.N {
		t.Errorf("FitWith at the fitted parameters: %+v\nFit: %+v", again, fit)
	}
	for _, p := range [][3]float64{{1.1, 0.1, 0.1}, {0.1, -0.1, 0.1}, {0.1, 0.1, math.NaN()}} {
		if err := again.FitWith(y, p[0], p[1], p[2]); err == nil {
			t.Errorf("FitWith(%v) succeeded", p)
		}
	}
	if err := again.FitWith(y[:30], 0.1, 0.1, 0.1); !errors.Is(err, forecast.ErrTooShort) {
		t.Errorf("FitWith on 30 values of season 24: %v", err)
	}
}

// CompareHoltWinters back-tests both on the same plan and promotes the
// global parameters only when they are better; absurd ones are not.
func TestCompareHoltWinters(t *testing.T) {
	y := dailyLoad(20, 100, 60, 9, 3, 0, 1)
	cfg, err := backtest.LastOrigins(len(y), 24, 24, 24, 5, backtest.MinTrain(24))
	if err != nil {
		t.Fatal(err)
	}
	good := fitHW(t, forecast.Additive, dailyLoad(20, 30, 25, 20, 1.5, 0, 2))
	absurd := &forecast.HoltWinters{Season: 24, Alpha: 1, Beta: 1, Gamma: 1, Seasonal: make([]float64, 24)}
	for _, c := range []struct {
		name   string
		global *forecast.HoltWinters
	}{{"another site's fit", good}, {"α = β = γ = 1", absurd}} {
		cmp, err := CompareHoltWinters(y, c.global, cfg, backtest.ByMASE)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: local MASE %.3f, global %.3f: %s", c.name, cmp.Local.Mean.MASE, cmp.Global.Mean.MASE, cmp.Decision.Reason)
		if cmp.Local.Model != LabelLocal || cmp.Global.Model != LabelGlobal || len(cmp.Local.Origins) != 5 || len(cmp.Global.Origins) != 5 {
			t.Errorf("%s: results %q and %q over %d and %d origins", c.name, cmp.Local.Model, cmp.Global.Model, len(cmp.Local.Origins), len(cmp.Global.Origins))
		}
		if cmp.Decision.Promote != (cmp.Global.Mean.MASE < cmp.Local.Mean.MASE) {
			t.Errorf("%s: decision %+v for MASE %v (global) vs %v (local)", c.name, cmp.Decision, cmp.Global.Mean.MASE, cmp.Local.Mean.MASE)
		}
	}
	if cmp, _ := CompareHoltWinters(y, absurd, cfg, backtest.ByMASE); cmp.Decision.Promote {
		t.Errorf("α = β = γ = 1 promoted: %s", cmp.Decision.Reason)
	}
	if _, err := CompareHoltWinters(y, &forecast.HoltWinters{Season: 24}, cfg, backtest.ByMASE); !errors.Is(err, ErrNotMerged) {
		t.Errorf("an unmerged global: %v", err)
	}
	other := *good
	other.Season = 12
	if _, err := CompareHoltWinters(y, &other, cfg, backtest.ByMASE); err == nil || !strings.Contains(err.Error(), "season") {
		t.Errorf("a global of another season: %v", err)
	}
}

// BenchmarkHoltWintersRound measures one site's round over loopback:
// fetch the global model, fit 30 days of hours, send the state.
func BenchmarkHoltWintersRound(b *testing.B) {
	agg, err := NewAggregator(1)
	if err != nil {
		b.Fatal(err)
	}
	if err := agg.RegisterHoltWinters("daily", forecast.Additive, 24); err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	agg.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tr := &Trainer{Site: "bench", Aggregator: Client{BaseURL: srv.URL, HTTP: srv.Client()}, Model: "daily",
		Source: seriesSource(dailyLoad(30, 100, 50, 12, 4, 0, 3))}
	for b.Loop() {
		if _, _, err := tr.Round(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompareHoltWinters measures what `lp federated train` adds
// after a round: a back-test of 30 days of hours at 10 origins, local fit
// against global parameters.
func BenchmarkCompareHoltWinters(b *testing.B) {
	y := dailyLoad(30, 100, 50, 12, 4, 0, 3)
	global := &forecast.HoltWinters{Season: 24}
	if err := global.Fit(dailyLoad(30, 40, 20, 18, 2, 0, 4)); err != nil {
		b.Fatal(err)
	}
	cfg, err := backtest.LastOrigins(len(y), 24, 24, 24, 10, backtest.MinTrain(24))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := CompareHoltWinters(y, global, cfg, backtest.ByMASE); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzHoltWintersUpdate sends arbitrary updates to a Holt-Winters model:
// every answer is a 202, 400, 409 or 422 (never a 500 or a panic), and an
// accepted one merges into a global model that loads and forecasts.
func FuzzHoltWintersUpdate(f *testing.F) {
	good, _ := json.Marshal(hwUpdate("edge-1", 0))
	f.Add(good)
	f.Add([]byte(strings.Replace(string(good), `"alpha":0.3`, `"alpha":1.7`, 1)))
	f.Add([]byte(strings.Replace(string(good), `"seasonal":[-5,2,6,-3]`, `"seasonal":[1e308,1e308,-1e308,1]`, 1)))
	f.Add([]byte(strings.Replace(string(good), `"level":50`, `"level":1e308`, 1)))
	f.Add([]byte(strings.Replace(string(good), `"round":0`, `"round":3`, 1)))
	f.Add([]byte(`{"site":"e","samples":9,"model":"holt-winters","shape":{"season":4},"holtWinters":{"alpha":0,"beta":0,"gamma":0,"level":0,"trend":0,"seasonal":[0,0,0,0]}}`))
	f.Add([]byte(`{"site":"e","samples":1,"model":"gru","shape":{"season":4},"params":[1],"std":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		agg, err := NewAggregator(1)
		if err != nil {
			t.Fatal(err)
		}
		if err := agg.RegisterHoltWinters("daily", forecast.Additive, 4); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		agg.Mount(mux)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, APIPrefix+"daily/updates", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusAccepted:
			g, err := agg.Global("daily")
			if err != nil {
				t.Fatal(err)
			}
			hw, err := g.HoltWinters()
			if err != nil {
				t.Fatalf("accepted %s, then the global model: %v", body, err)
			}
			if g.Round != 1 || hw.Alpha < 0 || hw.Alpha > 1 || hw.Beta < 0 || hw.Beta > 1 || hw.Gamma < 0 || hw.Gamma > 1 {
				t.Fatalf("accepted %s, global %+v", body, hw)
			}
			if _, err := hw.Predict(8); err != nil {
				t.Fatalf("accepted %s, the global model does not forecast: %v", body, err)
			}
		case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
			if g, _ := agg.Global("daily"); g.Round != 0 {
				t.Fatalf("refused with %d, yet the round moved", rec.Code)
			}
		default:
			t.Fatalf("POST %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}
