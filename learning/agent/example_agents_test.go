package agent_test

import (
	"path/filepath"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client/manifest"
)

// TestExampleAgentsAreValid loads examples/learning as `cloudskin apply`
// does, so the examples cannot drift from the Agent resource.
func TestExampleAgentsAreValid(t *testing.T) {
	rs, err := manifest.Load([]string{filepath.Join("..", "..", "examples", "learning")})
	if err != nil {
		t.Fatal(err)
	}
	policies := map[string]bool{}
	for _, r := range rs {
		if r.Agent == nil {
			t.Fatalf("%s is not an Agent", r.Name())
		}
		policies[r.Agent.Spec.Policy.Type] = true
	}
	for _, p := range []string{v1alpha1.PolicyPredictiveScaling, v1alpha1.PolicyPlacementRanking, v1alpha1.PolicyMigrationTrigger, v1alpha1.PolicyPreWarming} {
		if !policies[p] {
			t.Errorf("no example of the %s policy", p)
		}
	}
}
