package forecast

// The recurrent network forecaster: a one-layer GRU over a window of the
// normalised series, trained with Adam by back-propagation through time.
//
// Why the backward pass is written here and not taken from GoMLX (issue 8
// asked to evaluate GoMLX's pure-Go "simplego" backend first). Measured on
// this repository's 2-core build machine with Go 1.26 and GoMLX v0.26.0:
//   - it builds: a cold build of a test binary using it took 21 s (15 s for
//     this package without it), and it adds about 5.9 MB to a binary;
//   - GoMLX's own LSTM layer fails at the first training step with
//     `op "Pad" not implemented in SimpleGo`, and so does the gradient of
//     Slice, so a GRU cell had to be written from graph ops anyway, with one
//     matrix per gate;
//   - with the default backend configuration the first training step never
//     returned: simplego's worker pool deadlocks on 2 CPUs (every worker in
//     workersPool.WaitToStart, nested inside execDotGeneralLarge). Only
//     the non-default "go:parallelism=-1" or "go:ops_sequential" ran;
//   - it converged (MSE 2.25 → 0.0004 in 100 Adam steps on a sine) but a
//     step over 128 windows of 24 steps took 55 ms, about 0.43 ms per
//     window; this file's float64 BPTT takes about a tenth of that.
//
// A hang in the default configuration and an order of magnitude in speed
// outweigh the benefit of automatic differentiation for one small cell whose
// gradient is a page of algebra, so the gradient is written by hand and
// checked against finite differences (TestRNNGradientCheck). The linear
// algebra (matrix-vector products and rank-one updates) is gonum's BLAS.

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// RNNConfig is the shape and training plan of a GRU forecaster. Zero fields
// take the defaults documented on each.
type RNNConfig struct {
	// Season is the season length in steps (at least 1). With Season > 1
	// each input also carries the sine and cosine of the step's position
	// in the season.
	Season int `json:"season"`
	// Window is how many past values each prediction reads; default
	// max(2·Season, 24), at most MaxRNNWindow.
	Window int `json:"window"`
	// Hidden is the GRU's state size; default 16.
	Hidden int `json:"hidden"`
	// Epochs is the most passes over the training windows; default 60.
	Epochs int `json:"epochs"`
	// Patience stops training after this many epochs without a better
	// validation loss; default 8.
	Patience int `json:"patience"`
	// BatchSize is the number of windows per Adam step; default 32.
	BatchSize int `json:"batchSize"`
	// LearningRate is Adam's step size; default 0.01.
	LearningRate float64 `json:"learningRate"`
	// Seed makes initialisation and shuffling reproducible; 0 is a valid seed.
	Seed uint64 `json:"seed"`
}

// Limits and defaults of RNNConfig.
const (
	MaxRNNWindow  = 168 // a week of hours; longer windows make BPTT slow and unstable
	MaxRNNHidden  = 128
	minRNNTargets = 16 // fewest training windows Fit accepts
)

