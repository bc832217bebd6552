package recommend

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/telemetry"
)

// Defaults of a migration request.
const (
	DefaultMigrationWindow  = 30 * time.Minute
	DefaultMigrationStep    = time.Minute
	DefaultMigrationHorizon = 5 * time.Minute
)

// Bounds of a migration request: Prometheus's own limit on points per
// series, and a horizon beyond which a trend forecast means nothing.
const (
	maxSeriesPoints = 11000
	maxHorizonSteps = 1000
)

func (s *Service) serveMigration(w http.ResponseWriter, r *http.Request) {
	var req v1alpha1.MigrationRecommendationRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		httpapi.WriteError(w, s.log, err)
		return
	}
	rec, err := s.Migration(r.Context(), req)
	if err != nil {
		httpapi.WriteError(w, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, rec)
}

// Migration reads the recent series of the component's metric at its
// current site, ranks the other sites for its block, and decides with
// DecideMigration.
func (s *Service) Migration(ctx context.Context, req v1alpha1.MigrationRecommendationRequest) (v1alpha1.MigrationRecommendation, error) {
	out := v1alpha1.MigrationRecommendation{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindMigrationRecommendation},
		From:     req.Site, Metric: req.Objective.Metric, PredictedViolationAt: -1,
	}
	if err := req.Validate(); err != nil {
		return out, httpapi.Unprocessable(err)
	}
	window, step, horizon := orDefault(req.Window, DefaultMigrationWindow), orDefault(req.Step, DefaultMigrationStep), orDefault(req.Horizon, DefaultMigrationHorizon)
	steps := int(math.Ceil(float64(horizon) / float64(step)))
	if window < step || window/step > maxSeriesPoints || steps > maxHorizonSteps {
		return out, httpapi.Unprocessable(fmt.Errorf("window %s, step %s, horizon %s: want a window of 1 to %d steps and a horizon of at most %d steps",
			window, step, horizon, maxSeriesPoints, maxHorizonSteps))
	}
	out.Step = v1alpha1.Duration{Duration: step}
	q := s.querier()
	if q == nil {
		return out, errNoTelemetry
	}
	now := time.Now()
	series, block, err := readCurrentSeries(ctx, q, req, now.Add(-window), now, step)
	if err != nil {
		return out, err
	}
	if len(finite(series)) == 0 {
		return out, httpapi.Unprocessable(fmt.Errorf("%w: %s/%s reported no %s at %s in the last %s",
			ErrNoSeries, req.Application, req.Component, req.Objective.Metric, req.Site, window))
	}
	candidates, err := candidateSites(ctx, q, req, now)
	if err != nil {
		return out, err
	}
	var ranking []Recommendation
	if len(candidates) > 0 {
		ranking, err = s.rank(ctx, v1alpha1.PlacementRecommendationRequest{Block: block, Objectives: []v1alpha1.Objective{req.Objective}, Sites: candidates}, now)
		if err != nil {
			return out, err
		}
	}
	o := req.Objective
	d, err := DecideMigration(MigrationInput{
		Current: req.Site, Series: series, Horizon: steps, Ranking: ranking,
		Objective: Objective{Metric: o.Metric, HigherIsBetter: o.Op == ">=", Target: o.Value},
		Margin:    req.Margin, MinConfidence: req.MinConfidence,
	})
	if err != nil {
		return out, httpapi.Unprocessable(err)
	}
	out.Model, out.Migrate, out.To = d.Model, d.Migrate, d.To
	out.PredictedViolationAt, out.Predicted, out.Forecast = d.ViolationAt, d.Predicted, d.Forecast
	out.Confidence, out.Reason = d.Confidence, d.Reason
	out.Candidates = siteRecommendations(ranking)
	return out, nil
}

func orDefault(d v1alpha1.Duration, def time.Duration) time.Duration {
	if d.Duration == 0 {
		return def
	}
	return d.Duration
}

// readCurrentSeries reads the metric at the current site on a grid of
// steps, NaN where nothing was reported, and the block the component runs.
func readCurrentSeries(ctx context.Context, q telemetry.Querier, req v1alpha1.MigrationRecommendationRequest, start, end time.Time, step time.Duration) ([]float64, string, error) {
	sel := []string{
		fmt.Sprintf("application=%q", req.Application), fmt.Sprintf("component=%q", req.Component),
		fmt.Sprintf("site=%q", req.Site), fmt.Sprintf("metric=%q", req.Objective.Metric),
	}
	if req.Replica != "" {
		sel = append(sel, fmt.Sprintf("replica=%q", req.Replica))
	}
	expr := fmt.Sprintf("avg by (block) (avg_over_time(%s{%s}[%s]))", seriesQoS, strings.Join(sel, ","), promDuration(step))
	res, err := q.QueryRange(ctx, expr, start, end, step)
	if err != nil {
		return nil, "", fmt.Errorf("recommend: %s at %s: %w", req.Objective.Metric, req.Site, err)
	}
	if len(res) == 0 {
		return nil, "", nil
	}
	// A component runs one block; after an upgrade two may overlap: the
	// one with the most points is the one that ran.
	best := slices.MaxFunc(res, func(a, b telemetry.Series) int { return len(a.Points) - len(b.Points) })
	n := int(end.Sub(start)/step) + 1
	series := make([]float64, n)
	for i := range series {
		series[i] = math.NaN()
	}
	for _, p := range best.Points {
		if i := int(p.T.Sub(start) / step); i >= 0 && i < n {
			series[i] = p.V
		}
	}
	return series, best.Labels["block"], nil
}

// candidateSites are the request's sites, or every site telemetry says is
// ready, without the current one.
func candidateSites(ctx context.Context, q telemetry.Querier, req v1alpha1.MigrationRecommendationRequest, now time.Time) ([]string, error) {
	sites := req.Sites
	if len(sites) == 0 {
		res, err := q.Query(ctx, fmt.Sprintf("max by (site) (last_over_time(%s[5m])) == 1", seriesSiteReady), now)
		if err != nil {
			return nil, fmt.Errorf("recommend: ready sites: %w", err)
		}
		for _, smp := range res.Samples {
			sites = append(sites, smp.Labels["site"])
		}
		slices.Sort(sites)
	}
	var out []string
	for _, s := range sites {
		if s != req.Site && s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
