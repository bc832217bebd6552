package plane

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/component"
	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/learning/agent"
	"github.com/cloudskin/cloudskin/learning/registry"
	"github.com/cloudskin/cloudskin/telemetry"
)

// routes mounts the Learning Plane's API:
//
//	GET    /api/v1/models                                     models and their production versions
//	GET    /api/v1/models/{model}/versions                    a model's versions
//	POST   /api/v1/models/{model}/versions                    register a version (a candidate)
//	GET    /api/v1/models/{model}/versions/{version}          one version
//	POST   /api/v1/models/{model}/versions/{version}/promote  make it production (?force=true overrides the held-out rule)
//	POST   /api/v1/models/{model}/rollback                    return to the version production replaced
//	GET    /api/v1/agents                                     agents
//	GET    /api/v1/agents/{name}                              one agent
//	PUT    /api/v1/agents/{name}                              create or update an agent
//	DELETE /api/v1/agents/{name}                              delete an agent and its log
//	GET    /api/v1/agents/{name}/ticks                        its log (?limit=N, the last N)
//	POST   /api/v1/recommendations/scaling                    replicas for a forecast load
//	POST   /api/v1/recommendations/prewarm                    when to load an instance
func (p *Plane) routes(h *component.Host) {
	h.Server.HandleFunc("GET /api/v1/models", p.handle(p.listModels))
	h.Server.HandleFunc("GET /api/v1/models/{model}/versions", p.handle(p.listVersions))
	h.Server.HandleFunc("POST /api/v1/models/{model}/versions", p.handle(p.registerVersion))
	h.Server.HandleFunc("GET /api/v1/models/{model}/versions/{version}", p.handle(p.getVersion))
	h.Server.HandleFunc("POST /api/v1/models/{model}/versions/{version}/promote", p.handle(p.promote))
	h.Server.HandleFunc("POST /api/v1/models/{model}/rollback", p.handle(p.rollback))
	h.Server.HandleFunc("GET /api/v1/agents", p.handle(p.listAgents))
	h.Server.HandleFunc("GET /api/v1/agents/{name}", p.handle(p.getAgent))
	h.Server.HandleFunc("PUT /api/v1/agents/{name}", p.handle(p.applyAgent))
	h.Server.HandleFunc("DELETE /api/v1/agents/{name}", p.handle(p.deleteAgent))
	h.Server.HandleFunc("GET /api/v1/agents/{name}/ticks", p.handle(p.agentTicks))
	h.Server.HandleFunc("POST /api/v1/recommendations/scaling", p.handle(p.recommendScaling))
	h.Server.HandleFunc("POST /api/v1/recommendations/prewarm", p.handle(p.recommendPrewarm))
}

// handle writes a handler's answer, or its error as a problem document.
func (p *Plane) handle(fn httpapi.HandlerFunc) http.HandlerFunc {
	return httpapi.Handle(p.log, apiError, fn)
}

// apiError maps the registry's and the agents' errors to HTTP ones.
func apiError(err error) error {
	var done *httpapi.Error
	switch {
	case errors.As(err, &done):
		return err
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, agent.ErrNotFound):
		return httpapi.NotFound(err)
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, agent.ErrInvalid):
		return httpapi.Unprocessable(err)
	case errors.Is(err, registry.ErrConflict), errors.Is(err, registry.ErrNotBetter):
		return httpapi.Conflict(err)
	}
	return err
}

func typeMeta(kind string) v1alpha1.TypeMeta {
	return v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: kind}
}

