package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// ListModels lists the model registry's models.
func (c *Client) ListModels(ctx context.Context) ([]v1alpha1.ModelSummary, error) {
	var out v1alpha1.ModelList
	err := c.do(ctx, http.MethodGet, "/api/v1/models", nil, &out)
	return out.Items, err
}

// ModelVersions lists a model's versions, oldest first.
func (c *Client) ModelVersions(ctx context.Context, model string) ([]v1alpha1.ModelVersion, error) {
	var out v1alpha1.ModelVersionList
	err := c.do(ctx, http.MethodGet, modelPath(model)+"/versions", nil, &out)
	return out.Items, err
}

// GetModelVersion returns one version of a model.
func (c *Client) GetModelVersion(ctx context.Context, model string, version int) (v1alpha1.ModelVersion, error) {
	var out v1alpha1.ModelVersion
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/versions/%d", modelPath(model), version), nil, &out)
	return out, err
}

// RegisterModelVersion stores a trained version as a candidate.
func (c *Client) RegisterModelVersion(ctx context.Context, mv v1alpha1.ModelVersion) (v1alpha1.ModelVersion, error) {
	var out v1alpha1.ModelVersion
	err := c.do(ctx, http.MethodPost, modelPath(mv.Spec.Model)+"/versions", mv, &out)
	return out, err
}

// PromoteModelVersion makes a version production; without force it must
// have beaten production on held-out data.
func (c *Client) PromoteModelVersion(ctx context.Context, model string, version int, force bool) (v1alpha1.ModelVersion, error) {
	var out v1alpha1.ModelVersion
	path := fmt.Sprintf("%s/versions/%d/promote", modelPath(model), version)
	if force {
		path += "?force=true"
	}
	err := c.do(ctx, http.MethodPost, path, nil, &out)
	return out, err
}

// RollbackModel returns a model to the version production replaced.
func (c *Client) RollbackModel(ctx context.Context, model string) (v1alpha1.ModelVersion, error) {
	var out v1alpha1.ModelVersion
	err := c.do(ctx, http.MethodPost, modelPath(model)+"/rollback", nil, &out)
	return out, err
}

func modelPath(model string) string { return "/api/v1/models/" + url.PathEscape(model) }

// ListAgents lists the Learning Plane's agents.
func (c *Client) ListAgents(ctx context.Context) ([]v1alpha1.Agent, error) {
	var out v1alpha1.AgentList
	err := c.do(ctx, http.MethodGet, "/api/v1/agents", nil, &out)
	return out.Items, err
}

// GetAgent returns one agent.
func (c *Client) GetAgent(ctx context.Context, name string) (v1alpha1.Agent, error) {
	var out v1alpha1.Agent
	err := c.do(ctx, http.MethodGet, "/api/v1/agents/"+url.PathEscape(name), nil, &out)
	return out, err
}

// ApplyAgent creates or updates an agent and says which ("created",
// "configured", "unchanged").
func (c *Client) ApplyAgent(ctx context.Context, a v1alpha1.Agent) (v1alpha1.Agent, string, error) {
	var out v1alpha1.Agent
	h, err := c.doHeader(ctx, http.MethodPut, "/api/v1/agents/"+url.PathEscape(a.Metadata.Name), a, &out)
	return out, h.Get(v1alpha1.ApplyResultHeader), err
}

// DeleteAgent deletes an agent and its log.
func (c *Client) DeleteAgent(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/agents/"+url.PathEscape(name), nil, nil)
}

// AgentTicks returns an agent's last limit ticks (all kept if limit ≤ 0).
func (c *Client) AgentTicks(ctx context.Context, name string, limit int) ([]v1alpha1.AgentTick, error) {
	path := "/api/v1/agents/" + url.PathEscape(name) + "/ticks"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out v1alpha1.AgentTickList
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Items, err
}

// RecommendScaling asks for the replicas a forecast load needs.
func (c *Client) RecommendScaling(ctx context.Context, req v1alpha1.ScalingRecommendationRequest) (v1alpha1.ScalingRecommendation, error) {
	var out v1alpha1.ScalingRecommendation
	err := c.do(ctx, http.MethodPost, "/api/v1/recommendations/scaling", req, &out)
	return out, err
}

// RecommendPrewarm asks when an application's instance should be loaded.
func (c *Client) RecommendPrewarm(ctx context.Context, req v1alpha1.PrewarmRecommendationRequest) (v1alpha1.PrewarmRecommendation, error) {
	var out v1alpha1.PrewarmRecommendation
	err := c.do(ctx, http.MethodPost, "/api/v1/recommendations/prewarm", req, &out)
	return out, err
}
