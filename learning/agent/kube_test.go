package agent_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/kubetest"
	"github.com/cloudskin/cloudskin/learning/agent"
)

// TestKubernetesActuatorScalesADeployment scales a Deployment on a real
// kube-apiserver through its scale subresource, as the HPA does.
func TestKubernetesActuatorScalesADeployment(t *testing.T) {
	cluster := kubetest.Start(t) // skips when etcd or kube-apiserver is absent
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	labels := map[string]string{"app": "shop"}
	_, err = cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/shop:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := agent.NewScaler(v1alpha1.Actuator{Type: v1alpha1.ActuatorKubernetes, Kubeconfig: cluster.Kubeconfig, Deployment: "shop"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	desired, ready, err := s.Replicas(ctx)
	if err != nil || desired != 1 || ready != 0 {
		t.Fatalf("replicas: desired %d ready %d (%v); no controller runs, so none is ready", desired, ready, err)
	}
	what, err := s.Scale(ctx, 4)
	if err != nil || !strings.Contains(what, "from 1 to 4") {
		t.Fatalf("scale: %q %v", what, err)
	}
	d, err := cs.AppsV1().Deployments("default").Get(ctx, "shop", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 4 {
		t.Fatalf("the deployment asks for %d replicas (%v), want 4", *d.Spec.Replicas, err)
	}
	if what, _ := s.Scale(ctx, 4); !strings.Contains(what, "stays at 4") {
		t.Fatalf("scaling to the same count: %q", what)
	}
	missing, _ := agent.NewScaler(v1alpha1.Actuator{Type: v1alpha1.ActuatorKubernetes, Kubeconfig: cluster.Kubeconfig, Deployment: "nope"}, nil)
	if _, err := missing.Scale(ctx, 2); err == nil || !strings.Contains(err.Error(), "default/nope") {
		t.Fatalf("a missing deployment: %v", err)
	}
	if _, err := agent.NewScaler(v1alpha1.Actuator{Type: v1alpha1.ActuatorKubernetes, Kubeconfig: "/no/such/kubeconfig", Deployment: "shop"}, nil); err == nil {
		t.Fatal("a missing kubeconfig was accepted")
	}
}
