package continuum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cloudskin/cloudskin/agent"
	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/dashboard"
	"github.com/cloudskin/cloudskin/geds"
	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/geds/service"
	"github.com/cloudskin/cloudskin/internal/auth"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/learning/federated"
	"github.com/cloudskin/cloudskin/learning/plane"
	"github.com/cloudskin/cloudskin/learning/recommend"
	"github.com/cloudskin/cloudskin/orchestrator"
	"github.com/cloudskin/cloudskin/orchestrator/reconcile"
	"github.com/cloudskin/cloudskin/store/bolt"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/telemetry"
)

// File names under the data directory.
const (
	StoreFile        = "state.db"
	ClientConfigFile = "client.yaml"
)

// UpOptions are settings of `up` that the Continuum file does not hold.
type UpOptions struct {
	// StreamListen is where the stream store's TCP protocol (stream/tcp)
	// is served, next to its REST API; empty serves none.
	StreamListen string
	// StreamInstances is how many segment-store instances the stream
	// store's cluster starts with; 0 runs one store, no cluster (see
	// streamapi.BackendOptions). The instance API (PUT
	// /streams/v1/instances) and the Learning Plane change it later.
	StreamInstances int
}

// Up runs the embedded continuum described by cfg until ctx ends: the
// control plane and one node agent per configured site, all in this process.
func Up(ctx context.Context, cfg v1alpha1.Continuum, opts UpOptions, log *slog.Logger, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	dataDir := cfg.Spec.DataDir
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := bolt.Open(filepath.Join(dataDir, StoreFile))
	if err != nil {
		return err
	}
	defer st.Close()

	rt, err := Listen(Options{Listen: cfg.Spec.Listen, DataDir: dataDir, Store: st, Log: log, Out: out})
	if err != nil {
		return err
	}
	s3, err := net.Listen("tcp", cfg.Spec.GEDS.S3Listen)
	if err != nil {
		rt.Close()
		return fmt.Errorf("GEDS S3 gateway: listen on %s: %w", cfg.Spec.GEDS.S3Listen, err)
	}
	tokens, err := setupAuth(cfg, rt, out)
	if err != nil {
		rt.Close()
		s3.Close()
		return err
	}
	streams, err := streamProtocol(cfg, opts, log)
	if err != nil {
		rt.Close()
		s3.Close()
		return err
	}
	clientConfig := filepath.Join(dataDir, ClientConfigFile)
	cc := newClientConfig(rt.URL(), s3.Addr().String())
	cc.Spec.Token = tokens[auth.Admin]
	if err := config.WriteClientConfig(clientConfig, cc); err != nil {
		rt.Close()
		s3.Close()
		streams.close()
		return err
	}
	comps, err := components(cfg, rt.URL(), tokens, streams, opts.StreamInstances)
	if err == nil {
		var gw *service.Gateway
		if gw, err = gedsGateway(cfg, s3, out); err == nil {
			comps = append(comps, metadata.NewService(metadata.Config{}), gw)
		}
	}
	if err != nil {
		rt.Close()
		s3.Close()
		streams.close()
		return err
	}
	fmt.Fprintf(out, "cloudskin up: control plane at %s, data in %s, client config %s\n", rt.URL(), dataDir, clientConfig)
	return rt.Run(ctx, comps...)
}

// TokensFile holds the API's bearer tokens when spec.auth is enabled.
const TokensFile = "tokens.yaml"

