// Package qos predicts the QoS a block would reach at a site (its fps, its
// latency...) from the block's profile and the site's state: the Learning
// Plane's QoS predictor, trained on observed placements, which lets the
// placement ranking score a site where the block never ran.
//
// The model is ridge regression on standardised features, one model per
// metric: small, explainable (one coefficient per feature), and well
// behaved on the few dozen to few thousand samples a continuum gathers,
// where features are correlated (a big site has many cores and many free
// ones). Its penalty is chosen by leave-one-out error from a fixed grid,
// and its error is estimated by leaving out one site at a time when there
// are at least three sites (the question it answers is "what at a site I
// have not seen?"), so the confidence it reports is honest about
// extrapolation. The linear algebra is gonum's (a Cholesky solve of a
// feature-sized system); the rest is a few lines, which is why no machine
// learning library is used. The model is pure: no clocks, no randomness,
// no I/O.
package qos

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// Features describe one placement: the block's profile and the site's
// state at the time. NaN means unknown; an unknown feature is replaced by
// its mean over the training samples (so it pushes the prediction
// neither way) and lowers the prediction's confidence.
type Features struct {
	// CPUMillicores and MemoryBytes are one replica's profile.
	CPUMillicores float64
	MemoryBytes   float64
	// SiteCores is the site's CPU capacity, SiteFreeCores what its cells
	// do not use, SiteCells how many cells it runs.
	SiteCores     float64
	SiteFreeCores float64
	SiteCells     float64
	// Edge is 1 at an edge site, 0 at a cloud site.
	Edge float64
	// DataLatencyMs is the latency from the site to the application's
	// data source.
	DataLatencyMs float64
}

// FeatureNames are the features in the order of Features' fields and of
// the saved model's arrays.
var FeatureNames = []string{"cpu_millicores", "memory_bytes", "site_cores", "site_free_cores", "site_cells", "edge", "data_latency_ms"}

func (f Features) vector() []float64 {
	return []float64{f.CPUMillicores, f.MemoryBytes, f.SiteCores, f.SiteFreeCores, f.SiteCells, f.Edge, f.DataLatencyMs}
}

// Unknown returns features that are all unknown.
func Unknown() Features {
	n := math.NaN()
	return Features{n, n, n, n, n, n, n}
}

// Sample is one observed placement: the features at the time and the mean
// of the metric observed then.
type Sample struct {
	Features Features
	Value    float64
	// Group names where the sample was observed (a site); the error
	// estimate leaves out one group at a time.
	Group string
}

// MinSamples is the fewest samples Fit accepts: below it the error
// estimate, and so the confidence, would mean nothing.
const MinSamples = 10

// ErrTooFewSamples is returned by Fit when there are fewer than MinSamples
// usable samples.
var ErrTooFewSamples = errors.New("qos: too few samples")

// lambdas are the ridge penalties tried, per sample (the penalty added to
// the diagonal is lambda·n, so the choice does not depend on how many
// samples there are).
var lambdas = []float64{1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1}

// Model is a fitted predictor of one metric.
type Model struct {
	// Metric is what the model predicts (fps, latency_ms...).
	Metric string
	// Mean and Scale standardise each feature (z = (x-Mean)/Scale); a
	// feature that did not vary in training has Scale 0 and no weight.
	Mean, Scale []float64
	// Coef are the weights of the standardised features; Intercept is
	// the mean of the target.
	Coef      []float64
	Intercept float64
	// Lambda is the chosen penalty per sample.
	Lambda float64
	// Samples and Groups count what the model was fitted on.
	Samples, Groups int
	// ErrorRMSE is the cross-validated root mean squared error, by
	// CrossValidation ("leave-one-site-out" or "leave-one-out").
	ErrorRMSE       float64
	CrossValidation string
	// TargetMean and TargetStd describe the training targets.
	TargetMean, TargetStd float64
}

// Fit trains a model of metric on samples. Samples whose value is not
// finite are skipped; features may be NaN (unknown).
func Fit(metric string, samples []Sample) (*Model, error) {
	var clean []Sample
	for _, s := range samples {
		if !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) && finiteOrNaN(s.Features.vector()) {
			clean = append(clean, s)
		}
	}
	if len(clean) < MinSamples {
		return nil, fmt.Errorf("%w: %s has %d usable samples, need at least %d", ErrTooFewSamples, metric, len(clean), MinSamples)
	}
	m := &Model{Metric: metric, Samples: len(clean), Groups: countGroups(clean)}
	x, y := m.design(clean)
	best := math.Inf(1)
	for _, l := range lambdas {
		fit, err := solve(x, y, l)
		if err != nil {
			return nil, fmt.Errorf("qos: fit %s: %w", metric, err)
		}
		if loo := fit.looRMSE(x, y); loo < best {
			best, m.Lambda, m.Coef = loo, l, fit.coef
		}
	}
	for j, sc := range m.Scale {
		if sc == 0 {
			m.Coef[j] = 0 // no spread, no weight, whatever rounding left
		}
	}
	m.ErrorRMSE, m.CrossValidation = best, "leave-one-out"
	if m.Groups >= 3 {
		logo, err := leaveOneGroupOut(x, y, clean, m.Lambda)
		if err != nil {
			return nil, fmt.Errorf("qos: fit %s: %w", metric, err)
		}
		m.ErrorRMSE, m.CrossValidation = logo, "leave-one-site-out"
	}
	return m, nil
}

