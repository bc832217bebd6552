package federated

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/store"
)

// APIPrefix is where the aggregator's routes live.
const APIPrefix = "/api/v1/learning/federated/"

// GlobalModel is the aggregator's answer to GET: the current global model
// as a forecast envelope, its kind, its round and the sites that built it.
type GlobalModel struct {
	Name string `json:"name"`
	// Kind is the model kind: forecast.KindGRU, KindHoltWinters or
	// KindHoltWintersMul. An aggregator from before Holt-Winters was
	// federated leaves it out: read "" as gru.
	Kind  string `json:"kind"`
	Round int    `json:"round"`
	// Sites contributed to the last averaging (sorted); null in round 0.
	Sites   []string        `json:"sites"`
	Samples int             `json:"samples"`
	Shape   Shape           `json:"shape"`
	Model   json.RawMessage `json:"model,omitempty"` // forecast.Marshal of the global model; left out of lists
}

// Accepted is the aggregator's answer to an update.
type Accepted struct {
	// Round is the global round after this update (one more than the
	// update's if it completed the round).
	Round int `json:"round"`
	// Pending is the number of sites waiting for the next averaging.
	Pending int `json:"pending"`
	// Averaged says whether this update completed a round.
	Averaged bool `json:"averaged"`
}

// Aggregator is the cloud side of federated training: it keeps one global
// model per model name (a network, or a Holt-Winters model), collects one
// update per site and round, and merges them when MinSites sites have
// sent theirs (or on demand). Inside `cloudskin up` every change (a model
// registered, an update accepted, a round averaged) is written to the
// control plane's store before it is acknowledged, so a restart resumes
// at the same round with the same pending updates; without a store
// (tests, a bare Mount) state is in memory.
//
// The same component pools the sites' pre-warm statistics (prewarm.go):
// per application, each site's latest idle-time histogram, merged by
// adding them up, under PrewarmAPIPrefix.
type Aggregator struct {
	// Now stamps the sites' pre-warm reports; time.Now when nil. Set it
	// before Setup or Mount.
	Now func() time.Time

	minSites int
	log      *slog.Logger
	store    store.Store

	mu     sync.Mutex
	models map[string]*globalState

	prewarm prewarmPool
}

type globalState struct {
	// model is the global model: a *forecast.RNN (kind gru) or a
	// *forecast.HoltWinters (the holt-winters kinds; unfitted in round 0).
	model   forecast.Model
	round   int
	sites   []string
	samples int
	pending map[string]Update // by site
}

var _ component.Component = (*Aggregator)(nil)

// NewAggregator averages once minSites (at least 1) sites have sent an
// update for the current round.
func NewAggregator(minSites int) (*Aggregator, error) {
	if minSites < 1 {
		return nil, fmt.Errorf("federated: minimum sites per round must be at least 1, got %d", minSites)
	}
	return &Aggregator{
		minSites: minSites, log: slog.New(slog.DiscardHandler), models: map[string]*globalState{},
		prewarm: prewarmPool{apps: map[string]map[string]siteIdle{}},
	}, nil
}

// Register adds a model name whose round-0 network is an untrained one of
// the given configuration (its seed fixes the starting weights).
func (a *Aggregator) Register(name string, cfg forecast.RNNConfig) error {
	if err := v1alpha1.ValidateName(name); err != nil {
		return httpapi.Unprocessable(fmt.Errorf("federated: model name: %w", err))
	}
	net, err := forecast.NewRNN(cfg)
	if err != nil {
		return httpapi.Unprocessable(fmt.Errorf("federated: model %q: %w", name, err))
	}
	return a.register(name, net)
}

// RegisterHoltWinters adds a model name for Holt-Winters models of the
// given seasonality and season length (1 to MaxHoltWintersSeason), which
// every site's update must have. Its round-0 global model is unfitted:
// there is nothing to merge before the sites' first fits.
func (a *Aggregator) RegisterHoltWinters(name string, seasonality forecast.Seasonality, season int) error {
	if err := v1alpha1.ValidateName(name); err != nil {
		return httpapi.Unprocessable(fmt.Errorf("federated: model name: %w", err))
	}
	if season < 1 || season > MaxHoltWintersSeason {
		return httpapi.Unprocessable(fmt.Errorf("federated: model %q: season must be 1 to %d, got %d", name, MaxHoltWintersSeason, season))
	}
	if seasonality != forecast.Additive && seasonality != forecast.Multiplicative {
		return httpapi.Unprocessable(fmt.Errorf("federated: model %q: seasonality %q, want %q or %q", name, seasonality, forecast.Additive, forecast.Multiplicative))
	}
	return a.register(name, &forecast.HoltWinters{Season: season, Seasonality: seasonality})
}

