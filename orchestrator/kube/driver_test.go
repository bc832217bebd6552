package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/kubetest"
)

// cluster is one real kube-apiserver shared by this package's tests; each
// test works in a namespace of its own.
var cluster kubetest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	cluster.Stop()
	os.Exit(code)
}

var (
	deployments = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	services    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	configMaps  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	namespaces  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
)

// env is a driver for a fresh namespace of the shared cluster, and a
// plain dynamic client to look behind its back.
type env struct {
	driver *Driver
	client dynamic.Interface
	ns     string
	ctx    context.Context
}

func newEnv(t *testing.T) env {
	t.Helper()
	c := cluster.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	client, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := "t-" + randomSuffix(t)
	nsObj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns},
	}}
	if _, err := client.Resource(namespaces).Create(ctx, nsObj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", ns, err)
	}
	// No cleanup: without a controller manager a deleted namespace stays
	// Terminating; the cluster is thrown away after the tests.
	d, err := NewForConfig(c.Config, ns)
	if err != nil {
		t.Fatal(err)
	}
	return env{driver: d, client: client, ns: ns, ctx: ctx}
}

func (e env) render(t *testing.T, params map[string]string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(webManifest, webData(params))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func (e env) get(t *testing.T, gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	t.Helper()
	obj, err := e.client.Resource(gvr).Namespace(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", gvr.Resource, e.ns, name, err)
	}
	return obj
}

func (e env) exists(t *testing.T, gvr schema.GroupVersionResource, name string) bool {
	t.Helper()
	_, err := e.client.Resource(gvr).Namespace(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", gvr.Resource, e.ns, name, err)
	}
	return true
}

// TestApplyCreatesLabelledObjects applies a rendered Deployment, Service and
// ConfigMap and reads them back: in the driver's namespace, with the
// parameters rendered, the labels set, and owned by field manager
// "cloudskin" through server-side apply.
func TestApplyCreatesLabelledObjects(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	dep := e.get(t, deployments, "web")
	svc := e.get(t, services, "web")
	cm := e.get(t, configMaps, "web-config")
	for _, o := range []*unstructured.Unstructured{dep, svc, cm} {
		if o.GetNamespace() != e.ns {
			t.Errorf("%s %s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), e.ns)
		}
		l := o.GetLabels()
		if l[LabelApplication] != "shop" || l[LabelComponent] != "web" || l[LabelManagedBy] != "cloudskin" {
			t.Errorf("%s %s labels = %v", o.GetKind(), o.GetName(), l)
		}
		if !managedByApply(o) {
			t.Errorf("%s %s managed fields = %v, want an Apply by %q", o.GetKind(), o.GetName(), o.GetManagedFields(), ManagedBy)
		}
	}
	checkField(t, dep, "nginx:1.27", "spec", "template", "spec", "containers", 0, "image")
	checkField(t, dep, int64(8080), "spec", "template", "spec", "containers", 0, "ports", 0, "containerPort")
	checkField(t, dep, int64(2), "spec", "replicas")
	checkField(t, dep, "web", "spec", "template", "metadata", "labels", LabelComponent)
	checkField(t, svc, int64(8080), "spec", "ports", 0, "port")
	checkField(t, cm, "hello: world", "data", "greeting")
}

func managedByApply(o *unstructured.Unstructured) bool {
	return slices.ContainsFunc(o.GetManagedFields(), func(f metav1.ManagedFieldsEntry) bool {
		return f.Manager == ManagedBy && f.Operation == metav1.ManagedFieldsOperationApply
	})
}

// TestApplyDoesNotModifyItsInput checks that Apply works on copies: the
// caller's objects get no namespace from it.
func TestApplyDoesNotModifyItsInput(t *testing.T) {
	e := newEnv(t)
	objs := e.render(t, nil)
	if err := e.driver.Apply(e.ctx, "shop", "web", objs); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetNamespace() != "" {
			t.Errorf("Apply set namespace %q on the caller's %s", o.GetNamespace(), o.GetKind())
		}
	}
}

// TestReapplyUpdatesWithoutConflict re-applies with a changed parameter
// after someone else (a kubectl edit) changed the same field: server-side
// apply with force takes the field back, and the new value is stored.
func TestReapplyUpdatesWithoutConflict(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	edit := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"edited-by-hand"}]}}}}`)
	if _, err := e.client.Resource(deployments).Namespace(e.ns).Patch(e.ctx, "web", types.StrategicMergePatchType, edit,
		metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, map[string]string{"image": "nginx:1.28", "greeting": "bye"})); err != nil {
		t.Fatalf("re-apply over another manager's change: %v", err)
	}
	checkField(t, e.get(t, deployments, "web"), "nginx:1.28", "spec", "template", "spec", "containers", 0, "image")
	checkField(t, e.get(t, configMaps, "web-config"), "bye", "data", "greeting")
}

// TestApplyPrunesWhatIsGone applies without the ConfigMap: it is deleted,
// the rest stays, and another component's ConfigMap is left alone.
func TestApplyPrunesWhatIsGone(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	other, err := Render(webManifest, RenderData{Params: webData(nil).Params, Application: "shop", Component: "api", Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.driver.Apply(e.ctx, "shop", "api", other); err != nil {
		t.Fatal(err)
	}

	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, map[string]string{"withConfig": "false"})); err != nil {
		t.Fatal(err)
	}
	if e.exists(t, configMaps, "web-config") {
		t.Error("web-config still exists after an apply without it")
	}
	for _, o := range []struct {
		gvr  schema.GroupVersionResource
		name string
	}{{deployments, "web"}, {services, "web"}, {configMaps, "api-config"}, {deployments, "api"}} {
		if !e.exists(t, o.gvr, o.name) {
			t.Errorf("%s %s was deleted; only web-config should be", o.gvr.Resource, o.name)
		}
	}
}

// TestPruneLeavesControllerOwnedObjects checks that objects a controller
// made from the component's templates (they copy its labels, as a
// ReplicaSet's pods do) are not pruned: their owner is.
func TestPruneLeavesControllerOwnedObjects(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	dep := e.get(t, deployments, "web")
	owned := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "made-by-a-controller", "labels": map[string]any{
			LabelApplication: "shop", LabelComponent: "web", LabelManagedBy: ManagedBy,
		}},
	}}
	owned.SetOwnerReferences([]metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.GetUID(), Controller: new(true),
	}})
	if _, err := e.client.Resource(configMaps).Namespace(e.ns).Create(e.ctx, owned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	if !e.exists(t, configMaps, "made-by-a-controller") {
		t.Error("an object owned by the component's Deployment was pruned")
	}
	st, err := e.driver.Status(e.ctx, "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Objects) != 3 {
		t.Errorf("status lists %v; want only the three applied objects", st.Objects)
	}
}

// TestApplyStopsAtTheFirstBadObject checks that an object the server
// refuses fails the apply with an error naming it, and that nothing is
// pruned after a failed apply.
func TestApplyStopsAtTheFirstBadObject(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	bad := e.render(t, map[string]string{"withConfig": "false"}) // Deployment, Service
	unstructured.RemoveNestedField(bad[0].Object, "spec", "selector")
	err := e.driver.Apply(e.ctx, "shop", "web", bad)
	if err == nil {
		t.Fatal("a Deployment without a selector was accepted")
	}
	if want := "kube: apply apps/v1 Deployment " + e.ns + "/web: "; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	if !e.exists(t, configMaps, "web-config") {
		t.Error("web-config was pruned by an apply that failed")
	}

	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"},
	}}
	err = e.driver.Apply(e.ctx, "shop", "web", []*unstructured.Unstructured{widget})
	if err == nil || !strings.Contains(err.Error(), "example.com/v1 Widget w") || !strings.Contains(err.Error(), "does not serve") {
		t.Errorf("apply of a kind the cluster does not serve: err = %v", err)
	}
}

// TestApplyClusterScopedAndOtherNamespace checks placement and pruning
// outside the site's namespace: a cluster-wide object gets no namespace, an
// object naming a namespace keeps it, and both are pruned by an apply that
// still writes that kind (cluster-wide) or to that namespace.
func TestApplyClusterScopedAndOtherNamespace(t *testing.T) {
	e := newEnv(t)
	roles := schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}
	role := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
			"metadata": map[string]any{"name": e.ns + "-" + name, "namespace": "ignored"},
			"rules":    []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"configmaps"}, "verbs": []any{"get"}}},
		}}
	}
	elsewhere := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": e.ns + "-" + name, "namespace": "default"},
		}}
	}
	getRole := func(name string) error {
		_, err := e.client.Resource(roles).Get(e.ctx, e.ns+"-"+name, metav1.GetOptions{})
		return err
	}
	getElsewhere := func(name string) error {
		_, err := e.client.Resource(configMaps).Namespace("default").Get(e.ctx, e.ns+"-"+name, metav1.GetOptions{})
		return err
	}

	if err := e.driver.Apply(e.ctx, "shop", "web", []*unstructured.Unstructured{role("a"), elsewhere("a")}); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.Resource(roles).Get(e.ctx, e.ns+"-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetNamespace() != "" || got.GetLabels()[LabelComponent] != "web" {
		t.Errorf("ClusterRole namespace %q labels %v", got.GetNamespace(), got.GetLabels())
	}
	if err := getElsewhere("a"); err != nil {
		t.Errorf("ConfigMap naming namespace default: %v", err)
	}

	if err := e.driver.Apply(e.ctx, "shop", "web", []*unstructured.Unstructured{role("b"), elsewhere("b")}); err != nil {
		t.Fatal(err)
	}
	if err := getRole("a"); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRole a after an apply with only b: err = %v, want NotFound", err)
	}
	if err := getElsewhere("a"); !apierrors.IsNotFound(err) {
		t.Errorf("ConfigMap a in default after an apply with only b: err = %v, want NotFound", err)
	}
	if getRole("b") != nil || getElsewhere("b") != nil {
		t.Error("the objects of the second apply are missing")
	}
}

// TestSitesSharingAClusterAreSeparate runs one component at two sites that
// are two namespaces of one cluster: pruning and deleting at one leave the
// other's objects alone, although they carry the same labels.
func TestSitesSharingAClusterAreSeparate(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	for _, e := range []env{a, b} {
		if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.driver.Apply(a.ctx, "shop", "web", a.render(t, map[string]string{"withConfig": "false"})); err != nil {
		t.Fatal(err)
	}
	if a.exists(t, configMaps, "web-config") || !b.exists(t, configMaps, "web-config") {
		t.Error("pruning at one site reached the other, or did not happen")
	}
	if err := a.driver.Delete(a.ctx, "shop", "web"); err != nil {
		t.Fatal(err)
	}
	if a.exists(t, deployments, "web") || !b.exists(t, deployments, "web") || !b.exists(t, services, "web") {
		t.Error("Delete at one site reached the other, or did not happen")
	}
}

// TestApplyFindsKindsDefinedLater defines a custom resource after the
// driver has read the cluster's discovery, and applies an object of it:
// the driver must read discovery again rather than call the kind unknown.
func TestApplyFindsKindsDefinedLater(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err) // discovery is now cached
	}
	group := e.ns + ".example.com"
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets." + group},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := e.client.Resource(crds).Create(e.ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	widgets := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}
	waitServed(t, e, widgets)

	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"},
		"spec": map[string]any{"size": int64(3)},
	}}
	if err := e.driver.Apply(e.ctx, "shop", "web", append(e.render(t, nil), widget)); err != nil {
		t.Fatalf("apply of a kind defined after discovery was cached: %v", err)
	}
	got, err := e.client.Resource(widgets).Namespace(e.ns).Get(e.ctx, "w", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkField(t, got, int64(3), "spec", "size")
	if got.GetLabels()[LabelComponent] != "web" {
		t.Errorf("Widget labels = %v", got.GetLabels())
	}
}

// waitServed waits until listing gvr works, i.e. the API server serves a
// newly defined custom resource.
func waitServed(t *testing.T, e env, gvr schema.GroupVersionResource) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := e.client.Resource(gvr).Namespace(e.ns).List(e.ctx, metav1.ListOptions{})
		if err == nil {
			return
		}
		select {
		case <-e.ctx.Done():
			t.Fatalf("%s not served: %v", gvr, err)
		case <-tick.C:
		}
	}
}

// TestScaleAndStatus scales the Deployment to 3 through the scale
// subresource and reads the status back: 3 desired, none ready (no kubelet
// runs them), not ready, with the objects listed.
func TestScaleAndStatus(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	if err := e.driver.Scale(e.ctx, "shop", "web", 3); err != nil {
		t.Fatal(err)
	}
	checkField(t, e.get(t, deployments, "web"), int64(3), "spec", "replicas")

	st, err := e.driver.Status(e.ctx, "shop", "web")
	if err != nil {
		t.Fatal(err)
	}
	if st.DesiredReplicas != 3 || st.ReadyReplicas != 0 || st.Ready {
		t.Errorf("status = %+v, want 3 desired, 0 ready, not ready", st)
	}
	want := []ObjectStatus{
		{Kind: "ConfigMap", Name: "web-config", Namespace: e.ns},
		{Kind: "Deployment", Name: "web", Namespace: e.ns},
		{Kind: "Service", Name: "web", Namespace: e.ns},
	}
	if !slices.Equal(st.Objects, want) {
		t.Errorf("objects = %v, want %v", st.Objects, want)
	}
	if !strings.Contains(st.Message, "Deployment web: 0/3 replicas ready") {
		t.Errorf("message %q does not say 0/3 ready", st.Message)
	}

	if err := e.driver.Scale(e.ctx, "shop", "web", -1); err == nil {
		t.Error("Scale to -1 was accepted")
	}
	if err := e.driver.Scale(e.ctx, "shop", "nothing", 2); err == nil || !strings.Contains(err.Error(), "no Deployment or StatefulSet") {
		t.Errorf("Scale of a component with no workload: err = %v", err)
	}
}

// TestStatusOfWorkloadlessComponent checks that a component without
// Deployments or StatefulSets is ready once its objects exist, and that an
// unknown one is not.
func TestStatusOfWorkloadlessComponent(t *testing.T) {
	e := newEnv(t)
	objs := e.render(t, nil)
	if err := e.driver.Apply(e.ctx, "shop", "config", objs[:1]); err != nil {
		t.Fatal(err)
	}
	st, err := e.driver.Status(e.ctx, "shop", "config")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Ready || len(st.Objects) != 1 || st.DesiredReplicas != 0 {
		t.Errorf("status of a lone ConfigMap = %+v, want ready with one object", st)
	}
	st, err = e.driver.Status(e.ctx, "shop", "missing")
	if err != nil {
		t.Fatal(err)
	}
	if st.Ready || len(st.Objects) != 0 || !strings.Contains(st.Message, "no objects") {
		t.Errorf("status of an unknown component = %+v, want not ready, no objects", st)
	}
}

// TestDeleteIsIdempotent deletes a component's objects, checks they are
// gone, and deletes again.
func TestDeleteIsIdempotent(t *testing.T) {
	e := newEnv(t)
	if err := e.driver.Apply(e.ctx, "shop", "web", e.render(t, nil)); err != nil {
		t.Fatal(err)
	}
	if err := e.driver.Delete(e.ctx, "shop", "web"); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		gvr  schema.GroupVersionResource
		name string
	}{{deployments, "web"}, {services, "web"}, {configMaps, "web-config"}} {
		if e.exists(t, o.gvr, o.name) {
			t.Errorf("%s %s still exists after Delete", o.gvr.Resource, o.name)
		}
	}
	if err := e.driver.Delete(e.ctx, "shop", "web"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	st, err := e.driver.Status(e.ctx, "shop", "web")
	if err != nil || len(st.Objects) != 0 || st.Ready {
		t.Errorf("status after Delete = %+v, %v; want no objects, not ready", st, err)
	}
}

// TestNewFromKubeconfig loads the kubeconfig file the test cluster wrote,
// as a kubernetes site names it, and pings the cluster; a context the
// file does not have, or no file, is a clear error.
func TestNewFromKubeconfig(t *testing.T) {
	c := cluster.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, site := range []v1alpha1.KubernetesSite{
		{Kubeconfig: c.Kubeconfig},
		{Kubeconfig: c.Kubeconfig, Context: kubetest.ContextName, Namespace: "edge"},
	} {
		d, err := New(site)
		if err != nil {
			t.Fatalf("New(%+v): %v", site, err)
		}
		if err := d.Ping(ctx); err != nil {
			t.Errorf("Ping through %+v: %v", site, err)
		}
		want := site.Namespace
		if want == "" {
			want = DefaultNamespace
		}
		if d.Namespace() != want {
			t.Errorf("Namespace() = %q, want %q", d.Namespace(), want)
		}
	}

	if _, err := New(v1alpha1.KubernetesSite{Kubeconfig: c.Kubeconfig, Context: "prod"}); err == nil ||
		!strings.Contains(err.Error(), `"prod"`) || !strings.Contains(err.Error(), kubetest.ContextName) {
		t.Errorf("unknown context: err = %v, want one naming it and the contexts there are", err)
	}
	missing := t.TempDir() + "/nope.yaml"
	if _, err := New(v1alpha1.KubernetesSite{Kubeconfig: missing}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing kubeconfig: err = %v, want one naming the path", err)
	}
	if _, err := New(v1alpha1.KubernetesSite{}); err == nil {
		t.Error("a site without a kubeconfig path was accepted")
	}
}

// TestDocumentedRBACIsEnough binds the Role that docs/kubernetes.md gives
// for a site's user to a service account and runs every driver operation
// as that account: the documented permissions must be enough.
func TestDocumentedRBACIsEnough(t *testing.T) {
	e := newEnv(t)
	rbac := documentedRBAC(t)
	rbac = strings.ReplaceAll(rbac, "namespace: cloudskin", "namespace: "+e.ns)
	objs, err := Render(rbac, RenderData{Application: "cloudskin", Component: "rbac"})
	if err != nil {
		t.Fatalf("the documented RBAC does not render: %v", err)
	}
	if err := e.driver.Apply(e.ctx, "cloudskin", "rbac", objs); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(cluster.Get(t).Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + e.ns + ":cloudskin"}
	d, err := NewForConfig(cfg, e.ns)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"ping", func() error { return d.Ping(e.ctx) }},
		{"apply (create)", func() error { return d.Apply(e.ctx, "shop", "web", e.render(t, nil)) }},
		{"apply (update)", func() error { return d.Apply(e.ctx, "shop", "web", e.render(t, map[string]string{"image": "nginx:2"})) }},
		{"apply (prune)", func() error {
			return d.Apply(e.ctx, "shop", "web", e.render(t, map[string]string{"withConfig": "false"}))
		}},
		{"scale", func() error { return d.Scale(e.ctx, "shop", "web", 3) }},
		{"status", func() error { _, err := d.Status(e.ctx, "shop", "web"); return err }},
		{"delete", func() error { return d.Delete(e.ctx, "shop", "web") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Errorf("%s as the documented service account: %v", s.name, err)
		}
	}
	if e.exists(t, deployments, "web") {
		t.Error("the Deployment survived Delete")
	}

	// And the account is no administrator: the Role is what lets it in.
	outside, err := NewForConfig(cfg, "default")
	if err != nil {
		t.Fatal(err)
	}
	if err := outside.Apply(e.ctx, "shop", "web", e.render(t, nil)); !apierrors.IsForbidden(err) {
		t.Errorf("apply in a namespace without the Role: err = %v, want Forbidden", err)
	}
}

// documentedRBAC returns the YAML block of docs/kubernetes.md that holds
// the site user's Role.
func documentedRBAC(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/kubernetes.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")
	for _, b := range blocks[1:] {
		block, _, _ := strings.Cut(b, "```")
		if strings.Contains(block, "kind: Role\n") {
			return block
		}
	}
	t.Fatal("docs/kubernetes.md has no yaml block with the Role")
	return ""
}