// withDefaults returns c with zero fields filled in, or an error naming a
// field that is out of range.
func (c RNNConfig) withDefaults() (RNNConfig, error) {
	if c.Season < 1 {
		return c, fmt.Errorf("forecast: gru: season length must be at least 1, got %d", c.Season)
	}
	if c.Window == 0 {
		c.Window = min(max(2*c.Season, 24), MaxRNNWindow)
	}
	if c.Hidden == 0 {
		c.Hidden = 16
	}
	if c.Epochs == 0 {
		c.Epochs = 60
	}
	if c.Patience == 0 {
		c.Patience = 8
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.LearningRate == 0 {
		c.LearningRate = 0.01
	}
	switch {
	case c.Window < 1 || c.Window > MaxRNNWindow:
		return c, fmt.Errorf("forecast: gru: window must be in [1, %d], got %d", MaxRNNWindow, c.Window)
	case c.Hidden < 1 || c.Hidden > MaxRNNHidden:
		return c, fmt.Errorf("forecast: gru: hidden size must be in [1, %d], got %d", MaxRNNHidden, c.Hidden)
	case c.Epochs < 0 || c.Patience < 0 || c.BatchSize < 1:
		return c, fmt.Errorf("forecast: gru: epochs, patience and batch size must be positive")
	case !(c.LearningRate > 0 && c.LearningRate < 1):
		return c, fmt.Errorf("forecast: gru: learning rate must be in (0, 1), got %v", c.LearningRate)
	}
	return c, nil
}

// features is the number of inputs per time step: the value, plus the
// seasonal position's sine and cosine when there is a season.
func (c RNNConfig) features() int {
	if c.Season > 1 {
		return 3
	}
	return 1
}

// RNN is a one-layer GRU forecaster. For input x (the normalised value and
// seasonal position) and state h, each step computes
//
//	z  = σ(W_z x + U_z h + b_z)          update gate
//	r  = σ(W_r x + U_r h + b_r)          reset gate
//	n  = tanh(W_n x + r ⊙ (U_n h) + b_n) candidate
//	h' = (1 − z) ⊙ n + z ⊙ h
//
// and after the window the prediction of the next normalised value is the
// last one plus w_o · h + b_o: the network learns the change, so an
// untrained network is the naive forecast rather than noise, and a level
// shift the window has seen is not pulled back to the training mean.
// Multi-step forecasts feed each prediction back in.
type RNN struct {
	Config RNNConfig `json:"config"`
	// Mean and Std normalise the series: the network sees (y − Mean) / Std.
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	// N is the number of observations fitted (it fixes the seasonal
	// position of the forecast steps).
	N int `json:"n"`
	// Last holds the last Window observations, oldest first; empty if the
	// network has not seen a series.
	Last []float64 `json:"last,omitempty"`
	// Weights are the parameters, see (*RNN).Weights for the layout.
	InputWeights     []float64 `json:"inputWeights"`     // 3·hidden × features, gates z, r, n
	RecurrentWeights []float64 `json:"recurrentWeights"` // 3·hidden × hidden
	Biases           []float64 `json:"biases"`           // 3·hidden
	OutputWeights    []float64 `json:"outputWeights"`    // hidden
	OutputBias       float64   `json:"outputBias"`
	// Training outcome, for reports.
	EpochsRun int     `json:"epochsRun"`
	TrainLoss float64 `json:"trainLoss"`
	ValidLoss float64 `json:"validLoss"`
	fitted    []float64
}

// NewRNN returns an untrained network of the given shape, its weights
// drawn from cfg.Seed.
func NewRNN(cfg RNNConfig) (*RNN, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &RNN{Config: cfg, Std: 1}
	m.initWeights()
	return m, nil
}

// Name implements Model.
func (*RNN) Name() string { return KindGRU }

// ParamCount is the length of the flat parameter vector.
func (m *RNN) ParamCount() int {
	h, f := m.Config.Hidden, m.Config.features()
	return 3*h*f + 3*h*h + 3*h + h + 1
}

// initWeights draws every weight uniformly from ±1/√hidden (the usual GRU
// initialisation) with the configured seed; biases start at zero.
func (m *RNN) initWeights() {
	h, f := m.Config.Hidden, m.Config.features()
	rng := rand.New(rand.NewPCG(m.Config.Seed, 0x9e3779b97f4a7c15))
	bound := 1 / math.Sqrt(float64(h))
	draw := func(n int) []float64 {
		w := make([]float64, n)
		for i := range w {
			w[i] = (2*rng.Float64() - 1) * bound
		}
		return w
	}
	m.InputWeights = draw(3 * h * f)
	m.RecurrentWeights = draw(3 * h * h)
	m.Biases = make([]float64, 3*h)
	m.OutputWeights = draw(h)
	m.OutputBias = 0
}

// Weights returns a copy of all parameters as one vector: input weights,
// recurrent weights, biases, output weights, output bias. Federated
// averaging works on this vector.
func (m *RNN) Weights() []float64 {
	out := make([]float64, 0, m.ParamCount())
	out = append(out, m.InputWeights...)
	out = append(out, m.RecurrentWeights...)
	out = append(out, m.Biases...)
	out = append(out, m.OutputWeights...)
	return append(out, m.OutputBias)
}

// SetWeights replaces all parameters with w, laid out as Weights returns
// them. It fails if the length does not match or a value is not finite.
func (m *RNN) SetWeights(w []float64) error {
	if len(w) != m.ParamCount() {
		return fmt.Errorf("forecast: gru: %d weights for a network of %d parameters (hidden %d, %d features)", len(w), m.ParamCount(), m.Config.Hidden, m.Config.features())
	}
	if err := checkSeries(w); err != nil {
		return fmt.Errorf("forecast: gru: weights: %w", err)
	}
	m.bind(append([]float64(nil), w...))
	return nil
}

// bind makes the weight fields views of w (no copy), so an optimiser
// stepping w updates the network; the output bias, a number, is read back
// by the caller.
func (m *RNN) bind(w []float64) {
	h, f := m.Config.Hidden, m.Config.features()
	take := func(n int) []float64 {
		out := w[:n:n]
		w = w[n:]
		return out
	}
	m.InputWeights = take(3 * h * f)
	m.RecurrentWeights = take(3 * h * h)
	m.Biases = take(3 * h)
	m.OutputWeights = take(h)
	m.OutputBias = w[0]
}

// minLength is the shortest series Fit accepts.
func (m *RNN) minLength() int { return m.Config.Window + minRNNTargets }

// checkFitInput validates the configuration and series.
func (m *RNN) checkFitInput(y []float64) error {
	cfg, err := m.Config.withDefaults()
	if err != nil {
		return err
	}
	m.Config = cfg
	if len(m.InputWeights) == 0 {
		m.initWeights()
	}
	if len(y) < m.minLength() {
		return fmt.Errorf("%w: gru with window %d needs at least %d values, got %d", ErrTooShort, cfg.Window, m.minLength(), len(y))
	}
	if err := checkSeries(y); err != nil {
		return fmt.Errorf("forecast: gru: %w", err)
	}
	return nil
}

// Fit trains the network from its seeded initial weights, so the same
// series always gives the same parameters. It fails with ErrTooShort below
// Window+16 values and ErrBadValue on NaN or infinity.
func (m *RNN) Fit(y []float64) error {
	if err := m.checkFitInput(y); err != nil {
		return err
	}
	m.initWeights()
	m.train(y, m.Config.Epochs)
	return nil
}

// FineTune trains for epochs passes starting from the current weights, with
// the series' own normalisation, and keeps the weights of the best
// validation loss. Federated sites use it to adapt the global network.
func (m *RNN) FineTune(y []float64, epochs int) error {
	if epochs < 1 {
		return fmt.Errorf("forecast: gru: fine-tune epochs must be at least 1, got %d", epochs)
	}
	if err := m.checkFitInput(y); err != nil {
		return err
	}
	m.train(y, epochs)
	return nil
}

// Observe takes y's normalisation, last window and in-sample predictions
// without training, so a network trained elsewhere (a federated global
// model) forecasts this series.
func (m *RNN) Observe(y []float64) error {
	if err := m.checkFitInput(y); err != nil {
		return err
	}
	m.setSeries(y)
	m.fitted = m.oneStepAhead(y)
	return nil
}

// setSeries sets the normalisation and the last window from y.
func (m *RNN) setSeries(y []float64) {
	mu := mean(y)
	v := 0.0
	for _, x := range y {
		v += (x - mu) * (x - mu)
	}
	std := math.Sqrt(v / float64(len(y)))
	if !(std > 1e-12*math.Max(1, math.Abs(mu))) {
		std = 1 // a constant series: shift only
	}
	m.Mean, m.Std, m.N = mu, std, len(y)
	m.Last = append([]float64(nil), y[len(y)-m.Config.Window:]...)
}

// Predict implements Model: one step at a time, each prediction becoming
// the newest input of the next.
func (m *RNN) Predict(h int) ([]float64, error) {
	if err := checkHorizon(h); err != nil {
		return nil, err
	}
	if len(m.Last) == 0 {
		return nil, ErrNotFitted
	}
	w := m.Config.Window
	hist := make([]float64, w, w+h)
	for i, v := range m.Last {
		hist[i] = (v - m.Mean) / m.Std
	}
	ws := m.newWorkspace()
	out := make([]float64, h)
	for k := range h {
		start := m.N - w + k // series index of hist[k]
		p := m.forward(ws, hist[k:k+w], start)
		hist = append(hist, p)
		out[k] = p*m.Std + m.Mean
	}
	return out, nil
}

// Fitted implements Model: one-step-ahead predictions, NaN for the first
// Window values. A loaded model returns nil.
func (m *RNN) Fitted() []float64 { return m.fitted }

// Params implements Model.
func (m *RNN) Params() map[string]float64 {
	return map[string]float64{
		"season":     float64(m.Config.Season),
		"window":     float64(m.Config.Window),
		"hidden":     float64(m.Config.Hidden),
		"epochs":     float64(m.EpochsRun),
		"train_loss": m.TrainLoss,
		"valid_loss": m.ValidLoss,
		"params":     float64(m.ParamCount()),
	}
}

// validate checks a loaded network's shapes and values.
func (m *RNN) validate() error {
	cfg, err := m.Config.withDefaults()
	if err != nil {
		return err
	}
	if cfg != m.Config {
		return fmt.Errorf("config has unset fields (window %d, hidden %d, epochs %d, patience %d, batch %d, learning rate %v)",
			m.Config.Window, m.Config.Hidden, m.Config.Epochs, m.Config.Patience, m.Config.BatchSize, m.Config.LearningRate)
	}
	h, f := cfg.Hidden, cfg.features()
	for _, s := range []struct {
		name string
		got  int
		want int
	}{
		{"inputWeights", len(m.InputWeights), 3 * h * f},
		{"recurrentWeights", len(m.RecurrentWeights), 3 * h * h},
		{"biases", len(m.Biases), 3 * h},
		{"outputWeights", len(m.OutputWeights), h},
	} {
		if s.got != s.want {
			return fmt.Errorf("%s has %d values, want %d for hidden %d and %d features", s.name, s.got, s.want, h, f)
		}
	}
	if err := checkSeries(m.Weights()); err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	if len(m.Last) == 0 {
		return nil // saved untrained or without a series
	}
	if len(m.Last) != cfg.Window {
		return fmt.Errorf("last has %d values for window %d", len(m.Last), cfg.Window)
	}
	if m.N < cfg.Window {
		return fmt.Errorf("n = %d is less than the window %d", m.N, cfg.Window)
	}
	if !(m.Std > 0) || math.IsInf(m.Std, 0) || math.IsNaN(m.Mean) || math.IsInf(m.Mean, 0) {
		return fmt.Errorf("normalisation mean %v, std %v is not usable", m.Mean, m.Std)
	}
	return checkSeries(m.Last)
}

// workspace holds the per-step activations of one window, reused across
// windows so training allocates nothing per window.
type workspace struct {
	x       [][]float64 // features per step
	h       [][]float64 // h[t] is the state before step t; h[W] the last
	z, r, n [][]float64
	uh      [][]float64 // U·h[t] (3·hidden), kept for the backward pass
	pre     []float64   // W·x + b scratch
	dh, dhp []float64
	da      []float64 // gradient of the three pre-activations (z, r, U_n h)
	dxa     []float64 // gradient of the W·x part (z, r, n)
}

func (m *RNN) newWorkspace() *workspace {
	w, h, f := m.Config.Window, m.Config.Hidden, m.Config.features()
	grid := func(rows, cols int) [][]float64 {
		out := make([][]float64, rows)
		for i := range out {
			out[i] = make([]float64, cols)
		}
		return out
	}
	return &workspace{
		x: grid(w, f), h: grid(w+1, h), z: grid(w, h), r: grid(w, h), n: grid(w, h), uh: grid(w, 3*h),
		pre: make([]float64, 3*h), dh: make([]float64, h), dhp: make([]float64, h),
		da: make([]float64, 3*h), dxa: make([]float64, 3*h),
	}
}

// setFeatures fills ws.x for a window of normalised values whose first
// element is series index start.
func (m *RNN) setFeatures(ws *workspace, window []float64, start int) {
	season := m.Config.Season
	for t, v := range window {
		ws.x[t][0] = v
		if season > 1 {
			phase := 2 * math.Pi * float64(((start+t)%season+season)%season) / float64(season)
			ws.x[t][1], ws.x[t][2] = math.Sin(phase), math.Cos(phase)
		}
	}
}

// general views a row-major slice as a BLAS matrix.
func general(rows, cols int, data []float64) blas64.General {
	return blas64.General{Rows: rows, Cols: cols, Stride: cols, Data: data}
}

func vec(data []float64) blas64.Vector { return blas64.Vector{N: len(data), Inc: 1, Data: data} }

// forward runs the GRU over one window of normalised values (series index
// of the first: start) and returns the normalised prediction of the value
// after it. Activations stay in ws for backward.
func (m *RNN) forward(ws *workspace, window []float64, start int) float64 {
	hid, f := m.Config.Hidden, m.Config.features()
	m.setFeatures(ws, window, start)
	W := general(3*hid, f, m.InputWeights)
	U := general(3*hid, hid, m.RecurrentWeights)
	clear(ws.h[0])
	for t := range window {
		copy(ws.pre, m.Biases)
		blas64.Gemv(blas.NoTrans, 1, W, vec(ws.x[t]), 1, vec(ws.pre))
		blas64.Gemv(blas.NoTrans, 1, U, vec(ws.h[t]), 0, vec(ws.uh[t]))
		hPrev, hNext := ws.h[t], ws.h[t+1]
		z, r, n, uh := ws.z[t], ws.r[t], ws.n[t], ws.uh[t]
		for j := range hid {
			z[j] = logistic(ws.pre[j] + uh[j])
			r[j] = logistic(ws.pre[hid+j] + uh[hid+j])
			n[j] = math.Tanh(ws.pre[2*hid+j] + r[j]*uh[2*hid+j])
			hNext[j] = (1-z[j])*n[j] + z[j]*hPrev[j]
		}
	}
	out := window[len(window)-1] + m.OutputBias
	for j, w := range m.OutputWeights {
		out += w * ws.h[len(window)][j]
	}
	return out
}

// backward adds to grad (laid out as Weights) the gradient of
// dOut·prediction for the window last passed to forward: back-propagation
// through time.
func (m *RNN) backward(ws *workspace, dOut float64, grad []float64) {
	hid, f, win := m.Config.Hidden, m.Config.features(), m.Config.Window
	gW := general(3*hid, f, grad[:3*hid*f])
	gU := general(3*hid, hid, grad[3*hid*f:3*hid*f+3*hid*hid])
	gB := grad[3*hid*f+3*hid*hid : 3*hid*f+3*hid*hid+3*hid]
	gO := grad[len(grad)-hid-1 : len(grad)-1]
	grad[len(grad)-1] += dOut
	U := general(3*hid, hid, m.RecurrentWeights)
	for j := range hid {
		gO[j] += dOut * ws.h[win][j]
		ws.dh[j] = dOut * m.OutputWeights[j]
	}
	for t := win - 1; t >= 0; t-- {
		hPrev := ws.h[t]
		z, r, n, uh := ws.z[t], ws.r[t], ws.n[t], ws.uh[t]
		for j := range hid {
			dh := ws.dh[j]
			dn := dh * (1 - z[j]) * (1 - n[j]*n[j]) // through tanh
			dz := dh * (hPrev[j] - n[j]) * z[j] * (1 - z[j])
			dr := dn * uh[2*hid+j] * r[j] * (1 - r[j])
			ws.dxa[j], ws.dxa[hid+j], ws.dxa[2*hid+j] = dz, dr, dn
			ws.da[j], ws.da[hid+j], ws.da[2*hid+j] = dz, dr, dn*r[j]
			ws.dhp[j] = dh * z[j]
		}
		blas64.Ger(1, vec(ws.dxa), vec(ws.x[t]), gW)
		blas64.Ger(1, vec(ws.da), vec(hPrev), gU)
		for i, v := range ws.dxa {
			gB[i] += v
		}
		blas64.Gemv(blas.Trans, 1, U, vec(ws.da), 1, vec(ws.dhp))
		ws.dh, ws.dhp = ws.dhp, ws.dh
	}
}

// oneStepAhead returns the in-sample one-step predictions of y, NaN for
// the first Window values.
func (m *RNN) oneStepAhead(y []float64) []float64 {
	w := m.Config.Window
	norm := m.normalise(y)
	out := make([]float64, len(y))
	ws := m.newWorkspace()
	for t := range out {
		if t < w {
			out[t] = math.NaN()
			continue
		}
		out[t] = m.forward(ws, norm[t-w:t], t-w)*m.Std + m.Mean
	}
	return out
}

func (m *RNN) normalise(y []float64) []float64 {
	out := make([]float64, len(y))
	for i, v := range y {
		out[i] = (v - m.Mean) / m.Std
	}
	return out
}