// register adds a model name with its round-0 global model.
func (a *Aggregator) register(name string, model forecast.Model) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.models[name]; ok {
		return httpapi.Conflict(fmt.Errorf("federated: model %q is already registered", name))
	}
	st := &globalState{model: model, pending: map[string]Update{}}
	if err := a.save(name, st); err != nil {
		return err
	}
	a.models[name] = st
	return nil
}

// Name implements component.Component.
func (a *Aggregator) Name() string { return "learning-federated" }

// Setup implements component.Component: it restores the models kept in
// the host's store and mounts the routes on the host.
func (a *Aggregator) Setup(h *component.Host) error {
	a.log = h.Log.With("component", a.Name())
	if h.Store != nil {
		if err := a.useStore(context.Background(), h.Store); err != nil {
			return err
		}
	}
	a.Mount(h.Server)
	h.Announce(a.Name(), "federated training aggregator", h.ControlPlaneURL+APIPrefix+"{model}")
	h.Announce(a.Name(), "federated pre-warm statistics", h.ControlPlaneURL+PrewarmAPIPrefix+"{app}")
	return nil
}

// Handler is what Mount registers routes on: an *http.ServeMux or the
// host's server.
type Handler interface {
	Handle(pattern string, h http.Handler)
}

// Mount registers the aggregator's routes, the pre-warm pool's included.
func (a *Aggregator) Mount(mux Handler) {
	mux.Handle("GET "+strings.TrimSuffix(APIPrefix, "/"), http.HandlerFunc(a.serveList))
	mux.Handle("PUT "+APIPrefix+"{model}", http.HandlerFunc(a.serveRegister))
	mux.Handle("GET "+APIPrefix+"{model}", http.HandlerFunc(a.serveGlobal))
	mux.Handle("POST "+APIPrefix+"{model}/updates", http.HandlerFunc(a.serveUpdate))
	mux.Handle("POST "+APIPrefix+"{model}/aggregate", http.HandlerFunc(a.serveAggregate))
	a.mountPrewarm(mux)
}

// Run implements component.Component; the aggregator only answers requests.
func (a *Aggregator) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// ModelList is the answer to listing the aggregator's models.
type ModelList struct {
	Items []GlobalModel `json:"items"`
}

func (a *Aggregator) serveList(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	names := slices.Sorted(maps.Keys(a.models))
	a.mu.Unlock()
	list := ModelList{Items: []GlobalModel{}}
	for _, n := range names {
		g, err := a.Global(n)
		if err != nil {
			httpapi.WriteError(w, a.log, err)
			return
		}
		g.Model = nil // the list says what exists; GET one model for its weights
		list.Items = append(list.Items, g)
	}
	httpapi.WriteJSON(w, http.StatusOK, list)
}

// ModelSpec is the body of a PUT: the model kind and its configuration.
// A network (kind gru, the default) takes forecast.RNNConfig; a
// Holt-Winters model takes only the season.
type ModelSpec struct {
	// Kind is forecast.KindGRU ("" means it), KindHoltWinters or
	// KindHoltWintersMul.
	Kind string `json:"kind,omitempty"`
	forecast.RNNConfig
}

// Create registers the model spec describes.
func (a *Aggregator) Create(name string, spec ModelSpec) error {
	switch spec.Kind {
	case "", forecast.KindGRU:
		return a.Register(name, spec.RNNConfig)
	case forecast.KindHoltWinters, forecast.KindHoltWintersMul:
		if field := networkSetting(spec.RNNConfig); field != "" {
			return httpapi.Unprocessable(fmt.Errorf("federated: model %q: %s is not a setting of a %s model, which takes only season", name, field, spec.Kind))
		}
		return a.RegisterHoltWinters(name, SeasonalityOf(spec.Kind), spec.Season)
	}
	return httpapi.Unprocessable(fmt.Errorf("federated: model %q: kind %q, want %q, %q or %q", name, spec.Kind, forecast.KindGRU, forecast.KindHoltWinters, forecast.KindHoltWintersMul))
}

