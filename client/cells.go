package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// PutModule uploads a module once and returns its digest (SHA-256, hex),
// by which cell runs name it.
func (c *Client) PutModule(ctx context.Context, wasm []byte) (string, error) {
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	req, err := c.request(ctx, http.MethodPut, "/api/v1/modules/"+digest, bytes.NewReader(wasm))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/wasm")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("control plane at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return "", statusError(resp, data)
	}
	return digest, nil
}

// GetModule downloads a module and checks it against its digest.
func (c *Client) GetModule(ctx context.Context, digest string) ([]byte, error) {
	req, err := c.request(ctx, http.MethodGet, "/api/v1/modules/"+url.PathEscape(digest), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("control plane at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20+1))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", digest, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp, data)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("module %s: the downloaded bytes have another SHA-256", digest)
	}
	return data, nil
}

// CreateCellRun asks for a cell run.
func (c *Client) CreateCellRun(ctx context.Context, run v1alpha1.CellRun) (v1alpha1.CellRun, error) {
	var out v1alpha1.CellRun
	err := c.do(ctx, http.MethodPost, "/api/v1/cells", run, &out)
	return out, err
}

// GetCellRun returns one cell run.
func (c *Client) GetCellRun(ctx context.Context, name string) (v1alpha1.CellRun, error) {
	var out v1alpha1.CellRun
	err := c.do(ctx, http.MethodGet, "/api/v1/cells/"+url.PathEscape(name), nil, &out)
	return out, err
}

// ListCellRuns lists cell runs at site in phase ("" matches any).
func (c *Client) ListCellRuns(ctx context.Context, site string, phase v1alpha1.CellPhase) ([]v1alpha1.CellRun, error) {
	q := url.Values{}
	if site != "" {
		q.Set("site", site)
	}
	if phase != "" {
		q.Set("phase", string(phase))
	}
	var list v1alpha1.CellRunList
	err := c.do(ctx, http.MethodGet, "/api/v1/cells?"+q.Encode(), nil, &list)
	return list.Items, err
}

// SetCellRunStatus reports a cell run's status (what agents do).
func (c *Client) SetCellRunStatus(ctx context.Context, name string, st v1alpha1.CellRunStatus) (v1alpha1.CellRun, error) {
	var out v1alpha1.CellRun
	err := c.do(ctx, http.MethodPut, "/api/v1/cells/"+url.PathEscape(name)+"/status", st, &out)
	return out, err
}
