package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/version"
	"github.com/cloudskin/cloudskin/orchestrator/kube"
	"github.com/cloudskin/cloudskin/orchestrator/reconcile"
	"github.com/cloudskin/cloudskin/store"
)

// kubeWorkloadPrefix keeps the record of each kubernetes block's
// component placed on a cluster: the reconciler's workload, since no
// agent reports on it (see docs/formats/store.md).
const kubeWorkloadPrefix = "/kubeworkloads/"

// kubeWorkload is the stored record of a component at a cluster.
type kubeWorkload struct {
	Name        string `json:"name"`
	Application string `json:"application"`
	Component   string `json:"component"`
	Site        string `json:"site"`
	Hash        string `json:"hash"`
	Replicas    int    `json:"replicas"`
	Serial      int    `json:"serial"`
}

// kubeSites drives the sites of type kubernetes: one client-go driver per
// site, health by pinging the cluster (recorded as the site's heartbeat),
// and the workloads of kubernetes blocks.
type kubeSites struct {
	mu      sync.Mutex
	drivers map[string]kubeDriver
}

type kubeDriver struct {
	spec   v1alpha1.KubernetesSite
	driver *kube.Driver
}

// driver returns the site's driver, made anew when its spec changed.
func (k *kubeSites) driver(s v1alpha1.Site) (*kube.Driver, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	name, spec := s.Metadata.Name, *s.Spec.Kubernetes
	if d, ok := k.drivers[name]; ok && reflect.DeepEqual(d.spec, spec) {
		return d.driver, nil
	}
	d, err := kube.New(spec)
	if err != nil {
		return nil, fmt.Errorf("site %s: %w", name, err)
	}
	if k.drivers == nil {
		k.drivers = map[string]kubeDriver{}
	}
	k.drivers[name] = kubeDriver{spec: spec, driver: d}
	return d, nil
}

// pingKubeSites heartbeats each kubernetes site whose cluster answers,
// so that it is Ready exactly while its API server is reachable.
func (cp *ControlPlane) pingKubeSites(ctx context.Context, list []v1alpha1.Site) {
	for _, s := range list {
		if s.Spec.Type != v1alpha1.SiteKubernetes || s.Spec.Kubernetes == nil {
			continue
		}
		d, err := cp.kube.driver(s)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = d.Ping(pctx)
			cancel()
		}
		if err != nil {
			if s.Status.Phase == v1alpha1.SiteReady {
				cp.log.Warn("kubernetes site unreachable", "site", s.Metadata.Name, "err", err)
			}
			continue
		}
		hb := v1alpha1.Heartbeat{Agent: v1alpha1.AgentInfo{Version: version.Get().Version, Hostname: "kubernetes:" + d.Namespace()}}
		if _, err := cp.sites.Heartbeat(ctx, s.Metadata.Name, hb); err != nil && ctx.Err() == nil {
			cp.log.Warn("recording a kubernetes site's health", "site", s.Metadata.Name, "err", err)
		}
	}
}

// kubeWorkloads reads the records of kubernetes components back as
// workloads, with their readiness from the cluster.
func (cp *ControlPlane) kubeWorkloads(ctx context.Context, sites []v1alpha1.Site) ([]reconcile.Workload, error) {
	records, err := store.ListJSON[kubeWorkload](ctx, cp.store, kubeWorkloadPrefix)
	if err != nil {
		return nil, err
	}
	byName := map[string]v1alpha1.Site{}
	for _, s := range sites {
		byName[s.Metadata.Name] = s
	}
	var out []reconcile.Workload
	for _, r := range records {
		w := reconcile.Workload{
			Name: r.Name, Application: r.Application, Component: r.Component, Site: r.Site,
			Hash: r.Hash, Serial: r.Serial, Replicas: r.Replicas, Phase: reconcile.Pending, Started: true,
		}
		if s, ok := byName[r.Site]; ok && s.Spec.Kubernetes != nil {
			if d, err := cp.kube.driver(s); err == nil {
				sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				st, err := d.Status(sctx, r.Application, r.Component)
				cancel()
				switch {
				case err != nil:
					w.Message = err.Error()
				default:
					w.Ready, w.Message = st.ReadyReplicas, st.Message
					if st.Ready {
						w.Phase = reconcile.Running
					}
				}
			}
		}
		out = append(out, w)
	}
	return out, nil
}

// isKubeWorkload reports whether name is a kubernetes component's record.
func (cp *ControlPlane) kubeRecord(ctx context.Context, name string) (kubeWorkload, bool, error) {
	var r kubeWorkload
	err := store.GetJSON(ctx, cp.store, kubeWorkloadPrefix+name, &r)
	if errors.Is(err, store.ErrNotFound) {
		return r, false, nil
	}
	return r, err == nil, err
}

// applyKube renders a kubernetes block for its component and applies it
// to the cluster of the workload's site, then records the workload.
func (cp *ControlPlane) applyKube(ctx context.Context, c reconcile.Create) error {
	w := c.Workload
	site, err := cp.sites.Get(ctx, w.Site)
	if err != nil {
		return err
	}
	if site.Spec.Kubernetes == nil {
		return fmt.Errorf("site %s is not a kubernetes site", w.Site)
	}
	d, err := cp.kube.driver(site)
	if err != nil {
		return err
	}
	objs, err := kube.Render(c.Block.Spec.Kubernetes.Manifest, kube.RenderData{
		Params: c.Params, Application: w.Application, Component: w.Component, Replicas: w.Replicas,
		Labels: map[string]string{v1alpha1.LabelTemplate: w.Hash, v1alpha1.LabelSerial: strconv.Itoa(w.Serial)},
	})
	if err != nil {
		return fmt.Errorf("block %s: %w", c.Block.Ref(), err)
	}
	if err := d.Apply(ctx, w.Application, w.Component, objs); err != nil {
		return err
	}
	if err := d.Scale(ctx, w.Application, w.Component, w.Replicas); err != nil && !errors.Is(err, kube.ErrNoWorkloads) {
		return err
	}
	return store.PutJSON(ctx, cp.store, kubeWorkloadPrefix+w.Name, kubeWorkload{
		Name: w.Name, Application: w.Application, Component: w.Component, Site: w.Site,
		Hash: w.Hash, Replicas: w.Replicas, Serial: w.Serial,
	})
}

// deleteKube removes a kubernetes component's objects and its record.
func (cp *ControlPlane) deleteKube(ctx context.Context, r kubeWorkload) error {
	site, err := cp.sites.Get(ctx, r.Site)
	if err == nil && site.Spec.Kubernetes != nil {
		d, derr := cp.kube.driver(site)
		if derr == nil {
			derr = d.Delete(ctx, r.Application, r.Component)
		}
		if derr != nil {
			return derr // keep the record: the next pass tries again
		}
	}
	if err := cp.store.Delete(ctx, kubeWorkloadPrefix+r.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}