// setupAuth, when spec.auth is enabled, loads the tokens file (making one
// token per role the first time) and guards /api/v1 with it. It returns
// each role's first token, for the client configuration and the agents.
func setupAuth(cfg v1alpha1.Continuum, rt *Runtime, out io.Writer) (map[auth.Role]string, error) {
	byRole := map[auth.Role]string{}
	if !cfg.Spec.Auth.Enabled {
		return byRole, nil
	}
	path := filepath.Join(cfg.Spec.DataDir, TokensFile)
	f, err := auth.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if f, err = auth.Generate(path); err == nil {
			fmt.Fprintf(out, "cloudskin up: API tokens made for roles admin, operator and viewer, kept in %s\n", path)
		}
	}
	if err != nil {
		return nil, err
	}
	a, err := auth.New(f.Tokens)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rt.server.Guard("/api/v1/", a.Guard)
	// Setting the stream store's instance count needs operator, as the
	// API's other changes do; the rest of /streams/v1 is not guarded yet.
	rt.server.Guard(streamapi.Base+"/instances", a.Guard)
	for _, t := range f.Tokens {
		if _, ok := byRole[t.Role]; !ok {
			byRole[t.Role] = t.Token
		}
	}
	return byRole, nil
}

// components lists what the embedded continuum runs. Later parts (GEDS,
// streams, cells, learning plane, dashboard) are appended here.
func components(cfg v1alpha1.Continuum, url string, tokens map[auth.Role]string, streams *streamServer, streamInstances int) ([]component.Component, error) {
	hb := cfg.Spec.Heartbeat
	self, err := client.New(url)
	if err != nil {
		return nil, err
	}
	self = self.WithToken(tokens[auth.Viewer])
	tc := cfg.Spec.Telemetry
	observer := telemetry.NewComponent(telemetry.Options{Retention: tc.Retention.Duration, RemoteURL: tc.PrometheusURL}, agentTargets(self))
	opts := orchestrator.Options{NotReadyAfter: hb.NotReadyAfter.Duration, Observe: objectives(observer)}
	if cfg.Spec.Placement.Scorer != "heuristic" {
		// Through the Learning Plane's API, as an orchestrator elsewhere would.
		opts.Recommend = self.WithToken(tokens[auth.Operator]).RecommendPlacement
	}
	var nodes []component.Component // GEDS nodes of the parts that keep data in GEDS
	if cfg.Spec.Cells.Checkpoints == v1alpha1.CellCheckpointsGEDS {
		node, storage, err := checkpointsNode(cfg)
		if err != nil {
			return nil, err
		}
		opts.Checkpoints, nodes = storage, append(nodes, node)
	}
	operator := self.WithToken(tokens[auth.Operator])
	// Federated training averages once two sites have sent a round (or on
	// demand, POST .../aggregate).
	aggregator, err := federated.NewAggregator(2)
	if err != nil {
		return nil, err
	}
	streamOpts := streamapi.BackendOptions{Instances: streamInstances}
	if cfg.Spec.Streams.LTS == v1alpha1.StreamLTSGEDS {
		node, storage, err := streamLTSNode(cfg)
		if err != nil {
			return nil, err
		}
		streamOpts.Store.LTS, nodes = storage, append(nodes, node)
	}
	streamStore := streamapi.NewComponent(streamOpts)
	comps := []component.Component{
		observer,
		recommend.NewService(observer.Querier),
		// Agents act through the NBI and ask for advice through the
		// recommendation API, as they would from another process.
		plane.New(plane.Options{Querier: observer.Querier, NBI: operator, Migrations: operator}),
		aggregator,
		orchestrator.New(opts),
		// The stream store in <data>/streams (one store, or a cluster of
		// segment-store instances), its API under /streams/v1, and its
		// TCP protocol on --stream-listen.
		streamStore,
		dashboard.New(),
	}
	if streams != nil {
		streams.store = streamStore
		comps = append(comps, streams)
	}
	comps = append(comps, nodes...)
	for _, tmpl := range cfg.Spec.Sites {
		site := v1alpha1.NewSite(tmpl.Name, tmpl.Spec)
		site.Metadata.Labels = tmpl.Labels
		a, err := agent.New(site, hb.Interval.Duration, "")
		if err != nil {
			return nil, err
		}
		a.SetToken(tokens[auth.Operator])
		a.AllowProcesses(true) // the agents of up run as the user who started it, on this machine
		comps = append(comps, a)
	}
	return comps, nil
}

