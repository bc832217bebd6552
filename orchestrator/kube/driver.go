package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// DefaultNamespace is where namespaced objects go when the site names no
// namespace.
const DefaultNamespace = "default"

// The kinds searched by label when pruning, deleting and reporting status,
// besides the kinds being applied: what block templates usually hold. A
// component's objects of other kinds are pruned only while a kind of theirs
// is still applied (see docs/kubernetes.md).
var (
	kindDeployment  = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	kindStatefulSet = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	searchedKinds   = []schema.GroupVersionKind{
		kindDeployment,
		kindStatefulSet,
		{Version: "v1", Kind: "Service"},
		{Version: "v1", Kind: "ConfigMap"},
		{Group: "batch", Version: "v1", Kind: "Job"},
	}
	workloadKinds = []schema.GroupVersionKind{kindDeployment, kindStatefulSet}
)

// ErrNoWorkloads is wrapped by Scale's error for a component with no
// Deployment or StatefulSet (only ConfigMaps, Services...): nothing to scale.
var ErrNoWorkloads = errors.New("no Deployment or StatefulSet has its labels")

// Driver drives one Kubernetes cluster (one site). It keeps no state but a
// cache of the cluster's discovery, and is safe for concurrent use.
type Driver struct {
	host      string // the API server's URL, for errors
	namespace string
	dynamic   dynamic.Interface
	discovery *discovery.DiscoveryClient
	mapper    *restmapper.DeferredDiscoveryRESTMapper
}

// New returns a driver for the cluster a kubernetes site points at: its
// kubeconfig file, the context in it (its current context if empty), and
// the namespace (DefaultNamespace if empty).
func New(site v1alpha1.KubernetesSite) (*Driver, error) {
	cfg, err := RESTConfig(site.Kubeconfig, site.Context)
	if err != nil {
		return nil, err
	}
	return NewForConfig(cfg, site.Namespace)
}

// RESTConfig reads a kubeconfig file and returns how to reach the cluster
// of the named context (the file's current context if empty).
func RESTConfig(kubeconfig, context string) (*rest.Config, error) {
	if kubeconfig == "" {
		return nil, errors.New("kube: no kubeconfig path")
	}
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kube: kubeconfig %s: %w", kubeconfig, err)
	}
	// Paths in the file (certificate-authority, client-key, ...) are
	// relative to the file, not to our working directory.
	if err := clientcmd.ResolveLocalPaths(raw); err != nil {
		return nil, fmt.Errorf("kube: kubeconfig %s: %w", kubeconfig, err)
	}
	name := context
	if name == "" {
		name = raw.CurrentContext
	}
	if name == "" {
		return nil, fmt.Errorf("kube: kubeconfig %s: no context given and no current-context set", kubeconfig)
	}
	if raw.Contexts[name] == nil {
		return nil, fmt.Errorf("kube: kubeconfig %s: no context %q (it has %s)",
			kubeconfig, name, strings.Join(slices.Sorted(maps.Keys(raw.Contexts)), ", "))
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kube: kubeconfig %s, context %s: %w", kubeconfig, name, err)
	}
	return cfg, nil
}

// NewForConfig returns a driver for the cluster cfg reaches, putting
// namespaced objects in namespace (DefaultNamespace if empty).
func NewForConfig(cfg *rest.Config, namespace string) (*Driver, error) {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = "cloudskin"
	}
	// client-go's default (5 queries/s) would make an apply with pruning
	// of a few objects wait on the limiter, not the server.
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: client for %s: %w", cfg.Host, err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube: discovery client for %s: %w", cfg.Host, err)
	}
	return &Driver{
		host:      cfg.Host,
		namespace: namespace,
		dynamic:   dyn,
		discovery: disc,
		// Discovery is read once and kept; place reads it again when an
		// object is of a kind it does not know (a CRD installed since).
		mapper: restmapper.NewDeferredDiscoveryRESTMapperWithContext(memory.NewMemCacheClientWithContext(disc)),
	}, nil
}

// Namespace is where the driver puts namespaced objects that name none.
func (d *Driver) Namespace() string { return d.namespace }

// Ping checks that the cluster answers, by asking its version.
func (d *Driver) Ping(ctx context.Context) error {
	if _, err := d.discovery.ServerVersionWithContext(ctx); err != nil {
		return fmt.Errorf("kube: ping %s: %w", d.host, err)
	}
	return nil
}

// Apply makes the component's objects in the cluster be objs: each is
// server-side applied (labelled for app and component, namespaced ones put
// in the site's namespace unless they name one), then the component's
// objects that are no longer in objs are deleted. objs are not modified.
// The first object that fails stops the apply before anything is pruned.
func (d *Driver) Apply(ctx context.Context, app, component string, objs []*unstructured.Unstructured) error {
	labels, err := objectLabels(RenderData{Application: app, Component: component})
	if err != nil {
		return err
	}
	keep := map[objectKey]bool{}
	kinds := slices.Clone(searchedKinds)
	namespaces := []string{d.namespace}
	for _, in := range objs {
		obj := in.DeepCopy()
		addLabels(obj, labels)
		mapping, err := d.place(ctx, obj)
		if err != nil {
			return err
		}
		_, err = d.resource(mapping, obj.GetNamespace()).Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{
			FieldManager: ManagedBy,
			Force:        true,
		})
		if err != nil {
			return fmt.Errorf("kube: apply %s: %w", describe(obj), err)
		}
		keep[keyOf(obj)] = true
		if !slices.Contains(kinds, obj.GroupVersionKind()) {
			kinds = append(kinds, obj.GroupVersionKind())
		}
		if ns := obj.GetNamespace(); ns != "" && !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	return d.prune(ctx, app, component, kinds, namespaces, keep)
}

