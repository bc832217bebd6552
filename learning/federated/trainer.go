package federated

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// Source returns a site's local series. It is read at the site only.
type Source func(ctx context.Context) ([]float64, error)

// Trainer is the site side of federated training. Each Round it fetches
// the global model and sends back an update trained on the local series,
// with the sample count; the series itself is never sent. For a network
// it fine-tunes the global network; for Holt-Winters it fits the series
// from scratch and sends the fitted state (docs/RATIONALE.md, "federated Holt-Winters",
// says why not from the global model).
type Trainer struct {
	Site string
	// Aggregator is where the global model lives.
	Aggregator Client
	// Model is the model name at the aggregator.
	Model  string
	Source Source
	// Epochs of local fine-tuning per round, for a network; default 5.
	Epochs int
}

// Round runs one round and returns the update it sent and the
// aggregator's answer.
func (t *Trainer) Round(ctx context.Context) (Update, Accepted, error) {
	if t.Site == "" || t.Model == "" || t.Source == nil || t.Aggregator.HTTP == nil {
		return Update{}, Accepted{}, errors.New("federated: trainer needs a site, a model name, a source and an aggregator")
	}
	g, err := t.Aggregator.Global(ctx, t.Model)
	if err != nil {
		return Update{}, Accepted{}, fmt.Errorf("federated: %s: %w", t.Site, err)
	}
	y, err := t.Source(ctx)
	if err != nil {
		return Update{}, Accepted{}, fmt.Errorf("federated: %s: read local series: %w", t.Site, err)
	}
	var u Update
	switch g.Kind {
	case "", forecast.KindGRU:
		u, err = t.networkUpdate(g, y)
	case forecast.KindHoltWinters, forecast.KindHoltWintersMul:
		u, err = t.holtWintersUpdate(g, y)
	default:
		err = fmt.Errorf("federated: %s: model %q is of kind %q, which this site cannot train", t.Site, t.Model, g.Kind)
	}
	if err != nil {
		return Update{}, Accepted{}, err
	}
	acc, err := t.Aggregator.Submit(ctx, t.Model, u)
	if err != nil {
		return u, Accepted{}, fmt.Errorf("federated: %s: %w", t.Site, err)
	}
	return u, acc, nil
}

// networkUpdate fine-tunes the global network on the local series y.
func (t *Trainer) networkUpdate(g GlobalModel, y []float64) (Update, error) {
	net, err := t.network(g)
	if err != nil {
		return Update{}, err
	}
	epochs := t.Epochs
	if epochs == 0 {
		epochs = 5
	}
	if err := net.FineTune(y, epochs); err != nil {
		return Update{}, fmt.Errorf("federated: %s: fine-tune: %w", t.Site, err)
	}
	return Update{
		Site: t.Site, Round: g.Round, Samples: len(y), Model: forecast.KindGRU,
		Shape: ShapeOf(net), Params: net.Weights(), Mean: net.Mean, Std: net.Std,
	}, nil
}

// holtWintersUpdate fits a Holt-Winters model of the global season and
// seasonality on the local series y, from scratch.
func (t *Trainer) holtWintersUpdate(g GlobalModel, y []float64) (Update, error) {
	m := &forecast.HoltWinters{Season: g.Shape.Season, Seasonality: SeasonalityOf(g.Kind)}
	if err := m.Fit(y); err != nil {
		return Update{}, fmt.Errorf("federated: %s: fit: %w", t.Site, err)
	}
	state := HoltWintersStateOf(m)
	return Update{
		Site: t.Site, Round: g.Round, Samples: len(y), Model: g.Kind,
		Shape: Shape{Season: m.Season}, HoltWinters: &state,
	}, nil
}

// Global fetches the current global network.
func (t *Trainer) Global(ctx context.Context) (*forecast.RNN, error) {
	g, err := t.Aggregator.Global(ctx, t.Model)
	if err != nil {
		return nil, fmt.Errorf("federated: %s: %w", t.Site, err)
	}
	return t.network(g)
}

// network decodes a global model that must be a network.
func (t *Trainer) network(g GlobalModel) (*forecast.RNN, error) {
	m, err := forecast.Unmarshal(g.Model)
	if err != nil {
		return nil, fmt.Errorf("federated: %s: global model: %w", t.Site, err)
	}
	net, ok := m.(*forecast.RNN)
	if !ok {
		return nil, fmt.Errorf("federated: %s: global model is a %s, not a network", t.Site, m.Name())
	}
	return net, nil
}