// agentTargets lists the /metrics of agents that serve their own (those
// of other processes; agents inside `up` share the control plane's).
func agentTargets(c *client.Client) func(context.Context) ([]telemetry.Target, error) {
	return func(ctx context.Context) ([]telemetry.Target, error) {
		sites, err := c.ListSites(ctx)
		if err != nil {
			return nil, err
		}
		var ts []telemetry.Target
		for _, s := range sites {
			if u := s.Status.Agent.MetricsURL; u != "" {
				ts = append(ts, telemetry.Target{Job: "agent", URL: u, Labels: map[string]string{"site": s.Metadata.Name}})
			}
		}
		return ts, nil
	}
}

// objectives measures an application's QoS objectives from what its
// cells report (cloudskin_cell_qos), averaged over the last 30 s.
func objectives(observer *telemetry.Component) func(context.Context, v1alpha1.Application) map[string]float64 {
	return func(ctx context.Context, a v1alpha1.Application) map[string]float64 {
		out := map[string]float64{}
		for _, o := range a.Spec.Objectives {
			sel := fmt.Sprintf(`application=%q,metric=%q`, a.Metadata.Name, o.Metric)
			if o.Component != "" {
				sel += fmt.Sprintf(`,component=%q`, o.Component)
			}
			res, err := observer.Querier().Query(ctx, "avg(avg_over_time(cloudskin_cell_qos{"+sel+"}[30s]))", time.Time{})
			if err == nil && len(res.Samples) == 1 {
				out[reconcile.ObjectiveKey(o)] = res.Samples[0].Value
			}
		}
		return out
	}
}

// gedsGateway is the S3 gateway of GEDS with its node's tier 0 under the
// data directory; keys made now are printed once.
func gedsGateway(cfg v1alpha1.Continuum, ln net.Listener, out io.Writer) (*service.Gateway, error) {
	dir := filepath.Join(cfg.Spec.DataDir, "geds")
	keys, made, err := service.LoadKeys(dir)
	if err != nil {
		return nil, err
	}
	if made {
		fmt.Fprintf(out, "cloudskin up: S3 gateway keys (kept in %s): access key %s, secret key %s\n",
			filepath.Join(dir, service.KeysFile), keys.AccessKey, keys.SecretKey)
	}
	gc := service.GatewayConfig{Listener: ln, Keys: keys, Dir: filepath.Join(dir, "tier0"), Limit: cfg.Spec.GEDS.Tier0Limit.Value()}
	if gc.Persistent, err = gedsPersistent(cfg); err != nil {
		return nil, err
	}
	return service.NewGateway(gc), nil
}

// gedsPersistent is the S3 of spec.geds.persistent, or nil when it is not
// set.
func gedsPersistent(cfg v1alpha1.Continuum) (geds.Persistent, error) {
	p := cfg.Spec.GEDS.Persistent
	if p == nil {
		return nil, nil
	}
	tier, err := s3tier.New(s3tier.Config{
		Endpoint: p.Endpoint, Secure: p.Secure, BucketPrefix: p.BucketPrefix, SignPayload: p.SignPayload,
		AccessKey: os.Getenv("CLOUDSKIN_GEDS_S3_ACCESS_KEY"), SecretKey: os.Getenv("CLOUDSKIN_GEDS_S3_SECRET_KEY"),
	})
	if err != nil {
		return nil, fmt.Errorf("spec.geds.persistent: %w", err)
	}
	return tier, nil
}

func newClientConfig(server, s3Endpoint string) v1alpha1.ClientConfig {
	return v1alpha1.ClientConfig{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindClientConfig},
		Metadata: v1alpha1.ObjectMeta{Name: "local"},
		Spec:     v1alpha1.ClientConfigSpec{Server: server, S3Endpoint: s3Endpoint},
	}
}