// design sets the standardisation from the samples and returns the
// standardised feature matrix and the centred targets.
func (m *Model) design(samples []Sample) (*mat.Dense, []float64) {
	p := len(FeatureNames)
	m.Mean, m.Scale = make([]float64, p), make([]float64, p)
	for j := range p {
		var col []float64
		for _, s := range samples {
			if v := s.Features.vector()[j]; !math.IsNaN(v) {
				col = append(col, v)
			}
		}
		m.Mean[j], m.Scale[j] = meanStd(col)
	}
	var ys []float64
	for _, s := range samples {
		ys = append(ys, s.Value)
	}
	m.TargetMean, m.TargetStd = meanStd(ys)
	m.Intercept = m.TargetMean
	x := mat.NewDense(len(samples), p, nil)
	y := make([]float64, len(samples))
	for i, s := range samples {
		z, _ := m.standardise(s.Features)
		x.SetRow(i, z)
		y[i] = s.Value - m.TargetMean
	}
	return x, y
}

// standardise returns z-scores and the fraction of the features that
// were known (of those the model uses).
func (m *Model) standardise(f Features) ([]float64, float64) {
	v := f.vector()
	z := make([]float64, len(v))
	used, known := 0, 0
	for j, x := range v {
		if m.Scale[j] == 0 {
			continue
		}
		used++
		if math.IsNaN(x) {
			continue // the mean: z = 0
		}
		known++
		z[j] = (x - m.Mean[j]) / m.Scale[j]
	}
	if used == 0 {
		return z, 1
	}
	return z, float64(known) / float64(used)
}

// ridge is one solved penalised least-squares system.
type ridge struct {
	coef []float64
	chol *mat.Cholesky
}

// solve minimises |y - Xβ|² + λn|β|² through (XᵀX + λnI)β = Xᵀy.
func solve(x *mat.Dense, y []float64, lambda float64) (ridge, error) {
	n, p := x.Dims()
	a := mat.NewSymDense(p, nil)
	a.SymOuterK(1, x.T())
	for j := range p {
		a.SetSym(j, j, a.At(j, j)+lambda*float64(n))
	}
	var chol mat.Cholesky
	if !chol.Factorize(a) {
		return ridge{}, errors.New("normal equations are not positive definite")
	}
	var xty, beta mat.VecDense
	xty.MulVec(x.T(), mat.NewVecDense(n, y))
	if err := chol.SolveVecTo(&beta, &xty); err != nil {
		return ridge{}, err
	}
	return ridge{coef: slices.Clone(beta.RawVector().Data), chol: &chol}, nil
}

// looRMSE is the exact leave-one-out error of a linear smoother: residual
// e_i/(1-h_ii) with h_ii = 1/n (the intercept) + x_iᵀ(XᵀX+λnI)⁻¹x_i.
func (r ridge) looRMSE(x *mat.Dense, y []float64) float64 {
	n, _ := x.Dims()
	var sum float64
	var sol mat.VecDense
	for i := range n {
		row := mat.NewVecDense(len(r.coef), mat.Row(nil, i, x))
		if err := r.chol.SolveVecTo(&sol, row); err != nil {
			return math.Inf(1)
		}
		h := 1/float64(n) + mat.Dot(row, &sol)
		e := y[i] - mat.Dot(row, mat.NewVecDense(len(r.coef), r.coef))
		if h >= 1 {
			return math.Inf(1)
		}
		e /= 1 - h
		sum += e * e
	}
	return math.Sqrt(sum / float64(n))
}

