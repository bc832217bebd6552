package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/logging"
	"github.com/cloudskin/cloudskin/learning/agent"
	"github.com/cloudskin/cloudskin/telemetry"
)

// BenchmarkScalingTick is one predictive-scaling tick over 6 hours of
// per-minute load from two series in the TSDB: the range query, the
// Holt-Winters refit and forecast, the decision and the scale. Each tick
// is a minute after the last, so the policy refits every time.
func BenchmarkScalingTick(b *testing.B) {
	db := openTSDB(b)
	hourlyLoad(b, db, 6*60)
	spec := scalingAgent(false)
	spec.Spec.Model.RetrainEvery = 1 << 30 // train once, then predict
	r, err := agent.NewRunner(spec, agent.Deps{
		Querier: func() telemetry.Querier { return db }, Registry: openRegistry(b), NBI: newNBI(2), Log: logging.Discard(),
	}, now)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if tick, _ := r.Tick(ctx, now); tick.Error != "" {
		b.Fatal(tick.Error)
	}
	b.ResetTimer()
	for i := range b.N {
		if tick, _ := r.Tick(ctx, now.Add(time.Duration(i+1)*time.Minute)); tick.Error != "" {
			b.Fatal(tick.Error)
		}
	}
}

// BenchmarkRecommendScaling is the stateless scaling recommendation over a
// day of per-minute load: model choice by back-test, fit and sizing.
func BenchmarkRecommendScaling(b *testing.B) {
	load := make([]float64, 24*60)
	for i := range load {
		load[i] = 100 + 50*float64(i%60)/60
	}
	req := v1alpha1.ScalingRecommendationRequest{Scaling: v1alpha1.ScalingPolicy{Capacity: 10, StartupDelay: v1alpha1.Duration{Duration: 2 * time.Minute}}}
	for range b.N {
		if _, err := agent.RecommendScaling(load, time.Minute, req); err != nil {
			b.Fatal(err)
		}
	}
}
