package federated

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

// Source returns a site's local series. It is read at the site only.
type Source func(ctx context.Context) ([]float64, error)

// Trainer is the site side of federated training: each Round it fetches
// the global network, fine-tunes it on the local series and sends back the
// new parameters with the sample count. The series itself is never sent.
type Trainer struct {
	Site string
	// Aggregator is where the global model lives.
	Aggregator Client
	// Model is the model name at the aggregator.
	Model  string
	Source Source
	// Epochs of local fine-tuning per round; default 5.
	Epochs int
}

// Round runs one round and returns the update it sent and the
// aggregator's answer.
func (t *Trainer) Round(ctx context.Context) (Update, Accepted, error) {
	if t.Site == "" || t.Model == "" || t.Source == nil || t.Aggregator.HTTP == nil {
		return Update{}, Accepted{}, errors.New("federated: trainer needs a site, a model name, a source and an aggregator")
	}
	global, net, err := t.fetchGlobal(ctx)
	if err != nil {
		return Update{}, Accepted{}, err
	}
	y, err := t.Source(ctx)
	if err != nil {
		return Update{}, Accepted{}, fmt.Errorf("federated: %s: read local series: %w", t.Site, err)
	}
	epochs := t.Epochs
	if epochs == 0 {
		epochs = 5
	}
	if err := net.FineTune(y, epochs); err != nil {
		return Update{}, Accepted{}, fmt.Errorf("federated: %s: fine-tune: %w", t.Site, err)
	}
	u := Update{
		Site: t.Site, Round: global.Round, Samples: len(y), Model: forecast.KindGRU,
		Shape: ShapeOf(net), Params: net.Weights(), Mean: net.Mean, Std: net.Std,
	}
	acc, err := t.Aggregator.Submit(ctx, t.Model, u)
	if err != nil {
		return u, Accepted{}, fmt.Errorf("federated: %s: %w", t.Site, err)
	}
	return u, acc, nil
}

// Global fetches the current global network.
func (t *Trainer) Global(ctx context.Context) (*forecast.RNN, error) {
	_, net, err := t.fetchGlobal(ctx)
	return net, err
}

func (t *Trainer) fetchGlobal(ctx context.Context) (GlobalModel, *forecast.RNN, error) {
	g, err := t.Aggregator.Global(ctx, t.Model)
	if err != nil {
		return g, nil, fmt.Errorf("federated: %s: %w", t.Site, err)
	}
	m, err := forecast.Unmarshal(g.Model)
	if err != nil {
		return g, nil, fmt.Errorf("federated: %s: global model: %w", t.Site, err)
	}
	net, ok := m.(*forecast.RNN)
	if !ok {
		return g, nil, fmt.Errorf("federated: %s: global model is a %s, not a network", t.Site, m.Name())
	}
	return g, net, nil
}
