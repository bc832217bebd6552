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
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// PutModule uploads a module once and returns its digest (SHA-256, hex),
// by which cell runs name it.
func (c *Client) PutModule(ctx context.Context, wasm []byte) (string, error) {
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	return digest, c.raw(ctx, http.MethodPut, "/api/v1/modules/"+digest, wasm, nil)
}

// GetModule downloads a module and checks it against its digest.
func (c *Client) GetModule(ctx context.Context, digest string) ([]byte, error) {
	var wasm []byte
	if err := c.raw(ctx, http.MethodGet, "/api/v1/modules/"+url.PathEscape(digest), nil, &wasm); err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(wasm); hex.EncodeToString(sum[:]) != digest {
		return nil, fmt.Errorf("module %s: the downloaded bytes have another SHA-256", digest)
	}
	return wasm, nil
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

// CellRunQuery selects cell runs; empty fields match anything.
type CellRunQuery struct {
	Site     string             // spec.site: where the run should be
	At       string             // status.site: where it runs now
	Phase    v1alpha1.CellPhase // status.phase
	Involves string             // spec.site or status.site
}

func (q CellRunQuery) values() url.Values {
	v := url.Values{}
	for key, val := range map[string]string{"site": q.Site, "at": q.At, "phase": string(q.Phase), "involves": q.Involves} {
		if val != "" {
			v.Set(key, val)
		}
	}
	return v
}

// ListCellRuns lists the cell runs q selects.
func (c *Client) ListCellRuns(ctx context.Context, q CellRunQuery) ([]v1alpha1.CellRun, error) {
	list, err := c.WatchCellRuns(ctx, q, "", 0)
	return list.Items, err
}

// WatchCellRuns lists the cell runs q selects once they changed since
// version (a list's metadata.resourceVersion), waiting up to wait; an
// empty version lists at once. The answer carries the version to give
// next time.
func (c *Client) WatchCellRuns(ctx context.Context, q CellRunQuery, version string, wait time.Duration) (v1alpha1.CellRunList, error) {
	v := q.values()
	if version != "" {
		v.Set("resourceVersion", version)
		v.Set("wait", wait.String())
	}
	var list v1alpha1.CellRunList
	err := c.do(ctx, http.MethodGet, "/api/v1/cells?"+v.Encode(), nil, &list)
	return list, err
}

// MigrateCellRun asks a running cell to move to site.
func (c *Client) MigrateCellRun(ctx context.Context, name, site string) (v1alpha1.CellRun, error) {
	var out v1alpha1.CellRun
	err := c.do(ctx, http.MethodPost, "/api/v1/cells/"+url.PathEscape(name)+"/migrate", v1alpha1.CellMigrationRequest{To: site}, &out)
	return out, err
}

// MigrateCellRank asks one rank of a running MPI world to move to site
// while the others run on.
func (c *Client) MigrateCellRank(ctx context.Context, name string, rank int, site string) (v1alpha1.CellRun, error) {
	var out v1alpha1.CellRun
	err := c.do(ctx, http.MethodPost, "/api/v1/cells/"+url.PathEscape(name)+"/migrate", v1alpha1.CellMigrationRequest{To: site, Rank: &rank}, &out)
	return out, err
}

// PutSnapshot hands a migrating cell's snapshot to the control plane;
// claim is the agent's claim on the run (status.claim). A non-empty
// checkpoint also keeps it as a checkpoint upload of that id, which the
// Migrating status naming it makes the run's checkpoint: a destination
// that dies after taking the run leaves it recoverable from there.
func (c *Client) PutSnapshot(ctx context.Context, name, claim, checkpoint string, snap []byte) error {
	q := url.Values{"claim": {claim}}
	if checkpoint != "" {
		q.Set("checkpoint", checkpoint)
	}
	return c.raw(ctx, http.MethodPut, "/api/v1/cells/"+url.PathEscape(name)+"/snapshot?"+q.Encode(), snap, nil)
}

// PutCheckpoint uploads a checkpoint of a running cell under id; a status
// report naming id then makes it the run's checkpoint.
func (c *Client) PutCheckpoint(ctx context.Context, name, claim, id string, snap []byte) error {
	return c.raw(ctx, http.MethodPut, "/api/v1/cells/"+url.PathEscape(name)+"/checkpoints/"+url.PathEscape(id)+"?"+url.Values{"claim": {claim}}.Encode(), snap, nil)
}

// GetSnapshot fetches a migrating cell's snapshot.
func (c *Client) GetSnapshot(ctx context.Context, name string) ([]byte, error) {
	var out []byte
	err := c.raw(ctx, http.MethodGet, "/api/v1/cells/"+url.PathEscape(name)+"/snapshot", nil, &out)
	return out, err
}

// raw sends body as bytes and reads the answer's bytes into out (if set).
func (c *Client) raw(ctx context.Context, method, path string, body []byte, out *[]byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := c.request(ctx, method, path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control plane at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<30))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp, data)
	}
	if out != nil {
		*out = data
	}
	return nil
}

// SetCellRunStatus reports a cell run's status (what agents do).
func (c *Client) SetCellRunStatus(ctx context.Context, name string, st v1alpha1.CellRunStatus) (v1alpha1.CellRun, error) {
	var out v1alpha1.CellRun
	err := c.do(ctx, http.MethodPut, "/api/v1/cells/"+url.PathEscape(name)+"/status", st, &out)
	return out, err
}

// Defragment asks the planner to gather the ranks of spread MPI worlds;
// the answer says which ranks move where and why.
func (c *Client) Defragment(ctx context.Context) (v1alpha1.Defragmentation, error) {
	var out v1alpha1.Defragmentation
	err := c.do(ctx, http.MethodPost, "/api/v1/defragment", nil, &out)
	return out, err
}

// DrainSite announces that site goes away within deadline: the planner
// moves its running cells elsewhere, and the answer says where and why.
func (c *Client) DrainSite(ctx context.Context, site string, deadline time.Duration) (v1alpha1.SiteDrain, error) {
	var out v1alpha1.SiteDrain
	err := c.do(ctx, http.MethodPost, "/api/v1/sites/"+url.PathEscape(site)+"/drain", v1alpha1.SiteDrainRequest{Deadline: v1alpha1.Duration{Duration: deadline}}, &out)
	return out, err
}
