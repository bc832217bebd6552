package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
)

// listAll follows a paginated list to its end.
func listAll[L any, T any](ctx context.Context, c *Client, path string, q url.Values, items func(*L) []T, meta func(*L) v1alpha1.ListMeta) ([]T, error) {
	var out []T
	if q == nil {
		q = url.Values{}
	}
	for {
		var page L
		p := path
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		if err := c.do(ctx, http.MethodGet, p, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, items(&page)...)
		next := meta(&page).Continue
		if next == "" {
			return out, nil
		}
		q.Set("continue", next)
	}
}

// BlockQuery selects catalog entries.
type BlockQuery struct {
	Search      string
	Type        v1alpha1.BlockType
	AllVersions bool
}

// ListBlocks lists the catalog: the newest version of each block unless
// q.AllVersions.
func (c *Client) ListBlocks(ctx context.Context, q BlockQuery) ([]v1alpha1.Block, error) {
	v := url.Values{}
	if q.Search != "" {
		v.Set("search", q.Search)
	}
	if q.Type != "" {
		v.Set("type", string(q.Type))
	}
	if q.AllVersions {
		v.Set("allVersions", "true")
	}
	return listAll(ctx, c, "/api/v1/blocks", v,
		func(l *v1alpha1.BlockList) []v1alpha1.Block { return l.Items },
		func(l *v1alpha1.BlockList) v1alpha1.ListMeta { return l.Metadata })
}

// GetBlock returns a block: "name" (the newest version) or "name@version".
func (c *Client) GetBlock(ctx context.Context, ref string) (v1alpha1.Block, error) {
	name, version, _ := cutRef(ref)
	path := "/api/v1/blocks/" + url.PathEscape(name)
	if version != "" {
		path += "/versions/" + url.PathEscape(version)
	}
	var b v1alpha1.Block
	err := c.do(ctx, http.MethodGet, path, nil, &b)
	return b, err
}

// PublishBlock adds a block version to the catalog; it reports whether
// the version is new (publishing the same spec again changes nothing).
func (c *Client) PublishBlock(ctx context.Context, b v1alpha1.Block) (v1alpha1.Block, bool, error) {
	var out v1alpha1.Block
	h, err := c.doHeader(ctx, http.MethodPost, "/api/v1/blocks", b, &out)
	return out, h.Get(v1alpha1.ApplyResultHeader) == "created", err
}

// DeleteBlock removes "name@version", or every version of "name".
func (c *Client) DeleteBlock(ctx context.Context, ref string) error {
	name, version, _ := cutRef(ref)
	path := "/api/v1/blocks/" + url.PathEscape(name)
	if version != "" {
		path += "/versions/" + url.PathEscape(version)
	}
	return c.do(ctx, http.MethodDelete, path, nil, nil)
}

// ListApplications lists every application.
func (c *Client) ListApplications(ctx context.Context) ([]v1alpha1.Application, error) {
	return listAll(ctx, c, "/api/v1/applications", nil,
		func(l *v1alpha1.ApplicationList) []v1alpha1.Application { return l.Items },
		func(l *v1alpha1.ApplicationList) v1alpha1.ListMeta { return l.Metadata })
}

// GetApplication returns one application with its status.
func (c *Client) GetApplication(ctx context.Context, name string) (v1alpha1.Application, error) {
	var a v1alpha1.Application
	err := c.do(ctx, http.MethodGet, "/api/v1/applications/"+url.PathEscape(name), nil, &a)
	return a, err
}

// ApplyApplication creates or updates an application; it reports
// "created", "configured" or "unchanged".
func (c *Client) ApplyApplication(ctx context.Context, a v1alpha1.Application) (v1alpha1.Application, string, error) {
	var out v1alpha1.Application
	h, err := c.doHeader(ctx, http.MethodPut, "/api/v1/applications/"+url.PathEscape(a.Metadata.Name), a, &out)
	return out, h.Get(v1alpha1.ApplyResultHeader), err
}

// DeleteApplication deletes an application; its replicas stop.
func (c *Client) DeleteApplication(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/applications/"+url.PathEscape(name), nil, nil)
}

// ApplicationLogs returns the output of an application's workloads;
// component and replica (≥ 0) narrow it.
func (c *Client) ApplicationLogs(ctx context.Context, name, component string, replica int) (v1alpha1.ApplicationLogs, error) {
	v := url.Values{}
	if component != "" {
		v.Set("component", component)
	}
	if replica >= 0 {
		v.Set("replica", strconv.Itoa(replica))
	}
	path := "/api/v1/applications/" + url.PathEscape(name) + "/logs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out v1alpha1.ApplicationLogs
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// ListPlacements lists every application's placement decisions.
func (c *Client) ListPlacements(ctx context.Context) ([]v1alpha1.Placement, error) {
	return listAll(ctx, c, "/api/v1/placements", nil,
		func(l *v1alpha1.PlacementList) []v1alpha1.Placement { return l.Items },
		func(l *v1alpha1.PlacementList) v1alpha1.ListMeta { return l.Metadata })
}

// GetPlacement returns an application's placement decisions.
func (c *Client) GetPlacement(ctx context.Context, app string) (v1alpha1.Placement, error) {
	var p v1alpha1.Placement
	err := c.do(ctx, http.MethodGet, "/api/v1/placements/"+url.PathEscape(app), nil, &p)
	return p, err
}

// ListMigrations lists every migration.
func (c *Client) ListMigrations(ctx context.Context) ([]v1alpha1.Migration, error) {
	return listAll(ctx, c, "/api/v1/migrations", nil,
		func(l *v1alpha1.MigrationList) []v1alpha1.Migration { return l.Items },
		func(l *v1alpha1.MigrationList) v1alpha1.ListMeta { return l.Metadata })
}

// GetMigration returns one migration.
func (c *Client) GetMigration(ctx context.Context, name string) (v1alpha1.Migration, error) {
	var m v1alpha1.Migration
	err := c.do(ctx, http.MethodGet, "/api/v1/migrations/"+url.PathEscape(name), nil, &m)
	return m, err
}

// CreateMigration asks for a component's replicas to move.
func (c *Client) CreateMigration(ctx context.Context, m v1alpha1.Migration) (v1alpha1.Migration, error) {
	m.TypeMeta = v1alpha1.TypeMeta{APIVersion: v1alpha1.APIVersion, Kind: v1alpha1.KindMigration}
	var out v1alpha1.Migration
	err := c.do(ctx, http.MethodPost, "/api/v1/migrations", m, &out)
	return out, err
}

func cutRef(ref string) (name, version string, ok bool) {
	for i := range len(ref) {
		if ref[i] == '@' {
			return ref[:i], ref[i+1:], true
		}
	}
	return ref, "", false
}

// RecommendPlacement asks the Learning Plane to rank sites for a block.
func (c *Client) RecommendPlacement(ctx context.Context, req v1alpha1.PlacementRecommendationRequest) (v1alpha1.PlacementRecommendation, error) {
	var out v1alpha1.PlacementRecommendation
	err := c.do(ctx, http.MethodPost, "/api/v1/recommendations/placement", req, &out)
	return out, err
}

// RecommendMigration asks the Learning Plane whether a component's
// replicas at a site are heading for an objective violation, and where to.
func (c *Client) RecommendMigration(ctx context.Context, req v1alpha1.MigrationRecommendationRequest) (v1alpha1.MigrationRecommendation, error) {
	var out v1alpha1.MigrationRecommendation
	err := c.do(ctx, http.MethodPost, "/api/v1/recommendations/migration", req, &out)
	return out, err
}
