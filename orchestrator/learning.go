package orchestrator

import (
	"context"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/orchestrator/placement"
	"github.com/cloudskin/cloudskin/orchestrator/reconcile"
)

// Placement with the Learning Plane: weight of its score against the
// heuristic's (whose terms add up to at most 3.5), and how long an answer
// is reused (history moves slowly; a pass runs every 2 s or sooner).
const (
	learnedWeight   = 2
	recommendTTL    = 15 * time.Second
	recommendWindow = 6 * time.Hour
)

type cachedRecommendation struct {
	at     time.Time
	scores map[string]placement.SiteScore
}

// scorer returns the scorer of this pass: the heuristic, or, with a
// Learning Plane, the heuristic plus its rank of the sites for each
// component whose application has objectives.
func (cp *ControlPlane) scorer(ctx context.Context, in reconcile.Input) placement.Scorer {
	if cp.opts.Recommend == nil {
		return placement.Heuristic{}
	}
	var sites []string
	for _, s := range in.Sites {
		sites = append(sites, s.Name)
	}
	l := placement.Learned{Base: placement.Heuristic{}, Weight: learnedWeight, Scores: map[string]map[string]placement.SiteScore{}}
	for _, a := range in.Apps {
		for _, c := range a.App.Spec.Components {
			res := a.Resolved[c.Name]
			objectives := objectivesOf(a.App, c.Name)
			if res.Err != nil || len(objectives) == 0 || res.Block.Spec.Type == v1alpha1.BlockKubernetes {
				continue
			}
			key := a.App.Metadata.Name + "/" + c.Name
			if scores, ok := cp.recommendation(ctx, key, in.Now, v1alpha1.PlacementRecommendationRequest{
				Block: res.Block.Metadata.Name, Objectives: objectives, Sites: sites, Window: v1alpha1.Duration{Duration: recommendWindow},
			}); ok {
				l.Scores[key] = scores
			}
		}
	}
	return l
}

// recommendation asks the Learning Plane, or reuses its recent answer.
func (cp *ControlPlane) recommendation(ctx context.Context, key string, now time.Time, req v1alpha1.PlacementRecommendationRequest) (map[string]placement.SiteScore, bool) {
	if c, ok := cp.recommendations[key]; ok && now.Sub(c.at) < recommendTTL {
		return c.scores, true
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rec, err := cp.opts.Recommend(rctx, req)
	if err != nil {
		cp.log.Debug("placement recommendation", "component", key, "err", err)
		return nil, false
	}
	scores := map[string]placement.SiteScore{}
	for _, s := range rec.Sites {
		scores[s.Site] = placement.SiteScore{Score: s.Score, Reason: s.Reason}
	}
	cp.recommendations[key] = cachedRecommendation{at: now, scores: scores}
	return scores, true
}

// objectivesOf returns the objectives that concern a component: its own
// and the application-wide ones.
func objectivesOf(a v1alpha1.Application, component string) []v1alpha1.Objective {
	var out []v1alpha1.Objective
	for _, o := range a.Spec.Objectives {
		if o.Component == "" || o.Component == component {
			out = append(out, o)
		}
	}
	return out
}