// networkSetting names the first network setting cfg gives (not zero),
// or returns "".
func networkSetting(cfg forecast.RNNConfig) string {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"window", cfg.Window != 0}, {"hidden", cfg.Hidden != 0}, {"epochs", cfg.Epochs != 0}, {"patience", cfg.Patience != 0},
		{"batchSize", cfg.BatchSize != 0}, {"learningRate", cfg.LearningRate != 0}, {"seed", cfg.Seed != 0},
	} {
		if f.set {
			return f.name
		}
	}
	return ""
}

// serveRegister creates a model from its kind and configuration: 201, or
// 409 when the name is taken.
func (a *Aggregator) serveRegister(w http.ResponseWriter, r *http.Request) {
	var spec ModelSpec
	if err := httpapi.DecodeJSON(w, r, &spec); err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	name := r.PathValue("model")
	if err := a.Create(name, spec); err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	g, err := a.Global(name)
	if err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, g)
}

func (a *Aggregator) serveGlobal(w http.ResponseWriter, r *http.Request) {
	g, err := a.Global(r.PathValue("model"))
	if err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, g)
}

func (a *Aggregator) serveUpdate(w http.ResponseWriter, r *http.Request) {
	var u Update
	if err := httpapi.DecodeJSON(w, r, &u); err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	acc, err := a.Submit(r.PathValue("model"), u)
	if err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, acc)
}

func (a *Aggregator) serveAggregate(w http.ResponseWriter, r *http.Request) {
	acc, err := a.Aggregate(r.PathValue("model"))
	if err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, acc)
}

// state returns a model's state; a.mu must be held.
func (a *Aggregator) state(name string) (*globalState, error) {
	st, ok := a.models[name]
	if !ok {
		return nil, httpapi.NotFound(fmt.Errorf("federated: no model %q", name))
	}
	return st, nil
}

// Global returns the current global model.
func (a *Aggregator) Global(name string) (GlobalModel, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.state(name)
	if err != nil {
		return GlobalModel{}, err
	}
	env, err := forecast.Marshal(st.model)
	if err != nil {
		return GlobalModel{}, err
	}
	return GlobalModel{
		Name: name, Kind: st.model.Name(), Round: st.round, Sites: slices.Clone(st.sites), Samples: st.samples,
		Shape: shapeOf(st.model), Model: env,
	}, nil
}

// Submit records a site's update for the current round and averages if
// enough sites have sent theirs. A site that sends twice in a round
// replaces its earlier update. Updates for another round are refused with
// a 409 (httpapi.Conflict); malformed ones with a 422.
func (a *Aggregator) Submit(name string, u Update) (Accepted, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.state(name)
	if err != nil {
		return Accepted{}, err
	}
	if err := checkUpdate(u, st.model); err != nil {
		return Accepted{}, httpapi.Unprocessable(err)
	}
	if u.Round != st.round {
		return Accepted{}, httpapi.Conflict(fmt.Errorf("federated: update from %q is for round %d, the current round of %q is %d", u.Site, u.Round, name, st.round))
	}
	pending := maps.Clone(st.pending)
	pending[u.Site] = u
	if len(pending) >= a.minSites {
		return a.average(name, st, pending)
	}
	next := *st
	next.pending = pending
	if err := a.save(name, &next); err != nil {
		return Accepted{}, err
	}
	*st = next
	return Accepted{Round: st.round, Pending: len(st.pending)}, nil
}

// Aggregate averages the pending updates now, however few (at least one).
func (a *Aggregator) Aggregate(name string) (Accepted, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := a.state(name)
	if err != nil {
		return Accepted{}, err
	}
	if len(st.pending) == 0 {
		return Accepted{}, httpapi.Conflict(fmt.Errorf("federated: no updates for round %d of %q", st.round, name))
	}
	return a.average(name, st, st.pending)
}