// TestPingUnreachable checks that Ping fails, and returns by its context's
// deadline, when nothing listens and when a server accepts connections but
// never answers.
func TestPingUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	done := make(chan struct{})
	defer close(done)
	go holdConnections(silent, done)

	for _, addr := range []string{closedAddr, silent.Addr().String()} {
		d, err := NewForConfig(&rest.Config{Host: "https://" + addr, BearerToken: "x"}, "")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		began := time.Now()
		err = d.Ping(ctx)
		cancel()
		if err == nil {
			t.Errorf("Ping of %s succeeded", addr)
		} else if !strings.Contains(err.Error(), addr) {
			t.Errorf("Ping error %q does not name %s", err, addr)
		}
		if took := time.Since(began); took > 10*time.Second {
			t.Errorf("Ping of %s took %s despite a 500ms deadline", addr, took)
		}
	}
}

// holdConnections accepts connections and never writes to them, like a
// server that hangs, until done is closed.
func holdConnections(l net.Listener, done <-chan struct{}) {
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for {
		select {
		case c, ok := <-accepted:
			if !ok {
				return
			}
			conns = append(conns, c)
		case <-done:
			return
		}
	}
}

// BenchmarkApply measures a steady-state apply (nothing changes) of the
// three web objects, with the prune search, against the real API server:
// 3 patches and 5 lists. The client's rate limit is lifted so that the
// round trips are measured, not the limiter (50 requests/s by default,
// which would hold this loop to about 6 applies/s).
func BenchmarkApply(b *testing.B) {
	cfg := rest.CopyConfig(cluster.Get(b).Config)
	cfg.QPS, cfg.Burst = 1e6, 1e6
	d, err := NewForConfig(cfg, "default")
	if err != nil {
		b.Fatal(err)
	}
	objs, err := Render(webManifest, RenderData{Params: webData(nil).Params, Application: "bench", Component: "web", Replicas: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if err := d.Apply(ctx, "bench", "web", objs); err != nil {
			b.Fatal(err)
		}
	}
}

func randomSuffix(t *testing.T) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
