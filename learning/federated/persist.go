package federated

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/store"
)

// storePrefix is where the aggregator keeps one record per model in the
// control plane's store.
const storePrefix = "/learning/federated/"

// savedState is a model's record in the store: everything a restarted
// aggregator needs to go on with the same round.
type savedState struct {
	Round   int             `json:"round"`
	Sites   []string        `json:"sites"`
	Samples int             `json:"samples"`
	Model   json.RawMessage `json:"model"` // forecast.Marshal of the global model
	Pending []Update        `json:"pending"`
}

// useStore loads the models and pre-warm histograms kept in st and makes
// every later change be written there first.
func (a *Aggregator) useStore(ctx context.Context, st store.Store) error {
	if err := a.prewarm.useStore(ctx, st); err != nil {
		return err
	}
	kvs, err := st.List(ctx, storePrefix)
	if err != nil {
		return fmt.Errorf("federated: loading models: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, kv := range kvs {
		name := strings.TrimPrefix(kv.Key, storePrefix)
		gs, err := decodeState(kv.Value)
		if err != nil {
			return fmt.Errorf("federated: model %q in the store: %w", name, err)
		}
		a.models[name] = gs
	}
	a.store = st
	return nil
}

func decodeState(b []byte) (*globalState, error) {
	var saved savedState
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, err
	}
	m, err := forecast.Unmarshal(saved.Model)
	if err != nil {
		return nil, err
	}
	switch m.(type) {
	case *forecast.RNN, *forecast.HoltWinters:
	default:
		return nil, fmt.Errorf("the global model is a %s model, want a recurrent network or Holt-Winters", m.Name())
	}
	gs := &globalState{model: m, round: saved.Round, sites: saved.Sites, samples: saved.Samples, pending: map[string]Update{}}
	for _, u := range saved.Pending {
		gs.pending[u.Site] = u
	}
	return gs, nil
}

// save writes a model's state to the store, if there is one; a.mu must be
// held so that records are written in the order of the changes.
func (a *Aggregator) save(name string, gs *globalState) error {
	if a.store == nil {
		return nil
	}
	env, err := forecast.Marshal(gs.model)
	if err != nil {
		return err
	}
	saved := savedState{Round: gs.round, Sites: gs.sites, Samples: gs.samples, Model: env, Pending: []Update{}}
	for _, site := range slices.Sorted(maps.Keys(gs.pending)) {
		saved.Pending = append(saved.Pending, gs.pending[site])
	}
	if err := store.PutJSON(context.Background(), a.store, storePrefix+name, saved); err != nil {
		return fmt.Errorf("federated: saving model %q: %w", name, err)
	}
	return nil
}

// cloneRNN copies a network through its envelope, so that a new round can
// be built aside the current one.
func cloneRNN(net *forecast.RNN) (*forecast.RNN, error) {
	env, err := forecast.Marshal(net)
	if err != nil {
		return nil, err
	}
	m, err := forecast.Unmarshal(env)
	if err != nil {
		return nil, err
	}
	return m.(*forecast.RNN), nil
}
