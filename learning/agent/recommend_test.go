package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/agent"
	"github.com/cloudskin/cloudskin/learning/autoscale"
	"github.com/cloudskin/cloudskin/learning/forecast"
)

// When no model can be trained on the series, a scaling recommendation
// runs the kind asked for or, with none or "auto", learning/autoscale's
// default model, and says why there is no model.
func TestRecommendScalingWithoutAModelUsesThePolicysDefault(t *testing.T) {
	load := []float64{26, 28, 30, 32, 34, 36, 38, 40, 42} // too short to back-test
	def := autoscale.PredictiveConfig{}.WithDefaults().Model
	for _, c := range []struct{ asked, want string }{
		{"", def},
		{"auto", def},
		{forecast.KindHoltWinters, forecast.KindHoltWinters},
	} {
		rec, err := agent.RecommendScaling(load, time.Minute, v1alpha1.ScalingRecommendationRequest{
			Model: c.asked, Season: 4,
			Scaling: v1alpha1.ScalingPolicy{Capacity: 10, StartupDelay: v1alpha1.Duration{Duration: 2 * time.Minute}},
		})
		if err != nil {
			t.Fatalf("model %q: %v", c.asked, err)
		}
		if rec.Model != c.want || !strings.Contains(rec.Reason, "no model") || !strings.HasPrefix(rec.Reason, c.want+" ") {
			t.Errorf("model %q: recommendation by %q (%s), want %q", c.asked, rec.Model, rec.Reason, c.want)
		}
		// Never fewer than the current 42 req/s need at the target.
		if rec.Replicas < 5 {
			t.Errorf("model %q: %d replicas for 42 req/s at 10 per replica", c.asked, rec.Replicas)
		}
	}
}
