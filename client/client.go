// Package client is the Go client of the control plane's northbound API.
// The CLI, the node agents and later the dashboard's tests use it, so every
// caller speaks to the API the same way and sees the same errors.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// Client talks to one control plane.
type Client struct {
	base  string
	http  *http.Client
	token string
}

// New returns a client for the control plane at server, an http or https URL.
func New(server string) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want a URL such as http://127.0.0.1:7070", server)
	}
	return &Client{
		base: strings.TrimRight(u.String(), "/"),
		http: &http.Client{Timeout: 10 * time.Second},
	}, nil
}

// WithTransport returns a copy of c whose requests go through rt (tests
// put a validating or fault-injecting transport there).
func (c *Client) WithTransport(rt http.RoundTripper) *Client {
	cp := *c
	h := *c.http
	h.Transport = rt
	cp.http = &h
	return &cp
}

// WithToken returns a copy of c that sends token as a bearer token.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// Close releases the client's idle connections. A request cancelled while
// its connection was being made leaves that connection in the pool, never
// used, and a server shutting down waits seconds for such connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Token returns the bearer token the client sends ("" for none).
func (c *Client) Token() string { return c.token }

// Server returns the control plane's base URL.
func (c *Client) Server() string { return c.base }

// ListSites returns every site with its status.
func (c *Client) ListSites(ctx context.Context) ([]v1alpha1.Site, error) {
	var list v1alpha1.SiteList
	if err := c.do(ctx, http.MethodGet, "/api/v1/sites", nil, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// GetSite returns one site.
func (c *Client) GetSite(ctx context.Context, name string) (v1alpha1.Site, error) {
	var s v1alpha1.Site
	err := c.do(ctx, http.MethodGet, "/api/v1/sites/"+url.PathEscape(name), nil, &s)
	return s, err
}

// RegisterSite creates or updates a site (what a node agent does at start).
func (c *Client) RegisterSite(ctx context.Context, site v1alpha1.Site) (v1alpha1.Site, error) {
	var s v1alpha1.Site
	err := c.do(ctx, http.MethodPut, "/api/v1/sites/"+url.PathEscape(site.Metadata.Name), site, &s)
	return s, err
}

// Heartbeat tells the control plane the site's agent is alive.
func (c *Client) Heartbeat(ctx context.Context, name string, hb v1alpha1.Heartbeat) (v1alpha1.Site, error) {
	var s v1alpha1.Site
	err := c.do(ctx, http.MethodPost, "/api/v1/sites/"+url.PathEscape(name)+"/heartbeat", hb, &s)
	return s, err
}

// DeleteSite removes a site.
func (c *Client) DeleteSite(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/sites/"+url.PathEscape(name), nil, nil)
}

// IsNotFound reports whether err is the API's 404.
func IsNotFound(err error) bool {
	var st *v1alpha1.Status
	return errors.As(err, &st) && st.Code == http.StatusNotFound
}

// IsConflict reports whether err is the API's 409: for a cell run, a
// report or upload of an attempt the run has left behind.
func IsConflict(err error) bool {
	var st *v1alpha1.Status
	return errors.As(err, &st) && st.Code == http.StatusConflict
}

// do sends body as JSON and decodes a 2xx answer into out; any other answer
// becomes a *v1alpha1.Status error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	_, err := c.doHeader(ctx, method, path, body, out)
	return err
}

// doHeader is do that also returns the answer's header.
func (c *Client) doHeader(ctx context.Context, method, path string, body, out any) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("control plane at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.Header, statusError(resp, data)
	}
	if out == nil || len(data) == 0 {
		return resp.Header, nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.Header, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return resp.Header, nil
}

// request makes a request to the control plane with the client's credentials.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

func statusError(resp *http.Response, data []byte) error {
	return v1alpha1.ParseStatus(resp.StatusCode, data)
}
