package recommend

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/telemetry"
)

// Model names this package's ranking in answers: the observed mean, and
// the QoS model (learning/qos) where there is none.
const Model = "observed-qos-mean+qos-ridge"

// DefaultWindow is how far back history is read when a request does not say.
const DefaultWindow = 6 * time.Hour

// Service answers placement and migration recommendations from the QoS
// that cells reported (cloudskin_cell_qos) and the state of the sites
// (docs/formats/api.md, "Recommendations") in the TSDB.
type Service struct {
	querier func() telemetry.Querier
	log     *slog.Logger
}

var _ component.Component = (*Service)(nil)

// NewService reads telemetry through querier (called at each request, so
// the observer may be set up after this service).
func NewService(querier func() telemetry.Querier) *Service {
	return &Service{querier: querier}
}

// Name implements component.Component.
func (s *Service) Name() string { return "learning" }

// Setup mounts POST /api/v1/recommendations/placement and …/migration.
func (s *Service) Setup(h *component.Host) error {
	s.log = h.Log.With("component", s.Name())
	h.Server.HandleFunc("POST /api/v1/recommendations/placement", s.servePlacement)
	h.Server.HandleFunc("POST /api/v1/recommendations/migration", s.serveMigration)
	h.Announce(s.Name(), "placement recommendations", h.ControlPlaneURL+"/api/v1/recommendations/placement")
	h.Announce(s.Name(), "migration recommendations", h.ControlPlaneURL+"/api/v1/recommendations/migration")
	return nil
}

// Run implements component.Component; the service only answers requests.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func (s *Service) servePlacement(w http.ResponseWriter, r *http.Request) {
	var req v1alpha1.PlacementRecommendationRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		httpapi.WriteError(w, s.log, err)
		return
	}
	rec, err := s.Placement(r.Context(), req)
	if err != nil {
		httpapi.WriteError(w, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, rec)
}

// Placement ranks req.Sites for req.Block by its observed QoS, the QoS
// model's predictions where it has none, and cost.
func (s *Service) Placement(ctx context.Context, req v1alpha1.PlacementRecommendationRequest) (v1alpha1.PlacementRecommendation, error) {
	out := v1alpha1.PlacementRecommendation{
		TypeMeta: v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindPlacementRecommendation},
		Model:    Model,
	}
	if err := req.Validate(); err != nil {
		return out, httpapi.Unprocessable(err)
	}
	ranking, err := s.rank(ctx, req, time.Now())
	if err != nil {
		return out, err
	}
	out.Sites = siteRecommendations(ranking)
	return out, nil
}

// rank reads the history and the training samples of a valid request and
// ranks its sites.
func (s *Service) rank(ctx context.Context, req v1alpha1.PlacementRecommendationRequest, now time.Time) ([]Recommendation, error) {
	q := s.querier()
	if q == nil {
		return nil, errNoTelemetry
	}
	window := req.Window.Duration
	if window == 0 {
		window = DefaultWindow
	}
	var objectives []Objective
	h := History{}
	for _, o := range req.Objectives {
		objectives = append(objectives, Objective{Metric: o.Metric, HigherIsBetter: o.Op == ">=", Target: o.Value})
		if _, done := h[o.Metric]; done {
			continue
		}
		stats, err := s.history(ctx, req.Block, o.Metric, window)
		if err != nil {
			return nil, err
		}
		h[o.Metric] = stats
	}
	in, err := s.inputs(ctx, q, req, h, window, now)
	if err != nil {
		return nil, err
	}
	return RankWith(req.Sites, objectives, h, in), nil
}

func siteRecommendations(ranking []Recommendation) []v1alpha1.SiteRecommendation {
	var out []v1alpha1.SiteRecommendation
	for _, r := range ranking {
		out = append(out, v1alpha1.SiteRecommendation{
			Site: r.Site, Score: r.Score, Predicted: r.Predicted, Confidence: r.Confidence, Reason: r.Reason,
			Basis: r.Basis, Cost: r.Cost,
		})
	}
	return out
}

// history reads, per site, the mean and number of samples of a block's
// metric over the window.
func (s *Service) history(ctx context.Context, block, metric string, window time.Duration) (map[string]Stats, error) {
	q := s.querier()
	if q == nil {
		return nil, errNoTelemetry
	}
	sel := fmt.Sprintf(`cloudskin_cell_qos{block=%q,metric=%q}`, block, metric)
	rng := fmt.Sprintf("[%ds]", int(window.Seconds()))
	means, err := q.Query(ctx, "avg by (site) (avg_over_time("+sel+rng+"))", time.Time{})
	if err != nil {
		return nil, fmt.Errorf("recommend: history of %s %s: %w", block, metric, err)
	}
	counts, err := q.Query(ctx, "sum by (site) (count_over_time("+sel+rng+"))", time.Time{})
	if err != nil {
		return nil, fmt.Errorf("recommend: history of %s %s: %w", block, metric, err)
	}
	stats := map[string]Stats{}
	for _, m := range means.Samples {
		if !math.IsNaN(m.Value) {
			stats[m.Labels["site"]] = Stats{Mean: m.Value}
		}
	}
	for _, c := range counts.Samples {
		site := c.Labels["site"]
		if st, ok := stats[site]; ok && strings.TrimSpace(site) != "" {
			st.Count = int(c.Value)
			stats[site] = st
		}
	}
	return stats, nil
}