// average replaces the global model with the merge of the pending updates
// and starts the next round; a.mu must be held. The new state is built
// aside and saved before it replaces the old one, so a failed save
// changes nothing.
func (a *Aggregator) average(name string, st *globalState, pending map[string]Update) (Accepted, error) {
	updates := make([]Update, 0, len(pending))
	for _, site := range slices.Sorted(maps.Keys(pending)) {
		updates = append(updates, pending[site])
	}
	model, err := merge(st.model, updates)
	if err != nil {
		return Accepted{}, err
	}
	next := globalState{model: model, round: st.round + 1, pending: map[string]Update{}}
	for _, u := range updates {
		next.sites = append(next.sites, u.Site)
		next.samples += u.Samples
	}
	if err := a.save(name, &next); err != nil {
		return Accepted{}, err
	}
	*st = next
	a.log.Info("federated round averaged", "model", name, "round", st.round, "sites", st.sites, "samples", st.samples)
	return Accepted{Round: st.round, Averaged: true}, nil
}

// merge builds the next global model from the current one and a round's
// updates: FedAvg for a network, MergeHoltWinters for Holt-Winters.
func merge(global forecast.Model, updates []Update) (forecast.Model, error) {
	switch g := global.(type) {
	case *forecast.RNN:
		net, err := averageNetworks(g, updates)
		if err != nil {
			return nil, err
		}
		return net, nil
	case *forecast.HoltWinters:
		hw, err := mergeHoltWintersUpdates(g, updates)
		if err != nil {
			return nil, httpapi.Unprocessable(err)
		}
		return hw, nil
	}
	return nil, fmt.Errorf("federated: cannot merge %s models", global.Name())
}

// averageNetworks returns a copy of the global network with the updates'
// FedAvg weights and their pooled normalisation.
func averageNetworks(global *forecast.RNN, updates []Update) (*forecast.RNN, error) {
	weights, err := FedAvg(updates)
	if err != nil {
		return nil, httpapi.Unprocessable(err)
	}
	net, err := cloneRNN(global)
	if err != nil {
		return nil, err
	}
	if err := net.SetWeights(weights); err != nil {
		return nil, err
	}
	net.Mean, net.Std = pooledStats(updates)
	return net, nil
}

// shapeOf is what an update must agree with: a network's shape, or a
// Holt-Winters model's season.
func shapeOf(m forecast.Model) Shape {
	switch m := m.(type) {
	case *forecast.RNN:
		return ShapeOf(m)
	case *forecast.HoltWinters:
		return Shape{Season: m.Season}
	}
	return Shape{}
}

// checkUpdate validates an update against the global model: its kind and
// shape, and the kind's own fields.
func checkUpdate(u Update, global forecast.Model) error {
	switch {
	case u.Site == "":
		return errors.New("federated: update has no site")
	case u.Model != global.Name():
		return fmt.Errorf("federated: update from %q: model is %q, the model's kind is %q", u.Site, u.Model, global.Name())
	case u.Samples < 1:
		return fmt.Errorf("federated: update from %q: samples is %d, want at least 1", u.Site, u.Samples)
	}
	switch g := global.(type) {
	case *forecast.RNN:
		return checkNetworkUpdate(u, ShapeOf(g))
	case *forecast.HoltWinters:
		return checkHoltWintersUpdate(u, g.Seasonality, g.Season)
	}
	return fmt.Errorf("federated: %s models take no updates", global.Name())
}

// checkNetworkUpdate validates a gru update against the global shape.
func checkNetworkUpdate(u Update, want Shape) error {
	switch {
	case u.HoltWinters != nil:
		return fmt.Errorf("federated: update from %q: holtWinters is for Holt-Winters models; a %s update carries params", u.Site, forecast.KindGRU)
	case u.Shape != want:
		return fmt.Errorf("federated: update from %q has shape %+v, the global network has %+v", u.Site, u.Shape, want)
	case !(u.Std > 0) || math.IsInf(u.Std, 0) || math.IsNaN(u.Mean) || math.IsInf(u.Mean, 0):
		return fmt.Errorf("federated: update from %q has unusable normalisation mean %v, std %v", u.Site, u.Mean, u.Std)
	}
	return checkVector(u, want.Params)
}
