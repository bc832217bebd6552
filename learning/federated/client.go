package federated

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/forecast"
)

// Client talks to an aggregator.
type Client struct {
	// BaseURL is the control plane's, e.g. http://cloud:7070.
	BaseURL string
	HTTP    *http.Client
}

// Create registers a model whose round-0 network has configuration cfg.
func (c Client) Create(ctx context.Context, name string, cfg forecast.RNNConfig) (GlobalModel, error) {
	var g GlobalModel
	return g, c.do(ctx, http.MethodPut, APIPrefix+name, cfg, &g)
}

// CreateHoltWinters registers a Holt-Winters model of the given
// seasonality and season length.
func (c Client) CreateHoltWinters(ctx context.Context, name string, seasonality forecast.Seasonality, season int) (GlobalModel, error) {
	kind := forecast.KindHoltWinters
	if seasonality == forecast.Multiplicative {
		kind = forecast.KindHoltWintersMul
	}
	body := struct {
		Kind   string `json:"kind"`
		Season int    `json:"season"`
	}{kind, season}
	var g GlobalModel
	return g, c.do(ctx, http.MethodPut, APIPrefix+name, body, &g)
}

// Aggregate merges a model's pending updates now, however few.
func (c Client) Aggregate(ctx context.Context, name string) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, APIPrefix+name+"/aggregate", nil, &a)
}

// List returns the aggregator's models, without their weights.
func (c Client) List(ctx context.Context) ([]GlobalModel, error) {
	var l ModelList
	err := c.do(ctx, http.MethodGet, strings.TrimSuffix(APIPrefix, "/"), nil, &l)
	return l.Items, err
}

// Global returns a model's current global network and round.
func (c Client) Global(ctx context.Context, name string) (GlobalModel, error) {
	var g GlobalModel
	return g, c.do(ctx, http.MethodGet, APIPrefix+name, nil, &g)
}

// Submit sends a site's update.
func (c Client) Submit(ctx context.Context, name string, u Update) (Accepted, error) {
	var a Accepted
	return a, c.do(ctx, http.MethodPost, APIPrefix+name+"/updates", u, &a)
}

// do sends one request and decodes a 2xx answer into out (nil: the
// answer has no body); any other answer becomes the API's
// *v1alpha1.Status.
func (c Client) do(ctx context.Context, method, path string, in, out any) error {
	url := strings.TrimSuffix(c.BaseURL, "/") + path
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("federated: encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return fmt.Errorf("federated: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("federated: %s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("federated: %s %s: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("federated: %s %s: %w", method, url, v1alpha1.ParseStatus(resp.StatusCode, data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("federated: %s %s: decode answer: %w", method, url, err)
	}
	return nil
}
