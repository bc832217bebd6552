package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// simulateHW draws a series from the Holt-Winters recursions themselves with
// Gaussian one-step errors (its state-space form), so the true α, β, γ are
// known.
func simulateHW(n, m int, seas Seasonality, alpha, beta, gamma, sigma float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	level, trend := 100.0, 0.02
	if seas == Multiplicative {
		level = 1000 // far from zero, so the random walk stays positive
	}
	s := make([]float64, m)
	for i := range s {
		if seas == Multiplicative {
			s[i] = 1 + 0.3*math.Sin(2*math.Pi*float64(i)/float64(m))
		} else {
			s[i] = 20 * math.Sin(2*math.Pi*float64(i)/float64(m))
		}
	}
	y := make([]float64, n)
	for t := range y {
		si := s[t%m]
		var pred float64
		if seas == Multiplicative {
			pred = (level + trend) * si
		} else {
			pred = level + trend + si
		}
		y[t] = pred + sigma*rng.NormFloat64()
		var nl float64
		if seas == Multiplicative {
			nl = alpha*y[t]/si + (1-alpha)*(level+trend)
			s[t%m] = gamma*y[t]/nl + (1-gamma)*si
		} else {
			nl = alpha*(y[t]-si) + (1-alpha)*(level+trend)
			s[t%m] = gamma*(y[t]-nl) + (1-gamma)*si
		}
		trend = beta*(nl-level) + (1-beta)*trend
		level = nl
	}
	return y
}

func TestHoltWintersRecoversKnownParameters(t *testing.T) {
	cases := []struct {
		seas               Seasonality
		alpha, beta, gamma float64
		sigma              float64
	}{
		{Additive, 0.3, 0.05, 0.2, 1},
		{Additive, 0.7, 0.2, 0.5, 2},
		{Multiplicative, 0.4, 0.1, 0.3, 1},
	}
	for _, c := range cases {
		y := simulateHW(3000, 12, c.seas, c.alpha, c.beta, c.gamma, c.sigma, 7)
		hw := &HoltWinters{Season: 12, Seasonality: c.seas}
		if err := hw.Fit(y); err != nil {
			t.Fatalf("%s: %v", c.seas, err)
		}
		// One-step SSE identifies α well, β and γ less so: tolerances are
		// set to what 3000 noisy points can resolve, but they are far tighter
		// than the gaps between the cases, so a wrong recursion fails.
		for _, p := range []struct {
			name      string
			got, want float64
			tol       float64
		}{
			{"alpha", hw.Alpha, c.alpha, 0.05},
			{"beta", hw.Beta, c.beta, 0.05},
			{"gamma", hw.Gamma, c.gamma, 0.1},
		} {
			if math.Abs(p.got-p.want) > p.tol {
				t.Errorf("%s α=%v β=%v γ=%v: fitted %s = %.3f, want %.3f ± %v", c.seas, c.alpha, c.beta, c.gamma, p.name, p.got, p.want, p.tol)
			}
		}
	}
}

func TestHoltWintersForecastsNoiselessTrendAndSeason(t *testing.T) {
	pattern := []float64{5, -3, 8, 0, -10, 0, 0}
	f := func(i int) float64 { return 50 + 0.5*float64(i) + pattern[i%7] }
	y := make([]float64, 140)
	for i := range y {
		y[i] = f(i)
	}
	hw, _ := New(KindHoltWinters, 7)
	if err := hw.Fit(y); err != nil {
		t.Fatal(err)
	}
	got, err := hw.Predict(14)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range got {
		if want := f(len(y) + k); math.Abs(v-want) > 1e-3 {
			t.Fatalf("step %d: forecast %v, want %v (params %v)", k+1, v, want, hw.Params())
		}
	}
}

func TestMultiplicativeScalesSeasonWithLevel(t *testing.T) {
	// Seasonal swings proportional to a rising level: multiplicative fits
	// them exactly, additive cannot.
	y := make([]float64, 120)
	f := func(i int) float64 { return (100 + 2*float64(i)) * (1 + 0.5*math.Sin(2*math.Pi*float64(i)/12)) }
	for i := range y {
		y[i] = f(i)
	}
	sse := map[string]float64{}
	for _, kind := range []string{KindHoltWinters, KindHoltWintersMul} {
		m, _ := New(kind, 12)
		if err := m.Fit(y); err != nil {
			t.Fatal(err)
		}
		pred, _ := m.Predict(12)
		for k, v := range pred {
			d := v - f(len(y)+k)
			sse[kind] += d * d
		}
	}
	if !(sse[KindHoltWintersMul] < sse[KindHoltWinters]/10) {
		t.Fatalf("out-of-sample SSE multiplicative %v, additive %v: multiplicative should be far better", sse[KindHoltWintersMul], sse[KindHoltWinters])
	}
}

