package forecast

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// seasonalSeries is a noiseless series with a season of 12 steps and a
// second harmonic, around a level of 50.
func seasonalSeries(n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		p := 2 * math.Pi * float64(i) / 12
		y[i] = 50 + 10*math.Sin(p) + 4*math.Cos(2*p)
	}
	return y
}

// TestRNNGradientCheck compares the hand-written back-propagation with
// central finite differences of the squared error on every parameter.
func TestRNNGradientCheck(t *testing.T) {
	for _, season := range []int{1, 3} {
		m, err := NewRNN(RNNConfig{Season: season, Window: 5, Hidden: 4, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		// Larger than initial weights, so every gate is away from 0.5.
		rng := rand.New(rand.NewPCG(1, 2))
		w := m.Weights()
		for i := range w {
			w[i] = rng.NormFloat64() * 0.8
		}
		if err := m.SetWeights(w); err != nil {
			t.Fatal(err)
		}
		window := []float64{0.3, -1.2, 0.8, 0.1, -0.4}
		const target, start = 0.25, 4
		ws := m.newWorkspace()
		lossAt := func(w []float64) float64 {
			if err := m.SetWeights(w); err != nil {
				t.Fatal(err)
			}
			d := m.forward(ws, window, start) - target
			return 0.5 * d * d
		}
		grad := make([]float64, len(w))
		_ = lossAt(w)
		m.backward(ws, m.forward(ws, window, start)-target, grad)
		const eps = 1e-6
		for i := range w {
			plus, minus := append([]float64(nil), w...), append([]float64(nil), w...)
			plus[i] += eps
			minus[i] -= eps
			numeric := (lossAt(plus) - lossAt(minus)) / (2 * eps)
			if diff := math.Abs(numeric - grad[i]); diff > 1e-7*math.Max(1, math.Abs(numeric)) {
				t.Errorf("season %d: parameter %d: backward %.10g, finite difference %.10g", season, i, grad[i], numeric)
			}
		}
	}
}

// TestRNNLearnsSeasonalSeries: on a noiseless seasonal series the network's
// 24-step forecast must be far better than the mean forecast. The MASE is
// scaled by the in-sample naive (lag 1) error: for this series the mean
// forecast scores about 1.9 and a perfect one 0, so 0.1 asks the network
// to remove 95% of the mean forecast's error.
func TestRNNLearnsSeasonalSeries(t *testing.T) {
	y := seasonalSeries(424)
	train, test := y[:400], y[400:]
	m, err := NewRNN(RNNConfig{Season: 12, Epochs: 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Fit(train); err != nil {
		t.Fatal(err)
	}
	pred, err := m.Predict(len(test))
	if err != nil {
		t.Fatal(err)
	}
	scale := 0.0
	for i := 1; i < len(train); i++ {
		scale += math.Abs(train[i] - train[i-1])
	}
	scale /= float64(len(train) - 1)
	mu := mean(train)
	var maeNet, maeMean float64
	for i := range test {
		maeNet += math.Abs(pred[i]-test[i]) / float64(len(test))
		maeMean += math.Abs(mu-test[i]) / float64(len(test))
	}
	t.Logf("MASE: network %.3f, mean forecast %.3f (%d epochs, valid loss %.2g)", maeNet/scale, maeMean/scale, m.EpochsRun, m.ValidLoss)
	if maeNet/scale > 0.1 {
		t.Errorf("network MASE %.3f, want < 0.1 (mean forecast: %.3f)", maeNet/scale, maeMean/scale)
	}
	fitted := m.Fitted()
	if len(fitted) != len(train) || !math.IsNaN(fitted[m.Config.Window-1]) || math.IsNaN(fitted[m.Config.Window]) {
		t.Errorf("Fitted: want %d values, NaN exactly for the first %d", len(train), m.Config.Window)
	}
	p := m.Params()
	if p["params"] != float64(len(m.Weights())) || p["window"] != 24 || p["hidden"] != 16 || p["epochs"] != float64(m.EpochsRun) {
		t.Errorf("Params %v disagree with the network", p)
	}
}

func TestRNNFitIsDeterministic(t *testing.T) {
	y := seasonalSeries(200)
	fit := func() *RNN {
		m, _ := NewRNN(RNNConfig{Season: 12, Epochs: 5})
		if err := m.Fit(y); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := fit(), fit()
	wa, wb := a.Weights(), b.Weights()
	for i := range wa {
		if wa[i] != wb[i] {
			t.Fatalf("weight %d differs between two fits: %v, %v", i, wa[i], wb[i])
		}
	}
	// Refitting the same model starts again from the seed.
	if err := a.Fit(y); err != nil {
		t.Fatal(err)
	}
	pa, _ := a.Predict(10)
	pb, _ := b.Predict(10)
	for i := range pa {
		if pa[i] != pb[i] {
			t.Fatalf("refit forecast step %d: %v, want %v", i, pa[i], pb[i])
		}
	}
}

func TestRNNSaveLoadRoundTrip(t *testing.T) {
	m, _ := NewRNN(RNNConfig{Season: 12, Epochs: 3})
	if err := m.Fit(seasonalSeries(150)); err != nil {
		t.Fatal(err)
	}
	data, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	a, _ := m.Predict(30)
	b, _ := back.Predict(30)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: %v before save, %v after", i, a[i], b[i])
		}
	}
	// An untrained network saves and loads too, and is not fitted.
	fresh, _ := New(KindGRU, 7)
	data, _ = Marshal(fresh)
	loaded, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loaded.Predict(1); !errors.Is(err, ErrNotFitted) {
		t.Errorf("untrained network predicts: %v", err)
	}
}

func TestRNNLoadRejectsWrongShapes(t *testing.T) {
	m, _ := NewRNN(RNNConfig{Season: 3, Window: 4, Hidden: 2, Epochs: 2})
	if err := m.Fit(seasonalSeries(40)); err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(m)
	mutate := func(field string, v any) string {
		var st map[string]any
		_ = json.Unmarshal(good, &st)
		st[field] = v
		b, _ := json.Marshal(st)
		return `{"model":"gru","version":1,"state":` + string(b) + `}`
	}
	cases := map[string]string{
		"inputWeights":     mutate("inputWeights", []float64{1, 2}),
		"recurrentWeights": mutate("recurrentWeights", []float64{}),
		"outputWeights":    mutate("outputWeights", []float64{1, 2, 3}),
		"last":             mutate("last", []float64{1}),
		"std":              mutate("std", 0),
		"season":           mutate("config", map[string]any{"season": 0}),
		"window":           mutate("config", map[string]any{"season": 3, "window": 1000, "hidden": 2}),
	}
	for want, doc := range cases {
		_, err := Unmarshal([]byte(doc))
		if err == nil {
			t.Errorf("%s: loaded a broken network", want)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not name the field", want, err)
		}
	}
}

func TestRNNBadInput(t *testing.T) {
	m, _ := NewRNN(RNNConfig{Season: 7}) // window 24, needs 40 values
	if err := m.Fit(make([]float64, 39)); !errors.Is(err, ErrTooShort) {
		t.Errorf("39 values: %v, want ErrTooShort", err)
	}
	y := seasonalSeries(60)
	y[30] = math.NaN()
	if err := m.Fit(y); !errors.Is(err, ErrBadValue) {
		t.Errorf("NaN: %v, want ErrBadValue", err)
	}
	y[30] = math.Inf(-1)
	if err := m.FineTune(y, 1); !errors.Is(err, ErrBadValue) {
		t.Errorf("FineTune with -Inf: %v, want ErrBadValue", err)
	}
	if _, err := m.Predict(3); !errors.Is(err, ErrNotFitted) {
		t.Errorf("Predict after failed fits: %v, want ErrNotFitted", err)
	}
	if err := m.SetWeights([]float64{1, 2, 3}); err == nil {
		t.Error("SetWeights accepted 3 weights")
	}
	w := m.Weights()
	w[5] = math.NaN()
	if err := m.SetWeights(w); !errors.Is(err, ErrBadValue) {
		t.Errorf("SetWeights with NaN: %v, want ErrBadValue", err)
	}
	for _, cfg := range []RNNConfig{{Season: 0}, {Season: 1, Window: MaxRNNWindow + 1}, {Season: 1, Hidden: -1}, {Season: 1, LearningRate: 2}} {
		if _, err := NewRNN(cfg); err == nil {
			t.Errorf("NewRNN(%+v) succeeded", cfg)
		}
	}
}

// TestRNNObserveKeepsWeights: Observe adapts a trained network to another
// series (its scale and last window) without changing a weight.
func TestRNNObserveKeepsWeights(t *testing.T) {
	m, _ := NewRNN(RNNConfig{Season: 12, Epochs: 20})
	if err := m.Fit(seasonalSeries(300)); err != nil {
		t.Fatal(err)
	}
	before := m.Weights()
	// The same shape at ten times the scale.
	other := seasonalSeries(300)
	for i := range other {
		other[i] *= 10
	}
	if err := m.Observe(other); err != nil {
		t.Fatal(err)
	}
	after := m.Weights()
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("Observe changed weight %d", i)
		}
	}
	pred, _ := m.Predict(1)
	if math.Abs(pred[0]-10*seasonalSeries(301)[300]) > 10*2 {
		t.Errorf("forecast %v of the scaled series, want near %v", pred[0], 10*seasonalSeries(301)[300])
	}
}

func BenchmarkRNNFit(b *testing.B) {
	y := seasonalSeries(1000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range y {
		y[i] += rng.NormFloat64()
	}
	for b.Loop() {
		m, _ := NewRNN(RNNConfig{Season: 12})
		if err := m.Fit(y); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.EpochsRun), "epochs")
	}
}

// FuzzRNNUnmarshal: no saved network, however broken, panics on load or
// on forecasting.
func FuzzRNNUnmarshal(f *testing.F) {
	m, _ := NewRNN(RNNConfig{Season: 3, Window: 4, Hidden: 2, Epochs: 2})
	_ = m.Fit(seasonalSeries(40))
	good, _ := Marshal(m)
	f.Add(good)
	fresh, _ := NewRNN(RNNConfig{Season: 1, Window: 2, Hidden: 1})
	untrained, _ := Marshal(fresh)
	f.Add(untrained)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Unmarshal(data)
		if err != nil {
			return
		}
		if _, err := m.Predict(3); err != nil && !errors.Is(err, ErrNotFitted) {
			t.Fatalf("loaded model fails to predict: %v", err)
		}
	})
}
