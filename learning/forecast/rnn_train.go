package forecast

import (
	"math"
	"math/rand/v2"
)

// Training constants that are not worth a configuration field.
const (
	rnnValidFraction = 0.1 // the held-out tail used for early stopping
	rnnClipNorm      = 1.0 // gradients longer than this are scaled down (exploding BPTT gradients)
	adamBeta1        = 0.9
	adamBeta2        = 0.999
	adamEpsilon      = 1e-8
)

// train runs up to epochs passes of mini-batch Adam over the windows of y,
// starting from the current weights, and keeps the weights with the lowest
// loss on the held-out tail (the start counts, so fine-tuning never makes
// the network worse on that tail). Everything random comes from the
// configured seed, so a run is reproducible bit for bit.
func (m *RNN) train(y []float64, epochs int) {
	m.setSeries(y)
	w := m.Config.Window
	norm := m.normalise(y)
	targets := len(y) - w // window i is norm[i:i+w], target norm[i+w]
	nValid := max(1, int(rnnValidFraction*float64(targets)))
	trainIdx := make([]int, targets-nValid)
	for i := range trainIdx {
		trainIdx[i] = i
	}
	validIdx := make([]int, nValid)
	for i := range validIdx {
		validIdx[i] = targets - nValid + i
	}

	params := m.Weights()
	m.bind(params)
	ws := m.newWorkspace()
	rng := rand.New(rand.NewPCG(m.Config.Seed, 0x2545f4914f6cdd1d))
	opt := newAdam(m.ParamCount(), m.Config.LearningRate)
	grad := make([]float64, m.ParamCount())

	best, bestLoss := m.Weights(), m.loss(ws, norm, validIdx)
	trainLoss, sinceBest, run := math.NaN(), 0, 0
	for run < epochs && sinceBest < m.Config.Patience {
		run++
		rng.Shuffle(len(trainIdx), func(i, j int) { trainIdx[i], trainIdx[j] = trainIdx[j], trainIdx[i] })
		sum := 0.0
		for b := 0; b < len(trainIdx); b += m.Config.BatchSize {
			batch := trainIdx[b:min(b+m.Config.BatchSize, len(trainIdx))]
			clear(grad)
			for _, i := range batch {
				d := m.forward(ws, norm[i:i+w], i) - norm[i+w]
				sum += d * d
				m.backward(ws, d/float64(len(batch)), grad)
			}
			clipNorm(grad, rnnClipNorm)
			opt.step(params, grad)
			m.OutputBias = params[len(params)-1]
		}
		trainLoss = sum / float64(len(trainIdx))
		if v := m.loss(ws, norm, validIdx); v < bestLoss {
			best, bestLoss, sinceBest = m.Weights(), v, 0
		} else {
			sinceBest++
		}
	}
	m.bind(best)
	m.EpochsRun, m.TrainLoss, m.ValidLoss = run, trainLoss, bestLoss
	m.fitted = m.oneStepAhead(y)
}

// loss is the mean squared one-step error (normalised units) over the
// windows starting at idx.
func (m *RNN) loss(ws *workspace, norm []float64, idx []int) float64 {
	w := m.Config.Window
	sum := 0.0
	for _, i := range idx {
		d := m.forward(ws, norm[i:i+w], i) - norm[i+w]
		sum += d * d
	}
	return sum / float64(len(idx))
}

// clipNorm scales g down to Euclidean length at most limit.
func clipNorm(g []float64, limit float64) {
	s := 0.0
	for _, v := range g {
		s += v * v
	}
	if n := math.Sqrt(s); n > limit {
		for i := range g {
			g[i] *= limit / n
		}
	}
}

// adam is the Adam optimiser (Kingma & Ba 2015) over one flat vector.
type adam struct {
	rate  float64
	steps int
	m, v  []float64
}

func newAdam(n int, rate float64) *adam {
	return &adam{rate: rate, m: make([]float64, n), v: make([]float64, n)}
}

// step moves w against the gradient g.
func (a *adam) step(w, g []float64) {
	a.steps++
	c1 := 1 - math.Pow(adamBeta1, float64(a.steps))
	c2 := 1 - math.Pow(adamBeta2, float64(a.steps))
	for i := range w {
		a.m[i] = adamBeta1*a.m[i] + (1-adamBeta1)*g[i]
		a.v[i] = adamBeta2*a.v[i] + (1-adamBeta2)*g[i]*g[i]
		w[i] -= a.rate * (a.m[i] / c1) / (math.Sqrt(a.v[i]/c2) + adamEpsilon)
	}
}
