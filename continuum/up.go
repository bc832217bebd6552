package continuum

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/cloudskin/cloudskin/agent"
	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/geds/metadata"
	"github.com/cloudskin/cloudskin/geds/s3tier"
	"github.com/cloudskin/cloudskin/geds/service"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/orchestrator"
	"github.com/cloudskin/cloudskin/store/bolt"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

// File names under the data directory.
const (
	StoreFile        = "state.db"
	ClientConfigFile = "client.yaml"
)

// Up runs the embedded continuum described by cfg until ctx ends: the
// control plane and one node agent per configured site, all in this process.
func Up(ctx context.Context, cfg v1alpha1.Continuum, log *slog.Logger, out io.Writer) error {
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
	clientConfig := filepath.Join(dataDir, ClientConfigFile)
	if err := config.WriteClientConfig(clientConfig, newClientConfig(rt.URL(), s3.Addr().String())); err != nil {
		rt.Close()
		s3.Close()
		return err
	}
	comps, err := components(cfg)
	if err == nil {
		var gw *service.Gateway
		if gw, err = gedsGateway(cfg, s3, out); err == nil {
			comps = append(comps, metadata.NewService(metadata.Config{}), gw)
		}
	}
	if err != nil {
		rt.Close()
		s3.Close()
		return err
	}
	fmt.Fprintf(out, "cloudskin up: control plane at %s, data in %s, client config %s\n", rt.URL(), dataDir, clientConfig)
	return rt.Run(ctx, comps...)
}

// components lists what the embedded continuum runs. Later parts (GEDS,
// streams, cells, learning plane, dashboard) are appended here.
func components(cfg v1alpha1.Continuum) ([]component.Component, error) {
	hb := cfg.Spec.Heartbeat
	comps := []component.Component{
		orchestrator.New(orchestrator.Options{NotReadyAfter: hb.NotReadyAfter.Duration}),
		// The stream store, in <data>/streams, its API under /streams/v1.
		streamapi.NewComponent(stream.Options{}),
	}
	for _, tmpl := range cfg.Spec.Sites {
		site := v1alpha1.NewSite(tmpl.Name, tmpl.Spec)
		site.Metadata.Labels = tmpl.Labels
		a, err := agent.New(site, hb.Interval.Duration, "")
		if err != nil {
			return nil, err
		}
		comps = append(comps, a)
	}
	return comps, nil
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
	g := cfg.Spec.GEDS
	gc := service.GatewayConfig{Listener: ln, Keys: keys, Dir: filepath.Join(dir, "tier0"), Limit: g.Tier0Limit.Value()}
	if p := g.Persistent; p != nil {
		tier, err := s3tier.New(s3tier.Config{
			Endpoint: p.Endpoint, Secure: p.Secure, BucketPrefix: p.BucketPrefix,
			AccessKey: os.Getenv("CLOUDSKIN_GEDS_S3_ACCESS_KEY"), SecretKey: os.Getenv("CLOUDSKIN_GEDS_S3_SECRET_KEY"),
		})
		if err != nil {
			return nil, fmt.Errorf("spec.geds.persistent: %w", err)
		}
		gc.Persistent = tier
	}
	return service.NewGateway(gc), nil
}

func newClientConfig(server, s3Endpoint string) v1alpha1.ClientConfig {
	return v1alpha1.ClientConfig{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindClientConfig},
		Metadata: v1alpha1.ObjectMeta{Name: "local"},
		Spec:     v1alpha1.ClientConfigSpec{Server: server, S3Endpoint: s3Endpoint},
	}
}