func TestSeasonalNaiveRepeatsLastSeason(t *testing.T) {
	m, _ := New(KindSeasonalNaive, 3)
	if err := m.Fit([]float64{1, 2, 3, 4, 5, 6, 7}); err != nil {
		t.Fatal(err)
	}
	got, _ := m.Predict(5)
	want := []float64{5, 6, 7, 5, 6}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("forecast %v, want %v", got, want)
		}
	}
	fitted := m.Fitted()
	if !math.IsNaN(fitted[2]) || fitted[3] != 1 || fitted[6] != 4 {
		t.Fatalf("fitted %v: want NaN for the first season, then y[t-3]", fitted)
	}
}

func TestBadInputIsAnError(t *testing.T) {
	cases := []struct {
		name   string
		kind   string
		season int
		y      []float64
		want   error
	}{
		{"too short for two seasons", KindHoltWinters, 7, make([]float64, 14), ErrTooShort},
		{"too short for naive", KindSeasonalNaive, 7, make([]float64, 7), ErrTooShort},
		{"NaN", KindHoltWinters, 2, []float64{1, 2, 3, math.NaN(), 5, 6}, ErrBadValue},
		{"Inf", KindSeasonalNaive, 1, []float64{1, math.Inf(1)}, ErrBadValue},
		{"zero for multiplicative", KindHoltWintersMul, 2, []float64{1, 2, 0, 4, 5, 6}, ErrBadValue},
	}
	for _, c := range cases {
		m, err := New(c.kind, c.season)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Fit(c.y); !errors.Is(err, c.want) {
			t.Errorf("%s: Fit error %v, want %v", c.name, err, c.want)
		}
		if _, err := m.Predict(1); !errors.Is(err, ErrNotFitted) {
			t.Errorf("%s: Predict after failed fit: %v, want ErrNotFitted", c.name, err)
		}
	}
	if _, err := New("arima", 7); err == nil {
		t.Error("New(arima) succeeded")
	}
	if _, err := New(KindHoltWinters, 0); err == nil {
		t.Error("New with season 0 succeeded")
	}
	m, _ := New(KindSeasonalNaive, 1)
	_ = m.Fit([]float64{1, 2})
	if _, err := m.Predict(0); err == nil {
		t.Error("Predict(0) succeeded")
	}
}

func TestSaveLoadPredictsTheSame(t *testing.T) {
	y := simulateHW(300, 12, Multiplicative, 0.4, 0.1, 0.3, 1, 3)
	for _, kind := range Kinds() {
		m, _ := New(kind, 12)
		if err := m.Fit(y); err != nil {
			t.Fatal(err)
		}
		data, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v\n%s", kind, err, data)
		}
		if back.Name() != kind {
			t.Fatalf("loaded %s as %s", kind, back.Name())
		}
		a, _ := m.Predict(30)
		b, _ := back.Predict(30)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s step %d: %v before save, %v after", kind, i, a[i], b[i])
			}
		}
	}
}

func TestLoadRejectsInconsistentState(t *testing.T) {
	bad := []string{
		`not json`,
		`{"model":"holt-winters","version":2,"state":{}}`,
		`{"model":"lstm","version":1,"state":{}}`,
		`{"model":"holt-winters","version":1}`,
		`{"model":"holt-winters","version":1,"state":{"season":3,"seasonality":"additive","seasonal":[1,2]}}`,
		`{"model":"holt-winters","version":1,"state":{"season":2,"seasonality":"multiplicative","seasonal":[1,2]}}`,
		`{"model":"holt-winters","version":1,"state":{"season":2,"alpha":7,"seasonal":[1,2]}}`,
		`{"model":"seasonal-naive","version":1,"state":{"season":0}}`,
		`{"model":"seasonal-naive","version":1,"state":{"season":3,"last":[1]}}`,
	}
	for _, s := range bad {
		if m, err := Unmarshal([]byte(s)); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", s, m)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	m, _ := New(KindHoltWinters, 2)
	_ = m.Fit([]float64{1, 2, 3, 4, 5, 6, 7})
	good, _ := Marshal(m)
	f.Add(good)
	f.Add([]byte(`{"model":"seasonal-naive","version":1,"state":{"season":2,"last":[1,2]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			return
		}
		if _, err := m.Predict(5); err != nil && !errors.Is(err, ErrNotFitted) {
			t.Fatalf("loaded model fails to predict: %v", err)
		}
	})
}

func BenchmarkHoltWintersFit(b *testing.B) {
	y := simulateHW(2900, 7, Additive, 0.3, 0.05, 0.2, 1, 1)
	for b.Loop() {
		hw := &HoltWinters{Season: 7}
		if err := hw.Fit(y); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFormatDocExampleLoads keeps docs/formats/learning-model.md honest.
func TestFormatDocExampleLoads(t *testing.T) {
	doc := `{"model":"holt-winters","version":1,"state":{"season":2,"seasonality":"additive",
 "alpha":0.52,"beta":0.03,"gamma":0.2,"level":6.5,"trend":1,"seasonal":[-0.5,0.5],"sse":0.04,"n":7}}`
	m, err := Unmarshal([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := m.Predict(3)
	if want := []float64{7, 9, 9}; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("forecast %v, want %v (level + k·trend + seasonal[(k-1) mod 2])", got, want)
	}
}
