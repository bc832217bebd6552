package orchestrator_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/kubetest"
)

const webManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Application }}-{{ .Component }}
spec:
  replicas: {{ .Replicas }}
  selector:
    matchLabels: {app: {{ .Application }}-{{ .Component }}}
  template:
    metadata:
      labels: {app: {{ .Application }}-{{ .Component }}}
    spec:
      containers:
        - name: web
          image: {{ .Params.image }}
`

// TestKubernetesSiteRunsKubernetesBlocks registers a site of type
// kubernetes pointing at a real kube-apiserver, deploys an application
// whose component is a kubernetes block, scales it and deletes it, and
// checks each step on the cluster itself.
func TestKubernetesSiteRunsKubernetesBlocks(t *testing.T) {
	cluster := kubetest.Start(t)
	base := startControlPlane(t)
	c, err := client.New(base)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	site := v1alpha1.NewSite("k8s", v1alpha1.SiteSpec{
		Type: v1alpha1.SiteKubernetes, Capacity: v1alpha1.Capacity{Cores: 8, Memory: v1alpha1.MustParseQuantity("16Gi")},
		Kubernetes: &v1alpha1.KubernetesSite{Kubeconfig: cluster.Kubeconfig},
	})
	if _, err := c.RegisterSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	until(t, 15*time.Second, "the kubernetes site is Ready", func() bool {
		s, err := c.GetSite(ctx, "k8s")
		return err == nil && s.Status.Phase == v1alpha1.SiteReady
	})
	image := "nginx:1.27"
	block := v1alpha1.Block{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindBlock},
		Metadata: v1alpha1.ObjectMeta{Name: "web"},
		Spec: v1alpha1.BlockSpec{Version: "1.0.0", Type: v1alpha1.BlockKubernetes,
			Kubernetes: &v1alpha1.KubernetesTemplate{Manifest: webManifest},
			Parameters: []v1alpha1.ParameterSpec{{Name: "image", Type: v1alpha1.ParamString, Default: &image}}},
	}
	if _, _, err := c.PublishBlock(ctx, block); err != nil {
		t.Fatal(err)
	}
	two := 2
	app := v1alpha1.Application{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindApplication},
		Metadata: v1alpha1.ObjectMeta{Name: "shop"},
		Spec:     v1alpha1.ApplicationSpec{Components: []v1alpha1.Component{{Name: "front", Block: "web", Replicas: &two}}},
	}
	if _, _, err := c.ApplyApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	deployments := dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace("default")
	replicasOnCluster := func() int64 {
		d, err := deployments.Get(ctx, "shop-front", metav1.GetOptions{})
		if err != nil {
			return -1
		}
		n, _, _ := unstructuredInt(d.Object, "spec", "replicas")
		if d.GetLabels()[v1alpha1.LabelApplication] != "shop" {
			t.Fatalf("deployment labels %v", d.GetLabels())
		}
		return n
	}
	until(t, 20*time.Second, "the Deployment has 2 replicas", func() bool { return replicasOnCluster() == 2 })
	// No kubelet runs here, so no pod becomes ready: the application is
	// honest about it.
	until(t, 10*time.Second, "status shows the component at k8s", func() bool {
		a, err := c.GetApplication(ctx, "shop")
		return err == nil && a.Status.Phase == v1alpha1.AppDeploying && len(a.Status.Components) == 1 &&
			a.Status.Components[0].Desired == 2 && len(a.Status.Components[0].Replicas) == 1 && a.Status.Components[0].Replicas[0].Site == "k8s"
	})
	three := 3
	app.Spec.Components[0].Replicas = &three
	if _, _, err := c.ApplyApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	until(t, 20*time.Second, "the Deployment has 3 replicas", func() bool { return replicasOnCluster() == 3 })
	if err := c.DeleteApplication(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	until(t, 20*time.Second, "the Deployment is gone", func() bool { return replicasOnCluster() == -1 })
}

func unstructuredInt(obj map[string]any, path ...string) (int64, bool, error) {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return 0, false, nil
		}
		cur = m[p]
	}
	n, ok := cur.(int64)
	return n, ok, nil
}

// until polls cond every 50 ms until it holds or within passes.
func until(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}
