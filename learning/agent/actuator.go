package agent

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/kube"
)

// NBI is the part of the orchestrator's northbound API the agents use;
// *client.Client implements it.
type NBI interface {
	GetApplication(ctx context.Context, name string) (v1alpha1.Application, error)
	ApplyApplication(ctx context.Context, a v1alpha1.Application) (v1alpha1.Application, string, error)
	CreateMigration(ctx context.Context, m v1alpha1.Migration) (v1alpha1.Migration, error)
	ListMigrations(ctx context.Context) ([]v1alpha1.Migration, error)
	ListSites(ctx context.Context) ([]v1alpha1.Site, error)
	RecommendPlacement(ctx context.Context, req v1alpha1.PlacementRecommendationRequest) (v1alpha1.PlacementRecommendation, error)
}

// Scaler is an actuator that sets a replica count.
type Scaler interface {
	// Replicas returns the desired and the ready count.
	Replicas(ctx context.Context) (desired, ready int, err error)
	// Scale sets the desired count and says what it did.
	Scale(ctx context.Context, replicas int) (string, error)
}

// componentScaler scales an application's component through the NBI.
type componentScaler struct {
	nbi       NBI
	app, comp string
}

func (s componentScaler) find(ctx context.Context) (v1alpha1.Application, int, error) {
	a, err := s.nbi.GetApplication(ctx, s.app)
	if err != nil {
		return a, 0, fmt.Errorf("application %s: %w", s.app, err)
	}
	for i, c := range a.Spec.Components {
		if c.Name == s.comp {
			return a, i, nil
		}
	}
	return a, 0, fmt.Errorf("application %s has no component %q", s.app, s.comp)
}

func (s componentScaler) Replicas(ctx context.Context) (int, int, error) {
	a, i, err := s.find(ctx)
	if err != nil {
		return 0, 0, err
	}
	ready := 0
	for _, c := range a.Status.Components {
		if c.Name == s.comp {
			ready = c.Ready
		}
	}
	return a.Spec.Components[i].DesiredReplicas(), ready, nil
}

func (s componentScaler) Scale(ctx context.Context, replicas int) (string, error) {
	a, i, err := s.find(ctx)
	if err != nil {
		return "", err
	}
	from := a.Spec.Components[i].DesiredReplicas()
	if from == replicas {
		return fmt.Sprintf("%s/%s stays at %d", s.app, s.comp, replicas), nil
	}
	a.Spec.Components[i].Replicas = &replicas
	a.Status = v1alpha1.ApplicationStatus{}
	if _, _, err := s.nbi.ApplyApplication(ctx, a); err != nil {
		return "", fmt.Errorf("scale %s/%s: %w", s.app, s.comp, err)
	}
	return fmt.Sprintf("scaled %s/%s from %d to %d", s.app, s.comp, from, replicas), nil
}

// deploymentScaler scales a Kubernetes Deployment through its scale
// subresource, as the HPA does.
type deploymentScaler struct {
	client     kubernetes.Interface
	namespace  string
	deployment string
}

func newDeploymentScaler(a v1alpha1.Actuator) (deploymentScaler, error) {
	cfg, err := kube.RESTConfig(a.Kubeconfig, "")
	if err != nil {
		return deploymentScaler{}, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return deploymentScaler{}, fmt.Errorf("kubernetes actuator: %w", err)
	}
	ns := a.Namespace
	if ns == "" {
		ns = "default"
	}
	return deploymentScaler{client: cs, namespace: ns, deployment: a.Deployment}, nil
}

func (s deploymentScaler) Replicas(ctx context.Context) (int, int, error) {
	d, err := s.client.AppsV1().Deployments(s.namespace).Get(ctx, s.deployment, metav1.GetOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("deployment %s/%s: %w", s.namespace, s.deployment, err)
	}
	desired := 1
	if d.Spec.Replicas != nil {
		desired = int(*d.Spec.Replicas)
	}
	return desired, int(d.Status.ReadyReplicas), nil
}

func (s deploymentScaler) Scale(ctx context.Context, replicas int) (string, error) {
	deps := s.client.AppsV1().Deployments(s.namespace)
	sc, err := deps.GetScale(ctx, s.deployment, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("deployment %s/%s: %w", s.namespace, s.deployment, err)
	}
	from := int(sc.Spec.Replicas)
	if from == replicas {
		return fmt.Sprintf("deployment %s/%s stays at %d", s.namespace, s.deployment, replicas), nil
	}
	upd := &autoscalingv1.Scale{ObjectMeta: sc.ObjectMeta, Spec: autoscalingv1.ScaleSpec{Replicas: int32(replicas)}}
	if _, err := deps.UpdateScale(ctx, s.deployment, upd, metav1.UpdateOptions{}); err != nil {
		return "", fmt.Errorf("scale deployment %s/%s: %w", s.namespace, s.deployment, err)
	}
	return fmt.Sprintf("scaled deployment %s/%s from %d to %d", s.namespace, s.deployment, from, replicas), nil
}

// NewScaler returns the scaler an agent's actuator names, or nil for none.
func NewScaler(a v1alpha1.Actuator, nbi NBI) (Scaler, error) {
	switch a.Type {
	case v1alpha1.ActuatorApplication:
		return componentScaler{nbi: nbi, app: a.Application, comp: a.Component}, nil
	case v1alpha1.ActuatorKubernetes:
		return newDeploymentScaler(a)
	case v1alpha1.ActuatorStream:
		return newStreamScaler(a, nbi)
	}
	return nil, nil
}