// leaveOneGroupOut refits without each group in turn and returns the RMSE
// of the predictions of the left-out samples. The standardisation is kept
// from the full fit: it changes the penalty's geometry a little, not what
// is learnt.
func leaveOneGroupOut(x *mat.Dense, y []float64, samples []Sample, lambda float64) (float64, error) {
	n, _ := x.Dims()
	var sum float64
	for _, g := range groupNames(samples) {
		var train []int
		for i, s := range samples {
			if s.Group != g {
				train = append(train, i)
			}
		}
		xt, xm, ym := centred(x, y, train)
		fit, err := solve(xt, ym.y, lambda)
		if err != nil {
			return 0, err
		}
		for i, s := range samples {
			if s.Group != g {
				continue
			}
			row := mat.Row(nil, i, x)
			for j := range row {
				row[j] -= xm[j]
			}
			e := y[i] - ym.mean - floats(row, fit.coef)
			sum += e * e
		}
	}
	return math.Sqrt(sum / float64(n)), nil
}

// centredTargets are targets with their mean removed.
type centredTargets struct {
	y    []float64
	mean float64
}

// centred returns the rows of x and y listed in rows, each column with
// its mean over those rows removed (so the subset fit has its own
// intercept), and the column means.
func centred(x *mat.Dense, y []float64, rows []int) (*mat.Dense, []float64, centredTargets) {
	_, p := x.Dims()
	xm := make([]float64, p)
	var t centredTargets
	for _, i := range rows {
		for j := range p {
			xm[j] += x.At(i, j) / float64(len(rows))
		}
		t.mean += y[i] / float64(len(rows))
	}
	xt := mat.NewDense(len(rows), p, nil)
	for k, i := range rows {
		for j := range p {
			xt.Set(k, j, x.At(i, j)-xm[j])
		}
		t.y = append(t.y, y[i]-t.mean)
	}
	return xt, xm, t
}

// Prediction is the model's answer for one placement.
type Prediction struct {
	Value float64
	// Error is the model's cross-validated RMSE, in the metric's units.
	Error float64
	// Confidence is in [0, 1]: high with many samples, a small error
	// relative to the metric's level, known features, and features
	// within the range the model was trained on.
	Confidence float64
}

// Predict predicts the metric for f.
func (m *Model) Predict(f Features) (Prediction, error) {
	if err := m.validate(); err != nil {
		return Prediction{}, err
	}
	if !finiteOrNaN(f.vector()) {
		return Prediction{}, fmt.Errorf("qos: predict %s: features must be finite or NaN (unknown)", m.Metric)
	}
	z, known := m.standardise(f)
	p := Prediction{Value: m.Intercept + floats(z, m.Coef), Error: m.ErrorRMSE}
	p.Confidence = m.sampleTrust() * m.fitQuality() * known * extrapolation(z)
	return p, nil
}

// sampleTrust is n/(n+k): the more samples, the more trust.
func (m *Model) sampleTrust() float64 { return float64(m.Samples) / float64(m.Samples+2*MinSamples) }

// fitQuality is 1 minus the error relative to the metric's level (a 10 %
// error gives 0.9), never below 0.
func (m *Model) fitQuality() float64 {
	ref := math.Max(math.Abs(m.TargetMean), m.TargetStd)
	if ref == 0 {
		if m.ErrorRMSE == 0 {
			return 1
		}
		return 0
	}
	return math.Max(0, 1-m.ErrorRMSE/ref)
}

// extrapolation halves trust for each standard deviation beyond two that
// the furthest feature lies from the training data's mean.
func extrapolation(z []float64) float64 {
	worst := 0.0
	for _, v := range z {
		worst = math.Max(worst, math.Abs(v))
	}
	if worst <= 2 {
		return 1
	}
	return math.Pow(0.5, worst-2)
}

// Coefficients returns the weight of each used feature in the metric's
// units per the feature's units, for explanations and tests.
func (m *Model) Coefficients() map[string]float64 {
	out := map[string]float64{}
	for j, name := range FeatureNames {
		if j < len(m.Scale) && m.Scale[j] > 0 {
			out[name] = m.Coef[j] / m.Scale[j]
		}
	}
	return out
}

// String summarises the model for reasons and logs.
func (m *Model) String() string {
	return fmt.Sprintf("ridge on %d samples at %d sites, %s RMSE %.3g", m.Samples, m.Groups, m.CrossValidation, m.ErrorRMSE)
}

func floats(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func meanStd(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	sd := math.Sqrt(ss / float64(len(v)))
	// A spread lost in rounding is no spread: dividing by it would turn
	// noise into a feature.
	if sd <= 1e-12*math.Max(1, math.Abs(m)) {
		sd = 0
	}
	return m, sd
}

func finiteOrNaN(v []float64) bool {
	for _, x := range v {
		if math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func groupNames(samples []Sample) []string {
	var gs []string
	for _, s := range samples {
		if !slices.Contains(gs, s.Group) {
			gs = append(gs, s.Group)
		}
	}
	return gs
}

func countGroups(samples []Sample) int { return len(groupNames(samples)) }
