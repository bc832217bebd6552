// Package federated trains the Learning Plane's models across sites without
// moving telemetry: each edge site fits on its own series and sends only
// model parameters and a sample count to a cloud aggregator, which merges
// them into a global model (docs/formats/federated.md).
//
//   - The recurrent network (forecast.RNN) is merged by federated averaging
//     (McMahan et al. 2017): the global weight vector is the sample-weighted
//     mean of the sites' vectors, and sites fine-tune from it each round.
//     Each site normalises its own series; the global normalisation is the
//     pooled mean and standard deviation, for a caller with no series of
//     its own.
//   - Holt-Winters is merged as statistics (MergeHoltWinters): the
//     sample-weighted mean of the smoothing parameters, level, trend and
//     seasonal indices, for sites that share a season length. A
//     holt-winters federated model (holtwinters.go) takes these over the
//     same routes as the network: each site fits its own series from
//     scratch and sends its fitted state (HoltWintersState); a site
//     forecasts with the merged α, β, γ run over its own series
//     (HoltWintersForSite) once a back-test says they beat its own
//     (CompareHoltWinters).
//   - Seasonal naive has no fitted parameters: its whole state is the last
//     season of raw observations, so it is not federated (sending it would
//     send telemetry).
//   - The pre-warming statistics are merged by adding idle-time histograms
//     (prewarm.MergeIdleHistograms, next to the policy that reads them): a
//     site sends counts per minute bin, never invocation times. The
//     Aggregator keeps each site's latest histogram per application under
//     PrewarmAPIPrefix and decides on their sum with the hybrid policy;
//     HistogramReporter is the site side.
//
// The arithmetic (FedAvg, MergeHoltWinters) is pure; Aggregator serves it
// over HTTP and Trainer is the site side.
package federated

import (
	"errors"
	"fmt"
	"math"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// Update is one site's contribution to a round: parameters and a count,
// never the series. A gru update carries Params, Mean and Std; a
// holt-winters one carries HoltWinters and none of those three (the
// fields a kind does not use are left out of the JSON).
type Update struct {
	Site string `json:"site"`
	// Round is the global round the site started from.
	Round int `json:"round"`
	// Samples is how many observations the site trained on: its weight.
	Samples int `json:"samples"`
	// Model is the model kind: forecast.KindGRU, KindHoltWinters or
	// KindHoltWintersMul, the kind the model was registered with.
	Model string `json:"model"`
	Shape Shape  `json:"shape"`
	// Params is the flat parameter vector (forecast.RNN.Weights).
	Params []float64 `json:"params,omitempty"`
	// Mean and Std are the site's normalisation, merged into the global
	// model's pooled normalisation.
	Mean float64 `json:"mean,omitempty"`
	Std  float64 `json:"std,omitempty"`
	// HoltWinters is the site's fitted Holt-Winters state, for the
	// holt-winters kinds only.
	HoltWinters *HoltWintersState `json:"holtWinters,omitempty"`
}

// Shape is what must agree between a site's model and the global one. A
// network has all four; a Holt-Winters model only Season.
type Shape struct {
	Season int `json:"season"`
	Window int `json:"window,omitempty"`
	Hidden int `json:"hidden,omitempty"`
	// Params is the length of the parameter vector.
	Params int `json:"params,omitempty"`
}

// ShapeOf returns a network's shape.
func ShapeOf(m *forecast.RNN) Shape {
	return Shape{Season: m.Config.Season, Window: m.Config.Window, Hidden: m.Config.Hidden, Params: m.ParamCount()}
}

// FedAvg returns the sample-weighted mean of the updates' parameter
// vectors. All vectors must have the same length, every count must be
// positive and every value finite.
func FedAvg(updates []Update) ([]float64, error) {
	if len(updates) == 0 {
		return nil, errors.New("federated: no updates to average")
	}
	n := len(updates[0].Params)
	total := 0.0
	for _, u := range updates {
		if err := checkVector(u, n); err != nil {
			return nil, err
		}
		total += float64(u.Samples)
	}
	global := make([]float64, n)
	for _, u := range updates {
		w := float64(u.Samples) / total
		for i, v := range u.Params {
			global[i] += w * v
		}
	}
	return global, nil
}

func checkVector(u Update, n int) error {
	if u.Samples < 1 {
		return fmt.Errorf("federated: update from %q has %d samples, want at least 1", u.Site, u.Samples)
	}
	if len(u.Params) != n {
		return fmt.Errorf("federated: update from %q has %d parameters, want %d", u.Site, len(u.Params), n)
	}
	for i, v := range u.Params {
		if !finite(v) {
			return fmt.Errorf("federated: update from %q: parameter %d is %v", u.Site, i, v)
		}
	}
	return nil
}

// pooledStats merges per-site means and standard deviations into those of
// the union of the sites' series (the law of total variance).
func pooledStats(updates []Update) (mean, std float64) {
	total := 0.0
	for _, u := range updates {
		total += float64(u.Samples)
		mean += float64(u.Samples) * u.Mean
	}
	mean /= total
	v := 0.0
	for _, u := range updates {
		d := u.Mean - mean
		v += float64(u.Samples) * (u.Std*u.Std + d*d)
	}
	return mean, math.Sqrt(v / total)
}

// SiteHoltWinters is one site's fitted Holt-Winters model and how many
// observations it was fitted on.
type SiteHoltWinters struct {
	Samples int
	Model   *forecast.HoltWinters
}

// MergeHoltWinters averages fitted Holt-Winters models weighted by their
// sample counts: α, β, γ, level, trend and each seasonal index. This is
// reasonable when the sites see the same kind of load with the same
// season (the seasonal indices then describe the same cycle, aligned at
// the next step) and the same seasonality; it is refused otherwise. The
// merged SSE and N are the sums over sites.
func MergeHoltWinters(sites []SiteHoltWinters) (*forecast.HoltWinters, error) {
	if len(sites) == 0 {
		return nil, errors.New("federated: no Holt-Winters models to merge")
	}
	first := sites[0].Model
	if first == nil || len(first.Seasonal) != first.Season || first.Season < 1 {
		return nil, errors.New("federated: site 0: Holt-Winters model is not fitted")
	}
	out := &forecast.HoltWinters{Season: first.Season, Seasonality: first.Seasonality, Seasonal: make([]float64, first.Season)}
	total := 0.0
	for i, s := range sites {
		m := s.Model
		switch {
		case m == nil || len(m.Seasonal) != m.Season:
			return nil, fmt.Errorf("federated: site %d: Holt-Winters model is not fitted", i)
		case m.Season != first.Season || m.Seasonality != first.Seasonality:
			return nil, fmt.Errorf("federated: site %d: season %d %s does not match site 0's %d %s", i, m.Season, m.Seasonality, first.Season, first.Seasonality)
		case s.Samples < 1:
			return nil, fmt.Errorf("federated: site %d: %d samples, want at least 1", i, s.Samples)
		}
		total += float64(s.Samples)
	}
	for _, s := range sites {
		w, m := float64(s.Samples)/total, s.Model
		out.Alpha += w * m.Alpha
		out.Beta += w * m.Beta
		out.Gamma += w * m.Gamma
		out.Level += w * m.Level
		out.Trend += w * m.Trend
		for j, v := range m.Seasonal {
			out.Seasonal[j] += w * v
		}
		out.SSE += m.SSE
		out.N += m.N
	}
	return out, nil
}