func (p *Plane) listModels(w http.ResponseWriter, r *http.Request) (int, any, error) {
	ms, err := p.registry.Models(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.ModelList{TypeMeta: typeMeta("ModelList"), Items: ms}, nil
}

func (p *Plane) listVersions(w http.ResponseWriter, r *http.Request) (int, any, error) {
	vs, err := p.registry.Versions(r.Context(), r.PathValue("model"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.ModelVersionList{TypeMeta: typeMeta("ModelVersionList"), Items: vs}, nil
}

func (p *Plane) registerVersion(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var mv v1alpha1.ModelVersion
	if err := httpapi.DecodeJSON(w, r, &mv); err != nil {
		return 0, nil, err
	}
	if model := r.PathValue("model"); mv.Spec.Model != model {
		return 0, nil, httpapi.Unprocessable(fmt.Errorf("spec.model %q does not match the path's model %q", mv.Spec.Model, model))
	}
	saved, err := p.registry.Register(r.Context(), mv)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, saved, nil
}

func versionOf(r *http.Request) (int, error) {
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || v < 1 {
		return 0, httpapi.BadRequest(fmt.Errorf("version %q: want a positive integer", r.PathValue("version")))
	}
	return v, nil
}

func (p *Plane) getVersion(w http.ResponseWriter, r *http.Request) (int, any, error) {
	v, err := versionOf(r)
	if err != nil {
		return 0, nil, err
	}
	mv, err := p.registry.Get(r.Context(), r.PathValue("model"), v)
	return http.StatusOK, mv, err
}

func (p *Plane) promote(w http.ResponseWriter, r *http.Request) (int, any, error) {
	v, err := versionOf(r)
	if err != nil {
		return 0, nil, err
	}
	force := false
	if f := r.URL.Query().Get("force"); f != "" {
		if force, err = strconv.ParseBool(f); err != nil {
			return 0, nil, httpapi.BadRequest(fmt.Errorf("force %q: want true or false", f))
		}
	}
	mv, err := p.registry.Promote(r.Context(), r.PathValue("model"), v, force)
	return http.StatusOK, mv, err
}

func (p *Plane) rollback(w http.ResponseWriter, r *http.Request) (int, any, error) {
	mv, err := p.registry.Rollback(r.Context(), r.PathValue("model"))
	return http.StatusOK, mv, err
}

func (p *Plane) listAgents(w http.ResponseWriter, r *http.Request) (int, any, error) {
	as, err := p.agents.List(r.Context())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.AgentList{TypeMeta: typeMeta("AgentList"), Items: as}, nil
}

func (p *Plane) getAgent(w http.ResponseWriter, r *http.Request) (int, any, error) {
	a, err := p.agents.Get(r.Context(), r.PathValue("name"))
	return http.StatusOK, a, err
}

func (p *Plane) applyAgent(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var a v1alpha1.Agent
	if err := httpapi.DecodeJSON(w, r, &a); err != nil {
		return 0, nil, err
	}
	if name := r.PathValue("name"); a.Metadata.Name != name {
		return 0, nil, httpapi.Unprocessable(fmt.Errorf("metadata.name %q does not match the path's name %q", a.Metadata.Name, name))
	}
	saved, result, err := p.agents.Apply(r.Context(), a)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set(v1alpha1.ApplyResultHeader, result)
	code := http.StatusOK
	if result == "created" {
		code = http.StatusCreated
	}
	return code, saved, nil
}

func (p *Plane) deleteAgent(w http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, p.agents.Delete(r.Context(), r.PathValue("name"))
}

func (p *Plane) agentTicks(w http.ResponseWriter, r *http.Request) (int, any, error) {
	limit := 0
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return 0, nil, httpapi.BadRequest(fmt.Errorf("limit %q: want a positive integer", l))
		}
		limit = n
	}
	ts, err := p.agents.Ticks(r.Context(), r.PathValue("name"), limit)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, v1alpha1.AgentTickList{TypeMeta: typeMeta("AgentTickList"), Items: ts}, nil
}

func (p *Plane) recommendScaling(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req v1alpha1.ScalingRecommendationRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	if err := req.Validate(); err != nil {
		return 0, nil, httpapi.Unprocessable(err)
	}
	load, step, err := p.series(r.Context(), "load", req.Load)
	if err != nil {
		return 0, nil, err
	}
	rec, err := agent.RecommendScaling(load, step, req)
	if err != nil {
		return 0, nil, httpapi.Unprocessable(err)
	}
	return http.StatusOK, rec, nil
}

func (p *Plane) recommendPrewarm(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req v1alpha1.PrewarmRecommendationRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return 0, nil, err
	}
	if err := req.Validate(); err != nil {
		return 0, nil, httpapi.Unprocessable(err)
	}
	inv, _, err := p.series(r.Context(), "invocations", req.Invocations)
	if err != nil {
		return 0, nil, err
	}
	rec, err := agent.RecommendPrewarm(inv, req.Policy)
	if err != nil {
		return 0, nil, httpapi.Unprocessable(err)
	}
	return http.StatusOK, rec, nil
}

// series returns a request's values, or reads its query as a sensor.
func (p *Plane) series(ctx context.Context, name string, s v1alpha1.SeriesSource) ([]float64, time.Duration, error) {
	step := s.Step.Duration
	if step == 0 {
		step = agent.DefaultStep
	}
	if len(s.Values) > 0 {
		return s.Values, step, nil
	}
	q := p.querier()
	if q == nil {
		return nil, 0, httpapi.Unprocessable(fmt.Errorf("%s: no telemetry to run the query on; give values", name))
	}
	rd, err := agent.ReadSensor(ctx, q, v1alpha1.Sensor{Name: name, Query: s.Query, Window: s.Window, Step: s.Step}, time.Now())
	if err != nil {
		return nil, 0, queryError(err)
	}
	return rd.Values, rd.Step, nil
}

// queryError answers a failed query as Prometheus's API would: 503 when
// the store cannot be reached or timed out, 422 for a query that is wrong
// or returned nothing.
func queryError(err error) error {
	if errors.Is(err, agent.ErrNoData) {
		return httpapi.Unprocessable(err)
	}
	switch telemetry.TypeOf(err) {
	case telemetry.ErrorUnavailable, telemetry.ErrorTimeout:
		return &httpapi.Error{Code: http.StatusServiceUnavailable, Reason: "Unavailable", Err: err}
	case telemetry.ErrorInternal:
		return err
	}
	return httpapi.Unprocessable(err)
}