// place finds how obj is served and sets its namespace: the site's for a
// namespaced object that names none, none for a cluster-wide one.
func (d *Driver) place(ctx context.Context, obj *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := d.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// Discovery is cached for the driver's life; the kind may be a
		// custom resource defined since. Read discovery again, once.
		d.mapper.ResetWithContext(ctx)
		mapping, err = d.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, fmt.Errorf("kube: apply %s: the cluster does not serve this kind: %w", describe(obj), err)
	}
	if err != nil {
		return nil, fmt.Errorf("kube: apply %s: discovery: %w", describe(obj), err)
	}
	switch {
	case mapping.Scope.Name() != meta.RESTScopeNameNamespace:
		obj.SetNamespace("")
	case obj.GetNamespace() == "":
		obj.SetNamespace(d.namespace)
	}
	return mapping, nil
}

// prune deletes the component's objects of the given kinds and namespaces
// that are not in keep.
func (d *Driver) prune(ctx context.Context, app, component string, kinds []schema.GroupVersionKind, namespaces []string, keep map[objectKey]bool) error {
	found, err := d.find(ctx, app, component, kinds, namespaces)
	if err != nil {
		return fmt.Errorf("kube: prune %s/%s: %w", app, component, err)
	}
	var errs []error
	for _, f := range found {
		if keep[keyOf(f.obj)] {
			continue
		}
		if err := d.delete(ctx, f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delete deletes every object of the component (of the kinds the driver
// searches, in the site's namespace). Deleting what is gone is no error.
func (d *Driver) Delete(ctx context.Context, app, component string) error {
	found, err := d.find(ctx, app, component, searchedKinds, []string{d.namespace})
	if err != nil {
		return fmt.Errorf("kube: delete %s/%s: %w", app, component, err)
	}
	var errs []error
	for _, f := range found {
		if err := d.delete(ctx, f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// delete deletes one object; its dependents (a Deployment's ReplicaSets
// and pods) are left to the cluster's garbage collector, in the
// background, as kubectl does. An object already gone is no error.
func (d *Driver) delete(ctx context.Context, f foundObject) error {
	background := metav1.DeletePropagationBackground
	err := d.resource(f.mapping, f.obj.GetNamespace()).Delete(ctx, f.obj.GetName(), metav1.DeleteOptions{
		PropagationPolicy: &background,
		// Delete what was listed, not a namesake created since.
		Preconditions: &metav1.Preconditions{UID: new(f.obj.GetUID())},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("kube: delete %s: %w", describe(f.obj), err)
	}
	return nil
}

// Scale sets the replica count of the component's Deployments and
// StatefulSets through their scale subresource.
func (d *Driver) Scale(ctx context.Context, app, component string, replicas int) error {
	if replicas < 0 {
		return fmt.Errorf("kube: scale %s/%s: replicas %d: must not be negative", app, component, replicas)
	}
	found, err := d.find(ctx, app, component, workloadKinds, []string{d.namespace})
	if err != nil {
		return fmt.Errorf("kube: scale %s/%s: %w", app, component, err)
	}
	if len(found) == 0 {
		return fmt.Errorf("kube: scale %s/%s: %w in namespace %s", app, component, ErrNoWorkloads, d.namespace)
	}
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
	for _, f := range found {
		_, err := d.resource(f.mapping, f.obj.GetNamespace()).Patch(ctx, f.obj.GetName(), types.MergePatchType, patch,
			metav1.PatchOptions{FieldManager: ManagedBy}, "scale")
		if err != nil {
			return fmt.Errorf("kube: scale %s to %d: %w", describe(f.obj), replicas, err)
		}
	}
	return nil
}

// Status is what the cluster says about a component.
type Status struct {
	// Objects are the component's objects found, sorted by kind,
	// namespace and name.
	Objects []ObjectStatus
	// DesiredReplicas and ReadyReplicas add up spec.replicas and
	// status.readyReplicas over the component's Deployments and
	// StatefulSets.
	DesiredReplicas int
	ReadyReplicas   int
	// Ready: objects exist, and every Deployment and StatefulSet has
	// been seen by its controller at its latest generation with all its
	// replicas ready.
	Ready bool
	// Message says why the component is not ready, or what it runs.
	Message string
}

// ObjectStatus names one object of a component.
type ObjectStatus struct {
	Kind, Name, Namespace string
}

// Status reads the component's state back from the cluster (objects of
// the kinds the driver searches, in the site's namespace).
func (d *Driver) Status(ctx context.Context, app, component string) (Status, error) {
	found, err := d.find(ctx, app, component, searchedKinds, []string{d.namespace})
	if err != nil {
		return Status{}, fmt.Errorf("kube: status %s/%s: %w", app, component, err)
	}
	var st Status
	var notes []string
	allReady := true
	workloads := 0
	for _, f := range found {
		st.Objects = append(st.Objects, ObjectStatus{Kind: f.obj.GetKind(), Name: f.obj.GetName(), Namespace: f.obj.GetNamespace()})
		if !slices.Contains(workloadKinds, f.obj.GroupVersionKind()) {
			continue
		}
		workloads++
		w := readWorkload(f.obj)
		st.DesiredReplicas += w.desired
		st.ReadyReplicas += w.ready
		if !w.isReady() {
			allReady = false
		}
		notes = append(notes, w.String())
	}
	sort.Slice(st.Objects, func(i, j int) bool {
		a, b := st.Objects[i], st.Objects[j]
		return a.Kind+"\x00"+a.Namespace+"\x00"+a.Name < b.Kind+"\x00"+b.Namespace+"\x00"+b.Name
	})
	switch {
	case len(found) == 0:
		st.Message = fmt.Sprintf("no objects labelled for %s/%s in namespace %s", app, component, d.namespace)
	case workloads == 0:
		st.Ready = true
		st.Message = fmt.Sprintf("%d objects, no Deployment or StatefulSet", len(found))
	default:
		st.Ready = allReady
		slices.Sort(notes)
		st.Message = strings.Join(notes, "; ")
	}
	return st, nil
}

// workload is what Status reads from a Deployment or StatefulSet.
type workload struct {
	kind, name         string
	desired, ready     int
	generation         int64
	observedGeneration int64
}

func readWorkload(obj *unstructured.Unstructured) workload {
	w := workload{kind: obj.GetKind(), name: obj.GetName(), desired: 1, generation: obj.GetGeneration()}
	// The API server defaults spec.replicas to 1 when a manifest omits it.
	if n, found, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas"); found {
		w.desired = int(n)
	}
	n, _, _ := unstructured.NestedInt64(obj.Object, "status", "readyReplicas")
	w.ready = int(n)
	w.observedGeneration, _, _ = unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
	return w
}

func (w workload) isReady() bool {
	return w.observedGeneration >= w.generation && w.ready >= w.desired
}

func (w workload) String() string {
	s := fmt.Sprintf("%s %s: %d/%d replicas ready", w.kind, w.name, w.ready, w.desired)
	if w.observedGeneration < w.generation {
		s += fmt.Sprintf(", generation %d not yet seen by its controller", w.generation)
	}
	return s
}

// foundObject is an object found by label, with how it is served.
type foundObject struct {
	mapping *meta.RESTMapping
	obj     *unstructured.Unstructured
}

// find lists the component's objects of the given kinds: namespaced kinds
// in each of namespaces, cluster-wide kinds once. Kinds the cluster does
// not serve (a custom resource whose definition is gone) have no objects;
// objects a controller owns are not the component's own.
func (d *Driver) find(ctx context.Context, app, component string, kinds []schema.GroupVersionKind, namespaces []string) ([]foundObject, error) {
	selector := labels.SelectorFromSet(labels.Set{
		LabelApplication: app,
		LabelComponent:   component,
		LabelManagedBy:   ManagedBy,
	}).String()
	var found []foundObject
	for _, gvk := range kinds {
		mapping, err := d.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", gvk, err)
		}
		scopes := namespaces
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
			scopes = []string{""}
		}
		for _, ns := range scopes {
			list, err := d.resource(mapping, ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, fmt.Errorf("list %s in namespace %q: %w", mapping.Resource.Resource, ns, err)
			}
			for i := range list.Items {
				obj := &list.Items[i]
				if metav1.GetControllerOfNoCopy(obj) != nil {
					// Made by a controller from a template of ours (a
					// Deployment's pods, a Job's pods): they carry our
					// labels, but their owner decides their fate.
					continue
				}
				// List items carry no kind of their own in some
				// encodings; the mapping knows it.
				obj.SetGroupVersionKind(mapping.GroupVersionKind)
				found = append(found, foundObject{mapping: mapping, obj: obj})
			}
		}
	}
	return found, nil
}

func (d *Driver) resource(mapping *meta.RESTMapping, namespace string) dynamic.ResourceInterface {
	r := d.dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return r.Namespace(namespace)
	}
	return r
}

// objectKey identifies an object across API versions of its kind.
type objectKey struct {
	group, kind, namespace, name string
}

func keyOf(obj *unstructured.Unstructured) objectKey {
	gvk := obj.GroupVersionKind()
	return objectKey{group: gvk.Group, kind: gvk.Kind, namespace: obj.GetNamespace(), name: obj.GetName()}
}

// describe names an object in errors the kubectl way:
// "apps/v1 Deployment default/web".
func describe(obj *unstructured.Unstructured) string {
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return obj.GetAPIVersion() + " " + obj.GetKind() + " " + name
}
