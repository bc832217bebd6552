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
// as a forecast envelope, its round and the sites that built it.
type GlobalModel struct {
	Name  string `json:"name"`
	Round int    `json:"round"`
	// Sites contributed to the last averaging (sorted); null in round 0.
	Sites   []string        `json:"sites"`
	Samples int             `json:"samples"`
	Shape   Shape           `json:"shape"`
	Model   json.RawMessage `json:"model,omitempty"` // forecast.Marshal of the network; left out of lists
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
// network per model name, collects one update per site and round, and
// averages when MinSites sites have sent theirs (or on demand). Inside
// `cloudskin up` every change (a model registered, an update accepted, a
// round averaged) is written to the control plane's store before it is
// acknowledged, so a restart resumes at the same round with the same
// pending updates; without a store (tests, a bare Mount) state is in memory.
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
	net     *forecast.RNN
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
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.models[name]; ok {
		return httpapi.Conflict(fmt.Errorf("federated: model %q is already registered", name))
	}
	st := &globalState{net: net, pending: map[string]Update{}}
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

// serveRegister creates a model from its network configuration: 201, or
// 409 when the name is taken.
func (a *Aggregator) serveRegister(w http.ResponseWriter, r *http.Request) {
	var cfg forecast.RNNConfig
	if err := httpapi.DecodeJSON(w, r, &cfg); err != nil {
		httpapi.WriteError(w, a.log, err)
		return
	}
	name := r.PathValue("model")
	if err := a.Register(name, cfg); err != nil {
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
	env, err := forecast.Marshal(st.net)
	if err != nil {
		return GlobalModel{}, err
	}
	return GlobalModel{
		Name: name, Round: st.round, Sites: slices.Clone(st.sites), Samples: st.samples,
		Shape: ShapeOf(st.net), Model: env,
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
	if err := checkUpdate(u, ShapeOf(st.net)); err != nil {
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

// average replaces the global network with the mean of the pending
// updates and starts the next round; a.mu must be held. The new state is
// built aside and saved before it replaces the old one, so a failed save
// changes nothing.
func (a *Aggregator) average(name string, st *globalState, pending map[string]Update) (Accepted, error) {
	updates := make([]Update, 0, len(pending))
	for _, site := range slices.Sorted(maps.Keys(pending)) {
		updates = append(updates, pending[site])
	}
	global, err := FedAvg(updates)
	if err != nil {
		return Accepted{}, httpapi.Unprocessable(err)
	}
	net, err := cloneRNN(st.net)
	if err != nil {
		return Accepted{}, err
	}
	if err := net.SetWeights(global); err != nil {
		return Accepted{}, err
	}
	net.Mean, net.Std = pooledStats(updates)
	next := globalState{net: net, round: st.round + 1, pending: map[string]Update{}}
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

// checkUpdate validates an update against the global shape.
func checkUpdate(u Update, want Shape) error {
	switch {
	case u.Site == "":
		return errors.New("federated: update has no site")
	case u.Model != forecast.KindGRU:
		return fmt.Errorf("federated: update from %q is for model kind %q, want %q", u.Site, u.Model, forecast.KindGRU)
	case u.Shape != want:
		return fmt.Errorf("federated: update from %q has shape %+v, the global network has %+v", u.Site, u.Shape, want)
	case !(u.Std > 0) || math.IsInf(u.Std, 0) || math.IsNaN(u.Mean) || math.IsInf(u.Mean, 0):
		return fmt.Errorf("federated: update from %q has unusable normalisation mean %v, std %v", u.Site, u.Mean, u.Std)
	}
	return checkVector(u, want.Params)
}
